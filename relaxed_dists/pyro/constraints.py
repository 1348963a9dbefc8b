"""Torch constraints and bijections for the supports and parameters of
relaxed_dists.

Every constraint is an instance of one module-level class, :class:`Spec`,
named after a check of the core (:data:`relaxed_dists.core.supports.SPECS`),
with the static arguments it needs (``m`` for the subsets) as parameters. So constraints
pickle (the parameter store of a fitted AutoGuide saves and loads), compare
by value, and say what they expect in validation errors. ``biject_to`` and
``transform_to`` dispatch on the kind of bijection the core names for it
(:data:`relaxed_dists.core.supports.BIJECTIONS`).
"""

import torch
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.transforms import (
    ExpTransform,
    IndependentTransform,
    SigmoidTransform,
    StickBreakingTransform,
    Transform,
    identity_transform,
)

from ..core import concrete as _concrete
from ..core import subset as _subset
from ..core.supports import BIJECTIONS, DISCRETE, NO_BIJECTION, SPECS

__all__ = ["Spec", "LogSimplexTransform", "LogitSubsetTransform", "SubsetTransform",
           "simplex", "log_simplex", "positive_finite"]



class Spec(constraints.Constraint):
    """The core check ``SPECS[name]`` (:data:`relaxed_dists.core.supports.SPECS`)
    as a torch constraint, with its static parameters (for example
    ``Spec("subset", m=2.5)``).

    :param str name: a key of :data:`relaxed_dists.core.supports.SPECS`.
    :param params: keyword parameters of the check.
    """

    def __init__(self, name, **params):
        if name not in SPECS:
            raise ValueError(f"Spec: `name` must be one of {sorted(SPECS)}, got {name!r}")
        self.name = name
        self.params = params
        self.event_dim = SPECS[name][1]
        self.is_discrete = name in DISCRETE
        super().__init__()

    def check(self, value):
        return SPECS[self.name][0](value, **self.params)

    def __repr__(self):
        return SPECS[self.name][2].format(**self.params)

    def __eq__(self, other):
        return type(other) is Spec and (other.name, other.params) == (self.name, self.params)

    def __hash__(self):
        return hash((self.name, tuple(sorted(self.params.items()))))


simplex = Spec("simplex")
log_simplex = Spec("log_simplex")
positive_finite = Spec("positive_finite")


class RatioTransform(Transform):
    """Base of the bijections from the ``k - 1`` differences to a ``k``-vector
    whose density is taken w.r.t. those differences: unit Jacobian, one more
    coordinate out than in."""

    domain = constraints.real_vector
    bijective = True

    def log_abs_det_jacobian(self, x, y):
        return torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)

    def forward_shape(self, shape):
        return shape[:-1] + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        return shape[:-1] + (shape[-1] - 1,)


class LogSimplexTransform(RatioTransform):
    """``w -> log_softmax([w, 0])`` from ``R^(k-1)`` onto the log-simplex; unit
    Jacobian w.r.t. the log-ratio base measure of ``ExpGumbelSoftmax``."""

    codomain = log_simplex

    def __eq__(self, other):
        return isinstance(other, LogSimplexTransform)

    def _call(self, x):
        return _concrete.log_ratios_to_log_simplex(x)

    def _inverse(self, y):
        return _concrete.log_simplex_to_log_ratios(y)


class LogitSubsetTransform(RatioTransform):
    """``w -> z`` from ``R^(k-1)`` onto the logit-subsets summing to ``m``
    (:func:`relaxed_dists.core.subset.from_log_ratios`); unit Jacobian w.r.t.
    the base measure of ``LogitRelaxedSubset`` (the differences
    ``z_i - z_k``)."""

    def __init__(self, m, cache_size=0):
        self.m = m
        super().__init__(cache_size=cache_size)

    @property
    def codomain(self):
        return Spec("logit_subset", m=self.m)

    def __eq__(self, other):
        return type(other) is type(self) and other.m == self.m

    def __hash__(self):
        return hash((type(self), self.m))

    def with_cache(self, cache_size=1):
        return self if self._cache_size == cache_size else type(self)(self.m, cache_size)

    def _call(self, x):
        return _subset.from_log_ratios(x, self.m)

    def _inverse(self, y):
        return _subset.to_log_ratios(y)


class SubsetTransform(LogitSubsetTransform):
    """``w -> S = sigmoid(z)`` onto the relaxed subsets summing to ``m``; its
    log-Jacobian w.r.t. the first ``k - 1`` coordinates of ``S`` is
    :func:`relaxed_dists.core.subset.subset_log_det`."""

    @property
    def codomain(self):
        return Spec("subset", m=self.m)

    def _call(self, x):
        return torch.sigmoid(_subset.from_log_ratios(x, self.m))

    def _inverse(self, y):
        return _subset.to_log_ratios(torch.logit(y))

    def log_abs_det_jacobian(self, x, y):
        return _subset.subset_log_det(_subset.from_log_ratios(x, self.m))


#: kind of bijection (:data:`relaxed_dists.core.supports.BIJECTIONS`) -> its
#: torch transform, given the constraint.
_KINDS = {
    "identity": lambda c: identity_transform,
    "identity_vector": lambda c: IndependentTransform(identity_transform, 1),
    "exp": lambda c: ExpTransform(),
    "sigmoid": lambda c: SigmoidTransform(),
    "stick_breaking": lambda c: StickBreakingTransform(),
    "log_simplex": lambda c: LogSimplexTransform(),
    "subset": lambda c: SubsetTransform(c.params["m"]),
    "logit_subset": lambda c: LogitSubsetTransform(c.params["m"]),
}


def _transform(constraint):
    kind = BIJECTIONS.get(constraint.name)
    if constraint.name in NO_BIJECTION:
        raise ValueError(NO_BIJECTION[constraint.name])
    if kind is None:
        raise NotImplementedError(f"no bijection onto {constraint!r}")
    if kind.startswith("rows:"):  # row by row: the rows are independent
        return IndependentTransform(_KINDS[kind[5:]](constraint), 1)
    return _KINDS[kind](constraint)


biject_to.register(Spec, _transform)
transform_to.register(Spec, _transform)
