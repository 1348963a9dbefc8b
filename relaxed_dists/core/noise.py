"""Standard noise as deterministic transforms of ``U ~ Uniform(0, 1)``.

Adapters draw the uniforms (``torch.rand`` / ``jax.random.uniform``) in
``[smallest_normal, 1)``; the core only transforms them, so the same uniforms
give the same sample on every backend.
"""

from ._namespace import array_namespace

__all__ = ["uniform_low", "gumbel", "logistic"]


def uniform_low(dtype_info):
    """Lower end of the uniform draw: the smallest normal float of the dtype.

    Excluding 0 keeps ``log u`` finite; excluding subnormals keeps it exact.
    """
    return float(dtype_info.smallest_normal)


def gumbel(u):
    """Standard Gumbel ``G = -log(-log u)``; finite for ``u`` in ``[tiny, 1)``."""
    xp = array_namespace(u)
    return -xp.log(-xp.log(u))


def logistic(u):
    """Standard logistic ``L = log u - log(1 - u)``."""
    xp = array_namespace(u)
    return xp.log(u) - xp.log1p(-u)
