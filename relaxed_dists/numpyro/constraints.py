"""NumPyro constraints and bijections for the supports and parameters of
relaxed_dists.

Every constraint is an instance of one module-level class, :class:`Spec`,
named after a check of the core (:data:`relaxed_dists.core.checks.SPECS`
and the ``SPECS`` of the m-hot and subset modules), with the static
arguments it needs (``m`` for the subsets) as parameters: it pickles,
compares by value, is a pytree, and says what it expects in validation
errors. ``biject_to`` dispatches on the spec's name.
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

from ..core import checks
from ..core import concrete as _concrete
from ..core import mhot as _mhot
from ..core import subset as _subset

__all__ = ["Spec", "SPECS", "LogSimplexTransform", "LogitSubsetTransform", "SubsetTransform",
           "simplex", "log_simplex", "positive_finite"]

#: Every named check the constraints can stand for.
SPECS = {**checks.SPECS, **_mhot.SPECS, **_subset.SPECS}


def _uniform(p):
    return jnp.full_like(p, 1 / jnp.shape(p)[-1])


def _distinct_rows(p):
    """Log-simplex rows with distinct argmaxes (row ``j`` favours category
    ``j mod k``), shaped like ``p``."""
    m, k = jnp.shape(p)[-2:]
    bump = jnp.arange(m)[:, None] % k == jnp.arange(k)
    return jax.nn.log_softmax(jnp.broadcast_to(bump, jnp.shape(p)).astype(jnp.result_type(p)), axis=-1)


def _even(p, m):
    return jnp.full_like(p, m / jnp.shape(p)[-1])


#: spec name -> a point inside, shaped like a prototype (``feasible_like``).
_FEASIBLE = {
    "finite": jnp.zeros_like,
    "real": jnp.zeros_like,
    "binary_logits": jnp.zeros_like,
    "category_logits": jnp.zeros_like,
    "positive_finite": jnp.ones_like,
    "temperature": jnp.ones_like,
    "open_unit_interval": lambda p: jnp.full_like(p, 0.5),
    "unit_interval": lambda p: jnp.full_like(p, 0.5),
    "binary_probs": lambda p: jnp.full_like(p, 0.5),
    "simplex": _uniform,
    "open_simplex": _uniform,
    "category_probs": _uniform,
    "log_simplex": lambda p: jnp.log(_uniform(p)),
    "simplex_rows": lambda p: jnp.exp(_distinct_rows(p)),
    "log_simplex_rows": _distinct_rows,
    "subset": _even,
    "logit_subset": lambda p, m: jax.scipy.special.logit(_even(p, m)),
}


class Spec(_c.Constraint):
    """The core check ``SPECS[name]`` as a NumPyro constraint, with its static
    parameters (for example ``Spec("subset", m=2.5)``).

    :param str name: a key of :data:`SPECS`.
    :param params: keyword parameters of the check.
    """

    def __init__(self, name, **params):
        if name not in SPECS:
            raise ValueError(f"Spec: `name` must be one of {sorted(SPECS)}, got {name!r}")
        self.name = name
        self.params = params
        self.event_dim = SPECS[name][1]

    def __call__(self, x):
        return SPECS[self.name][0](jnp.asarray(x), **self.params)

    def __repr__(self):
        return SPECS[self.name][2].format(**self.params)

    def feasible_like(self, prototype):
        return _FEASIBLE[self.name](prototype, **self.params)

    def tree_flatten(self):
        return (), ((), {"name": self.name, "params": self.params, "event_dim": self.event_dim})

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


#: spec name -> the bijection from unconstrained space (``biject_to``).
_TRANSFORMS = {
    "simplex": lambda c: StickBreakingTransform(),
    "open_simplex": lambda c: StickBreakingTransform(),
    "category_probs": lambda c: StickBreakingTransform(),
    "log_simplex": lambda c: LogSimplexTransform(),
    "simplex_rows": lambda c: IndependentTransform(StickBreakingTransform(), 1),
    "log_simplex_rows": lambda c: IndependentTransform(LogSimplexTransform(), 1),
    "subset": lambda c: SubsetTransform(c.params["m"]),
    "logit_subset": lambda c: LogitSubsetTransform(c.params["m"]),
    "positive_finite": lambda c: ExpTransform(),
    "temperature": lambda c: ExpTransform(),
    "open_unit_interval": lambda c: SigmoidTransform(),
    "unit_interval": lambda c: SigmoidTransform(),
    "binary_probs": lambda c: SigmoidTransform(),
    "finite": lambda c: IdentityTransform(),
    "real": lambda c: IdentityTransform(),
    "binary_logits": lambda c: IdentityTransform(),
    "category_logits": lambda c: IndependentTransform(IdentityTransform(), 1),
}


@biject_to.register(Spec)
def _transform(constraint):
    if constraint.name not in _TRANSFORMS:
        raise NotImplementedError(f"no bijection onto {constraint!r}")
    return _TRANSFORMS[constraint.name](constraint)
