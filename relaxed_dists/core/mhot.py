r"""The m-hot relaxation of the source note (RelaxedMHot); the math is on
the docs page *RelaxedMHot* (``docs/relaxed_mhot.rst``).

The value is the *selector matrix* :math:`V = [x_1; \dots; x_m]` of ``m``
relaxed one-hot rows over ``k`` categories (shape ``... + (m, k)``, categories
last); the m-hot mask of the note is :math:`S_i = \max_j x_{j,i}`
(:func:`mhot`). With ``distinct=True`` (the note's construction) a row whose
argmax repeats an earlier row's is discarded and drawn again, so the row
argmaxes :math:`a_1, \dots, a_m` are ``m`` categories drawn without
replacement; with ``distinct=False`` the rows are i.i.d. Concrete (the L2X /
concrete-autoencoder construction).

Shapes: ``logits`` ``batch + (k,)`` (unnormalised), ``temperature``
``batch``, values ``sample + batch + (m, k)``. Uniform noise for
:func:`rsample` has shape ``sample + batch + (m + 1, k)`` when ``distinct``
(row 0 for the order, rows ``1..m`` for the rows, see :func:`rsample`) and
``sample + batch + (m, k)`` otherwise (:func:`noise_rows`).
"""

import math
import numbers

from array_api_compat import device as _device

from . import checks, concrete
from ._namespace import array_namespace, host_any, stop_gradient
from .hard_limit import scatter_ones, top_m
from .noise import gumbel
from .special import log_softmax, logsumexp, softmax

__all__ = [
    "check_m",
    "noise_rows",
    "order",
    "conditional_perturbed",
    "perturbed",
    "rsample",
    "rsample_log",
    "log_prob",
    "exp_log_prob",
    "order_log_prob",
    "mhot",
    "log_mhot",
    "iid_inclusion_probs",
    "on_simplex_rows",
    "on_log_simplex_rows",
    "mhot_logits",
    "mhot_probs",
    "SPECS",
]


def check_m(m, distinct, k=None, owner="RelaxedMHot"):
    """Check the static arguments: ``m`` a Python integer (NumPy integers
    count, ``bool`` does not), ``distinct`` a ``bool``, and, when the number
    of categories ``k`` is given, ``1 <= m <= k`` if ``distinct`` (``m >= 1``
    otherwise). Raises ``ValueError`` naming the argument and what was
    expected; returns ``m`` as an ``int``."""
    need = "1 <= m <= k" + ("" if k is None else f" = {k}") + " (the number of categories)"
    if not distinct:
        need = "m >= 1 (with distinct=False)"
    if isinstance(m, bool) or not isinstance(m, numbers.Integral):
        raise ValueError(f"{owner}: `m` must be a Python integer with {need}, "
                         f"got {m!r} of type {type(m).__name__}")
    if not isinstance(distinct, bool):
        raise ValueError(f"{owner}: `distinct` must be True or False, got {distinct!r}")
    if k is not None and (m < 1 or (distinct and m > k)):
        raise ValueError(f"{owner}: `m` must be an integer with {need}, got m = {m}")
    return int(m)


def noise_rows(m, distinct=True):
    """Number of uniform rows (each of length ``k``) one sample consumes."""
    return m + 1 if distinct else m


def _one_hot(idx, k, like):
    """Boolean one-hot of the integer array ``idx`` over ``k`` categories."""
    xp = array_namespace(idx)
    cats = xp.arange(k, dtype=idx.dtype, device=_device(like))
    return xp.expand_dims(idx, axis=-1) == cats


def order(logits, u0, m):
    r"""Argmax order :math:`a_1, \dots, a_m`: the top-``m`` indices of
    :math:`\log p + G'` in decreasing order (Gumbel-top-k, Vieira 2014; Kool,
    van Hoof & Welling 2019), distributed as ``m`` sequential draws without
    replacement from ``Categorical(p)`` (Plackett-Luce).

    :param logits: shape ``batch + (k,)``.
    :param u0: uniforms, shape ``sample + batch + (k,)``.
    :return: integer indices, shape ``sample + batch + (m,)``. Piecewise
        constant in the logits: no gradient flows through the order.
    """
    keys = stop_gradient(logits) + gumbel(u0)
    return top_m(keys, m)[1]


