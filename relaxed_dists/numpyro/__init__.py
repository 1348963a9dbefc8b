"""NumPyro (JAX) distributions of relaxed_dists."""

from . import constraints
from .distributions import BinaryConcrete, ExpGumbelSoftmax, GumbelSoftmax, LogitBinaryConcrete

__all__ = [
    "BinaryConcrete",
    "ExpGumbelSoftmax",
    "GumbelSoftmax",
    "LogitBinaryConcrete",
    "constraints",
]
