"""Pyro (PyTorch) distributions of relaxed_dists."""

from . import constraints
from .distributions import BinaryConcrete, ExpGumbelSoftmax, GumbelSoftmax, LogitBinaryConcrete
from .mhot import ExpRelaxedMHot, RelaxedMHot

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "ExpRelaxedMHot",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "RelaxedMHot",
    "constraints",
]