def conditional_perturbed(logits, argmaxes, u):
    r"""Perturbed logits :math:`y_j` of each row given its argmax :math:`a_j`.

    Row ``j`` is :math:`\log p + G_j` conditioned on
    :math:`\arg\max = a_j`: its maximum :math:`M_j \sim \mathrm{Gumbel}(0)`
    (the max of :math:`\log p + G` is Gumbel with location
    :math:`\mathrm{logsumexp} \log p = 0` and independent of the argmax; this
    is why the logits are normalised here) sits at :math:`a_j`, and every
    other entry is a Gumbel with location :math:`\log p_i` truncated below
    :math:`M_j`:

    .. math::

        y_{j,i} = -\log\left(e^{-M_j} + e^{-(\log p_i + G_{j,i})}\right),
        \quad i \ne a_j, \qquad y_{j,a_j} = M_j .

    :math:`M_j` is the Gumbel of the entry ``u[..., j, a_j]``, which the
    truncated Gumbels do not use. Differentiable in the logits given the
    order (pathwise derivatives are exact for :math:`E[f(V) \mid a]`).

    :param logits: shape ``batch + (k,)``.
    :param argmaxes: integer argmaxes, shape ``sample + batch + (m,)``.
    :param u: uniforms, shape ``sample + batch + (m, k)``.
    :return: shape ``sample + batch + (m, k)``.
    """
    xp = array_namespace(logits, u)
    k = u.shape[-1]
    hot = _one_hot(argmaxes, k, u)
    g_max = gumbel(xp.take_along_axis(u, xp.expand_dims(argmaxes, axis=-1), axis=-1))  # (..., m, 1)
    lp = xp.expand_dims(log_softmax(logits, axis=-1), axis=-2)
    masked = lp == -math.inf
    some = host_any(masked) is not False
    # A masked category (log p = -inf) stays at -inf; it enters the
    # arithmetic as 0 (double where: no NaN gradients from logaddexp at inf).
    lp_in = xp.where(masked, xp.zeros_like(lp), lp) if some else lp
    # -(log p + G) = log(-log u) - log p
    truncated = -xp.logaddexp(-g_max, xp.log(-xp.log(u)) - lp_in)
    if some:
        truncated = xp.where(masked, xp.full_like(truncated, -math.inf), truncated)
    return xp.where(hot, g_max, truncated)


def perturbed(logits, u, distinct=True):
    r"""Perturbed logits :math:`y` of all rows (before division by the
    temperature): :func:`order` from ``u[..., 0, :]`` and
    :func:`conditional_perturbed` from ``u[..., 1:, :]`` when ``distinct``,
    i.i.d. :math:`\log p + G_j` from ``u`` otherwise (the logits shifted by
    their maximum, so that huge logits do not overflow). Masked categories
    (logit :math:`-\infty`) are :math:`-\infty` in every row; when
    ``distinct`` at least ``m`` categories must be left."""
    xp = array_namespace(logits, u)
    if not distinct:
        return xp.expand_dims(concrete.shift(logits), axis=-2) + gumbel(u)
    m = u.shape[-2] - 1
    return conditional_perturbed(logits, order(logits, u[..., 0, :], m), u[..., 1:, :])


def _scaled(logits, temperature, u, distinct):
    """``y / tau``: ``-inf`` at the masked categories and wherever the
    division overflows (a category whose probability is 0 to the dtype's
    precision at this temperature). There the division runs on 0 instead
    (double where: the derivative of ``y / tau`` in ``tau`` would be
    ``0 * inf``)."""
    xp = array_namespace(logits, temperature, u)
    tau = xp.expand_dims(xp.expand_dims(temperature, axis=-1), axis=-1)
    y = perturbed(logits, u, distinct)
    scaled = y / tau
    out = scaled == -math.inf
    if host_any(out) is False:
        return scaled
    y = xp.where(out, xp.zeros_like(y), y)
    return xp.where(out, xp.full_like(y, -math.inf), y / tau)


