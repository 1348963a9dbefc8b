r"""A subset relaxation with an exact density on the mask itself; the math is
on the docs page *RelaxedSubset* (``docs/relaxed_subset.rst``).

With perturbed logits :math:`y = \log p + G` (one Gumbel vector) the value is
:math:`S_i = \sigma((y_i - t)/\tau)`, where the scalar threshold ``t`` solves
:math:`\sum_i S_i = m` (unique: the sum falls from ``k`` to 0 as ``t``
rises; any real :math:`0 < m < k`). Its stable twin is the logit
:math:`z = \mathrm{logit}\, S = (y - t)/\tau`, finite at any temperature.

All functions take unnormalised ``logits`` of shape ``batch + (k,)``, a
``temperature`` of shape ``batch``, a Python number ``m`` and, for sampling,
uniforms ``u`` of shape ``sample + batch + (k,)``.

**Masked categories.** A logit of :math:`-\infty` (a probability of 0) means
"never chosen": :math:`S_i = 0` exactly (:math:`z_i = -\infty` in the logit
twin), and the other :math:`k'` categories follow the subset relaxation of
those categories alone, which needs :math:`m < k'` (a row without a solution
gets :math:`S_i = 1` on every unmasked category, which is not in the support).
The densities are then those of the face: w.r.t. Lebesgue measure on the
first :math:`k' - 1` unmasked coordinates (the :math:`k' - 1` unmasked logit
differences for the twin).

**Any finite logits.** The logits are shifted by their maximum before they
are perturbed (by the smallest plus the largest float if they span more than
the dtype's range), so no perturbed logit overflows, and the threshold is
solved in the units of the logits, dividing by the temperature only inside
each pass. A value whose :math:`|y_i - t|/\tau` exceeds the dtype's range
is saturated: :math:`z_i = \pm\infty`, :math:`S_i \in \{0, 1\}`, as the
exact value rounds to. Such values are the only non-finite ``z`` of an
unmasked category; the log density there is its limit (``-inf``).

**The threshold** is solved without gradients, in two bracketed searches
whose pass counts are bounded (``bounded_loop``:
a check between passes eager, which also drops the finished rows; a
``lax.while_loop`` inside a JAX trace, run on each device's own rows where
the batch is sharded over several, so that its stopping test communicates
nothing; on a torch accelerator a check every ``_CHUNK`` passes; under
``torch.jit.trace`` and ``torch.compile`` the whole solver is one recorded
operator, ``relaxed_dists::subset_threshold``, so the recorded graph does
not unroll the passes to their caps):

1. *Locating the root.* A bracket from closed-form bounds (logsumexp and
   max/min of :math:`y/\tau` over the unmasked values), then regula-falsi
   steps (Illinois variant) on the log-odds of the mean,
   :math:`\log A - \log(k' - A) - \log(m/(k'-m))`, :math:`A = \sum_i S_i`:
   one sigmoid and one sum per pass. These find the right gap between order
   statistics at low temperature, where :math:`A(t)` is a staircase. A pass
   that leaves the bracket wider than half its width two passes before (or
   whose secant point is an end) is followed by a bisection, so the width
   halves at least every third pass. Widths and midpoints are taken in
   :math:`\phi(t) = \operatorname{asinh}(t / (4\tau))`, logarithmic for
   large :math:`|t|/\tau`, so that a bisection also halves the number of
   binades a bracket spans (an outlier at :math:`-10^{30}` costs a few
   passes, not a hundred). A row stops once its sum is within rounding of
   ``m``, or its bracket is at most ``8 eps max(|lo|, |hi|)`` or
   ``sqrt(eps)/4`` temperatures wide. From the widest bracket of the dtype
   (:math:`2 \log(2 \max / (4\tau))`, any positive temperature) that is at
   most ``H`` halvings of :math:`\phi` (``H = 62`` in float64, 30 in
   float32), hence the cap of ``3 H + 3`` passes: the search ends by one of
   its rules, never by the cap.
2. *The exact root.* The values are re-centred on the value ``c`` nearest to
   the located threshold, :math:`x = (y - c)/\tau` (exact for the values near
   ``c``: the threshold of the returned sample is not limited by the rounding
   of large :math:`|y|/\tau`), and Newton steps on
   :math:`h = \log(P + c^-) - \log(Q + c^+)` polish it, with ``n`` the number
   of values above :math:`\tilde t`, :math:`c = m - n`,
   :math:`P = \sum_{\text{below}} \sigma(-|x_i - \tilde t|)`,
   :math:`Q = \sum_{\text{above}} \sigma(-|x_i - \tilde t|)`. :math:`h` has
   the sign of :math:`A - m`; each side's sums are scaled by the distance to
   its nearest value and kept as logarithms, so ``h`` sees the root even
   where every :math:`S_i` has rounded to 0 or 1, and its slope lies in
   :math:`[-2, -1/2]` (of the two ratios in :math:`h'` the one without ``c``
   is at least 1/2). Near the root each point is the Newton point moved past
   the root by about its own error (:math:`4 s^2` for a step ``s``), so the
   bracket closes from both sides; a Newton point outside the bracket, or a
   third pass that has not halved it, is replaced by a bisection. A row stops
   once its step is below ``sqrt(eps)/4`` (the error after it is below
   ``eps``) plus the rounding of ``h``, or its bracket at ulp width; the same
   halving argument caps the passes at ``3 H + 4``.

Measured over ``k`` in {2, 3, 10, 100, 1000, 10 000}, ``m`` in {1e-3, 0.5625,
1, 2.5, k/2, k - 1, k - 1/2, k - 1e-3}, temperatures 1e-4 to 1e3, logits
zero, normal, uniform over ±1e4, with an entry at -1e4, -1e30, near the
dtype's maximum or masked, float32 and float64 (107 160 own samples): none
outside the support, none NaN (NumPy and torch), the largest sum error a
tenth of :func:`subset_tolerance`; at most 59 locating passes (float64; 40 in
float32) and 14 Newton passes, typically under 15 and 1 to 2.

**Eager on the host** (NumPy, torch on the CPU; nothing masked, no value
saturated) the search starts elsewhere, for speed: up to six safeguarded
Newton passes on the log-odds of the mean, every row at once, from the
order statistics (the midpoint of the ``m``-th and ``(m+1)``-th largest
values for an integer ``m``) inside the monotonicity bounds
``[min(y), max(y)] - tau logit(m/k)``. A row whose last step is below
``sqrt(eps)/4`` temperatures, and whose sum is not flat there
(:math:`\sum_i S_i(1 - S_i) \ge A/16`), is finished by one plain Newton
step on the values re-centred on that point (exact differences near the
root; the error after it is about the step squared). The other rows take
the two searches above, from the narrowed bracket: the results agree with
the searches alone to rounding (``tests/test_subset.py``). At ``B = 1024``
rows of ``k = 10`` in torch this is about three times faster.

**The gradient** is attached by the implicit function theorem, as one
differentiable Newton step from the stopped threshold: with
:math:`\omega = q / \sum_j q_j`, :math:`q_i = S_i(1 - S_i)` (scaled by the
distance to the nearest value, exact where ``q`` underflows),
:math:`\partial t/\partial y_i = \omega_i` and
:math:`\partial t/\partial\tau = -\sum_i \omega_i z_i`; masked and saturated
categories get no gradient.
"""

import functools
import math
import numbers
import sys

import array_api_compat
import numpy as np

from . import _namespace, checks, concrete, hard_limit
from ._namespace import (
    array_namespace,
    bounded_loop,
    finfo,
    host_any,
    is_jax,
    is_torch,
    quiet_nonfinite,
    stop_gradient,
)
from .special import (
    difference_error,
    log_sigmoid,
    log_softmax,
    logsumexp,
    noise_matches_value,
    sigmoid,
    sub_scaled,
)

__all__ = [
    "subset_logits",
    "subset_probs",
    "rsample",
    "rsample_logit",
    "rsample_parts",
    "rsample_logit_parts",
    "log_prob_parts",
    "logit_log_prob_parts",
    "project_logit",
    "from_log_ratios",
    "to_log_ratios",
    "subset_log_det",
    "log_prob",
    "logit_log_prob",
    "threshold",
    "inclusion_probs",
    "check_m",
    "subset_tolerance",
    "on_subset",
    "on_logit_subset",
    "SPECS",
]

#: float32 machine epsilon: the rounding the subset checks always allow.
_EPS_FLOAT32 = float(np.finfo(np.float32).eps)

