"""Pyro (PyTorch) distributions of relaxed_dists."""

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
from .infer import RLOOTrace_ELBO

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "LogitRelaxedSubset",
    "RLOOTrace_ELBO",
    "RelaxedDistribution",
    "RelaxedMHot",
    "RelaxedSubset",
    "constraints",
]