def rsample(logits, temperature, u, distinct=True):
    r"""Exact sample of the selector matrix, without a rejection loop:
    :math:`x_j = \mathrm{softmax}(y_j / \tau)` with :math:`y` from
    :func:`perturbed`.

    With ``distinct`` it is equal in distribution to the note's construction
    (draw Concrete rows, discard a row whose argmax repeats an earlier one):
    the accepted argmaxes follow Plackett-Luce, which the Gumbel-top-m order
    reproduces, and given its argmax each row is a Concrete conditioned on
    that argmax, which :func:`conditional_perturbed` samples.

    :param logits: shape ``batch + (k,)``.
    :param temperature: shape ``batch``.
    :param u: uniforms in ``(0, 1)``, shape
        ``sample + batch + (noise_rows(m, distinct), k)``.
    :return: shape ``sample + batch + (m, k)``, each row on the simplex.
    """
    return softmax(_scaled(logits, temperature, u, distinct), axis=-1)


def rsample_log(logits, temperature, u, distinct=True):
    """The same sample in log space, :math:`\\log x_j =
    \\mathrm{log\\_softmax}(y_j/\\tau)`: each row a point of the log-simplex,
    finite at any temperature."""
    return log_softmax(_scaled(logits, temperature, u, distinct), axis=-1)