#: The bisection coordinate is ``asinh(t / (_PHI tau))``: linear within a
#: few temperatures of 0, logarithmic beyond.
_PHI = 4.0


def _halvings(info):
    """Bisections (in the coordinate of :func:`_phi`) from the widest bracket
    of a dtype to the stopping width ``8 eps max(|lo|, |hi|, _PHI tau)``
    (:func:`_width_tol`), for any positive temperature (down to the smallest
    subnormal): a ``phi``-width ``w`` has a ``t``-width at most
    ``w sqrt((_PHI tau)^2 + M^2)``, below the stopping width once
    ``w <= 8 eps / sqrt(2)``; the widest bracket spans
    ``2 log(2 max / (_PHI tau))``. 62 in float64, 30 in float32."""
    eps, largest = float(info.eps), float(info.max)
    tiny = float(info.smallest_normal) * eps  # the smallest subnormal
    span = 2 * (math.log(2) + math.log(largest) - math.log(_PHI * tiny))
    return math.ceil(math.log2(span / (8 * eps / math.sqrt(2))))


def _locate_cap(info):
    """Pass cap of the root-locating search: the width halves at least every
    third pass (:func:`_solve`)."""
    return 3 * _halvings(info) + 3


def _polish_cap(info):
    """Pass cap of the Newton polish: two free passes, then the width halves
    at least every third pass."""
    return 3 * _halvings(info) + 4


#: The cap of the root-locating passes in float64 (189; float32: 93).
_SECANT_STEPS = _locate_cap(np.finfo(np.float64))


def check_m(m, k=None, owner="RelaxedSubset"):
    """``float(m)``; ``ValueError`` naming ``m`` unless it is a real number
    (a Python or NumPy scalar: ``m`` is static, never an array) with
    ``0 < m < k`` (when the number of categories ``k`` is given, which must
    then be at least 2)."""
    if isinstance(m, bool) or not isinstance(m, numbers.Real):
        raise ValueError(f"{owner}: `m` must be a real number with 0 < m < k, got {m!r}")
    value = float(m)
    if k is not None and k < 2:
        raise ValueError(f"{owner}: a subset needs k >= 2 categories, got k = {k}")
    if not (value > 0 and (k is None or value < k)) or math.isinf(value):
        bound = "k" if k is None else f"k = {k}"
        raise ValueError(f"{owner}: `m` must satisfy 0 < m < {bound}, got {m!r}")
    return value


# ------------------------------------------------------------------ helpers
def _overflow_quietly(fn):
    """Run ``fn`` with NumPy's (and ``array_api_strict``'s) overflow warnings
    off: the solver divides by the temperature knowing that a value beyond
    the dtype's range becomes ``+-inf`` (a saturated entry), and handles it."""

    @functools.wraps(fn)
    def quiet(*args, **kwargs):
        with _namespace.errstate(over="ignore"):
            return fn(*args, **kwargs)

    return quiet


def _full(xp, like, value):
    return xp.full_like(like, value)


def _log_pos(xp, c):
    """``log(c)`` for ``c >= 0`` (``-inf`` at 0, without a warning)."""
    pos = c > 0
    return xp.where(pos, xp.log(xp.where(pos, c, xp.ones_like(c))), _full(xp, c, -math.inf))


def _log_ratio(xp, a, b):
    """``a - b`` for ``a <= b`` (logarithms), ``-inf`` where ``b`` is
    ``-inf`` (then so is ``a``: an empty sum over an empty sum)."""
    some = b > -math.inf
    return xp.where(some, a - xp.where(some, b, xp.zeros_like(b)), _full(xp, b, -math.inf))


@_overflow_quietly
def _shifted(logits):
    """The logits minus their (stopped) maximum: every density and sample is
    invariant to that shift, and finite logits of any size stay finite. If
    the logits span more than the dtype's range, the shift is the smallest
    finite logit plus the largest float instead (the top ones are then
    positive, and no difference overflows). A row of ``-inf`` is left as it
    is."""
    xp = array_namespace(logits)
    stopped = stop_gradient(logits)
    top = xp.max(stopped, axis=-1, keepdims=True)
    bottom = xp.min(xp.where(stopped > -math.inf, stopped, _full(xp, stopped, math.inf)),
                    axis=-1, keepdims=True)
    largest = float(finfo(logits).max)
    shift = xp.where(top - bottom <= largest, top, bottom + largest)
    return logits - xp.where(top > -math.inf, shift, xp.zeros_like(shift))


def _may_mask(shifted, temperature):
    """Whether the general path must run: a logit is ``-inf`` (masked), or a
    difference of perturbed logits over the temperature may leave the
    dtype's range (a saturated entry; ``|l + G| <= -min(l) + 40``, as the
    uniforms lie in ``[smallest_normal, 1)``, so ``-7 < G < 37``). ``True``
    where that cannot be asked for free (inside a trace, on an
    accelerator)."""
    xp = array_namespace(shifted, temperature)
    masked = host_any(~(shifted > -math.inf))
    if masked is not False:
        return True
    widest = 40 - xp.min(shifted)
    tight = widest * (2 / float(finfo(shifted).max)) > xp.min(temperature)
    return host_any(tight) is not False


@functools.lru_cache(maxsize=None)
def _lgamma_table(k):
    """``lgamma(j)`` for ``j = 0 .. k`` (0 at ``j = 0``, a row with no
    category left, whose result is replaced)."""
    return np.array([math.lgamma(j) if j > 0 else 0.0 for j in range(k + 1)])


def _lgamma_count(kk, k):
    """``lgamma`` of the float counts ``kk`` (integers in ``[0, k]``)."""
    xp = array_namespace(kk)
    table = xp.asarray(_lgamma_table(k), dtype=kk.dtype, device=array_api_compat.device(kk))
    idx = xp.reshape(xp.astype(kk, xp.int32), (-1,))  # int64 is not there in JAX without x64
    return xp.reshape(xp.take(table, idx, axis=0), kk.shape)


def _tracks_grad(v):
    """Whether ``v`` may carry a gradient (torch: requires it; JAX: a
    tracer); NumPy-like arrays never do."""
    xp = array_namespace(v)
    if is_torch(xp):
        import torch

        return bool(v.requires_grad) and torch.is_grad_enabled()
    if is_jax(xp):
        import jax

        return isinstance(v, jax.core.Tracer)
    return False


# ----------------------------------------------------------------- threshold
def _bracket(ys, tau, m, kk, keep):
    r"""Bounds ``lo <= t <= hi`` with :math:`A(lo) \ge m \ge A(hi)`, in the
    units of ``ys`` (``tau`` the temperature of each row):
    :math:`\sigma(x) \le e^x` gives :math:`A(t) \le e^{\mathrm{LSE}(y/\tau) - t/\tau}`,
    :math:`\sigma(x) \ge 1 - e^{-x}` gives
    :math:`A(t) \ge k' - e^{t/\tau + \mathrm{LSE}(-y/\tau)}`, and monotonicity
    gives the max/min bounds (over the ``k'`` unmasked values). Each
    ``tau LSE(y / tau)`` is taken as ``max + tau log sum exp((y - max)/tau)``:
    finite for finite values, whatever the temperature."""
    xp = array_namespace(ys)
    top = xp.max(ys, axis=-1)
    tt = tau[:, None]
    lse = top + tau * xp.log(xp.sum(xp.exp((ys - top[:, None]) / tt), axis=-1))
    if keep is None:
        bottom = xp.min(ys, axis=-1)
        lse_neg = -bottom + tau * xp.log(xp.sum(xp.exp((bottom[:, None] - ys) / tt), axis=-1))
        log_rest = math.log(kk - m)
    else:
        bottom = xp.min(xp.where(keep, ys, _full(xp, ys, math.inf)), axis=-1)
        gap = xp.where(keep, (bottom[:, None] - ys) / tt, _full(xp, ys, -math.inf))
        lse_neg = -bottom + tau * xp.log(xp.sum(xp.exp(gap), axis=-1))
        log_rest = xp.log(kk - m)
    logit_m = math.log(m) - log_rest
    hi = xp.minimum(top - tau * logit_m, lse - tau * math.log(m))
    lo = xp.maximum(bottom - tau * logit_m, tau * log_rest - lse_neg)
    return lo, xp.maximum(hi, lo)


def _log_odds(f, k, m):
    """``G = log(A / (k - A)) - logit(m / k)`` from ``f = A - m``, as
    ``log1p(f/m) - log1p(-f/(k-m))``: exact in sign and accurate near the
    root; clamped at ``log(eps)`` where ``A`` reaches 0 or ``k``, so that the
    secant stays defined."""
    xp = array_namespace(f)
    low = -1 + float(finfo(f).eps)
    return xp.log1p(xp.clip(f / m, min=low)) - xp.log1p(xp.clip(-f / (k - m), min=low))


