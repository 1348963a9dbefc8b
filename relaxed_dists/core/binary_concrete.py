r"""The binary relaxation (Binary Concrete); the math is on the
docs page *BinaryConcrete* (``docs/binary_concrete.rst``).

``logits`` are the log-odds :math:`\mathrm{logit}\, p = \log p - \log(1-p)`
of ``P(1)``; everything broadcasts elementwise. The sign is the corrected
one (see the docs page's erratum): the binary-case source note has a
leading minus that gives ``P(x > 1/2) = 1 - p``.

**Masked values.** A logit of :math:`-\infty` (a probability of 0) forces
the value: ``x`` is exactly 0 (the logit twin :math:`-\infty`), and a logit
of :math:`+\infty` forces ``x = 1`` (:math:`+\infty`); so does a finite
logit so large that :math:`\mathrm{logit}\,p/\tau` overflows the dtype. Such
a value is a point mass: its ``log_prob`` is 0 at the forced value and
:math:`-\infty` elsewhere (w.r.t. the counting measure on that point).
"""

import math

from ._namespace import array_namespace, finfo, host_any
from .special import log_sigmoid, noise_matches_value, sigmoid, sub_scaled

__all__ = ["mask", "boundary", "rsample", "rsample_logit", "log_prob", "logit_log_prob",
           "rsample_parts", "rsample_logit_parts", "log_prob_parts", "logit_log_prob_parts"]

#: As in :mod:`.concrete`: headroom of :func:`boundary` against gradient overflow.
_GRAD_HEADROOM = 16.0


def mask(logits, temperature):
    r"""``(l, low, high)``: the logits with the forced ones replaced by 0,
    and where the value is forced to 0 (``low``: :math:`\mathrm{logit}\,p/\tau
    = -\infty`) or to 1 (``high``: :math:`+\infty`)."""
    xp = array_namespace(logits, temperature)
    scaled = logits / temperature
    low, high = scaled == -math.inf, scaled == math.inf
    return xp.where(low | high, xp.zeros_like(logits), logits), low, high


def boundary(temperature, like):
    r"""Values of ``x`` below this bound count as exactly 0 in
    :func:`log_prob`: the density's derivative there, about
    :math:`(\tau + 1)/x`, would come within a factor 16 of overflowing the
    dtype of ``like`` and turn the gradient of ``log_prob`` of a sample into
    NaN. The bound is :math:`16(\tau + 1)/\mathrm{max}` (5e-38 (\tau + 1)
    in float32). Near 1 no bound is needed: :math:`1 - x` is at least half an
    epsilon."""
    return (temperature + 1) * (_GRAD_HEADROOM / float(finfo(like).max))


def _forced(value, low, high, at_low, at_high, out):
    """``out`` with the point masses of the forced values: 0 where ``value``
    equals the forced one (``at_low`` / ``at_high``), ``-inf`` elsewhere."""
    xp = array_namespace(value, out)
    zero, neg = xp.zeros_like(out), xp.full_like(out, -math.inf)
    out = xp.where(low, xp.where(value == at_low, zero, neg), out)
    return xp.where(high, xp.where(value == at_high, zero, neg), out)


def rsample_logit(logits, temperature, u):
    r"""The sample in logit space, :math:`z = (\mathrm{logit}\,p + L)/\tau`,
    :math:`L = \log u - \log(1 - u)`; finite at any temperature (:math:`\mp\infty`
    where the logit forces the value, see :func:`mask`)."""
    return rsample_logit_parts(logits, temperature, u)[0]


def rsample(logits, temperature, u):
    r"""Binary Concrete sample :math:`x = \sigma((\mathrm{logit}\,p + L)/\tau)`.

    :math:`P(x > 1/2) = p` exactly for every temperature.
    """
    return sigmoid(rsample_logit(logits, temperature, u))


def logit_log_prob(logits, temperature, value):
    r"""Log density of :math:`z = \mathrm{logit}\, x` w.r.t. Lebesgue measure
    on the real line:

    .. math::

        \log q(z) = \log\tau + \log\sigma(a) + \log\sigma(-a),
        \qquad a = \mathrm{logit}\,p - \tau z,

    which equals the textbook form :math:`\log\tau + a - 2\,\mathrm{softplus}(a)`
    but is :math:`-\infty`, not NaN, at :math:`z = \pm\infty`. Where the
    logit forces the value (:func:`mask`), 0 at the forced
    :math:`\pm\infty` and :math:`-\infty` elsewhere. At its own samples
    ``a`` is a logistic variate while :math:`\mathrm{logit}\,p` may be
    large: the difference is computed by
    :func:`relaxed_dists.core.special.sub_scaled`, accurate in float32.
    """
    xp = array_namespace(logits, temperature, value)
    l, low, high = mask(logits, temperature)
    if host_any(low | high) is False:
        a = sub_scaled(l, temperature, value)
        return xp.log(temperature) + log_sigmoid(a) + log_sigmoid(-a)
    # Double where: the forced entries' infinite values never reach the
    # arithmetic (no NaN gradients from the branch not taken).
    z = xp.where(low | high, xp.zeros_like(value), value)
    a = sub_scaled(l, temperature, z)
    out = xp.log(temperature) + log_sigmoid(a) + log_sigmoid(-a)
    return _forced(value, low, high, -math.inf, math.inf, out)