def _log_remaining(logits, value, lead=False):
    """Per row ``j``: ``log(1 - sum_{l<j} p_{a_l})`` (shape ``... + (m,)``)
    and whether ``a_j`` repeats an earlier argmax (same shape), with
    ``a_j = argmax value[..., j, :]``, and the one-hot argmaxes (``None``
    unless ``lead``). With ``lead``, the first is ``None`` and a fourth is
    ``l_{a_j}`` minus it (``l`` the logits shifted by their largest, as in
    :func:`relaxed_dists.core.concrete.mask`), computed without its
    cancellation as ``-logsumexp_{i left}(logits_i - logits_{a_j}) +
    logsumexp(l)`` (both terms are about ``l_{a_j}`` when ``a_j`` is far
    less likely than an earlier argmax).

    The mass left before row ``j`` is that of the categories no row chose
    plus that of the argmaxes of rows ``j`` to ``m`` (for distinct
    argmaxes): a sum of positive terms (no cancellation, accurate when the
    used mass is close to 1), in ``O(k + m^2)`` per selector matrix. Where
    argmaxes repeat, the density is ``-inf`` anyway and the terms only stay
    finite; where no mass is left (every category with mass used by earlier
    rows, so this row's argmax is a masked one and its density is ``-inf``),
    the full mass stands in."""
    xp = array_namespace(logits, value)
    k, m = value.shape[-1], value.shape[-2]
    if math.prod(value.shape) <= _MASKED_SUMS:
        return _log_remaining_masked(logits, value, lead)
    idx = xp.argmax(value, axis=-1)  # (..., m)
    rows = xp.arange(m, device=_device(value))
    earlier = xp.expand_dims(rows, axis=-1) > rows  # [j, l]: l < j
    repeat = xp.any((xp.expand_dims(idx, axis=-1) == xp.expand_dims(idx, axis=-2)) & earlier, axis=-1)
    used = scatter_ones(idx, k, value) > 0  # (..., k): chosen by some row
    batch = tuple(value.shape[:-2])
    raw = xp.broadcast_to(logits, batch + (k,))
    # the column of each term: the argmaxes of rows l >= j, and the rest
    later = ~earlier  # [j, l]: l >= j
    neg_inf = -math.inf
    if not lead:
        l = concrete.shift(raw)
        l_a = xp.take_along_axis(l, idx, axis=-1)
        out = _lse_or_empty(xp.where(used, xp.full_like(l, neg_inf), l))
        terms = xp.where(later, xp.expand_dims(l_a, axis=-2), xp.full_like(later, neg_inf, dtype=l.dtype))
        left = _lse_or_empty(xp.concat([terms, xp.broadcast_to(out[..., None, None], batch + (m, 1))],
                                       axis=-1))
        total = xp.expand_dims(logsumexp(l, axis=-1), axis=-1)
        left = xp.where(left > neg_inf, left, total)
        return left - total, repeat, None
    hot = _one_hot(idx, k, value)
    # The logits relative to the argmax's (one rounding each; an argmax's
    # -inf, whose row is -inf anyway, replaced by 0).
    raw_a = xp.take_along_axis(raw, idx, axis=-1)
    at = xp.where(raw_a > neg_inf, raw_a, xp.zeros_like(raw_a))
    rel = xp.expand_dims(raw_a, axis=-2) - xp.expand_dims(at, axis=-1)
    terms = xp.where(later, rel, xp.full_like(rel, neg_inf))  # [j, l]: logit_{a_l} - logit_{a_j}
    # the categories no row chose, relative to their largest raw logit
    rest = xp.where(used, xp.full_like(raw, neg_inf), raw)
    top = stop_gradient(xp.max(rest, axis=-1, keepdims=True))  # a shift: the value is invariant
    some = top > neg_inf
    top = xp.where(some, top, xp.zeros_like(top))
    out = _lse_or_empty(rest - top)  # -inf where none is left
    out_rel = xp.where(some[..., 0:1] & (out[..., None] > neg_inf),
                       (top - at) + out[..., None], xp.full_like(at, neg_inf))  # (..., m)
    log_left = _lse_or_empty(xp.concat([terms, out_rel[..., None]], axis=-1))
    lse_all = xp.expand_dims(logsumexp(concrete.shift(raw), axis=-1), axis=-1)
    # no mass left: the full mass stands in (relative to the argmax's logit)
    full = lse_all + concrete._top(raw) - at
    log_left = xp.where(log_left > neg_inf, log_left, full)  # full: (..., m) already
    return None, repeat, hot, lse_all - log_left


#: Up to this many entries of the selector matrices, :func:`_log_remaining`
#: takes the masked sums (fewer operations; measured faster in torch for
#: one (4, 20) matrix, slower for (1024, 5, 1000)).
_MASKED_SUMS = 1 << 14


def _log_remaining_masked(logits, value, lead=False):
    """:func:`_log_remaining` by masked sums over ``(m, k)``: fewer
    operations, so faster for small selector matrices (the tests check the
    two agree)."""
    xp = array_namespace(logits, value)
    k = value.shape[-1]
    hot = _one_hot(xp.argmax(value, axis=-1), k, value)
    hot_f = xp.astype(hot, value.dtype)
    used = (xp.cumulative_sum(hot_f, axis=-2) - hot_f) > 0  # used by an earlier row
    repeat = xp.any(hot & used, axis=-1)
    # A repeated row gets no mask (so its mass stays positive and gradients
    # finite); its density is -inf anyway.
    used = used & ~xp.expand_dims(repeat, axis=-1)
    lg = xp.expand_dims(concrete.shift(logits), axis=-2) + xp.zeros_like(value)
    masked = xp.where(used, xp.full_like(lg, -math.inf), lg)
    # No category left (the earlier rows used every category with mass, so
    # this row's argmax is a masked one and its density -inf anyway): the
    # full mass stands in, so that no logsumexp runs over -inf alone.
    empty = xp.all(masked == -math.inf, axis=-1, keepdims=True)
    masked = xp.where(empty, lg, masked)
    if not lead:
        # log of the remaining mass, as a difference of two logsumexps: exact
        # zero for the first row, accurate when the used mass is close to 1.
        log_rest = logsumexp(masked, axis=-1) - logsumexp(lg, axis=-1)
        return log_rest, repeat, hot
    # The logits relative to the argmax's (one rounding each; the argmax's
    # -inf, whose row is -inf anyway, replaced by 0), over the categories
    # left: the argmax is one of them unless it repeats (then none is used).
    raw = xp.expand_dims(logits, axis=-2) + xp.zeros_like(value)
    at = xp.sum(xp.where(hot, raw, xp.zeros_like(raw)), axis=-1, keepdims=True)
    at = xp.where(at > -math.inf, at, xp.zeros_like(at))
    rel = xp.where(masked == -math.inf, masked, raw - at)
    lse_all = xp.expand_dims(logsumexp(concrete.shift(logits), axis=-1), axis=-1)
    return None, repeat, hot, lse_all - logsumexp(rel, axis=-1)