def _secant(lo, hi, g_lo, g_hi):
    """Regula falsi inside ``[lo, hi]`` (a convex combination: no overflow
    for any finite ends); the midpoint where it is undefined."""
    xp = array_namespace(lo)
    den = g_lo - g_hi  # >= 0
    ok_den = den > 0
    frac = g_lo / xp.where(ok_den, den, xp.ones_like(den))
    ok = ok_den & (frac >= 0) & (frac <= 1)  # an end whose G is 0 is a root
    frac = xp.clip(frac, min=0.0, max=1.0)  # no overflow on the way (rows not ok)
    cand = lo * (1 - frac) + hi * frac
    ok = ok & (cand >= lo) & (cand <= hi)
    return xp.where(ok, cand, lo / 2 + hi / 2)


def _phi(t, scale):
    """The bisection coordinate ``asinh(t / scale)``, also where ``t / scale``
    overflows (``scale`` is ``_PHI`` temperatures; then ``asinh(a)`` is
    ``sign(a) log(2 |a|)`` to float precision)."""
    xp = array_namespace(t)
    a = t / scale
    over = xp.isinf(a)
    far = xp.sign(t) * (xp.log(xp.where(over, xp.abs(t), xp.ones_like(t))) + math.log(2)
                        - xp.log(scale))
    return xp.where(over, far, xp.asinh(xp.where(over, xp.zeros_like(a), a)))


def _phi_inverse(p, scale):
    """``scale sinh(p)``, without overflow on the way for large ``|p|``."""
    xp = array_namespace(p)
    near = xp.abs(p) < 20  # beyond, sinh(p) = sign(p) e^|p| / 2 to float precision
    q = xp.where(near, xp.zeros_like(p), xp.abs(p))
    far = xp.sign(p) * xp.exp(q - math.log(2) + xp.log(scale))
    return xp.where(near, scale * xp.sinh(xp.where(near, p, xp.zeros_like(p))), far)


def _phi_width(lo, hi, scale):
    return _phi(hi, scale) - _phi(lo, scale)


def _phi_mid(lo, hi, scale):
    """The midpoint of ``[lo, hi]`` in :func:`_phi`; the plain midpoint where
    rounding puts it outside (narrow brackets, where the two agree)."""
    xp = array_namespace(lo)
    mid = _phi_inverse((_phi(lo, scale) + _phi(hi, scale)) / 2, scale)
    return xp.where((mid > lo) & (mid < hi), mid, lo / 2 + hi / 2)


def _width_tol(lo, hi, floor):
    """The stopping width of a bracket: 8 ulps of its larger end, at least
    ``floor``."""
    xp = array_namespace(lo)
    eps = float(finfo(lo).eps)
    return xp.maximum(8 * eps * xp.maximum(xp.abs(lo), xp.abs(hi)), floor)


def _update(t, f, lo, hi, g, g_lo, g_hi, side):
    """Move an end of the bracket to ``t`` by the sign of ``f`` (nothing where
    ``f == 0``); Illinois: halve the retained end's value when the same end
    is kept twice."""
    xp = array_namespace(t)
    new_lo, new_hi = f > 0, f < 0
    g_hi = xp.where(new_lo & (side > 0), g_hi / 2, g_hi)
    g_lo = xp.where(new_hi & (side < 0), g_lo / 2, g_lo)
    side = xp.where(new_lo, xp.ones_like(side), xp.where(new_hi, -xp.ones_like(side), side))
    lo, g_lo = xp.where(new_lo, t, lo), xp.where(new_lo, g, g_lo)
    hi, g_hi = xp.where(new_hi, t, hi), xp.where(new_hi, g, g_hi)
    return lo, hi, g_lo, g_hi, side


def _newton_h(yt, t, m):
    r"""At ``t``: ``h`` (with the sign of ``A - m``), the Newton step on ``h``
    (``inf`` where undefined), ``A - m``, and the scale of the rounding of
    ``h`` (``|t|`` plus the distance to the nearest value on each side whose
    sum enters ``h`` alone).

    The sums over the values below and above ``t`` are taken scaled by
    :math:`e^{d}`, ``d`` the distance from ``t`` to the nearest value on that
    side, and then kept as logarithms: no term overflows, the nearest term is
    at least 1/2, and ``h`` stays exact where every :math:`S_i` has rounded to
    0 or 1 and unscaled sums would underflow. Masked values (``-inf``) add
    nothing. Masks enter as 0/1 factors, not ``where`` (several times faster
    in torch).
    """
    xp = array_namespace(yt, t)
    big = float(finfo(yt).max) / 4  # exceeds every distance, and big + |x| is finite
    x = yt - t[..., None]
    ax = xp.abs(x)
    above = xp.astype(x >= 0, yt.dtype)
    below = 1 - above
    d_a = xp.min(ax + big * below, axis=-1)  # nearest above (>= big: none above)
    d_b = xp.min(ax + big * above, axis=-1)
    d = xp.minimum(d_a, d_b)
    d_a, d_b = xp.where(d_a < big, d_a, d), xp.where(d_b < big, d_b, d)  # an empty side: d
    shift = d_b[..., None] * below + d_a[..., None] * above  # the own side's nearest (exact)
    den = 1 + xp.exp(-ax)  # 1 / sigma(|x|)
    r = xp.exp(shift - ax) / den  # e^shift sigma(-|x|): e^shift min(S, 1 - S)
    q = r / den  # e^shift S (1 - S)
    p_s, q_s = xp.sum(r * below, axis=-1), xp.sum(r * above, axis=-1)
    qb_s, qa_s = xp.sum(q * below, axis=-1), xp.sum(q * above, axis=-1)
    c = m - xp.sum(above, axis=-1)  # m - n
    log_p, log_qq = _log_pos(xp, p_s) - d_b, _log_pos(xp, q_s) - d_a
    # log(P + c-), log(Q + c+): finite, as P > 0 unless no value is below,
    # and then c < 0 (likewise Q)
    log_pc = xp.logaddexp(log_p, _log_pos(xp, -c))
    log_qc = xp.logaddexp(log_qq, _log_pos(xp, c))
    # One of them is -inf only where the values on its side are all beyond
    # the dtype's range (+-inf: saturated), and then h = +-inf.
    h = log_pc - log_qc
    f = xp.exp(log_p) - xp.exp(log_qq) - c  # A - m = P - Q - c
    # -h'(t) = qb / (P + c-) + qa / (Q + c+) > 0 (both exponents <= 0)
    slope = (xp.exp(_log_ratio(xp, _log_pos(xp, qb_s) - d_b, log_pc))
             + xp.exp(_log_ratio(xp, _log_pos(xp, qa_s) - d_a, log_qc)))
    ok = slope > 0
    step = xp.where(ok, h / xp.where(ok, slope, xp.ones_like(slope)), _full(xp, h, math.inf))
    zero = xp.zeros_like(d)
    scale = xp.abs(t) + xp.where(c >= 0, d_b, zero) + xp.where(c <= 0, d_a, zero)
    return h, step, f, scale


def _solve(ys, tau, m, general):
    """:func:`_solve_rows`; while torch records a graph (``torch.jit.trace``,
    ``torch.compile``) through a custom operator (:func:`_torch_solver`)."""
    xp = array_namespace(ys, tau)
    if is_torch(xp):
        solver = _torch_solver()  # registered here (eager) before any trace needs it
        if _namespace.torch_is_tracing():
            c, t, step, bad = solver(ys, tau, float(m), bool(general))
            return (ys - c[:, None]) / tau[:, None], c, t, step, (bad if general else None)
        if (_ON_NUMPY[0] and ys.device.type == "cpu" and ys.dtype in _numpy_dtypes()
                and ys.numel() <= _NUMPY_ELEMENTS):
            # The same passes on the same memory through NumPy: a fraction of
            # torch's cost per operation (most of a small batch's time), and
            # one thread, so that no pass waits for a thread another process
            # holds (benchmarks/THREADS.md). Larger batches stay in torch,
            # whose kernels are faster per element.
            import torch

            out = _solve_rows(ys.detach().numpy(), tau.detach().numpy(), m, general)
            return tuple(None if a is None else torch.from_numpy(np.asarray(a)) for a in out)
    return _solve_rows(ys, tau, m, general)


