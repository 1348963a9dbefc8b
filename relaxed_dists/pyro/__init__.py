"""Pyro (PyTorch) distributions of relaxed_dists."""

from . import constraints, distributions
from ._base import RelaxedDistribution
from .distributions import *  # noqa: F403 (every class, listed once in distributions.__all__)
from .infer import RLOOTrace_ELBO

__all__ = [
    *distributions.__all__,
    "RLOOTrace_ELBO",
    "RelaxedDistribution",
    "constraints",
]
