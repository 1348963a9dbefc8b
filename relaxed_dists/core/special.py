"""Special functions the array-API standard lacks.

Each delegates to the native torch / jax kernel where one exists and falls
back to a standard-only formula otherwise. ``softplus`` and ``log_sigmoid``
use ``logaddexp`` on every backend: torch's ``softplus`` returns ``x`` for
``x > 20``, an error of ``exp(-20)``, which would break cross-backend parity
in float64.

:func:`sub_scaled` computes the cancelling difference ``l - tau * v`` of the
log-space densities with error-free transformations (Dekker's exact
products of split halves, Knuth's TwoSum), so that their float32 values match
float64 ones at large logit spreads.
"""

import functools
import math

import array_api_compat
import numpy as np
from array_api_compat import device as _device

from ._namespace import (
    array_namespace,
    errstate,
    finfo,
    host_any,
    is_jax,
    is_torch,
    stop_gradient,
    torch_compiling,
)

__all__ = [
    "lgamma_count",
    "logsumexp",
    "log_softmax",
    "softmax",
    "softplus",
    "log_sigmoid",
    "sigmoid",
    "difference_error",
    "sub_scaled",
    "noise_matches_value",
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


def _torch_slow_softmax(x, axis):
    """Whether torch's fused (log-)softmax kernel takes its slow path here:
    on the CPU, over a float32 last axis shorter than 16 entries, it runs 5
    to 20 times slower than ``exp``, ``max`` and ``sum`` composed (measured
    with torch 2.13, one thread: 178 us against 65 us for a (1024, 10)
    softmax). The composition is the same formula, with the same value at
    ``-inf`` entries and the same gradient. (float64 is slow there too, up
    to 64 entries, but keeps the fused kernel: with it a masked category
    leaves the other values of a log-softmax as they are without it, to
    1e-12 relative near 0 (``tests/test_domain.py``), which the composed
    sum, whose rounding depends on the length, does not.)"""
    import torch

    if x.device.type != "cpu" or axis not in (-1, x.ndim - 1) or x.ndim == 0:
        return False
    k = x.shape[-1]
    return x.dtype == torch.float32 and k < 16


def _torch_shifted(x):
    """``x`` minus its (stopped) largest entry along the last axis; a row
    whose largest entry is not finite is shifted by it all the same (as the
    fused kernel does: a row of ``-inf`` gives NaN there too)."""
    return x - x.detach().amax(dim=-1, keepdim=True)


def log_softmax(x, axis=-1):
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        if _torch_slow_softmax(x, axis):
            s = _torch_shifted(x)
            return s - torch.log(torch.exp(s).sum(dim=-1, keepdim=True))
        return torch.log_softmax(x, dim=axis)
    if is_jax(xp):
        import jax

        return jax.nn.log_softmax(x, axis=axis)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    xp = array_namespace(x)
    if is_torch(xp):
        import torch

        if _torch_slow_softmax(x, axis):
            e = torch.exp(_torch_shifted(x))
            return e / e.sum(dim=-1, keepdim=True)
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


# ------------------------------------------------- error-free transformations
def _veltkamp(x):
    """Veltkamp's high half of ``x``: ``c = 4097 x``, ``hi = c - (c - x)``
    (NaN where ``c`` overflows, ``|x|`` above ``max / 4097``)."""
    with errstate(over="ignore", invalid="ignore"):
        c = 4097.0 * x
        return c - (c - x)


def _halves(x):
    """``(hi, lo)``: float32 ``x = hi + lo`` exactly, each with at most 12 of
    the 24 significant bits, so that the product of two halves is exact
    (``x`` finite, stopped). Eager NumPy and torch, below ``max / 4097``:
    Veltkamp's splitting (:func:`_veltkamp`; four operations, and no
    compiler to fuse its multiply and add into an FMA). Otherwise torch,
    JAX and NumPy truncate the significand (``frexp``, a product by a power
    of 2, ``trunc``, ``ldexp``: no rounding anywhere, so a compiler that
    fuses a multiply and an add into an FMA, as XLA and Triton do, cannot
    change it); the two give the same products and the same exact
    remainders in :func:`sub_scaled` (checked on 60 million float32 pairs
    over 60 decades). Other namespaces use Veltkamp's splitting, leaving an
    ``x`` whose ``c`` overflows unsplit (its products are then inexact, but
    finite)."""
    xp = array_namespace(x)
    numpy_like = array_api_compat.is_numpy_namespace(xp)
    eager = numpy_like or (is_torch(xp) and not torch_compiling())
    if eager and host_any(xp.abs(x) > float(finfo(x).max) / 4097) is False:
        hi = _veltkamp(x)
    elif is_torch(xp) or is_jax(xp) or numpy_like:
        if is_torch(xp):
            import torch as lib
        elif is_jax(xp):
            import jax.numpy as lib
        else:
            lib = np
        m, e = lib.frexp(x)
        hi = lib.ldexp(lib.trunc(m * 4096.0), e - 12)
        hi = xp.astype(xp.asarray(hi), x.dtype)
    else:
        hi = _veltkamp(x)
        hi = xp.where(xp.isfinite(hi), hi, x)
    return hi, x - hi


def difference_error(a, b, d):
    """The rounding error of ``d = fl(a - b)``: ``a - b = d + e`` exactly
    (Knuth's TwoSum, with no branch on the magnitudes), for finite ``a``,
    ``b``; no gradient flows through it."""
    a, b, d = stop_gradient(a), stop_gradient(b), stop_gradient(d)
    b_part = d - a  # TwoSum of a and -b, with -b's part negated: -b - b_part = -(b + b_part)
    a_part = d - b_part
    return (a - a_part) - (b + b_part)


def _compensated(x):
    """Whether :func:`sub_scaled` compensates in the dtype of ``x``: float32
    (float64 is accurate enough with the plain difference, and keeps its
    results; other dtypes get the plain difference too)."""
    return float(finfo(x).eps) == 2.0 ** -23


def sub_scaled(l, tau, v, l_err=None, centre=False, live=None):
    r"""``l + l_err - tau * v``, accurate to a few roundings of the result
    even where ``l`` and ``tau v`` nearly cancel: the log-space densities at
    their own samples, where ``l - tau v`` is a Gumbel or logistic variate of
    order 1 while ``|l|`` may be 10 000, so that the plain float32 difference
    is off by about ``eps |l|``, 1e-3.

    ``l`` and ``tau`` have the parameters' shape (broadcast against ``v``);
    the extra work is on them, once, not per sample. With ``q = l / tau``
    rounded, the remainder ``r = l - tau q`` is computed exactly from the
    halves of ``tau`` and ``q`` (Dekker's exact products, summed from the
    largest; exact in float32, checked on 2 million pairs spanning 60
    decades), and ``tau (q - v) + r`` rounds only the difference of two
    floats, the product and the sum: three relative roundings of the
    result. Per sample it costs one operation more than the plain
    difference. Where ``l / tau`` overflows it is the plain difference.

    In exact arithmetic it equals the plain difference, and so does its
    gradient (``r`` is held constant, and ``dq = (dl - q\,d\tau)/\tau``);
    infinite ``v`` gives the same infinities. ``l_err`` (optional, stopped,
    of the parameters' shape) is a known rounding error of ``l`` to add back,
    as from :func:`difference_error`. Only float32 is compensated; other
    dtypes get the plain difference ``l - tau * v`` (``l_err`` ignored).

    ``centre=True``, for a sum of ``log_softmax`` over the last axis (which
    a constant shift of each vector leaves alone): the difference minus
    ``tau D`` for a per-vector constant ``D``: ``q - v`` at the first
    coordinate (a NaN vector if that is not finite), or, given the boolean
    ``live``, its largest finite value over the coordinates of ``live``.
    Where every coordinate of the difference is near one large value (the
    subset relaxation's threshold, 1e4 at logits spread over 10 000), the
    rounding of ``q - v`` is then recovered (TwoSum) and the common part
    removed exactly before it is scaled. Seven operations more per sample.
    """
    xp = array_namespace(l, tau, v)
    if not _compensated(v):
        return l - tau * v  # l_err is below the dtype's resolution of l
    ls = stop_gradient(l)
    with errstate(over="ignore"):  # NumPy: l / tau may overflow (then `ok` is False)
        ok = xp.isfinite(ls / stop_gradient(tau))
    q = xp.where(ok, l, xp.zeros_like(l)) / tau
    th, tl = _halves(stop_gradient(tau))
    qh, ql = _halves(stop_gradient(q))
    r = (((ls - th * qh) - th * ql) - tl * qh) - tl * ql
    if l_err is not None:
        r = r + l_err
    d = q - v
    if centre:
        e = difference_error(q, v, d)  # q - v = d + e exactly
        ds = stop_gradient(d)
        if live is None:
            ref = ds[..., :1]  # if not finite, the vector is NaN (inf - inf at coordinate 0)
        else:
            use = live & xp.isfinite(ds)
            ref = xp.max(xp.where(use, ds, xp.full_like(ds, -math.inf)), axis=-1, keepdims=True)
            ref = xp.where(ref > -math.inf, ref, xp.zeros_like(ref))
        d = (d - ref) + e  # d - ref is exact where d is within a factor 2 of ref
    return tau * d + xp.where(ok, r, l)


def noise_matches_value(like):
    """Whether, in the dtype of ``like``, a log-space density computed from
    the noise that made a sample equals the density at the (rounded) sample
    itself to about 1e-12 relative: float64 (the rounding of a coordinate
    ``v``, ``eps |v|``, moves ``tau v`` by ``eps |log p|``: 2e-12 at logits
    spread over 10 000), not float32 (1e-3 there)."""
    return float(finfo(like).eps) < 1e-10
