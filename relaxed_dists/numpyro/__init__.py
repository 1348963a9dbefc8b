"""NumPyro (JAX) distributions of relaxed_dists."""

from . import constraints
from .distributions import BinaryConcrete, ExpGumbelSoftmax, GumbelSoftmax, LogitBinaryConcrete
from .mhot import ExpRelaxedMHot, MHotTrace_ELBO, RelaxedMHot
from .subset import LogitRelaxedSubset, RelaxedSubset

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "LogitRelaxedSubset",
    "MHotTrace_ELBO",
    "RelaxedMHot",
    "RelaxedSubset",
    "constraints",
]
