"""NumPyro constraints and bijections for the supports and parameters of
relaxed_dists; the checks themselves live in :mod:`relaxed_dists.core.checks`."""

import jax.numpy as jnp
from numpyro.distributions import constraints as _c
from numpyro.distributions.transforms import (
    ExpTransform,
    IdentityTransform,
    SigmoidTransform,
    StickBreakingTransform,
    Transform,
    biject_to,
)

from ..core import checks
from ..core import concrete as _concrete

__all__ = ["from_spec", "finite", "positive_finite", "open_unit_interval", "finite_vector",
           "simplex", "open_simplex", "log_simplex", "LogSimplexTransform"]


def from_spec(name, feasible, specs=checks.SPECS):
    """The core check ``specs[name]`` as a constraint instance of its own class
    (NumPyro's registry dispatches on the type), whose ``repr`` says what is
    expected; ``feasible(prototype)`` gives a point inside it."""
    check, event_dim, text = specs[name]
    cls = type("_" + name, (_c.ParameterFreeConstraint,), {
        "event_dim": event_dim,
        "__call__": lambda self, x: check(jnp.asarray(x)),
        "__repr__": lambda self: text,
        "feasible_like": lambda self, prototype: feasible(prototype),
    })
    return cls()


def _uniform(p):
    return jnp.full_like(p, 1 / p.shape[-1])


finite = from_spec("finite", jnp.zeros_like)
positive_finite = from_spec("positive_finite", jnp.ones_like)
open_unit_interval = from_spec("open_unit_interval", lambda p: jnp.full_like(p, 0.5))
finite_vector = _c.independent(finite, 1)
simplex = from_spec("simplex", _uniform)
open_simplex = from_spec("open_simplex", _uniform)
log_simplex = from_spec("log_simplex", lambda p: jnp.log(_uniform(p)))


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


_TRANSFORMS = [
    (simplex, StickBreakingTransform),
    (open_simplex, StickBreakingTransform),
    (log_simplex, LogSimplexTransform),
    (positive_finite, ExpTransform),
    (open_unit_interval, SigmoidTransform),
    (finite, IdentityTransform),
]
for _con, _t in _TRANSFORMS:
    biject_to.register(type(_con), lambda c, _t=_t: _t())
