r"""A subset relaxation with an exact density on the mask itself, MATH.md
section 4.

With perturbed logits :math:`y = \log p + G` (one Gumbel vector) the value is
:math:`S_i = \sigma((y_i - t)/\tau)`, where the scalar threshold ``t`` solves
:math:`\sum_i S_i = m` (unique: the sum falls from ``k`` to 0 as ``t``
rises; any real :math:`0 < m < k`). Its stable twin is the logit
:math:`z = \mathrm{logit}\, S = (y - t)/\tau`, finite at any temperature.

All functions take unnormalised ``logits`` of shape ``batch + (k,)``, a
``temperature`` of shape ``batch``, a Python number ``m`` and, for sampling,
uniforms ``u`` of shape ``sample + batch + (k,)``.

**The threshold** is solved without gradients in a bounded number of passes
over the ``k`` values (so that it runs under ``jax.jit``), in units of the
temperature, :math:`\tilde t = t/\tau`, :math:`\tilde y = y/\tau`:

1. a bracket from closed-form bounds (logsumexp and max/min of
   :math:`\tilde y`), and the sum at both ends;
2. at most ``_SECANT_STEPS`` regula-falsi steps (Illinois variant) on the log-odds of
   the mean, :math:`G = \log A - \log(k - A) - \log(m/(k-m))`,
   :math:`A = \sum_i S_i`: one sigmoid and one sum per pass. This finds the
   right gap between order statistics at low temperature, where
   :math:`A(\tilde t)` is a staircase and Newton's method crosses one item
   per step. A row stops moving once its sum is within rounding of ``m``,
   and the passes stop when every row has (a Python check eager, a
   ``lax.while_loop`` inside a JAX trace): 6 or 7 passes at temperature 0.5
   in float32, 10 to the cap of 18 at 0.01;
3. ``_NEWTON_STEPS`` safeguarded Newton steps on
   :math:`h = \log(P + c^-) - \log(Q + c^+)`, with ``n`` the number of
   values above :math:`\tilde t`, :math:`c = m - n`,
   :math:`P = \sum_{\text{below}} \sigma(-|x_i|)`,
   :math:`Q = \sum_{\text{above}} \sigma(-|x_i|)`,
   :math:`x = \tilde y - \tilde t` (:math:`h` has the sign of
   :math:`A - m`). Each side's sums are scaled by the distance to its nearest
   value and kept as logarithms, so the root is exact to float precision
   even where every :math:`S_i` has rounded to 0 or 1 (at low temperature
   the sum is flat there, and only ``h`` still sees the root), and ``h`` is
   nearly linear in :math:`\tilde t` between two order statistics.

Measured (float64 and float32, 64 draws for each of ``k`` in
{2, 10, 1000, 10000}, ``m`` in {0.3, 1, 2.5, 5, 17.7, 50, k/2, k-50, k-5,
k-1, k-1/2}, logits of scale 0, 1, 3 and temperatures 10 to 0.01, three
seeds; and 70 000 draws of fractional ``m`` at temperatures 0.1 to 0.01):
the root is reached to float rounding in every draw, and the sum errors stay
below a tenth of :func:`subset_tolerance`. The hardest draws have a
fractional ``m`` at temperature 0.01, the root on one order statistic close
to the next: with 16 regula-falsi steps one draw in about 100 000 stopped a
Newton step short; with 10, one in 1500.

**The gradient** is attached by the implicit function theorem, as one
differentiable Newton step from the stopped threshold: with
:math:`\omega = q / \sum_j q_j`, :math:`q_i = S_i(1 - S_i)` (computed as a
ratio of sums scaled by the distance to the nearest value, exact where ``q``
underflows),
:math:`\partial t/\partial y_i = \omega_i` and
:math:`\partial t/\partial\tau = -\sum_i \omega_i z_i`.
"""

import math
import numbers

from . import concrete, hard_limit
from ._namespace import array_namespace, bounded_loop, finfo, host_any, quiet_nonfinite, stop_gradient
from .special import log_sigmoid, logsumexp, sigmoid

__all__ = [
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
    "SubsetFamily",
    "RelaxedSubsetFamily",
    "LogitRelaxedSubsetFamily",
]

#: Regula-falsi passes (one sigmoid and one sum each), after the two ends.
#: The counts are fixed (no data-dependent loop: jit-friendly); see the
#: measurements in the module docstring.
_SECANT_STEPS = 18
#: Newton passes on ``h`` (about 30 array operations each); the last one
#: also gives the weights of the differentiable step.
_NEWTON_STEPS = 2


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


