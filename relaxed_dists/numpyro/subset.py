"""NumPyro distributions for the subset relaxation (RelaxedSubset,
LogitRelaxedSubset)."""

import jax
import jax.numpy as jnp
from numpyro.distributions import constraints as _c
from numpyro.distributions.transforms import biject_to

from .. import _docs_subset
from ..core import subset as _subset
from .constraints import RatioTransform
from .distributions import _Categorical

__all__ = ["RelaxedSubset", "LogitRelaxedSubset", "SubsetConstraint", "LogitSubsetConstraint",
           "LogitSubsetTransform", "SubsetTransform"]


def _from_spec(name, feasible):
    """The core check ``_subset.SPECS[name]`` as a NumPyro constraint class
    with one static parameter, ``m`` (as
    :func:`relaxed_dists.numpyro.constraints.from_spec` for the
    parameter-free checks); ``feasible(prototype, m)`` gives a point inside."""
    check, event_dim, text = _subset.SPECS[name]

    def __init__(self, m):
        self.m = m

    return type("_" + name, (_c.Constraint,), {
        "event_dim": event_dim,
        "__init__": __init__,
        "__call__": lambda self, x: check(jnp.asarray(x), self.m),
        "__repr__": lambda self: text.format(m=self.m),
        "feasible_like": lambda self, prototype: feasible(prototype, self.m),
        "tree_flatten": lambda self: ((), ((), {"m": self.m})),
        "eq": lambda self, other, static=False: type(other) is type(self) and other.m == self.m,
    })


def _even(prototype, m):
    return jnp.full_like(prototype, m / jnp.shape(prototype)[-1])


SubsetConstraint = _from_spec("subset", _even)
LogitSubsetConstraint = _from_spec("logit_subset", lambda p, m: jax.scipy.special.logit(_even(p, m)))


class LogitSubsetTransform(RatioTransform):
    """``w -> z`` from ``R^(k-1)`` onto the logit-subsets summing to ``m``
    (:func:`relaxed_dists.core.subset.from_log_ratios`); unit Jacobian w.r.t.
    the base measure of ``LogitRelaxedSubset`` (the differences
    ``z_i - z_k``)."""

    def __init__(self, m):
        self.m = m

    @property
    def codomain(self):
        return LogitSubsetConstraint(self.m)

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
        return SubsetConstraint(self.m)

    def __call__(self, x):
        return jax.nn.sigmoid(_subset.from_log_ratios(x, self.m))

    def _inverse(self, y):
        return _subset.to_log_ratios(jax.scipy.special.logit(y))

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return _subset.subset_log_det(_subset.from_log_ratios(x, self.m))


for _con, _t in [(SubsetConstraint, SubsetTransform), (LogitSubsetConstraint, LogitSubsetTransform)]:
    biject_to.register(_con, lambda c, _t=_t: _t(c.m))


class _Subset(_Categorical):
    pytree_aux_fields = ("m",)


class RelaxedSubset(_subset.RelaxedSubsetFamily, _Subset):
    __doc__ = _docs_subset.RELAXED_SUBSET

    @property
    def support(self):
        return SubsetConstraint(self.m)


class LogitRelaxedSubset(_subset.LogitRelaxedSubsetFamily, _Subset):
    __doc__ = _docs_subset.LOGIT_RELAXED_SUBSET

    @property
    def support(self):
        return LogitSubsetConstraint(self.m)