def _lse_or_empty(x):
    """``logsumexp`` over the last axis, ``-inf`` for a row of ``-inf``
    alone, with a zero gradient there (double where: a logsumexp over
    ``-inf`` alone has NaN gradients)."""
    xp = array_namespace(x)
    empty = xp.all(x == -math.inf, axis=-1, keepdims=True)
    out = logsumexp(xp.where(empty, xp.zeros_like(x), x), axis=-1)
    return xp.where(empty[..., 0], xp.full_like(out, -math.inf), out)


def _total(per_row):
    r"""Sum over the rows (last axis), :math:`-\infty` if any row is (a
    row's limit of :math:`+\infty` does not outweigh another's
    :math:`-\infty`: never NaN)."""
    xp = array_namespace(per_row)
    neg = per_row == -math.inf
    out = xp.sum(xp.where(neg, xp.zeros_like(per_row), per_row), axis=-1)
    return xp.where(xp.any(neg, axis=-1), xp.full_like(out, -math.inf), out)


def _finish(per_row, logits, value, distinct):
    xp = array_namespace(per_row)
    if not distinct:
        return _total(per_row)
    log_rest, repeat, _ = _log_remaining(logits, value)
    out = _total(per_row - log_rest)
    return xp.where(xp.any(repeat, axis=-1), xp.full_like(out, -math.inf), out)


def log_prob(logits, temperature, value, distinct=True):
    r"""Log density of the selector matrix ``value`` (rows on the simplex):

    .. math::

        \log q(V) = \sum_{j=1}^m \Big[\log q_{\mathrm{Concrete}}(x_j)
            - \log\big(1 - \textstyle\sum_{l<j} p_{a_l}\big)\Big]

    if the row argmaxes :math:`a_j` are distinct, :math:`-\infty` otherwise
    (each accepted row is a Concrete restricted to "argmax not yet used",
    an event of probability :math:`1 - \sum_{l<j} p_{a_l}`). W.r.t. the
    product over rows of Lebesgue measure on the first ``k - 1`` coordinates
    of each row. With ``distinct=False``: :math:`\sum_j \log
    q_{\mathrm{Concrete}}(x_j)`. The Concrete term is
    :func:`relaxed_dists.core.concrete.log_prob` (with its exact limits where
    float rounding made coordinates 0). If any row's term is
    :math:`-\infty` the total is :math:`-\infty`, even where another row's
    limit is :math:`+\infty`: never NaN.

    Masked categories (logit :math:`-\infty`, see
    :func:`relaxed_dists.core.concrete.mask`) are never chosen: every row is
    0 there (:math:`-\infty` in log space), each row's term is the density
    on the face of the remaining categories, and the distribution is that of
    the remaining categories (``distinct`` needs at least ``m`` of them).
    """
    xp = array_namespace(logits, temperature, value)
    per_row = concrete.log_prob(
        xp.expand_dims(logits, axis=-2), xp.expand_dims(temperature, axis=-1), value
    )
    return _finish(per_row, logits, value, distinct)