# ----------------------------------------------------------------- threshold
def _full(xp, like, value):
    return xp.full_like(like, value)


def _bracket(yt, m):
    r"""Bounds ``lo <= t <= hi`` with :math:`A(lo) \ge m \ge A(hi)`:
    :math:`\sigma(x) \le e^x` gives :math:`A(t) \le e^{\mathrm{LSE}(\tilde y) - t}`,
    :math:`\sigma(x) \ge 1 - e^{-x}` gives
    :math:`A(t) \ge k - e^{t + \mathrm{LSE}(-\tilde y)}`, and monotonicity
    gives the max/min bounds."""
    xp = array_namespace(yt)
    k = yt.shape[-1]
    logit_m = math.log(m) - math.log(k - m)
    hi = xp.minimum(xp.max(yt, axis=-1) - logit_m, logsumexp(yt, axis=-1) - math.log(m))
    lo = xp.maximum(xp.min(yt, axis=-1) - logit_m, math.log(k - m) - logsumexp(-yt, axis=-1))
    return lo, hi


def _log_odds(f, k, m):
    """``G = log(A / (k - A)) - logit(m / k)`` from ``f = A - m``, as
    ``log1p(f/m) - log1p(-f/(k-m))``: exact in sign and accurate near the
    root; clamped at ``log(eps)`` where ``A`` reaches 0 or ``k``, so that the
    secant stays defined."""
    xp = array_namespace(f)
    low = -1 + float(finfo(f).eps)
    return xp.log1p(xp.clip(f / m, min=low)) - xp.log1p(xp.clip(-f / (k - m), min=low))


def _secant(lo, hi, g_lo, g_hi):
    """Regula falsi inside ``[lo, hi]``; bisection where it is undefined."""
    xp = array_namespace(lo)
    den = g_lo - g_hi  # >= 0
    ok_den = den > 0
    frac = g_lo / xp.where(ok_den, den, xp.ones_like(den))
    cand = lo + frac * (hi - lo)
    ok = ok_den & (cand >= lo) & (cand <= hi)  # an end whose G is 0 is a root
    return xp.where(ok, cand, (lo + hi) / 2)


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


def _log_pos(xp, c):
    """``log(c)`` for ``c >= 0`` (``-inf`` at 0, without a warning)."""
    pos = c > 0
    return xp.where(pos, xp.log(xp.where(pos, c, xp.ones_like(c))), _full(xp, c, -math.inf))


