"""The estimator math of relaxed_dists, written once against the array API.

Every function is pure, infers its namespace from its arguments and takes
the noise (uniforms) as input, so the same uniforms give the same values on
NumPy, ``array_api_strict``, torch and JAX.
"""

from . import binary_concrete, checks, concrete, hard_limit, mhot, noise, params, special

__all__ = [
    "binary_concrete",
    "checks",
    "concrete",
    "hard_limit",
    "mhot",
    "noise",
    "params",
    "special",
]
