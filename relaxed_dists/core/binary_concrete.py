r"""The binary relaxation (Binary Concrete), MATH.md section 2.

``logits`` are the log-odds :math:`\mathrm{logit}\, p = \log p - \log(1-p)`
of ``P(1)``; everything broadcasts elementwise. The sign follows MATH.md: the
binary-case source note has a leading minus that gives ``P(x > 1/2) = 1 - p``.
"""

import math

from ._namespace import array_namespace, host_any, quiet_nonfinite
from .special import log_sigmoid, sigmoid

__all__ = ["rsample", "rsample_logit", "log_prob", "logit_log_prob", "rsample_parts",
           "rsample_logit_parts", "log_prob_parts", "logit_log_prob_parts"]


def rsample_logit(logits, temperature, u):
    r"""The sample in logit space, :math:`z = (\mathrm{logit}\,p + L)/\tau`,
    :math:`L = \log u - \log(1 - u)`; finite at any temperature."""
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

    which equals MATH.md's :math:`\log\tau + a - 2\,\mathrm{softplus}(a)`
    but is :math:`-\infty`, not NaN, at :math:`z = \pm\infty`.
    """
    xp = array_namespace(logits, temperature, value)
    a = logits - temperature * value
    return xp.log(temperature) + log_sigmoid(a) + log_sigmoid(-a)


def log_prob(logits, temperature, value):
    r"""Log density of :math:`x \in (0, 1)` w.r.t. Lebesgue measure:

    .. math::

        \log q(x) = \log\tau + \mathrm{logit}\,p - (\tau+1)\log x
            + (\tau-1)\log(1-x) - 2\,\mathrm{softplus}(\mathrm{logit}\,p - \tau\,\mathrm{logit}\,x)

    (Maddison, Mnih & Teh 2017), computed as :func:`logit_log_prob` at
    :math:`\mathrm{logit}\,x` minus :math:`\log x + \log(1-x)`. Where float
    rounding has made ``x`` exactly 0 or 1 the value is the limit of the
    density there, which behaves as :math:`\epsilon^{\tau - 1}`: :math:`+\infty`
    for :math:`\tau < 1`, :math:`-\infty` for :math:`\tau > 1`, and
    :math:`\pm\mathrm{logit}\,p` for :math:`\tau = 1`. Never NaN, never
    clipped. For low temperatures use the logit-space twin.
    """
    return _with_limits(logits, temperature, value,
                        lambda lx, l1mx: logit_log_prob(logits, temperature, lx - l1mx) - lx - l1mx)


def _with_limits(logits, temperature, value, interior):
    """The density ``interior(log x, log(1 - x))`` with the limit where ``x``
    is exactly 0 or 1. Eager on the host with no such value (an exact 0 or 1
    makes the unmasked ``interior`` non-finite), that is ``interior`` alone;
    otherwise it is masked elementwise (double ``where``: no NaN
    gradients)."""
    xp = array_namespace(logits, temperature, value)
    with quiet_nonfinite():
        fast = interior(xp.log(value), xp.log1p(-value))
    if host_any(~xp.isfinite(fast)) is False:
        return fast
    inside = (value > 0) & (value < 1)
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
    xp = array_namespace(u)
    parts = (xp.log(u), xp.log1p(-u))
    return (logits + (parts[0] - parts[1])) / temperature, parts


def rsample_parts(logits, temperature, u):
    """:func:`rsample` and the parts for :func:`log_prob_parts`."""
    z, parts = rsample_logit_parts(logits, temperature, u)
    return sigmoid(z), parts


def logit_log_prob_parts(logits, temperature, value, parts):
    """:func:`logit_log_prob` at the sample ``value`` of
    :func:`rsample_logit_parts` that came with ``parts``."""
    xp = array_namespace(logits, temperature, value)
    return xp.log(temperature) + (parts[0] + parts[1])


def log_prob_parts(logits, temperature, value, parts):
    """:func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``, with the limit of :func:`log_prob` where ``value`` has
    rounded to exactly 0 or 1 (common in float32 for large batches)."""
    noise = logit_log_prob_parts(logits, temperature, value, parts)
    return _with_limits(logits, temperature, value, lambda lx, l1mx: noise - lx - l1mx)