def exp_log_prob(logits, temperature, value, distinct=True):
    r"""Log density of the selector matrix in log space (rows on the
    log-simplex), as :func:`log_prob` with the ExpConcrete term
    :func:`relaxed_dists.core.concrete.exp_log_prob` for each row:

    .. math::

        \log q(v) = \sum_{j=1}^m \Big[\log q_{\mathrm{ExpConcrete}}(v_j)
            - \log\big(1 - \textstyle\sum_{l<j} p_{a_l}\big)\Big]

    w.r.t. the product over rows of Lebesgue measure on the log-ratios
    :math:`v_{j,i} - v_{j,k}` (of the remaining categories where some are
    masked, as in :func:`log_prob`); finite at own samples at any
    temperature. Where an argmax is far less likely than an earlier one
    (logits spread over thousands), its row's ExpConcrete term and the
    remaining mass are both about its logit and cancel; the difference is
    assembled from terms of order 1, so float32 stays accurate there.
    """
    xp = array_namespace(logits, temperature, value)
    tau = xp.expand_dims(temperature, axis=-1)
    per_row, const, a, ls = concrete._exp_terms(xp.expand_dims(logits, axis=-2), tau, value)
    if not distinct:
        return _total(per_row)
    # At an argmax far less likely than an earlier one, the argmax's term of
    # the ExpConcrete density, ls[a_j] = l[a_j] - tau v[a_j] - logsumexp(a),
    # and log(remaining mass) are both about l[a_j] (-7000 at logits spread
    # over 10 000) and cancel: their difference is assembled from terms of
    # order 1 (`lead`: l[a_j] - log(remaining mass), without cancellation).
    _, repeat, hot, lead = _log_remaining(logits, value, lead=True)
    others = xp.sum(xp.where(hot, xp.zeros_like(ls), ls), axis=-1)
    v_top = xp.max(value, axis=-1)  # the argmax's coordinate, in [-log k, 0] on the support
    # logsumexp(a) = a_i - ls_i at the largest a_i (both of order 1; no
    # second pass of exp; masked categories, whose a is -inf, never match)
    a_top = xp.max(a, axis=-1, keepdims=True)
    ls_top = xp.max(xp.where(a == a_top, ls, xp.full_like(ls, -math.inf)), axis=-1)
    lse = a_top[..., 0] - ls_top
    head = lead - tau * v_top - lse
    rows = xp.where(per_row > -math.inf, const + others + head, per_row)
    out = _total(rows)
    return xp.where(xp.any(repeat, axis=-1), xp.full_like(out, -math.inf), out)


def order_log_prob(logits, value, distinct=True):
    r"""Log probability of the row argmaxes :math:`a_j` of ``value`` (in
    linear or log space: the argmax is the same):

    .. math::

        \log P(a) = \sum_{j=1}^m \Big[\log p_{a_j}
            - \log\big(1 - \textstyle\sum_{l<j} p_{a_l}\big)\Big]

    (Plackett-Luce; :math:`-\infty` for repeated argmaxes) when
    ``distinct``, :math:`\sum_j \log p_{a_j}` otherwise. Differentiable in
    the logits; the argmaxes carry no gradient. This is the score-function
    term of the gradient estimator (docs page *RelaxedMHot*).
    """
    xp = array_namespace(logits, value)
    k = value.shape[-1]
    hot = _one_hot(xp.argmax(value, axis=-1), k, value)
    logp = xp.expand_dims(log_softmax(logits, axis=-1), axis=-2) + xp.zeros_like(value)
    per_row = xp.sum(xp.where(hot, logp, xp.zeros_like(logp)), axis=-1)
    return _finish(per_row, logits, value, distinct)


def mhot(value):
    r"""The m-hot mask of the note, :math:`S_i = \max_j x_{j,i}`: shape
    ``... + (k,)`` from a selector matrix ``... + (m, k)``."""
    return array_namespace(value).max(value, axis=-2)


