r"""The categorical relaxation (Gumbel-softmax / Concrete); the math
is on the docs page *GumbelSoftmax* (``docs/gumbel_softmax.rst``).

All functions take unnormalised ``logits`` of shape ``batch + (k,)``, a
``temperature`` of shape ``batch`` and, for sampling, uniforms ``u`` of shape
``sample + batch + (k,)``. Every density is invariant to a shift of the
logits, so they need no normalisation.
"""

import math

from ._namespace import array_namespace, finfo, host_any, quiet_nonfinite, stop_gradient
from .special import (
    difference_error,
    lgamma_count,
    log_softmax,
    logsumexp,
    noise_matches_value,
    softmax,
    sub_scaled,
)

__all__ = [
    "shift",
    "mask",
    "boundary",
    "rsample",
    "rsample_log",
    "log_prob",
    "log_prob_log",
    "exp_log_prob",
    "log_ratios_to_log_simplex",
    "log_simplex_to_log_ratios",
    "gumbel_parts",
    "noise_log_softmax_sum",
    "rsample_parts",
    "rsample_log_parts",
    "log_prob_parts",
    "exp_log_prob_parts",
    "exp_log_prob_noise",
]

#: Headroom against gradient overflow (see :func:`log_prob`): a coordinate
#: counts as on the boundary where the density's derivative in it comes
#: within this factor of the dtype's largest float, so a loss that scales
#: ``log_prob`` by up to 16 (a subsampling scale, say) still backpropagates
#: finite numbers. A larger headroom puts more float32 samples on the
#: boundary (their ``log_prob`` the limit, often ``+inf``): of 128 float32
#: samples at k = 100, temperature 0.1, a headroom of 1 leaves 80 finite
#: (exactly those whose gradient does not overflow), 16 leaves 68, 1024
#: leaves 55.
_GRAD_HEADROOM = 16.0


def _top(logits):
    """The largest finite logit of each vector (0 if none), stopped."""
    xp = array_namespace(logits)
    finite = xp.isfinite(logits)
    top = xp.max(xp.where(finite, logits, xp.full_like(logits, -math.inf)), axis=-1, keepdims=True)
    return stop_gradient(xp.where(xp.isfinite(top), top, xp.zeros_like(top)))


def shift(logits):
    """The logits minus their largest finite entry (per vector; no gradient
    flows through the shift): at most 0, ``-inf`` where they were ``-inf``."""
    return logits - _top(logits)


def _shift_error(logits, l, masked):
    """The rounding error of :func:`mask`'s shifted logits ``l``:
    ``logits - top = l + err`` exactly (0 at the masked categories), for
    :func:`relaxed_dists.core.special.sub_scaled`."""
    xp = array_namespace(logits, l)
    zero = xp.zeros_like(l)
    err = difference_error(xp.where(masked, zero, logits), _top(logits), l)
    return xp.where(masked, zero, err)


def mask(logits, temperature):
    r"""``(l, masked)``: the logits shifted by their largest finite entry
    (no gradient flows through the shift; every sampler and density here is
    invariant to it, and it keeps the perturbed logits from overflowing
    however large the logits are), with the masked entries replaced by 0, and
    the boolean mask, shape ``batch + (k,)``.

    A category is *masked* (never chosen: its coordinate of the sample is
    exactly 0, or :math:`-\infty` in log space) when its logit is
    :math:`-\infty` (a probability of 0), or so far below the largest that
    :math:`l_i/\tau` overflows to :math:`-\infty` in the dtype (its
    probability :math:`e^{l_i}` is then 0 to the dtype's precision for any
    temperature above 1e-36). The samplers and the densities use the same
    mask, so they agree on it.
    """
    xp = array_namespace(logits, temperature)
    shifted = shift(logits)
    masked = (shifted / xp.expand_dims(temperature, axis=-1)) == -math.inf
    return xp.where(masked, xp.zeros_like(shifted), shifted), masked


