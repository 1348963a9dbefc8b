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

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "LogitRelaxedSubset",
    "RelaxedDistribution",
    "RelaxedMHot",
    "RelaxedSubset",
    "constraints",
]
