"""NumPyro (JAX) distributions of relaxed_dists."""

from . import constraints
from .distributions import BinaryConcrete, ExpGumbelSoftmax, GumbelSoftmax, LogitBinaryConcrete
from .mhot import ExpRelaxedMHot, MHotTrace_ELBO, RelaxedMHot

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "MHotTrace_ELBO",
    "RelaxedMHot",
    "constraints",
]