def boundary(temperature, k, like):
    r"""A lower bound (shape of ``temperature``) on where a coordinate of a
    simplex value can be *on the boundary* in :func:`log_prob`: the
    density's derivative in a coordinate :math:`x_i` is
    :math:`c_i / x_i` with :math:`|c_i| \le k\tau + \tau + 1`, which cannot
    come within ``_GRAD_HEADROOM`` (16) of the dtype's largest float
    above :math:`16(k\tau + \tau + 1)/\mathrm{max}` (about
    5e-38 (k\tau + 1) in float32, 9e-308 (k\tau + 1) in float64). A value
    with no coordinate below it takes the fast paths."""
    return (k * temperature + temperature + 1) * (_GRAD_HEADROOM / float(finfo(like).max))


def _perturbed(logits, temperature, u):
    """``((l + G) / tau, (G, E))``: the perturbed logits (with :func:`mask`'s
    shift, and ``-inf`` at the masked categories) and the noise parts of
    :func:`gumbel_parts` they were made from."""
    xp = array_namespace(logits, temperature, u)
    l, masked = mask(logits, temperature)
    parts = gumbel_parts(u)
    y = (l + parts[0]) / xp.expand_dims(temperature, axis=-1)
    if host_any(masked) is not False:
        y = xp.where(masked, xp.full_like(y, -math.inf), y)
    return y, parts


def rsample(logits, temperature, u):
    r"""Concrete sample :math:`x = \mathrm{softmax}((\log p + G) / \tau)`,
    :math:`G = -\log(-\log u)`; exactly 0 at the masked categories (a logit
    of :math:`-\infty`, see :func:`mask`).

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``:
        real or :math:`-\infty`, at least one finite.
    :param temperature: positive temperature, shape ``batch``.
    :param u: uniforms in ``(0, 1)``, shape ``sample + batch + (k,)``.
    :return: a point of the simplex, shape of ``u``.
    """
    return rsample_parts(logits, temperature, u)[0]


def rsample_log(logits, temperature, u):
    r"""The same sample in log space, :math:`\log x = \mathrm{log\_softmax}((\log p + G)/\tau)`:
    finite at any temperature where ``x`` itself underflows to 0, and
    :math:`-\infty` exactly at the masked categories."""
    return rsample_log_parts(logits, temperature, u)[0]


def _live_count(masked, like):
    """Number of categories left (not masked), shape ``batch``, dtype of ``like``."""
    xp = array_namespace(masked, like)
    return xp.sum(xp.astype(~masked, like.dtype), axis=-1)


def exp_log_prob(logits, temperature, value):
    r"""Log density of :math:`v = \log x` for the Concrete :math:`x`.

    .. math::

        \log q(v) = \log\Gamma(k) + (k-1)\log\tau
            + \sum_i \mathrm{log\_softmax}(\log p - \tau v)_i

    w.r.t. Lebesgue measure on the :math:`k-1` log-ratios
    :math:`v_i - v_k` (the ExpConcrete density of Maddison, Mnih & Teh 2017,
    appendix C; the same convention as TFP's ``ExpRelaxedOneHotCategorical``).
    In these coordinates the map from the perturbed logits is linear, so the
    value at a sample depends on the Gumbel noise alone and stays finite and
    accurate at any temperature.

    **Masked categories** (:func:`mask`): with :math:`k'` categories left,
    the value is :math:`-\infty` at the masked ones and the density is that
    of the ExpConcrete of the remaining categories, w.r.t. Lebesgue measure
    on their :math:`k'-1` log-ratios (the sums and :math:`k` above run over
    them); :math:`-\infty` if a masked coordinate is not :math:`-\infty`.
    A remaining coordinate at :math:`-\infty` (the log-ratios' infinity)
    gives the density's limit there, :math:`-\infty`. Never NaN on the
    support.

    **float32.** At a sample, :math:`\log p - \tau v` is a Gumbel variate
    plus a constant while :math:`\log p` may be -10 000: the difference is
    computed by :func:`relaxed_dists.core.special.sub_scaled`, with the
    rounding of the shift of the logits added back, so that a float32
    sample scores as its float64 cast does (1e-5 relative at logits
    spread over 10 000, where the plain difference is off by 1e-3).

    :param value: points of the log-simplex (``logsumexp(value) == 0``),
        shape ``sample + batch + (k,)``.
    """
    return _exp_terms(logits, temperature, value)[0]