def _newton_h(yt, t, m):
    r"""At ``t``: ``h`` (with the sign of ``A - m``), the Newton step on ``h``,
    the weights :math:`\omega = q / \sum_j q_j` with :math:`1 - 2 S`
    (:math:`-\partial \log q / \partial t`), and ``A - m``.

    The sums over the values below and above ``t`` are taken scaled by
    :math:`e^{d}`, ``d`` the distance from ``t`` to the nearest value on that
    side, and then kept as logarithms: no term overflows, the nearest term is
    at least 1/2, and ``h`` and :math:`\omega` stay exact where every
    :math:`S_i` has rounded to 0 or 1 and unscaled sums would underflow.
    Masks enter as 0/1 factors, not ``where`` (several times faster in torch).
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
    shift = d_b[..., None] + (d_a - d_b)[..., None] * above  # the own side's nearest
    em = xp.exp(-ax)
    den = 1 + em  # 1 / sigma(|x|)
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
    h = log_pc - log_qc
    f = xp.exp(log_p) - xp.exp(log_qq) - c  # A - m = P - Q - c
    # -h'(t) = qb / (P + c-) + qa / (Q + c+) > 0 (both exponents <= 0)
    slope = xp.exp(_log_pos(xp, qb_s) - d_b - log_pc) + xp.exp(_log_pos(xp, qa_s) - d_a - log_qc)
    ok = slope > 0
    step = xp.where(ok, h / xp.where(ok, slope, xp.ones_like(slope)), _full(xp, h, math.inf))
    # omega = q / sum q, each side brought from its own scale to the nearer's
    to_b, to_a = xp.exp(d - d_b), xp.exp(d - d_a)  # <= 1
    to_d = to_b[..., None] + (to_a - to_b)[..., None] * above
    total = qb_s * to_b + qa_s * to_a  # >= 1/4: the nearest value's q
    tilt = (1 - 2 * em / den) * (1 - 2 * above)  # 1 - 2 S = -d log q / dt
    return h, step, (q * (to_d / total[..., None]), tilt), f


def threshold(yt, m):
    r"""The threshold in units of the temperature: :math:`\tilde t` with
    :math:`\sum_i \sigma(\tilde y_i - \tilde t) = m`, by the fixed-pass
    solver of the module docstring. Call it on stopped values.

    :param yt: perturbed logits over the temperature, :math:`\tilde y = y/\tau`,
        shape ``... + (k,)``.
    :param float m: the target sum, ``0 < m < k``.
    :return: ``(t, step, weights)``: the last iterate, the last (safeguarded)
        Newton step from it (so the root is ``t + step``), and the weights
        :math:`\omega_i = q_i / \sum_j q_j` at the root.
    """
    xp = array_namespace(yt)
    k = yt.shape[-1]
    batch = yt.shape[:-1]
    yt = xp.reshape(yt, (-1, k))  # rows: the early stop drops finished ones
    lo, hi = _bracket(yt, m)
    g_lo = _log_odds(xp.sum(sigmoid(yt - lo[..., None]), axis=-1) - m, k, m)
    g_hi = _log_odds(xp.sum(sigmoid(yt - hi[..., None]), axis=-1) - m, k, m)
    side = xp.zeros_like(lo)
    t = _secant(lo, hi, g_lo, g_hi)
    # Below this |A - m| the sign of the float sum is not reliable: such a
    # point ends the search and is left to the Newton steps on h.
    dead = 4 * float(finfo(yt).eps) * (m + math.sqrt(k))

    def residual(yt, t):
        f = xp.sum(sigmoid(yt - t[..., None]), axis=-1) - m
        return xp.where(xp.abs(f) <= dead, xp.zeros_like(f), f)

    def secant_pass(data, state):
        t, f, lo, hi, g_lo, g_hi, side = state
        lo, hi, g_lo, g_hi, side = _update(t, f, lo, hi, _log_odds(f, k, m), g_lo, g_hi, side)
        t = xp.where(f == 0, t, _secant(lo, hi, g_lo, g_hi))
        return t, residual(data[0], t), lo, hi, g_lo, g_hi, side

    # A pass leaves a row whose f is 0 unchanged, so stopping once every row
    # has reached the dead band gives the result of all the passes.
    state = bounded_loop(secant_pass, (yt,), (t, residual(yt, t), lo, hi, g_lo, g_hi, side),
                         _SECANT_STEPS, lambda state: state[1] != 0)
    t, _, lo, hi, g_lo, g_hi, side = state
    for i in range(_NEWTON_STEPS):
        h, step, weights, f = _newton_h(yt, t, m)
        # h has the sign of f = A - m, and keeps it where f has rounded to 0
        lo, hi, g_lo, g_hi, side = _update(t, h, lo, hi, _log_odds(f, k, m), g_lo, g_hi, side)
        cand = t + step
        ok = (cand >= lo) & (cand <= hi)  # False for a non-finite step
        step = xp.where(h == 0, xp.zeros_like(t), xp.where(ok, step, _secant(lo, hi, g_lo, g_hi) - t))
        if i + 1 < _NEWTON_STEPS:
            t = t + step
    # The weights at the root t + step, to second order in the step:
    # q_i(t + step) = q_i(t) exp(-step (1 - 2 S_i)) (1 + O(step^2 q_i)).
    weights, tilt = weights
    weights = weights * xp.exp(-step[..., None] * tilt)
    weights = weights / xp.sum(weights, axis=-1, keepdims=True)
    return xp.reshape(t, batch), xp.reshape(step, batch), xp.reshape(weights, batch + (k,))


# ------------------------------------------------------------------- sampling
def project_logit(v, m):
    r"""Shift ``v`` onto the surface :math:`\sum_i \sigma(z_i) = m`:
    :math:`z = v - t`, the scalar ``t`` solved on stopped values
    (:func:`threshold`) with its gradient attached by one differentiable
    Newton step, :math:`\partial t / \partial v_i = \omega_i` (the implicit
    function theorem): in value ``z = v - t`` and
    :math:`dz_j = dv_j - \sum_i \omega_i\, dv_i`.

    :param v: any finite array, shape ``... + (k,)``.
    :param float m: ``0 < m < k``.
    """
    xp = array_namespace(v)
    m = check_m(m, v.shape[-1], owner="project_logit")
    vs = stop_gradient(v)
    t, step, w = threshold(vs, m)
    return v - ((t + step)[..., None] + xp.sum(w * (v - vs), axis=-1, keepdims=True))


def rsample_logit(logits, temperature, m, u):
    r"""The sample in logit space, :math:`z = (y - t)/\tau`, with
    :math:`y = \mathrm{logits} + G`, :math:`G = -\log(-\log u)`, and ``t``
    solving :math:`\sum_i \sigma(z_i) = m`; finite at any temperature.

    The threshold is solved in units of the temperature by
    :func:`project_logit` on :math:`\tilde y = y / \tau`: its gradient,
    :math:`dz_j = d\tilde y_j - \sum_i \omega_i\, d\tilde y_i` with
    :math:`\omega = q / \sum_j q_j`, is the implicit-function gradient of
    MATH.md section 4 (:math:`\partial t/\partial y_i = \omega_i`,
    :math:`\partial t/\partial \tau = -\sum_i \omega_i z_i`).

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``.
    :param temperature: positive temperature, shape ``batch``.
    :param float m: the sum of the relaxed mask, ``0 < m < k``.
    :param u: uniforms in ``(0, 1)``, shape ``sample + batch + (k,)``.
    :return: ``z = logit S``, shape of ``u``.
    """
    return rsample_logit_parts(logits, temperature, m, u)[0]


def rsample_logit_parts(logits, temperature, m, u):
    """:func:`rsample_logit` and the Gumbel parts for
    :func:`logit_log_prob_parts` (see :func:`.concrete.gumbel_parts`)."""
    yt, parts = concrete._perturbed(logits, temperature, u)
    return project_logit(yt, m), parts


def rsample_parts(logits, temperature, m, u):
    """:func:`rsample` and the Gumbel parts for :func:`log_prob_parts`."""
    z, parts = rsample_logit_parts(logits, temperature, m, u)
    return sigmoid(z), parts


def rsample(logits, temperature, m, u):
    r"""The relaxed m-subset :math:`S = \sigma(z)` of :func:`rsample_logit`:
    entries in (0, 1) (0 and 1 after float rounding) summing to ``m``."""
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
    """
    return concrete.exp_log_prob(logits, temperature, value)