def log_mhot(value):
    r""":math:`\log S_i = \max_j v_{j,i}` from a selector matrix in log
    space (finite where :math:`S` underflows)."""
    return array_namespace(value).max(value, axis=-2)


def iid_inclusion_probs(logits, m):
    r"""Hard-limit inclusion probabilities for i.i.d. rows
    (``distinct=False``): :math:`1 - (1 - p_i)^m`, with
    :math:`\log(1 - p_i) = \mathrm{logsumexp}_{l \ne i} \log p_l` (accurate
    for :math:`p_i` near 1)."""
    xp = array_namespace(logits)
    k = logits.shape[-1]
    lg = xp.expand_dims(logits, axis=-2) + xp.zeros_like(xp.expand_dims(logits, axis=-1))
    eye = _one_hot(xp.arange(k, device=_device(logits)), k, logits)
    others = xp.where(eye, xp.full_like(lg, -math.inf), lg)
    # The only item left (every other one masked) is always drawn; its
    # logsumexp runs over zeros instead of -inf alone (no NaN gradient).
    alone = xp.all(others == -math.inf, axis=-1)
    others = logsumexp(xp.where(xp.expand_dims(alone, axis=-1), xp.zeros_like(lg), others), axis=-1)
    log1m_p = others - logsumexp(logits, axis=-1, keepdims=True)
    log1m_p = xp.where(alone, xp.full_like(log1m_p, -math.inf), log1m_p)
    return -xp.expm1(m * log1m_p)


def on_simplex_rows(x, m=None, distinct=None):
    """Every row (``axis=-2`` indexes rows) a point of the simplex (the
    static arguments ``m`` and ``distinct`` of the class are accepted, so
    that a support built with them can call this, and not needed)."""
    return array_namespace(x).all(checks.on_simplex(x), axis=-1)


def on_log_simplex_rows(v, m=None, distinct=None):
    """Every row a point of the log-simplex (``m`` and ``distinct`` as in
    :func:`on_simplex_rows`)."""
    return array_namespace(v).all(checks.on_log_simplex(v), axis=-1)


def _left(m, distinct):
    return m if distinct else 1


def mhot_logits(x, m, distinct=True):
    """The logits of an m-hot class:
    :func:`~relaxed_dists.core.checks.category_logits` with at
    least ``m`` finite entries when ``distinct`` (``m`` distinct categories
    must be left to choose from), one otherwise."""
    return checks.category_logits(x, _left(m, distinct))


def mhot_probs(x, m, distinct=True):
    """The probabilities of an m-hot class:
    :func:`~relaxed_dists.core.checks.category_probs`
    with at least ``m`` positive entries when ``distinct``, one otherwise."""
    return checks.category_probs(x, _left(m, distinct))


#: name -> (check, event_dim, what is expected), as
#: :data:`relaxed_dists.core.checks.SPECS`;
#: each adapter turns these into constraints of its host library.
SPECS = {
    "simplex_rows": (on_simplex_rows, 2,
                     "matrices whose rows are points of the simplex (entries >= 0 "
                     "summing to 1 within 16 eps sqrt(k), eps that of float32 or coarser)"),
    "log_simplex_rows": (on_log_simplex_rows, 2,
                         "matrices whose rows are points of the log-simplex (entries "
                         "real or -inf, logsumexp 0 within 16 eps sqrt(k), eps that of "
                         "float32 or coarser)"),
    # The parameters, with the static arguments m and distinct.
    "mhot_logits": (mhot_logits, 1,
                    "vectors of real numbers or -inf (no NaN, no +inf; -inf masks a category), "
                    "at least m = {m} finite when distinct (at least one otherwise)"),
    "mhot_probs": (mhot_probs, 1,
                   "probability vectors (entries >= 0 summing to 1 within max(1e-6, 16 eps "
                   "sqrt(k)); a 0 masks its category), at least m = {m} positive when distinct "
                   "(at least one otherwise)"),
}