def _exp_terms(logits, temperature, value):
    """``(out, const, a, ls)``: :func:`exp_log_prob` and its parts, for
    :func:`relaxed_dists.core.mhot.exp_log_prob`: ``out = const + sum(ls)``
    (``-inf`` where the value is off the face or a remaining coordinate is
    ``-inf``), ``a = l - tau v`` (``-inf`` at the masked categories) and
    ``ls`` its ``log_softmax`` (0 at the masked categories)."""
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    l, masked = mask(logits, temperature)
    tau = xp.expand_dims(temperature, axis=-1)
    # l - tau v cancels at own samples (|l| large, the difference a Gumbel
    # variate): sub_scaled keeps float32 accurate there.
    err = _shift_error(logits, l, masked)
    if host_any(masked) is False:
        # No mask: the plain formula, unless a coordinate is -inf or so
        # negative that tau * v overflows (it shows up as a NaN, inf - inf).
        with quiet_nonfinite():
            a = sub_scaled(l, tau, value, err)
            ls = log_softmax(a, axis=-1)
            const = math.lgamma(k) + (k - 1) * xp.log(temperature)
            fast = const + xp.sum(ls, axis=-1)
        if host_any(xp.isnan(fast)) is False:
            return fast, const, a, ls
    # `far`: a remaining coordinate at -inf, or so negative that tau * v
    # overflows; `off`: mass on a masked category. Both give -inf; their
    # coordinates are replaced before the arithmetic (double where: no NaN
    # gradients from the branch not taken).
    with quiet_nonfinite():
        far = ~masked & ((l - tau * value) == math.inf)
    off = masked & (value != -math.inf)
    drop = masked | far
    v = xp.where(drop, xp.zeros_like(value), value)
    a = xp.where(masked, xp.full_like(v, -math.inf), sub_scaled(l, tau, v, err))
    ls = xp.where(masked, xp.zeros_like(a), log_softmax(a, axis=-1))
    n = _live_count(masked, value)
    const = lgamma_count(n, k) + (n - 1) * xp.log(temperature)
    out = const + xp.sum(ls, axis=-1)
    return xp.where(xp.any(off | far, axis=-1), xp.full_like(out, -math.inf), out), const, a, ls


def log_prob_log(logits, temperature, log_x):
    r"""Log density of the Concrete :math:`x` on the simplex, evaluated from
    finite :math:`\log x`:

    .. math::

        \log q(x) = \log\Gamma(k) + (k-1)\log\tau
            + \sum_i (\log p_i - (\tau + 1)\log x_i)
            - k \log\sum_i \exp(\log p_i - \tau \log x_i)

    w.r.t. Lebesgue measure on the first :math:`k-1` coordinates of ``x``
    (Maddison, Mnih & Teh 2017). It equals :func:`exp_log_prob` minus
    :math:`\sum_i \log x_i`, the Jacobian between the two base measures (the
    sum over the remaining categories when some are masked; ``log_x`` is
    :math:`-\infty` at the masked ones).
    """
    xp = array_namespace(log_x)
    _, masked = mask(logits, temperature)
    jac = xp.sum(xp.where(masked, xp.zeros_like(log_x), log_x), axis=-1)
    return exp_log_prob(logits, temperature, log_x) - jac


