r"""The categorical relaxation (Gumbel-softmax / Concrete), MATH.md section 1.

All functions take unnormalised ``logits`` of shape ``batch + (k,)``, a
``temperature`` of shape ``batch`` and, for sampling, uniforms ``u`` of shape
``sample + batch + (k,)``. Every density is invariant to a shift of the
logits, so they need no normalisation.
"""

import math

from ._namespace import array_namespace, host_any, quiet_nonfinite
from .special import log_softmax, logsumexp, softmax

__all__ = [
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
]


def _perturbed(logits, temperature, u):
    """``((logits + G) / tau, (G, E))``: the perturbed logits and the noise
    parts of :func:`gumbel_parts` they were made from."""
    xp = array_namespace(logits, temperature, u)
    parts = gumbel_parts(u)
    return (logits + parts[0]) / xp.expand_dims(temperature, axis=-1), parts


def rsample(logits, temperature, u):
    r"""Concrete sample :math:`x = \mathrm{softmax}((\log p + G) / \tau)`,
    :math:`G = -\log(-\log u)`.

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``.
    :param temperature: positive temperature, shape ``batch``.
    :param u: uniforms in ``(0, 1)``, shape ``sample + batch + (k,)``.
    :return: a point of the simplex, shape of ``u``.
    """
    return rsample_parts(logits, temperature, u)[0]


def rsample_log(logits, temperature, u):
    r"""The same sample in log space, :math:`\log x = \mathrm{log\_softmax}((\log p + G)/\tau)`:
    finite at any temperature where ``x`` itself underflows to 0."""
    return rsample_log_parts(logits, temperature, u)[0]


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

    :param value: points of the log-simplex (``logsumexp(value) == 0``),
        shape ``sample + batch + (k,)``.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    a = logits - xp.expand_dims(temperature, axis=-1) * value
    return (
        math.lgamma(k)
        + (k - 1) * xp.log(temperature)
        + xp.sum(log_softmax(a, axis=-1), axis=-1)
    )


def log_prob_log(logits, temperature, log_x):
    r"""Log density of the Concrete :math:`x` on the simplex, evaluated from
    finite :math:`\log x`:

    .. math::

        \log q(x) = \log\Gamma(k) + (k-1)\log\tau
            + \sum_i (\log p_i - (\tau + 1)\log x_i)
            - k \log\sum_i \exp(\log p_i - \tau \log x_i)

    w.r.t. Lebesgue measure on the first :math:`k-1` coordinates of ``x``
    (Maddison, Mnih & Teh 2017). It equals :func:`exp_log_prob` minus
    :math:`\sum_i \log x_i`, the Jacobian between the two base measures.
    """
    xp = array_namespace(log_x)
    return exp_log_prob(logits, temperature, log_x) - xp.sum(log_x, axis=-1)


def log_prob(logits, temperature, value):
    r"""Log density of the Concrete on the simplex (see :func:`log_prob_log`),
    evaluated from ``x`` itself.

    Where float rounding has made coordinates exactly 0 (low temperature,
    float32) the density is its limit along the ray :math:`x_Z = \epsilon`,
    :math:`\epsilon \to 0`, over the set :math:`Z` of zero coordinates
    (:math:`n_0 = |Z|`): it behaves as :math:`\epsilon^{e}` with
    :math:`e = k\tau - n_0(\tau + 1)`, so the value is :math:`-\infty` for
    :math:`e > 0`, :math:`+\infty` for :math:`e < 0`, and the finite limit
    for :math:`e = 0`. Never NaN. For low temperatures use the log-space
    twin (:func:`rsample_log`, :func:`exp_log_prob`), which stays finite.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    # Fast path, where it is free to ask whether it applies (eager, on the
    # host): with no coordinate exactly 0 the formula needs no masking, and
    # an exact 0 shows up as a NaN of the unmasked formula (inf - inf).
    with quiet_nonfinite():
        log_x = xp.log(value)
        fast = (math.lgamma(k) + (k - 1) * xp.log(temperature)
                + xp.sum(log_softmax(logits - xp.expand_dims(temperature, axis=-1) * log_x, axis=-1),
                         axis=-1)
                - xp.sum(log_x, axis=-1))
    if host_any(xp.isnan(fast)) is False:
        return fast
    zero = value == 0
    # log x with the zero coordinates replaced by 0 (double where: no NaN grads).
    one = xp.ones_like(value)
    log_x = xp.where(zero, xp.zeros_like(value), xp.log(xp.where(zero, one, value)))
    tau = xp.expand_dims(temperature, axis=-1)
    a = logits - tau * log_x  # equals the logits at the zero coordinates
    n0 = xp.sum(xp.astype(zero, value.dtype), axis=-1)
    any_zero = xp.expand_dims(n0 > 0, axis=-1)
    # Normaliser: over all coordinates if none is 0, else over the zero ones
    # (the terms that dominate in the limit).
    neg_inf = xp.full_like(a, -math.inf)
    lse = logsumexp(xp.where(any_zero, xp.where(zero, a, neg_inf), a), axis=-1)
    finite = (
        math.lgamma(k)
        + (k - 1) * xp.log(temperature)
        + xp.sum(a - xp.expand_dims(lse, axis=-1), axis=-1)
        - xp.sum(log_x, axis=-1)
    )
    e = k * temperature - n0 * (temperature + 1)
    inf = xp.full_like(finite, math.inf)
    limit = xp.where(e > 0, -inf, xp.where(e < 0, inf, finite))
    return xp.where(n0 > 0, limit, finite)


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
    :func:`rsample_log_parts` that came with ``parts`` (two sums)."""
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    return math.lgamma(k) + (k - 1) * xp.log(temperature) + noise_log_softmax_sum(parts)


def log_prob_parts(logits, temperature, value, parts):
    r""":func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``: :func:`exp_log_prob_parts` minus
    :math:`\sum_i \log x_i`; ``None`` where a coordinate has rounded to
    exactly 0 (then :func:`log_prob` gives the limit there) or where that
    cannot be asked for free (see :func:`._namespace.host_any`)."""
    xp = array_namespace(logits, temperature, value)
    with quiet_nonfinite():
        out = exp_log_prob_parts(logits, temperature, value, parts) - xp.sum(xp.log(value), axis=-1)
    return out if host_any(xp.isinf(out)) is False else None