def log_prob(logits, temperature, value):
    r"""Log density of the relaxed subset ``S`` w.r.t. Lebesgue measure on its
    first ``k - 1`` coordinates (MATH.md section 4):

    .. math::

        \log q(S) = \log q_z(\mathrm{logit}\, S)
            - \sum_i \log q_i + \log \sum_i q_i,
        \qquad q_i = S_i (1 - S_i),

    with :math:`\log q_z` from :func:`logit_log_prob`; the last two terms are
    the Jacobian from the logit differences to the first ``k - 1``
    coordinates of ``S`` (matrix determinant lemma).

    Where float rounding has made coordinates exactly 0 (the set :math:`Z_0`)
    or 1 (:math:`Z_1`), the value is the limit along the ray
    :math:`S_{Z_0} = \epsilon`, :math:`1 - S_{Z_1} = \epsilon`: the density
    behaves as :math:`\epsilon^e` with
    :math:`e = \tau(k - n_0 + n_1) - n_0 - n_1` if :math:`n_0 > 0` and
    :math:`e = n_1(\tau - 1)` otherwise (plus 1 when no coordinate is
    strictly inside), so it is :math:`+\infty` for :math:`e < 0`,
    :math:`-\infty` for :math:`e > 0` and the finite limit for :math:`e = 0`.
    Never NaN. At low temperatures use :func:`logit_log_prob`, whose value
    stays finite.
    """
    xp = array_namespace(logits, temperature, value)
    k = value.shape[-1]
    zero, one = value <= 0, value >= 1
    edge = zero | one
    s = xp.where(edge, _full(xp, value, 0.5), value)  # double where: no NaN gradients
    log_s, log_1ms = xp.log(s), xp.log1p(-s)
    z = xp.where(edge, xp.zeros_like(value), log_s - log_1ms)  # boundary: finite part 0
    log_q = log_s + log_1ms
    tau = xp.expand_dims(temperature, axis=-1)
    a = logits - tau * z
    neg_inf = _full(xp, a, -math.inf)
    fz = xp.astype(zero, value.dtype)
    n0 = xp.sum(fz, axis=-1)
    n1 = xp.sum(xp.astype(one, value.dtype), axis=-1)
    n_in = k - n0 - n1
    any_zero = xp.expand_dims(n0 > 0, axis=-1)
    # The normaliser: over the zero coordinates if any (they dominate the
    # limit), else over the coordinates that are not 1 (all of them if none).
    lse = logsumexp(xp.where(any_zero, xp.where(zero, a, neg_inf), xp.where(one, neg_inf, a)),
                    axis=-1)
    exp_part = math.lgamma(k) + (k - 1) * xp.log(temperature) + xp.sum(a, axis=-1) - k * lse
    # Jacobian: over the inside coordinates; with none inside, sum q ~ k eps
    # (its finite part log k; the rows' own log q is a stand-in there).
    has_in = xp.expand_dims(n_in > 0, axis=-1)
    lse_q = logsumexp(xp.where(has_in & edge, neg_inf, log_q), axis=-1)
    jac = -xp.sum(xp.where(edge, xp.zeros_like(log_q), log_q), axis=-1) + xp.where(
        n_in > 0, lse_q, _full(xp, lse_q, math.log(k))
    )
    finite = exp_part + jac
    e = xp.where(n0 > 0, temperature * (k - n0 + n1) - n0 - n1, n1 * (temperature - 1))
    e = e + xp.astype(n_in == 0, e.dtype)
    inf = _full(xp, finite, math.inf)
    limit = xp.where(e > 0, -inf, xp.where(e < 0, inf, finite))
    return xp.where(n0 + n1 > 0, limit, finite)


