"""NumPyro (JAX) distributions of relaxed_dists."""

from . import constraints, distributions
from ._base import RelaxedDistribution
from .distributions import *  # noqa: F403 (every class, listed once in distributions.__all__)
from .infer import MHotTrace_ELBO, RLOOTrace_ELBO
from .reparam import RelaxReparam, relax_discrete_sites

__all__ = [
    *distributions.__all__,
    "MHotTrace_ELBO",
    "RLOOTrace_ELBO",
    "RelaxReparam",
    "RelaxedDistribution",
    "constraints",
    "relax_discrete_sites",
]
