"""Torch constraints and bijections for the supports and parameters of
relaxed_dists; the checks themselves live in :mod:`relaxed_dists.core.checks`."""

import torch
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.transforms import (
    ExpTransform,
    SigmoidTransform,
    StickBreakingTransform,
    Transform,
    identity_transform,
)

from ..core import checks
from ..core import concrete as _concrete

__all__ = ["from_spec", "finite", "positive_finite", "open_unit_interval", "finite_vector",
           "simplex", "open_simplex", "log_simplex", "LogSimplexTransform"]


def from_spec(name, specs=checks.SPECS):
    """The core check ``specs[name]`` as a constraint instance of its own class
    (torch's registries dispatch on the type), whose ``repr`` says what is
    expected so that validation errors read well."""
    check, event_dim, text = specs[name]
    cls = type("_" + name, (constraints.Constraint,), {
        "event_dim": event_dim,
        "check": lambda self, value: check(value),
        "__repr__": lambda self: text,
    })
    return cls()


finite = from_spec("finite")
positive_finite = from_spec("positive_finite")
open_unit_interval = from_spec("open_unit_interval")
finite_vector = constraints.independent(finite, 1)
simplex = from_spec("simplex")
open_simplex = from_spec("open_simplex")
log_simplex = from_spec("log_simplex")


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


_TRANSFORMS = [
    (simplex, StickBreakingTransform),
    (open_simplex, StickBreakingTransform),
    (log_simplex, LogSimplexTransform),
    (positive_finite, ExpTransform),
    (open_unit_interval, SigmoidTransform),
    (finite, lambda: identity_transform),
]
for _c, _t in _TRANSFORMS:
    biject_to.register(type(_c), lambda c, _t=_t: _t())
    transform_to.register(type(_c), lambda c, _t=_t: _t())