def logit_log_prob_parts(logits, temperature, value, parts):
    """:func:`logit_log_prob` at the sample ``value`` of
    :func:`rsample_logit_parts` that came with ``parts``: as
    ``logits - tau z = -G + t``, it is the ExpConcrete density from the
    noise (:func:`.concrete.exp_log_prob_parts`)."""
    return concrete.exp_log_prob_parts(logits, temperature, value, parts)


def log_prob_parts(logits, temperature, value, parts):
    """:func:`log_prob` at the sample ``value`` of :func:`rsample_parts` that
    came with ``parts``: :func:`logit_log_prob_parts` minus the Jacobian
    from ``S`` itself; ``None`` where an entry has rounded to exactly 0 or 1
    (then :func:`log_prob` gives the limit there) or where that cannot be
    asked for free."""
    xp = array_namespace(logits, temperature, value)
    with quiet_nonfinite():
        log_q = xp.log(value) + xp.log1p(-value)
        out = (concrete.exp_log_prob_parts(logits, temperature, value, parts)
               - xp.sum(log_q, axis=-1) + logsumexp(log_q, axis=-1))
    return out if host_any(~xp.isfinite(out)) is False else None


# ------------------------------------------------------------ tau -> 0 limit
def inclusion_probs(logits, m, num_nodes=200):
    r"""The :math:`\tau \to 0` limit of :math:`E[S_i]`: for integer ``m`` the
    probability that item ``i`` is among ``m`` items drawn without
    replacement with probabilities ``softmax(logits)``
    (:func:`relaxed_dists.core.hard_limit.inclusion_probs`). For fractional
    ``m`` the limit puts weight 1 on the top :math:`\lfloor m \rfloor`
    perturbed logits and :math:`m - \lfloor m \rfloor` on the next, so the
    mean interpolates linearly between the inclusion probabilities of
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
    rounding of the sum itself and that of the threshold: :math:`\sum_i q_i`
    times an ulp of :math:`\tilde t = t/\tau`, which reaches :math:`4 \cdot
    10^3` at temperature 0.01 (hence the constant: :math:`q_i \le 1/4`); the
    largest error measured on own samples (float32 and float64, ``k`` from 2
    to 10000, temperatures 10 to 0.01) is a tenth of this bound."""
    k = x.shape[-1]
    return float(finfo(x).eps) * (64 * (float(m) + math.sqrt(k)) + 1024)


def on_subset(x, m):
    """Entries in [0, 1] (float rounding reaches 0 and 1) summing to ``m``
    within :func:`subset_tolerance`; a boolean array over the batch."""
    xp = array_namespace(x)
    inside = xp.all((x >= 0) & (x <= 1), axis=-1)
    return inside & (xp.abs(xp.sum(x, axis=-1) - m) <= subset_tolerance(x, m))


def on_logit_subset(z, m):
    """Finite entries with ``sum(sigmoid(z)) == m`` within
    :func:`subset_tolerance`."""
    xp = array_namespace(z)
    finite = xp.all(xp.isfinite(z), axis=-1)
    return finite & (xp.abs(xp.sum(sigmoid(z), axis=-1) - m) <= subset_tolerance(z, m))


#: name -> (check(value, m), event_dim, what is expected); each adapter turns
#: these into constraints of its host library, one instance per ``m``.
SPECS = {
    "subset": (on_subset, 1,
               "relaxed {m}-subsets (entries in [0, 1] summing to m = {m} within "
               "eps (64 (m + sqrt(k)) + 1024))"),
    "logit_subset": (on_logit_subset, 1,
                     "logits of relaxed {m}-subsets (finite entries whose sigmoids sum "
                     "to m = {m} within eps (64 (m + sqrt(k)) + 1024))"),
}
