"""Pyro distributions for the subset relaxation (RelaxedSubset,
LogitRelaxedSubset)."""

import torch
from torch.distributions import biject_to, transform_to
from torch.distributions import constraints as _host

from .. import _docs_subset
from ..core import subset as _subset
from .constraints import RatioTransform
from .distributions import _Categorical

__all__ = ["RelaxedSubset", "LogitRelaxedSubset", "SubsetConstraint", "LogitSubsetConstraint",
           "LogitSubsetTransform", "SubsetTransform"]


def _from_spec(name):
    """The core check ``_subset.SPECS[name]`` as a torch constraint class with
    one parameter, ``m`` (as :func:`relaxed_dists.pyro.constraints.from_spec`
    for the parameter-free checks); its ``repr`` says what is expected."""
    check, event_dim, text = _subset.SPECS[name]

    def __init__(self, m):
        self.m = m

    return type("_" + name, (_host.Constraint,), {
        "event_dim": event_dim,
        "__init__": __init__,
        "check": lambda self, value: check(value, self.m),
        "__repr__": lambda self: text.format(m=self.m),
        "__eq__": lambda self, other: type(other) is type(self) and other.m == self.m,
        "__hash__": lambda self: hash((type(self), self.m)),
    })


SubsetConstraint = _from_spec("subset")
LogitSubsetConstraint = _from_spec("logit_subset")


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
        return LogitSubsetConstraint(self.m)

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
        return SubsetConstraint(self.m)

    def _call(self, x):
        return torch.sigmoid(_subset.from_log_ratios(x, self.m))

    def _inverse(self, y):
        return _subset.to_log_ratios(torch.logit(y))

    def log_abs_det_jacobian(self, x, y):
        return _subset.subset_log_det(_subset.from_log_ratios(x, self.m))


for _c, _t in [(SubsetConstraint, SubsetTransform), (LogitSubsetConstraint, LogitSubsetTransform)]:
    biject_to.register(_c, lambda c, _t=_t: _t(c.m))
    transform_to.register(_c, lambda c, _t=_t: _t(c.m))


class RelaxedSubset(_subset.RelaxedSubsetFamily, _Categorical):
    __doc__ = _docs_subset.RELAXED_SUBSET

    @property
    def support(self):
        return SubsetConstraint(self.m)


class LogitRelaxedSubset(_subset.LogitRelaxedSubsetFamily, _Categorical):
    __doc__ = _docs_subset.LOGIT_RELAXED_SUBSET

    @property
    def support(self):
        return LogitSubsetConstraint(self.m)