def log_prob(logits, temperature, value):
    r"""Log density of :math:`x \in (0, 1)` w.r.t. Lebesgue measure:

    .. math::

        \log q(x) = \log\tau + \mathrm{logit}\,p - (\tau+1)\log x
            + (\tau-1)\log(1-x) - 2\,\mathrm{softplus}(\mathrm{logit}\,p - \tau\,\mathrm{logit}\,x)

    (Maddison, Mnih & Teh 2017), computed as :func:`logit_log_prob` at
    :math:`\mathrm{logit}\,x` minus :math:`\log x + \log(1-x)`. Where float
    rounding has made ``x`` exactly 0 or 1 (or ``x`` is below
    :func:`boundary`, where the gradient would overflow) the value is the
    limit of the density there, which behaves as
    :math:`\epsilon^{\tau - 1}`: :math:`+\infty` for :math:`\tau < 1`,
    :math:`-\infty` for :math:`\tau > 1`, and :math:`\pm\mathrm{logit}\,p`
    for :math:`\tau = 1`. Where the logit forces the value (:func:`mask`),
    0 at the forced 0 or 1 and :math:`-\infty` elsewhere. Never NaN, never
    clipped. For low temperatures use the logit-space twin.
    """
    l, low, high = mask(logits, temperature)
    out = _with_limits(l, temperature, value,
                       lambda lx, l1mx: _logit_density(l, temperature, lx - l1mx) - lx - l1mx)
    if host_any(low | high) is False:
        return out
    return _forced(value, low, high, 0.0, 1.0, out)


def _logit_density(l, temperature, z):
    xp = array_namespace(l, temperature, z)
    a = l - temperature * z
    return xp.log(temperature) + log_sigmoid(a) + log_sigmoid(-a)


def _with_limits(logits, temperature, value, interior):
    """The density ``interior(log x, log(1 - x))`` with the limit where ``x``
    is exactly 0 or 1 (or below :func:`boundary`). Eager on the host with no
    such value, that is ``interior`` alone; otherwise it is masked
    elementwise (double ``where``: no NaN gradients)."""
    xp = array_namespace(logits, temperature, value)
    lowest = boundary(temperature, value)
    inside = (value >= lowest) & (value < 1)
    if host_any(~inside) is False:
        return interior(xp.log(value), xp.log1p(-value))
    x = xp.where(inside, value, xp.full_like(value, 0.5))
    finite = interior(xp.log(x), xp.log1p(-x))
    inf = xp.full_like(finite, math.inf)
    at_one = value >= 1
    limit = xp.where(
        temperature < 1,
        inf,
        xp.where(temperature > 1, -inf, xp.where(at_one, logits, -logits) + xp.zeros_like(finite)),
    )
    return xp.where(inside, finite, limit)


# ------------------------------------------------ densities from the noise
# As in concrete: at its own sample z = (logit p + L)/tau, a = logit p - tau z
# is -L, and log sigma(-L) + log sigma(L) = log(1 - u) + log u, the two logs
# computed on the way to L = log u - log(1 - u).
def rsample_logit_parts(logits, temperature, u):
    """:func:`rsample_logit` and the parts ``(log u, log(1 - u))`` for
    :func:`logit_log_prob_parts`."""
    xp = array_namespace(logits, temperature, u)
    l, low, high = mask(logits, temperature)
    parts = (xp.log(u), xp.log1p(-u))
    z = (l + (parts[0] - parts[1])) / temperature
    if host_any(low | high) is not False:
        z = xp.where(low, xp.full_like(z, -math.inf), xp.where(high, xp.full_like(z, math.inf), z))
    return z, parts


def rsample_parts(logits, temperature, u):
    """:func:`rsample` and the parts for :func:`log_prob_parts`."""
    z, parts = rsample_logit_parts(logits, temperature, u)
    return sigmoid(z), parts


def logit_log_prob_parts(logits, temperature, value, parts):
    """:func:`logit_log_prob` at the sample ``value`` of
    :func:`rsample_logit_parts` that came with ``parts``: in float64 from
    the noise, in float32 :func:`logit_log_prob` of ``value`` itself (the
    rounding of a float32 ``z`` moves ``a`` by about
    ``eps |logit p|``, 1e-3 for logits of 10 000, away from the noise's
    value; see :func:`relaxed_dists.core.special.noise_matches_value`)."""
    if not noise_matches_value(value):
        return logit_log_prob(logits, temperature, value)
    xp = array_namespace(logits, temperature, value)
    out = xp.log(temperature) + (parts[0] + parts[1])
    _, low, high = mask(logits, temperature)
    if host_any(low | high) is False:
        return out
    return _forced(value, low, high, -math.inf, math.inf, out)


def log_prob_parts(logits, temperature, value, parts):
    """:func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``, with the limit of :func:`log_prob` where ``value`` has
    rounded to exactly 0 or 1 (common in float32 for large batches)."""
    xp = array_namespace(logits, temperature, value)
    l, low, high = mask(logits, temperature)
    noise = xp.log(temperature) + (parts[0] + parts[1])
    out = _with_limits(l, temperature, value, lambda lx, l1mx: noise - lx - l1mx)
    if host_any(low | high) is False:
        return out
    return _forced(value, low, high, 0.0, 1.0, out)
