"""Special functions the array-API standard lacks.

Each delegates to the native torch / jax kernel where one exists and falls
back to a standard-only formula otherwise. ``softplus`` and ``log_sigmoid``
use ``logaddexp`` on every backend: torch's ``softplus`` returns ``x`` for
``x > 20``, an error of ``exp(-20)``, which would break cross-backend parity
in float64.
"""

import functools
import math

import numpy as np
from array_api_compat import device as _device

from ._namespace import array_namespace, is_jax, is_torch

__all__ = [
    "lgamma_count",
    "logsumexp",
    "log_softmax",
    "softmax",
    "softplus",
    "log_sigmoid",
    "sigmoid",
]


def logsumexp(x, axis=-1, keepdims=False):
    """``log(sum(exp(x), axis))``, stable; ``-inf`` rows give ``-inf``."""
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        return torch.logsumexp(x, dim=axis, keepdim=keepdims)
    if is_jax(xp):
        import jax

        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)
    m = xp.max(x, axis=axis, keepdims=True)
    # A row of -inf (or +inf) has no finite shift; shift it by 0 instead.
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(x, axis=-1):
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        return torch.log_softmax(x, dim=axis)
    if is_jax(xp):
        import jax

        return jax.nn.log_softmax(x, axis=axis)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        return torch.softmax(x, dim=axis)
    if is_jax(xp):
        import jax

        return jax.nn.softmax(x, axis=axis)
    return xp.exp(log_softmax(x, axis=axis))


def softplus(x):
    """``log(1 + exp(x))``."""
    xp = array_namespace(x)
    return xp.logaddexp(x, xp.zeros_like(x))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)`` (torch's fused kernel, exact in
    float64 over the whole line; jax's; else from :func:`softplus`)."""
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        return torch.nn.functional.logsigmoid(x)
    if is_jax(xp):
        import jax

        return jax.nn.log_sigmoid(x)
    return -softplus(-x)


def sigmoid(x):
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        return torch.sigmoid(x)
    if is_jax(xp):
        import jax

        return jax.nn.sigmoid(x)
    e = xp.exp(-xp.abs(x))  # never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


@functools.lru_cache(maxsize=32)
def _lgamma_table(k):
    return np.array([0.0] + [math.lgamma(j) for j in range(1, k + 1)])


def lgamma_count(n, k):
    r""":math:`\log\Gamma(n)` for an array ``n`` of whole numbers in
    ``[1, k]`` (a count of categories), by lookup in a table of exact values
    (the array API has no ``lgamma``). ``n`` is a float array; the result has
    its shape, dtype and device."""
    xp = array_namespace(n)
    table = xp.asarray(_lgamma_table(int(k)), dtype=n.dtype, device=_device(n))
    idx = xp.astype(xp.reshape(n, (-1,)), xp.int32)
    return xp.reshape(xp.take(table, idx, axis=0), n.shape)
