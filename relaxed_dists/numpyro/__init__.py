"""NumPyro (JAX) distributions of relaxed_dists."""

from . import constraints
from ._base import RelaxedDistribution
from .distributions import (
    BinaryConcrete,
    ExpGumbelSoftmax,
    ExpRelaxedMHot,
    GumbelSoftmax,
    LogitBinaryConcrete,
    LogitRelaxedSubset,
    RelaxedMHot,
    RelaxedSubset,
)
from .infer import MHotTrace_ELBO, RLOOTrace_ELBO

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "LogitRelaxedSubset",
    "MHotTrace_ELBO",
    "RLOOTrace_ELBO",
    "RelaxedDistribution",
    "RelaxedMHot",
    "RelaxedSubset",
    "constraints",
]