#: Whether eager torch CPU tensors are solved through NumPy (a switch for
#: the tests, which compare both), up to this many values.
_ON_NUMPY = [True]
_NUMPY_ELEMENTS = 1 << 17


@functools.lru_cache(maxsize=None)
def _numpy_dtypes():
    import torch

    return (torch.float32, torch.float64)


#: The registered ``relaxed_dists::subset_threshold`` operator (one entry).
_TORCH_SOLVER = []


def _torch_solver():
    """:func:`_solve_rows` as the torch operator
    ``relaxed_dists::subset_threshold``. A graph recorder sees one call, so
    the passes still stop early when the graph runs: a recorded Python loop
    would be unrolled to its cap. Registered on the first call outside a
    trace (``torch.compile`` cannot trace the registration): when this module
    is imported after torch, and by the first eager torch sample."""
    if _TORCH_SOLVER:
        return _TORCH_SOLVER[0]
    import torch

    if not hasattr(torch.ops.relaxed_dists, "subset_threshold"):  # else: an earlier import's
        @torch.library.custom_op("relaxed_dists::subset_threshold", mutates_args=())
        def solve(ys: torch.Tensor, tau: torch.Tensor, m: float,
                  general: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            _, c, t, step, bad = _solve_rows(ys, tau, m, general)
            bad = torch.zeros_like(t, dtype=torch.bool) if bad is None else bad.clone()
            return c.clone(), t.clone(), step.clone(), bad

        @solve.register_fake
        def _(ys, tau, m, general):
            rows = ys.shape[:-1]
            return (ys.new_empty(rows), ys.new_empty(rows), ys.new_empty(rows),
                    ys.new_empty(rows, dtype=torch.bool))

    _TORCH_SOLVER.append(torch.ops.relaxed_dists.subset_threshold.default)
    return _TORCH_SOLVER[0]


#: Whether eager host arrays start the search with :func:`_newton_start`
#: (a switch for the tests, which compare it with the search alone).
_FAST_START = [True]

#: Newton passes of :func:`_newton_start` at most (it stops once every row
#: has converged; typically 2 to 4).
_START_PASSES = 6


def _order_start(x, m):
    r"""A start for the threshold (in the units of ``x``, rows ``(R, k)``)
    from the order statistics: the midpoint of the ``m``-th and
    ``(m+1)``-th largest values for an integer ``m`` (the root at a low
    temperature, where only they matter), else the ``ceil(m)``-th largest
    less the logit of the fractional part (its sigmoid is then that part)."""
    xp = array_namespace(x)
    j = math.ceil(m)
    whole = j == m
    if is_torch(xp):
        import torch

        top = torch.topk(x, j + 1 if whole else j, dim=-1, sorted=True).values
        top = top[:, j - 1:]
    else:
        part = np.partition(-np.asarray(x), [j - 1, j] if whole else [j - 1], axis=-1)
        top = xp.asarray(-part[:, j - 1:j + 1] if whole else -part[:, j - 1:j])
    if whole:
        return top[:, 0] / 2 + top[:, 1] / 2
    frac = m - math.floor(m)
    return top[:, 0] - math.log(frac / (1 - frac))


def _newton_start(ys, tau, m, lo, hi, dead, tol):
    r"""Eager start of the search (NumPy, torch on the CPU; nothing masked,
    no value saturated): safeguarded Newton passes on the log-odds of the
    mean, :math:`G(t) = \log(A/(k - A)) - \mathrm{logit}(m/k)`, from
    :func:`_order_start`, in units of the temperature, with the bracket
    ``[lo, hi]`` narrowed by the sign of :math:`A - m` at each point and a
    bisection wherever a Newton point leaves it; every row takes each pass
    (a few operations, no per-row bookkeeping) until all have converged
    (a step below ``tol`` temperatures, or a sum in the dead band), at most
    :data:`_START_PASSES`. Per row the result is a point and a bracket for
    the polish, as the bracketed search gives; ``rest`` indexes the rows
    that have not converged (they go through that search from the narrowed
    bracket), and ``plain`` flags those that :func:`_plain_finish` finishes
    exactly."""
    xp = array_namespace(ys, tau)
    k = ys.shape[-1]
    x = ys / tau[:, None]
    lo_t, hi_t = lo / tau, hi / tau
    t = xp.clip(_order_start(x, m), min=lo_t, max=hi_t)
    done = xp.zeros_like(t) > 0
    for _ in range(_START_PASSES):
        s = sigmoid(x - t[:, None])
        a = xp.sum(s, axis=-1)
        f = a - m
        f = xp.where(xp.abs(f) <= dead, xp.zeros_like(f), f)
        q = a - xp.sum(s * s, axis=-1)  # sum of s (1 - s)
        lo_t = xp.where(f > 0, t, lo_t)
        hi_t = xp.where(f < 0, t, hi_t)
        with _namespace.errstate(divide="ignore", invalid="ignore"):
            slope = q * (1 / a + 1 / (k - a))  # -G'(t), >= 0
            step = _log_odds(f, k, m) / slope
        cand = t + step
        ok = (cand > lo_t) & (cand < hi_t)  # False for NaN and inf steps
        # a row that has converged keeps its point (its bracket stays valid)
        t = xp.where(done | (f == 0), t, xp.where(ok, cand, lo_t / 2 + hi_t / 2))
        done = done | (f == 0) | (ok & (xp.abs(step) <= tol))
        if bool(xp.all(done)):
            break
    rest = xp.nonzero(~done)[0]
    # Where the sum is not flat (q >= A / 16: the rounding of A moves a
    # Newton step by at most 16 eps), one plain Newton step finishes a row.
    plain = done & (16 * q >= a)
    return t * tau, lo_t * tau, hi_t * tau, rest, plain


#: Passes between two checks of whether any row still moves, for torch on an
#: accelerator (where each check synchronises with the device).
_CHUNK = 8


def _passes(loop, body, data, state, cap, pending):
    """``loop(body, data, state, cap, pending)`` (a
    :func:`~relaxed_dists.core._namespace.bounded_loop`). For eager torch on
    an accelerator, where that loop runs all ``cap`` passes (asking whether a
    row still moves would synchronise), it runs in chunks of ``_CHUNK``
    passes with one such check after each: the same result (a finished row
    is left as it is), at the cost of the passes the rows need."""
    probe = pending(state)
    xp = array_namespace(probe)
    if not (is_torch(xp) and probe.device.type != "cpu" and not _namespace.torch_is_tracing()):
        return loop(body, data, state, cap, pending)
    return _chunked(loop, body, data, state, cap, pending)


def _chunked(loop, body, data, state, cap, pending):
    xp = array_namespace(pending(state))
    done = 0
    while done < cap and bool(xp.any(pending(state))):
        n = min(_CHUNK, cap - done)
        state = loop(body, data, state, n, pending)
        done += n
    return state


@_overflow_quietly
def _solve_rows(ys, tau, m, general):
    r"""The threshold of the rows ``ys`` (shape ``(R, k)``, stopped values in
    the units of the logits; ``-inf`` entries are masked when ``general``)
    at the temperatures ``tau`` (shape ``(R,)``): ``t`` with
    :math:`\sum_i \sigma((y_i - t)/\tau) = m`.

    :return: ``(x, c, t, step, bad)``: the re-centred values
        ``x = (ys - c) / tau`` (``+-inf`` where that overflows: such a value
        is saturated), the centre ``c``, and ``t``, ``step`` with the root at
        ``t + step`` in ``x``; ``bad`` flags rows with at most ``m`` unmasked
        values (their values were replaced: the caller overwrites them),
        ``None`` unless ``general``.
    """
    xp = array_namespace(ys, tau)
    info = finfo(ys)
    eps = float(info.eps)
    k = ys.shape[-1]
    if general:
        keep = ys > -math.inf
        kk = xp.sum(xp.astype(keep, ys.dtype), axis=-1)
        bad = kk <= m
        ys = xp.where(bad[:, None], xp.zeros_like(ys), ys)  # a solvable stand-in
        keep = keep | bad[:, None]
        kk = xp.where(bad, _full(xp, kk, float(k)), kk)
    else:
        keep, kk, bad = None, float(k), None

    # 1. Locate the root: Illinois steps on the log-odds of the mean, with a
    # bisection (in _phi) after every pass that leaves the bracket wider
    # than half its width two passes before. Below this |A - m| the sign of
    # the float sum is not reliable: such a point ends the search.
    dead = 4 * eps * (m + math.sqrt(k))
    # A bracket narrower than tol temperatures also ends it: from there one
    # Newton step of the polish is exact (its error is about the step
    # squared).
    tol = math.sqrt(eps) / 4

    def residual(ys, tau, t):
        f = xp.sum(sigmoid((ys - t[:, None]) / tau[:, None]), axis=-1) - m
        return xp.where(xp.abs(f) <= dead, xp.zeros_like(f), f)

    def moving(state):
        t, f, lo, hi = state[:4]
        return (f != 0) & (hi - lo > _width_tol(lo, hi, state[-1] * (tol / _PHI)))

    def locate_pass(data, state):
        ys, tau, kk = data if general else data + (float(k),)
        t, f, lo, hi, g_lo, g_hi, side, width1, width2, scale = state
        lo2, hi2, g_lo2, g_hi2, side2 = _update(t, f, lo, hi, _log_odds(f, kk, m), g_lo, g_hi, side)
        width = _phi_width(lo2, hi2, scale)
        bisect = width > width2 / 2
        cand = _secant(lo2, hi2, g_lo2, g_hi2)
        bisect = bisect | (cand <= lo2) | (cand >= hi2)  # a secant point at an end is no step
        cand = xp.where(bisect, _phi_mid(lo2, hi2, scale), cand)
        new = (cand, residual(ys, tau, cand), lo2, hi2, g_lo2, g_hi2, side2, width, width1, scale)
        go = moving(state)  # a finished row is left as it is
        return tuple(xp.where(go, b, a) for a, b in zip(state, new))

    def locate(ys, tau, kk, lo, hi):
        g_lo = _log_odds(residual(ys, tau, lo), kk, m)
        g_hi = _log_odds(residual(ys, tau, hi), kk, m)
        t = _secant(lo, hi, g_lo, g_hi)
        inf = _full(xp, lo, math.inf)
        state = (t, residual(ys, tau, t), lo, hi, g_lo, g_hi, xp.zeros_like(lo), inf, inf, _PHI * tau)
        data = (ys, tau, kk) if general else (ys, tau)
        return _passes(bounded_loop, locate_pass, data, state, _locate_cap(info), moving)[:4]

    if not general and _FAST_START[0] and _namespace.eager_on_host(ys):
        # Eager on the host: a few Newton passes from the order statistics
        # inside the monotonicity bounds, the bracketed search only for the
        # rows they leave, and a plain Newton step re-centred on the point
        # for the rows where it is exact (the polish for the others).
        logit_m = math.log(m) - math.log(k - m)
        lo = xp.min(ys, axis=-1) - tau * logit_m
        hi = xp.max(ys, axis=-1) - tau * logit_m
        t, lo, hi, rest, plain = _newton_start(ys, tau, m, lo, hi, dead, tol)
        if rest.shape[0]:
            t_r, _, lo_r, hi_r = locate(ys[rest], tau[rest], kk, lo[rest], hi[rest])
            t[rest], lo[rest], hi[rest] = t_r, lo_r, hi_r
        x, c, t_out, step = _plain_finish(ys, tau, t, m)
        hard = xp.nonzero(~plain)[0]
        if hard.shape[0]:
            x_h, c_h, t_h, step_h = _polish(ys[hard], tau[hard], m, t[hard], lo[hard], hi[hard])
            x[hard], c[hard], t_out[hard], step[hard] = x_h, c_h, t_h, step_h
        return x, c, t_out, step, bad
    lo, hi = _bracket(ys, tau, m, kk, keep)
    t, _, lo, hi = locate(ys, tau, kk, lo, hi)
    return _polish(ys, tau, m, t, lo, hi) + (bad,)


def _polish(ys, tau, m, t, lo, hi):
    r"""Step 2 of :func:`_solve_rows` for rows ``ys`` (``(R, k)``) with a
    located point ``t`` and bracket ``[lo, hi]`` (in the units of ``ys``):
    ``(x, c, t, step)``."""
    xp = array_namespace(ys, tau)
    info = finfo(ys)
    eps, largest = float(info.eps), float(info.max)
    tol = math.sqrt(eps) / 4
    inf = _full(xp, lo, math.inf)

    # 2. Re-centre on the value nearest to t (exact differences near it), in
    # units of the temperature, and polish with Newton steps on h,
    # safeguarded by the bracket.
    upper = ys >= t[:, None]
    c_a = xp.min(xp.where(upper, ys, _full(xp, ys, math.inf)), axis=-1)
    c_b = xp.max(xp.where(upper, _full(xp, ys, -math.inf), ys), axis=-1)
    c = xp.where(c_a - t <= t - c_b, c_a, c_b)
    x = (ys - c[:, None]) / tau[:, None]
    # The located bracket's signs came from sums over rounded ys - t: widen
    # it by their rounding (clipped to the finite range, as is t: a root
    # beyond it leaves every value saturated).
    pad = 12 * eps * xp.maximum(xp.maximum(xp.abs(lo), xp.abs(hi)), xp.abs(c))

    def rescaled(v):
        return xp.clip(v / tau, min=-largest, max=largest)

    t, lo, hi = rescaled(t - c), rescaled((lo - c) - pad), rescaled((hi - c) + pad)
    unit = _full(xp, t[:1], _PHI)

    def polishing(state):
        return ~state[-1]

    def polish_pass(data, state):
        (x,) = data
        t0, step, over, lo, hi, width1, width2, done = state
        t = t0 + step + over
        h, newton, _, noise = _newton_h(x, t, m)
        lo2 = xp.where(h > 0, t, lo)
        hi2 = xp.where(h < 0, t, hi)
        width = _phi_width(lo2, hi2, unit)
        cand = t + newton
        ok = (cand >= lo2) & (cand <= hi2) & (width <= width2 / 2)  # False for inf steps
        step2 = xp.where(h == 0, xp.zeros_like(t),
                         xp.where(ok, newton, _phi_mid(lo2, hi2, unit) - t))
        # Near the root the next point is the Newton point moved beyond the
        # root by about its own error (4 step^2 > |h''/(2 h')| step^2): the
        # bracket then closes from both sides while the steps shrink
        # quadratically.
        push = xp.where(ok & (xp.abs(newton) <= 1 / 64), 4 * newton * xp.abs(newton),
                        xp.zeros_like(t))
        over2 = xp.clip(t + step2 + push, min=lo2, max=hi2) - (t + step2)
        done2 = ((h == 0) | (xp.abs(step2) <= tol + 32 * eps * noise)
                 | (hi2 - lo2 <= _width_tol(lo2, hi2, unit * (8 * eps))))
        new = (t, step2, over2, lo2, hi2, width, width1, done2)
        return tuple(xp.where(done, a, b) for a, b in zip(state, new))

    zero = xp.zeros_like(t)
    state = (t, zero, zero, lo, hi, inf, inf, zero > 0)
    # Its own loop (the module's bounded_loop is the locating search's).
    t, step = _passes(_namespace.bounded_loop, polish_pass, (x,), state, _polish_cap(info),
                      polishing)[:2]
    return x, c, t, step


def _plain_finish(ys, tau, t, m):
    r"""Step 2 of :func:`_solve_rows` where the located point ``t`` (in the
    units of ``ys``) is within ``tol`` temperatures of the root and the sum
    is not flat there (:func:`_newton_start`): the values re-centred on
    ``t`` itself, ``x = (ys - t) / tau`` (exact differences near the root),
    and one plain Newton step on :math:`\sum_i \sigma(x_i) - m`, whose
    error is about its square. ``(x, c, 0, step)``."""
    xp = array_namespace(ys, tau)
    x = (ys - t[:, None]) / tau[:, None]
    s = sigmoid(x)
    a = xp.sum(s, axis=-1)
    q = a - xp.sum(s * s, axis=-1)
    with _namespace.errstate(divide="ignore", invalid="ignore"):  # rows the polish replaces
        step = (a - m) / q
    return x, xp.asarray(t, copy=True), xp.zeros_like(t), step


def _weights(z):
    r""":math:`\omega = q / \sum_j q_j`, :math:`q_i = \sigma(z_i)\sigma(-z_i)`,
    from stopped ``z`` (``-inf`` entries get 0): each ``q_i`` scaled by
    :math:`e^{d}`, ``d`` the smallest :math:`|z_i|`, exact where ``q``
    underflows (the nearest value's term is at least 1/4)."""
    xp = array_namespace(z)
    az = xp.abs(z)
    d = xp.min(az, axis=-1, keepdims=True)
    g = xp.exp(d - az)  # <= 1
    w = g / (1 + g * xp.exp(-d)) ** 2
    return w / xp.sum(w, axis=-1, keepdims=True)


def threshold(yt, m):
    r"""The threshold in units of the temperature: :math:`\tilde t` with
    :math:`\sum_i \sigma(\tilde y_i - \tilde t) = m`, by the bounded solver of
    the module docstring (``-inf`` values are masked). Call it on stopped
    values.

    :param yt: perturbed logits over the temperature, :math:`\tilde y = y/\tau`,
        shape ``... + (k,)``.
    :param float m: the target sum, ``0 < m < k``.
    :return: ``(t, step, weights)``: the last iterate and the last
        (safeguarded) Newton step from it, the root being ``t + step`` (up to
        the rounding of ``t``: the solver keeps it relative to the value
        nearest to it), and the weights :math:`\omega_i = q_i / \sum_j q_j`
        at the root.
    """
    xp = array_namespace(yt)
    k = yt.shape[-1]
    batch = yt.shape[:-1]
    rows = xp.reshape(yt, (-1, k))
    general = host_any(~(rows > -math.inf)) is not False
    x, c, t, step, _ = _solve(rows, xp.ones_like(rows[:, 0]), m, general)
    w = _weights(x - (t + step)[:, None])
    return xp.reshape(c + t, batch), xp.reshape(step, batch), xp.reshape(w, batch + (k,))


# ------------------------------------------------------------------- sampling
@_overflow_quietly
def _project(y, tau, m, general):
    r"""``z = (y - t) / tau`` with ``t`` solving :math:`\sum_i \sigma(z_i) = m`
    (:func:`_solve` on stopped values, then the implicit-function gradient as
    one differentiable Newton step). ``y`` has shape ``... + (k,)`` and
    ``tau`` broadcasts with ``y[..., 0]``; ``general``: ``y`` may have
    ``-inf`` entries (masked) or ``(y - t)/tau`` may overflow."""
    xp = array_namespace(y, tau)
    k = y.shape[-1]
    batch = y.shape[:-1]
    tau = xp.broadcast_to(tau, batch)
    ys, taus = stop_gradient(y), stop_gradient(tau)
    x, c, t, step, bad = _solve(xp.reshape(ys, (-1, k)), xp.reshape(taus, (-1,)), m, general)
    c = xp.reshape(c, batch + (1,))
    tt = tau[..., None]
    if general:
        # masked (-inf) and overflowing values carry no gradient: their
        # difference is replaced before the division (no inf * 0)
        xs = xp.reshape(x, batch + (k,))
        ok = xp.isfinite(xs)
        v = xp.where(ok, xp.where(ok, y - c, xp.zeros_like(y)) / tt, xs)
    else:
        v = (y - c) / tt  # in value x
    z = v - xp.reshape(t + step, batch + (1,))
    if _tracks_grad(v):
        w = _weights(stop_gradient(z))
        dv = v - stop_gradient(v)  # 0 in value; its gradient is v's
        if general:
            dv = xp.where(ok, dv, xp.zeros_like(dv))  # inf - inf
        z = z - xp.sum(w * dv, axis=-1, keepdims=True)
    if general:
        bad = xp.reshape(bad, batch + (1,))
        full = xp.where(ys > -math.inf, _full(xp, z, math.inf), _full(xp, z, -math.inf))
        z = xp.where(bad, full, z)
    return z


def project_logit(v, m):
    r"""Shift ``v`` onto the surface :math:`\sum_i \sigma(z_i) = m`:
    :math:`z = v - t`, the scalar ``t`` solved on stopped values
    (:func:`threshold`) with its gradient attached by one differentiable
    Newton step, :math:`\partial t / \partial v_i = \omega_i` (the implicit
    function theorem): in value ``z = v - t`` and
    :math:`dz_j = dv_j - \sum_i \omega_i\, dv_i`. Entries ``-inf`` are masked
    (they stay ``-inf``; the sum is over the others).

    :param v: an array of finite values or ``-inf``, shape ``... + (k,)``,
        with more than ``m`` finite entries per row.
    :param float m: ``0 < m < k``.
    """
    xp = array_namespace(v)
    m = check_m(m, v.shape[-1], owner="project_logit")
    general = host_any(~(stop_gradient(v) > -math.inf)) is not False
    return _project(v, xp.ones_like(stop_gradient(v)[..., 0]), m, general)


def _perturbed(logits, temperature, u):
    """``(y, (G, E), general)``: the perturbed logits ``y = logits + G``,
    with the logits shifted by their maximum (so that finite logits never
    overflow), and the noise parts they were made from; ``general``: some
    logit may be ``-inf`` or ``y / tau`` may overflow (:func:`_may_mask`)."""
    parts = concrete.gumbel_parts(u)
    shifted = _shifted(logits)
    return shifted + parts[0], parts, _may_mask(shifted, temperature)


def rsample_logit(logits, temperature, m, u):
    r"""The sample in logit space, :math:`z = (y - t)/\tau`, with
    :math:`y = \mathrm{logits} + G`, :math:`G = -\log(-\log u)`, and ``t``
    solving :math:`\sum_i \sigma(z_i) = m`; finite at any temperature
    (``-inf`` at masked categories, whose logit is ``-inf``).

    The threshold is solved in units of the temperature on
    :math:`\tilde y = y / \tau` (:func:`threshold`); its gradient,
    :math:`dz_j = d\tilde y_j - \sum_i \omega_i\, d\tilde y_i` with
    :math:`\omega = q / \sum_j q_j`, is the implicit-function gradient of
    the docs page *RelaxedSubset* (:math:`\partial t/\partial y_i = \omega_i`,
    :math:`\partial t/\partial \tau = -\sum_i \omega_i z_i`).

    :param logits: unnormalised log-probabilities (finite, or ``-inf`` for a
        masked category; more than ``m`` unmasked), shape ``batch + (k,)``.
    :param temperature: positive temperature, shape ``batch``.
    :param float m: the sum of the relaxed mask, ``0 < m < k``.
    :param u: uniforms in ``[smallest_normal, 1)``, shape ``sample + batch + (k,)``.
    :return: ``z = logit S``, shape of ``u``.
    """
    return rsample_logit_parts(logits, temperature, m, u)[0]


def rsample_logit_parts(logits, temperature, m, u):
    """:func:`rsample_logit` and the Gumbel parts for
    :func:`logit_log_prob_parts` (see :func:`.concrete.gumbel_parts`)."""
    m = check_m(m, logits.shape[-1], owner="rsample")
    y, parts, general = _perturbed(logits, temperature, u)
    return _project(y, temperature, m, general), parts


def rsample_parts(logits, temperature, m, u):
    """:func:`rsample` and the Gumbel parts for :func:`log_prob_parts`."""
    z, parts = rsample_logit_parts(logits, temperature, m, u)
    return sigmoid(z), parts


def rsample(logits, temperature, m, u):
    r"""The relaxed m-subset :math:`S = \sigma(z)` of :func:`rsample_logit`:
    entries in (0, 1) (0 and 1 after float rounding; exactly 0 at masked
    categories) summing to ``m``."""
    return rsample_parts(logits, temperature, m, u)[0]


def from_log_ratios(w, m):
    """Bijection from :math:`\\mathbb{R}^{k-1}` onto the logit-subsets,
    ``project_logit([w, 0], m)``; its inverse is :func:`to_log_ratios`. Unit
    Jacobian w.r.t. the base measure of :func:`logit_log_prob`."""
    xp = array_namespace(w)
    return project_logit(xp.concat([w, xp.zeros_like(w[..., :1])], axis=-1), m)


def to_log_ratios(z):
    """The logit differences ``z_i - z_k``, ``i < k``."""
    return z[..., :-1] - z[..., -1:]


def subset_log_det(z):
    r""":math:`\log |\det \partial S_{1:k-1} / \partial w|` at
    :math:`S = \sigma(z)`, ``w`` the logit differences:
    :math:`\sum_i \log q_i - \log \sum_i q_i`, :math:`q_i = S_i(1 - S_i)`,
    from ``z`` (finite at any ``z``)."""
    xp = array_namespace(z)
    log_q = log_sigmoid(z) + log_sigmoid(-z)
    return xp.sum(log_q, axis=-1) - logsumexp(log_q, axis=-1)


# -------------------------------------------------------------------- density
def _count(keep, like):
    """The number of unmasked categories (in the dtype of ``like``) and its
    ``lgamma``."""
    xp = array_namespace(keep)
    kk = xp.sum(xp.astype(keep, like.dtype), axis=-1)
    return kk, _lgamma_count(kk, like.shape[-1])


def logit_log_prob(logits, temperature, value):
    r"""Log density of :math:`z = \mathrm{logit}\, S` w.r.t. Lebesgue measure on
    the ``k - 1`` differences :math:`z_i - z_k`:

    .. math::

        \log q(z) = \log\Gamma(k) + (k-1)\log\tau
            + \sum_i \mathrm{log\_softmax}(\mathrm{logits} - \tau z)_i .

    Since :math:`z_i - z_k = (y_i - y_k)/\tau`, this is the density of the
    Gumbel-perturbed logit differences scaled by :math:`1/\tau`: the
    ExpConcrete density :func:`relaxed_dists.core.concrete.exp_log_prob`
    (whose base measure is the same). It does not depend on ``m``, which
    only fixes the shift of ``z``; it is invariant to that shift.

    With masked categories (logit ``-inf``) it is the same formula over the
    ``k'`` unmasked ones, w.r.t. Lebesgue measure on their ``k' - 1``
    differences, where every masked entry of ``z`` is ``-inf`` (else
    ``-inf``). An unmasked entry that is not finite is the limit of the
    density there, ``-inf``. Never NaN.

    At its own samples ``logits - tau z`` is a Gumbel variate plus the
    threshold, while the logits and the threshold may be 10 000: the
    difference is computed by :func:`relaxed_dists.core.special.sub_scaled`
    (with the rounding error of the shift, and centred), accurate in
    float32.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    shifted = _shifted(logits)
    tau = xp.expand_dims(temperature, axis=-1)
    keep = shifted > -math.inf
    zero = xp.zeros_like(shifted)
    l = xp.where(keep, shifted, zero)  # masked: replaced (no -inf in the arithmetic)
    # The rounding error of the shift, `logits - top = shifted + err`, in the
    # rows shifted by their largest logit (those whose largest shifted logit
    # is 0: all but rows spanning more than the dtype's range, which get none).
    top = xp.max(xp.where(keep, stop_gradient(logits), _full(xp, l, -math.inf)), axis=-1, keepdims=True)
    by_top = keep & (xp.max(xp.where(keep, shifted, _full(xp, l, -math.inf)), axis=-1, keepdims=True) == 0)
    err = difference_error(xp.where(by_top, logits, zero), xp.where(by_top, top, zero), l)
    err = xp.where(by_top, err, zero)
    if host_any(~keep) is False:
        # Fast path (eager, nothing masked): a non-finite z shows up as a NaN
        # (+inf - +inf) or as -inf, the limit.
        with quiet_nonfinite():
            fast = (math.lgamma(k) + (k - 1) * xp.log(temperature)
                    + xp.sum(log_softmax(sub_scaled(l, tau, value, err, centre=True), axis=-1),
                             axis=-1))
        if host_any(xp.isnan(fast)) is False:
            return fast
    finite = xp.isfinite(value)
    a = sub_scaled(l, tau, xp.where(finite, value, xp.zeros_like(value)), err, centre=True,
                   live=keep & finite)
    a = xp.where(keep, a, _full(xp, value, -math.inf))
    kk, lgamma_kk = _count(keep, value)
    lse = logsumexp(a, axis=-1)
    some = kk > 0
    lse = xp.where(some, lse, xp.zeros_like(lse))
    # sum of (a - lse), not sum(a) - k lse: both can overflow for finite a
    inner = xp.sum(xp.where(keep, a - lse[..., None], xp.zeros_like(a)), axis=-1)
    out = lgamma_kk + (kk - 1) * xp.log(temperature) + inner
    on_face = xp.all(xp.where(keep, finite, value == -math.inf), axis=-1)
    return xp.where(on_face & some, out, _full(xp, out, -math.inf))


def log_prob(logits, temperature, value):
    r"""Log density of the relaxed subset ``S`` w.r.t. Lebesgue measure on its
    first ``k - 1`` coordinates (docs page *RelaxedSubset*):

    .. math::

        \log q(S) = \log q_z(\mathrm{logit}\, S)
            - \sum_i \log q_i + \log \sum_i q_i,
        \qquad q_i = S_i (1 - S_i),

    with :math:`\log q_z` from :func:`logit_log_prob`; the last two terms are
    the Jacobian from the logit differences to the first ``k - 1``
    coordinates of ``S`` (matrix determinant lemma).

    With masked categories (logit ``-inf``) it is the density of the
    relaxation of the ``k'`` unmasked ones on the face where every masked
    ``S_i`` is 0, w.r.t. Lebesgue measure on its first ``k' - 1`` unmasked
    coordinates (``-inf`` where a masked ``S_i`` is not 0).

    Where float rounding has made unmasked coordinates exactly 0 (the set
    :math:`Z_0`) or 1 (:math:`Z_1`), the value is the limit along the ray
    :math:`S_{Z_0} = \epsilon`, :math:`1 - S_{Z_1} = \epsilon`: the density
    behaves as :math:`\epsilon^e` with
    :math:`e = \tau(k' - n_0 + n_1) - n_0 - n_1` if :math:`n_0 > 0` and
    :math:`e = n_1(\tau - 1)` otherwise (plus 1 when no coordinate is
    strictly inside), so it is :math:`+\infty` for :math:`e < 0`,
    :math:`-\infty` for :math:`e > 0` and the finite limit for :math:`e = 0`.
    Never NaN. At low temperatures use :func:`logit_log_prob`, whose value
    stays finite.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    shifted = _shifted(logits)
    keep = shifted > -math.inf
    masked = host_any(~keep) is not False
    zero, one = value <= 0, value >= 1
    if not masked and host_any(zero | one) is False:
        # Eager, nothing masked, every coordinate strictly inside: the
        # formula below with every selection an identity (the same numbers).
        log_s, log_1ms = xp.log(value), xp.log1p(-value)
        a = shifted - xp.expand_dims(temperature, axis=-1) * (log_s - log_1ms)
        log_q = log_s + log_1ms
        exp_part = (math.lgamma(k) + (k - 1) * xp.log(temperature)
                    + xp.sum(a - logsumexp(a, axis=-1)[..., None], axis=-1))
        return exp_part + (-xp.sum(log_q, axis=-1) + logsumexp(log_q, axis=-1))
    if masked:
        off_face = xp.any(~keep & (value != 0), axis=-1)
        zero, one = zero & keep, one & keep
        edge = zero | one | ~keep
    else:
        edge = zero | one
    s = xp.where(edge, _full(xp, value, 0.5), value)  # double where: no NaN gradients
    log_s, log_1ms = xp.log(s), xp.log1p(-s)
    z = xp.where(edge, xp.zeros_like(value), log_s - log_1ms)  # boundary: finite part 0
    log_q = log_s + log_1ms
    tau = xp.expand_dims(temperature, axis=-1)
    a = shifted - tau * z
    neg_inf = _full(xp, a, -math.inf)
    n0 = xp.sum(xp.astype(zero, value.dtype), axis=-1)
    n1 = xp.sum(xp.astype(one, value.dtype), axis=-1)
    if masked:
        a = xp.where(keep, a, neg_inf)
        kk, lgamma_kk = _count(keep, value)
        not_one = one | ~keep
        log_kk = xp.log(xp.where(kk > 0, kk, xp.ones_like(kk)))
    else:
        kk, lgamma_kk, not_one, log_kk = k, math.lgamma(k), one, math.log(k)
    n_in = kk - n0 - n1
    any_zero = xp.expand_dims(n0 > 0, axis=-1)
    # The normaliser: over the zero coordinates if any (they dominate the
    # limit), else over the coordinates that are not 1 (all of them if none).
    lse = logsumexp(xp.where(any_zero, xp.where(zero, a, neg_inf), xp.where(not_one, neg_inf, a)),
                    axis=-1)
    # sum of (a - lse), not sum(a) - k lse: both can overflow for finite a
    centred = a - lse[..., None]
    if masked:
        centred = xp.where(keep, centred, xp.zeros_like(centred))
    exp_part = lgamma_kk + (kk - 1) * xp.log(temperature) + xp.sum(centred, axis=-1)
    # Jacobian: over the inside coordinates; with none inside, sum q ~ k' eps
    # (its finite part log k'; the rows' own log q is a stand-in there).
    has_in = xp.expand_dims(n_in > 0, axis=-1)
    lse_q = logsumexp(xp.where(has_in & edge, neg_inf, log_q), axis=-1)
    jac = -xp.sum(xp.where(edge, xp.zeros_like(log_q), log_q), axis=-1) + xp.where(
        n_in > 0, lse_q, log_kk + xp.zeros_like(lse_q)
    )
    finite = exp_part + jac
    e = xp.where(n0 > 0, temperature * (kk - n0 + n1) - n0 - n1, n1 * (temperature - 1))
    e = e + xp.astype(n_in == 0, e.dtype)
    inf = _full(xp, finite, math.inf)
    limit = xp.where(e > 0, -inf, xp.where(e < 0, inf, finite))
    out = xp.where(n0 + n1 > 0, limit, finite)
    if masked:
        out = xp.where(off_face | (kk < 1), -inf, out)
    return out


def _noise_log_prob(logits, temperature, value, parts):
    """:func:`logit_log_prob` at the sample ``value`` that came with
    ``parts = (G, E)``: the ExpConcrete density from the noise (two sums,
    over the unmasked categories), ``-inf`` where an unmasked entry of the
    sample is ``-inf`` (a perturbed logit below the dtype's range), as
    :func:`logit_log_prob` gives there."""
    xp = array_namespace(logits, temperature, value)
    shifted = _shifted(logits)
    if not _may_mask(shifted, temperature):
        return concrete.exp_log_prob_noise(logits, temperature, parts)
    keep = shifted > -math.inf
    g, e = parts
    kk, lgamma_kk = _count(keep, value)
    zero = xp.zeros_like(g)
    total = xp.sum(xp.where(keep, e, zero), axis=-1)
    out = (lgamma_kk + (kk - 1) * xp.log(temperature) - xp.sum(xp.where(keep, g, zero), axis=-1)
           - kk * xp.log(xp.where(total > 0, total, xp.ones_like(total))))
    lost = xp.any(keep & ~(value > -math.inf), axis=-1)
    return xp.where(lost | (kk < 1), _full(xp, out, -math.inf), out)


def logit_log_prob_parts(logits, temperature, value, parts):
    """:func:`logit_log_prob` at the sample ``value`` of
    :func:`rsample_logit_parts` that came with ``parts``: in float64, as
    ``logits - tau z = -G + t``, the ExpConcrete density from the noise
    (:func:`.concrete.exp_log_prob_noise`), over the unmasked categories; in
    float32 :func:`logit_log_prob` of ``value`` itself, as the rounding of a
    float32 ``z`` moves ``tau z`` by about ``eps |logits|`` (1e-3 for logits
    spread over 10 000) away from the noise's value (see
    :func:`relaxed_dists.core.special.noise_matches_value`)."""
    if not noise_matches_value(value):
        return logit_log_prob(logits, temperature, value)
    return _noise_log_prob(logits, temperature, value, parts)


def log_prob_parts(logits, temperature, value, parts):
    """:func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``: :func:`logit_log_prob_parts` minus the Jacobian
    from ``S`` itself (over the unmasked categories); ``None`` where an
    unmasked entry has rounded to exactly 0 or 1 (then :func:`log_prob`
    gives the limit there) or where that cannot be asked for free."""
    xp = array_namespace(logits, temperature, value)
    shifted = _shifted(logits)
    with quiet_nonfinite():
        log_q = xp.log(value) + xp.log1p(-value)
        if _may_mask(shifted, temperature):
            keep = shifted > -math.inf
            log_q = xp.where(keep, log_q, _full(xp, log_q, -math.inf))
            total = xp.sum(xp.where(keep, log_q, xp.zeros_like(log_q)), axis=-1)
        else:
            total = xp.sum(log_q, axis=-1)
        out = _noise_log_prob(logits, temperature, value, parts) - total + logsumexp(log_q, axis=-1)
    return out if host_any(~xp.isfinite(out)) is False else None


# ------------------------------------------------------------ tau -> 0 limit
def inclusion_probs(logits, m, num_nodes=200):
    r"""The :math:`\tau \to 0` limit of :math:`E[S_i]`: for integer ``m`` the
    probability that item ``i`` is among ``m`` items drawn without
    replacement with probabilities ``softmax(logits)``
    (:func:`relaxed_dists.core.hard_limit.inclusion_probs`; a masked item,
    logit ``-inf``, gets 0). For fractional ``m`` the limit puts weight 1 on
    the top :math:`\lfloor m \rfloor` perturbed logits and
    :math:`m - \lfloor m \rfloor` on the next, so the mean interpolates
    linearly between the inclusion probabilities of
    :math:`\lfloor m \rfloor` and :math:`\lceil m \rceil` items."""
    m = check_m(m, logits.shape[-1], owner="inclusion_probs")
    lower = math.floor(m)
    frac = m - lower
    pi = hard_limit.inclusion_probs(logits, lower, num_nodes)
    if frac == 0:
        return pi
    return pi + frac * (hard_limit.inclusion_probs(logits, lower + 1, num_nodes) - pi)


# ------------------------------------------------------------ support checks
def subset_tolerance(x, m):
    r"""Allowed :math:`|\sum_i S_i - m|` for float samples like ``x``:
    ``eps (64 (m + sqrt(k)) + 1024)``. The sum of a sample carries the
    rounding of the sum itself (at most about ``log2(k) eps m`` for a
    pairwise sum, ``sqrt(k) eps`` for random rounding) and that of the
    threshold and of ``z = x - t``: :math:`\sum_i q_i |\delta z_i|`, where the
    solver's re-centring keeps :math:`|z_i|` and :math:`|t|` small wherever
    :math:`q_i` is not negligible. The largest error measured on own samples
    (float32 and float64, ``k`` from 2 to 10 000, temperatures 1e-4 to 1e3,
    logit spreads up to the dtype's range) is a small fraction of this bound
    (``tests/test_subset_domain.py``).

    By meaning, not by dtype: ``eps`` is never below float32's (the least
    precise dtype the adapters sample in), so a float32 sample cast to
    float64 still passes the float64 check, as in
    :func:`relaxed_dists.core.checks.simplex_tolerance`."""
    k = x.shape[-1]
    eps = max(float(finfo(x).eps), _EPS_FLOAT32)
    return eps * (64 * (float(m) + math.sqrt(k)) + 1024)


def on_subset(x, m):
    """Entries in [0, 1] (float rounding reaches 0 and 1; masked categories
    are exactly 0) summing to ``m`` within :func:`subset_tolerance`; a
    boolean array over the batch."""
    xp = array_namespace(x)
    inside = xp.all((x >= 0) & (x <= 1), axis=-1)
    return inside & (xp.abs(xp.sum(x, axis=-1) - m) <= subset_tolerance(x, m))


def on_logit_subset(z, m):
    """Entries that are not NaN (``-inf`` at masked categories; ``+-inf``
    are the logits of exact 0 and 1) with ``sum(sigmoid(z)) == m`` within
    :func:`subset_tolerance`."""
    xp = array_namespace(z)
    real = xp.all(z == z, axis=-1)
    return real & (xp.abs(xp.sum(sigmoid(z), axis=-1) - m) <= subset_tolerance(z, m))


#: name -> (check(value, m), event_dim, what is expected); each adapter turns
#: these into constraints of its host library, one instance per ``m``.
def subset_logits(x, m):
    """The logits of a subset class: :func:`~relaxed_dists.core.checks.category_logits`
    with more than ``m`` finite entries (``m`` must stay below the number of
    categories left)."""
    return checks.category_logits(x, math.floor(m) + 1)


def subset_probs(x, m):
    """The probabilities of a subset class: :func:`~relaxed_dists.core.checks.category_probs`
    with more than ``m`` positive entries."""
    return checks.category_probs(x, math.floor(m) + 1)


SPECS = {
    "subset_logits": (subset_logits, 1,
                      "vectors of real numbers or -inf (no NaN, no +inf; -inf masks a "
                      "category), more than m = {m} of them finite"),
    "subset_probs": (subset_probs, 1,
                     "probability vectors (entries >= 0 summing to 1 within max(1e-6, "
                     "16 eps sqrt(k)); a 0 masks its category), more than m = {m} of them "
                     "positive"),
    "subset": (on_subset, 1,
               "relaxed {m}-subsets (entries in [0, 1] summing to m = {m} within "
               "eps (64 (m + sqrt(k)) + 1024))"),
    "logit_subset": (on_logit_subset, 1,
                     "logits of relaxed {m}-subsets (entries not NaN, -inf at masked "
                     "categories, whose sigmoids sum to m = {m} within "
                     "eps (64 (m + sqrt(k)) + 1024))"),
}


if "torch" in sys.modules:  # the Pyro adapter imports torch first: ready for torch.compile
    _torch_solver()
