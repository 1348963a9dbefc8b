"""Relaxed discrete distributions with exact densities for Pyro and NumPyro.

``relaxed_dists.core`` holds the estimator math, written once against the
Python array API; ``relaxed_dists.pyro`` and ``relaxed_dists.numpyro`` are thin
adapters to the two host libraries. Importing this package imports neither
torch nor jax.

The version below is the one place it is written: the packaging metadata
(``pyproject.toml``) and the docs (``docs/conf.py``) read it from here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
