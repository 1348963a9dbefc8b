"""Pyro (PyTorch) distributions of relaxed_dists."""

from . import constraints, distributions
from ._base import RelaxedDistribution
from .distributions import *  # noqa: F403 (every class, listed once in distributions.__all__)
from .infer import RLOOTrace_ELBO
from .reparam import RelaxReparam, relax_discrete_sites

__all__ = [
    *distributions.__all__,
    "RLOOTrace_ELBO",
    "RelaxReparam",
    "RelaxedDistribution",
    "constraints",
    "relax_discrete_sites",
]
