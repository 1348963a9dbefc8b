"""NumPyro constraints and bijections for the supports and parameters of
relaxed_dists.

Every constraint is an instance of one module-level class, :class:`Spec`,
named after a check of the core (:data:`relaxed_dists.core.supports.SPECS`),
with the static arguments it needs (``m`` for the subsets) as parameters: it pickles,
compares by value, is a pytree, and says what it expects in validation
errors. ``biject_to`` dispatches on the kind of bijection the core names
for it (:data:`relaxed_dists.core.supports.BIJECTIONS`).
"""

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints as _c
from numpyro.distributions.transforms import (
    ExpTransform,
    IdentityTransform,
    IndependentTransform,
    SigmoidTransform,
    StickBreakingTransform,
    Transform,
    biject_to,
)

from ..core import concrete as _concrete
from ..core import subset as _subset
from ..core.supports import BIJECTIONS, DISCRETE, NO_BIJECTION, SPECS

__all__ = ["Spec", "LogSimplexTransform", "LogitSubsetTransform", "SubsetTransform",
           "simplex", "log_simplex", "positive_finite"]



def _distinct_rows(p):
    """Log-simplex rows with distinct argmaxes (row ``j`` favours category
    ``j mod k``), shaped like ``p``."""
    m, k = jnp.shape(p)[-2:]
    bump = jnp.arange(m)[:, None] % k == jnp.arange(k)
    return jax.nn.log_softmax(jnp.broadcast_to(bump, jnp.shape(p)).astype(jnp.result_type(p)), axis=-1)


#: spec name -> a point inside, shaped like a prototype (``feasible_like``),
#: where the image of 0 under the bijection would not do: rows with distinct
#: argmaxes for the m-hot supports (whose density is 0 on repeated ones).
_FEASIBLE = {
    "simplex_rows": lambda p: jnp.exp(_distinct_rows(p)),
    "log_simplex_rows": _distinct_rows,
    "distinct_simplex_rows": lambda p: jnp.exp(_distinct_rows(p)),
    "distinct_log_simplex_rows": _distinct_rows,
}


class Spec(_c.Constraint):
    """The core check ``SPECS[name]`` (:data:`relaxed_dists.core.supports.SPECS`)
    as a NumPyro constraint, with its static parameters (for example
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

    def __call__(self, x):
        return SPECS[self.name][0](jnp.asarray(x), **self.params)

    def __repr__(self):
        return SPECS[self.name][2].format(**self.params)

    def feasible_like(self, prototype):
        if self.name in _FEASIBLE:
            return _FEASIBLE[self.name](prototype)
        t = _transform(self)
        return t(jnp.zeros(t.inverse_shape(jnp.shape(prototype)), jnp.result_type(prototype)))

    def tree_flatten(self):
        return (), ((), {"name": self.name, "params": self.params, "event_dim": self.event_dim,
                         "is_discrete": self.is_discrete})

    def eq(self, other, static=False):
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

    domain = _c.real_vector

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return jnp.zeros(jnp.shape(x)[:-1], dtype=jnp.result_type(x))

    def forward_shape(self, shape):
        return shape[:-1] + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        return shape[:-1] + (shape[-1] - 1,)


class LogSimplexTransform(RatioTransform):
    """``w -> log_softmax([w, 0])`` from ``R^(k-1)`` onto the log-simplex; unit
    Jacobian w.r.t. the log-ratio base measure of ``ExpGumbelSoftmax``."""

    codomain = log_simplex

    def __call__(self, x):
        return _concrete.log_ratios_to_log_simplex(x)

    def _inverse(self, y):
        return _concrete.log_simplex_to_log_ratios(y)

    def tree_flatten(self):
        return (), ((), dict())

    def __eq__(self, other):
        return isinstance(other, LogSimplexTransform)


class LogitSubsetTransform(RatioTransform):
    """``w -> z`` from ``R^(k-1)`` onto the logit-subsets summing to ``m``
    (:func:`relaxed_dists.core.subset.from_log_ratios`); unit Jacobian w.r.t.
    the base measure of ``LogitRelaxedSubset`` (the differences
    ``z_i - z_k``)."""

    def __init__(self, m):
        self.m = m

    @property
    def codomain(self):
        return Spec("logit_subset", m=self.m)

    def __call__(self, x):
        return _subset.from_log_ratios(x, self.m)

    def _inverse(self, y):
        return _subset.to_log_ratios(y)

    def tree_flatten(self):
        return (), ((), {"m": self.m})

    def __eq__(self, other):
        return type(other) is type(self) and other.m == self.m

    def __hash__(self):
        return hash((type(self), self.m))


class SubsetTransform(LogitSubsetTransform):
    """``w -> S = sigmoid(z)`` onto the relaxed subsets summing to ``m``; its
    log-Jacobian w.r.t. the first ``k - 1`` coordinates of ``S`` is
    :func:`relaxed_dists.core.subset.subset_log_det`."""

    @property
    def codomain(self):
        return Spec("subset", m=self.m)

    def __call__(self, x):
        return jax.nn.sigmoid(_subset.from_log_ratios(x, self.m))

    def _inverse(self, y):
        return _subset.to_log_ratios(jax.scipy.special.logit(y))

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return _subset.subset_log_det(_subset.from_log_ratios(x, self.m))


#: kind of bijection (:data:`relaxed_dists.core.supports.BIJECTIONS`) -> its
#: NumPyro transform, given the constraint.
_KINDS = {
    "identity": lambda c: IdentityTransform(),
    "identity_vector": lambda c: IndependentTransform(IdentityTransform(), 1),
    "exp": lambda c: ExpTransform(),
    "sigmoid": lambda c: SigmoidTransform(),
    "stick_breaking": lambda c: StickBreakingTransform(),
    "log_simplex": lambda c: LogSimplexTransform(),
    "subset": lambda c: SubsetTransform(c.params["m"]),
    "logit_subset": lambda c: LogitSubsetTransform(c.params["m"]),
}


@biject_to.register(Spec)
def _transform(constraint):
    kind = BIJECTIONS.get(constraint.name)
    if constraint.name in NO_BIJECTION:
        raise ValueError(NO_BIJECTION[constraint.name])
    if kind is None:
        raise NotImplementedError(f"no bijection onto {constraint!r}")
    if kind.startswith("rows:"):  # row by row: the rows are independent
        return IndependentTransform(_KINDS[kind[5:]](constraint), 1)
    return _KINDS[kind](constraint)
