"""Pyro (PyTorch) distributions of relaxed_dists."""

from . import constraints
from .distributions import BinaryConcrete, ExpGumbelSoftmax, GumbelSoftmax, LogitBinaryConcrete
from .mhot import ExpRelaxedMHot, RelaxedMHot
from .subset import LogitRelaxedSubset, RelaxedSubset

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "LogitRelaxedSubset",
    "RelaxedMHot",
    "RelaxedSubset",
    "constraints",
]