def log_prob(logits, temperature, value):
    r"""Log density of the Concrete on the simplex (see :func:`log_prob_log`),
    evaluated from ``x`` itself.

    **Masked categories** (:func:`mask`): with :math:`k'` categories left,
    the value is 0 at the masked ones and the density is that of the
    Concrete of the remaining categories on their face of the simplex,
    w.r.t. Lebesgue measure on its first :math:`k'-1` remaining coordinates;
    :math:`-\infty` where a masked coordinate is not 0.

    **Boundary.** Where float rounding has made remaining coordinates
    exactly 0 (low temperature, float32), or so small that the derivative
    of the density in them would come within a factor 16 of overflowing the
    dtype (so that the gradient of ``log_prob`` of a sample would be NaN;
    never above :func:`boundary`, about 5e-38 (k\tau + 1) in float32), the density is its limit along the ray
    :math:`x_Z = \epsilon`, :math:`\epsilon \to 0`, over the set :math:`Z` of
    those coordinates (:math:`n_0 = |Z|`): it behaves as
    :math:`\epsilon^{e}` with :math:`e = k'\tau - n_0(\tau + 1)`, so the
    value is :math:`-\infty` for :math:`e > 0`, :math:`+\infty` for
    :math:`e < 0`, and the finite limit for :math:`e = 0`. Never NaN, and
    its gradients are finite wherever it is finite. For low temperatures
    use the log-space twin (:func:`rsample_log`, :func:`exp_log_prob`),
    which stays finite.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    l, masked = mask(logits, temperature)
    tau = xp.expand_dims(temperature, axis=-1)
    low = xp.expand_dims(boundary(temperature, k, value), axis=-1)
    # Fast path, where it is free to ask whether it applies (eager, on the
    # host): no mask and no coordinate on the boundary.
    if host_any(masked) is False and host_any(xp.min(value, axis=-1, keepdims=True) < low) is False:
        log_x = xp.log(value)
        return (math.lgamma(k) + (k - 1) * xp.log(temperature)
                + xp.sum(log_softmax(l - tau * log_x, axis=-1), axis=-1)
                - xp.sum(log_x, axis=-1))
    off = masked & (value != 0)
    live = ~masked
    # On the boundary: remaining coordinates that are exactly 0, or so small
    # that the derivative of the density in them, c_i / x_i with
    # c_i = tau (k' s_i - 1) - 1 (s the softmax of `a` below, over the
    # positive ones), would come within _GRAD_HEADROOM of overflowing: then
    # the gradient of log_prob of a sample would be NaN.
    pos = live & (value > 0)
    one = xp.ones_like(value)
    log_x = xp.where(pos, xp.log(xp.where(pos, value, one)), xp.zeros_like(value))
    n = _live_count(masked, value)
    near = pos & (value < low)
    if host_any(near) is not False:
        a = xp.where(pos, l - tau * log_x, xp.full_like(value, -math.inf))
        s_pos = softmax(a, axis=-1)
        c = xp.abs(tau * (xp.expand_dims(n, axis=-1) * s_pos - 1) - 1)
        near = near & (c > value * (float(finfo(value).max) / _GRAD_HEADROOM))
    zero = live & ~pos | near
    drop = masked | zero
    # log x with the dropped coordinates replaced by 0 (double where: no NaN grads).
    log_x = xp.where(drop, xp.zeros_like(value), xp.log(xp.where(drop, one, value)))
    a = l - tau * log_x  # equals the logits at the zero coordinates
    a = xp.where(masked, xp.full_like(a, -math.inf), a)
    n0 = xp.sum(xp.astype(zero, value.dtype), axis=-1)
    any_zero = xp.expand_dims(n0 > 0, axis=-1)
    # Normaliser: over the remaining coordinates if none is 0, else over the
    # zero ones (the terms that dominate in the limit).
    neg_inf = xp.full_like(a, -math.inf)
    lse = xp.expand_dims(logsumexp(xp.where(any_zero, xp.where(zero, a, neg_inf), a), axis=-1), axis=-1)
    terms = xp.where(masked, xp.zeros_like(a), a - lse)
    finite = (
        lgamma_count(n, k)
        + (n - 1) * xp.log(temperature)
        + xp.sum(terms, axis=-1)
        - xp.sum(log_x, axis=-1)
    )
    e = n * temperature - n0 * (temperature + 1)
    inf = xp.full_like(finite, math.inf)
    limit = xp.where(e > 0, -inf, xp.where(e < 0, inf, finite))
    out = xp.where(n0 > 0, limit, finite)
    return xp.where(xp.any(off, axis=-1), -inf, out)


def log_ratios_to_log_simplex(w):
    r"""Bijection from :math:`\mathbb{R}^{k-1}` onto the log-simplex,
    :math:`v = \mathrm{log\_softmax}([w, 0])`. Its inverse is
    :math:`w_i = v_i - v_k`, so its Jacobian w.r.t. the base measure of
    :func:`exp_log_prob` is 1 (log-determinant 0)."""
    xp = array_namespace(w)
    return log_softmax(xp.concat([w, xp.zeros_like(w[..., :1])], axis=-1), axis=-1)


def log_simplex_to_log_ratios(v):
    """Inverse of :func:`log_ratios_to_log_simplex`."""
    return v[..., :-1] - v[..., -1:]


# ------------------------------------------------ densities from the noise
# At its own sample the density is a function of the noise that produced it:
# with y = (log p + G)/tau, log p - tau log x = -G + c(y) for a per-row
# constant c, so sum_i log_softmax(log p - tau log x)_i equals
# sum_i log_softmax(-G)_i = -sum_i G_i - k log sum_i E_i, where
# E = exp(-G) = -log u is computed on the way to G. These functions let an
# adapter keep (G, E) from rsample and score that very sample with two sums
# instead of the passes over the value (torch keeps the forward of its
# cached transforms the same way); the value is the same up to rounding, the
# gradient is the same total derivative.
def gumbel_parts(u):
    """``(G, E)``: standard Gumbel noise ``G = -log E`` and the standard
    exponentials ``E = -log u`` it is made from."""
    xp = array_namespace(u)
    e = -xp.log(u)
    return -xp.log(e), e


def noise_log_softmax_sum(parts):
    r""":math:`\sum_i \mathrm{log\_softmax}(-G)_i = -\sum_i G_i - k \log\sum_i E_i`."""
    xp = array_namespace(parts[0])
    g, e = parts
    return -xp.sum(g, axis=-1) - g.shape[-1] * xp.log(xp.sum(e, axis=-1))


def rsample_parts(logits, temperature, u):
    """:func:`rsample` and the noise parts for :func:`log_prob_parts`."""
    y, parts = _perturbed(logits, temperature, u)
    return softmax(y, axis=-1), parts


def rsample_log_parts(logits, temperature, u):
    """:func:`rsample_log` and the noise parts for :func:`exp_log_prob_parts`."""
    y, parts = _perturbed(logits, temperature, u)
    return log_softmax(y, axis=-1), parts


def exp_log_prob_parts(logits, temperature, value, parts):
    """:func:`exp_log_prob` at the sample ``value`` of
    :func:`rsample_log_parts` that came with ``parts``: in float64 from the
    noise (:func:`exp_log_prob_noise`, two sums); in float32 from ``value``
    (:func:`exp_log_prob`), as the rounding of a float32 sample moves its
    density away from that of the noise by up to ``eps |log p|`` per
    coordinate (1e-3 relative at logits spread over 10 000), while
    :func:`exp_log_prob` is the density of the value itself."""
    if not noise_matches_value(value):
        return exp_log_prob(logits, temperature, value)
    return exp_log_prob_noise(logits, temperature, parts)


def exp_log_prob_noise(logits, temperature, parts):
    """The ExpConcrete log density from the noise ``parts = (G, E)`` of
    :func:`gumbel_parts` that made a sample (two sums, over the remaining
    categories where some are masked): :func:`exp_log_prob` at that sample
    in exact arithmetic."""
    xp = array_namespace(logits, temperature, parts[0])
    k = parts[0].shape[-1]
    _, masked = mask(logits, temperature)
    if host_any(masked) is False:
        return math.lgamma(k) + (k - 1) * xp.log(temperature) + noise_log_softmax_sum(parts)
    g, e = parts
    n = _live_count(masked, g)
    noise = (-xp.sum(xp.where(masked, xp.zeros_like(g), g), axis=-1)
             - n * xp.log(xp.sum(xp.where(masked, xp.zeros_like(e), e), axis=-1)))
    return lgamma_count(n, k) + (n - 1) * xp.log(temperature) + noise


def log_prob_parts(logits, temperature, value, parts):
    r""":func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``: :func:`exp_log_prob_noise` minus
    :math:`\sum_i \log x_i` (from the noise in every dtype: a float32 ``x``
    rounds relatively, which moves :math:`\log x` by only ``eps``); ``None``
    where a category is masked or a coordinate is on the boundary (below
    :func:`boundary`; then
    :func:`log_prob` gives the limit there), or where that cannot be asked
    for free (see ``host_any``)."""
    xp = array_namespace(logits, temperature, value)
    _, masked = mask(logits, temperature)
    if host_any(masked) is not False:
        return None
    low = boundary(temperature, value.shape[-1], value)
    if host_any(xp.min(value, axis=-1) < low) is not False:
        return None
    return exp_log_prob_noise(logits, temperature, parts) - xp.sum(xp.log(value), axis=-1)
