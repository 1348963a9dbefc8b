r"""Exact probabilities of the :math:`\tau \to 0` limit; the math is on the
docs pages *RelaxedMHot* and *RelaxedSubset*.

As the temperature goes to 0, the m-hot relaxation (section 3) and the
subset relaxation (section 4) both become the indicator of ``m`` items drawn
without replacement with probabilities ``p = softmax(logits)`` (sequentially,
each draw proportional to ``p`` among the items left: the Plackett-Luce
model). Both quantities here are one-dimensional integrals from the
exponential race: item ``i`` arrives at an exponential time of rate
:math:`p_i`, and the first ``m`` arrivals are the draw.

**Quadrature.** The docs write the integrals over
:math:`v \in (0, 1)`; their integrands contain factors
:math:`1 - v^{p_j/p_i}`, whose endpoint singularities make Gauss-Legendre in
``v`` converge only algebraically (measured: error 4e-8 with 200 nodes for
``p = [0.5, 0.3, 0.15, 0.05]``, ``m = 2``, and 5e-7 for a ratio of 90 between
probabilities). The functions here integrate over the log arrival time
:math:`x = \log(-\log v)` instead, where the integrand is analytic and
decays exponentially on both sides, so Gauss-Legendre on a window of ``x``
converges exponentially (1e-14 with 200 nodes on the same cases).
"""

import itertools
import math
import operator

import array_api_compat
import numpy as np

from . import checks
from ._namespace import (
    array_namespace,
    errstate,
    host_any,
    is_jax,
    is_torch,
    on_row_shards,
    stop_gradient,
)
from .special import log_softmax, logsumexp

__all__ = ["inclusion_probs", "subset_log_prob", "top_m", "sample_subset", "set_members",
           "subset_log_prob_members", "enumerate_masks", "scatter_ones"]

#: The integrands fall below ``exp(-_TAIL)`` of their peak outside the
#: quadrature windows (e^-40 = 4e-18, below float64 rounding).
_TAIL = 40.0
#: Log arrival-time window of :func:`inclusion_probs`, in units of item i's
#: own mean arrival time: the mass left out below is ``exp(X_LO)`` and above
#: ``exp(-exp(X_HI))``, both about e^-40.
_X_LO, _X_HI = -_TAIL, math.log(_TAIL)
#: Log-rate ratios are clamped here. Every node has arrival time
#: ``u >= exp(-41)``, so a clamped rate ratio gives ``u * rate >= e^19`` and an
#: arrival probability of 1 to float precision, as the unclamped one does;
#: the clamp keeps ``exp`` finite in float32 (and its gradient not NaN).
_LOG_RATE_MAX = 60.0
#: Fixed iteration counts (no data-dependent loops: jit-friendly). The mode
#: of :func:`_subset_window` converges monotonically and quadratically from
#: ``u = 1`` (measured: 6 steps leave it within a relative 1e-5 over 2000
#: random sets, k up to 1000, logit scales 0.01 to 20; 8 to rounding).
_MODE_STEPS = 7
_WINDOW_STEPS = 8
#: Below float64 the set-probability integrand is cut at ``exp(-18)`` of its
#: peak (1.5e-8, under float32 rounding) and :func:`subset_log_prob_members`
#: takes 56 nodes by default (measured: at most 1.1e-8 from the float64
#: result in log P, over 400 random sets); float64 keeps e^-40 and 200.
_TAIL_32, _NODES_32 = 18.0, 56
#: Members per partial product in :func:`subset_log_prob_members`: each
#: factor lies in ``[1 - 1/e, 1]``, so 128 of them stay above 1e-26.
_CHUNK = 128


#: Gauss-Legendre rules by node count; the default counts are computed at
#: import, as ``torch.compile`` cannot trace NumPy's ``leggauss``.
_LEGENDRE = {}


def _legendre(num_nodes):
    """Gauss-Legendre nodes and weights on [-1, 1] (constants)."""
    rule = _LEGENDRE.get(num_nodes)
    if rule is None:
        rule = _LEGENDRE[num_nodes] = np.polynomial.legendre.leggauss(num_nodes)
    return rule


for _n in (200, _NODES_32):
    _legendre(_n)


def _constant(xp, values, like):
    return xp.asarray(values, dtype=like.dtype, device=array_api_compat.device(like))


def _count(m, k, what="m"):
    try:
        m = operator.index(m)
    except TypeError:
        raise ValueError(f"`{what}` must be an integer, got {m!r}") from None
    if not 0 <= m <= k:
        raise ValueError(f"`{what}` must satisfy 0 <= {what} <= k = {k}, got {m}")
    return m


def inclusion_probs(logits, m, num_nodes=200):
    r"""Probability that item ``i`` is among ``m`` items drawn without
    replacement with probabilities ``p = softmax(logits)``:

    .. math::

        \pi_i = \int_0^1 P\Big(\sum_{j \ne i} \mathrm{Bernoulli}(1 - v^{p_j/p_i})
            \le m - 1\Big)\, dv
              = \int_{-\infty}^{\infty} e^{x - e^x}\,
                P\big(N_{-i}(e^x) \le m - 1\big)\, dx,

    where :math:`N_{-i}(u)` counts the items :math:`j \ne i` that have
    arrived by time :math:`u / p_i` (each with probability
    :math:`1 - e^{-u p_j / p_i}`): item ``i`` is drawn if it arrives (at the
    time :math:`u/p_i`, :math:`u = -\log v` standard exponential) before
    ``m`` others. Gauss-Legendre with ``num_nodes`` nodes on
    :math:`x \in [-40, \log 40]`; at each node the Poisson-binomial CDF by the
    :math:`O(k m)` recursion over the count. :math:`\sum_i \pi_i = m`.
    Absolute error about 1e-14 in float64 for small ``m``; for ``m`` in the
    tens the CDF drops steeply in ``x`` and 200 nodes give about 1e-6
    (measured, ``k = 200``, ``m = 50``); raise ``num_nodes`` for more.

    A masked item (logit :math:`-\infty`) has probability 0; with fewer than
    ``m`` items left, every item left is drawn (:math:`\pi_i = 1`).

    Cost :math:`O(\text{num\_nodes} \cdot k^2 m)` (each item has its own
    time scale), in ``k`` steps; memory :math:`O(\text{num\_nodes} \cdot k m)`
    per batch element, times ``k`` under reverse-mode autodiff.

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``.
    :param int m: number of items drawn, ``0 <= m <= k``.
    :param int num_nodes: quadrature nodes.
    :return: inclusion probabilities, shape ``batch + (k,)``.
    """
    xp = array_namespace(logits)
    k = logits.shape[-1]
    m = _count(m, k)
    if m == 0:
        return xp.zeros_like(logits)
    lp = log_softmax(logits, axis=-1)
    # A masked item (logit -inf) never arrives: as item j its rate is 0; as
    # item i its own time scale is replaced by p_i = 1 (double where: no NaN
    # from -inf - -inf) and its probability by 0.
    dead = lp == -math.inf
    lp_i = xp.where(dead, xp.zeros_like(lp), lp)
    t, w = _legendre(num_nodes)
    x = _X_LO + (t + 1) / 2 * (_X_HI - _X_LO)
    u_np = np.exp(x)
    u = _constant(xp, u_np[:, None], lp)  # (V, 1): node times, in units of 1/p_i
    weight = _constant(xp, w / 2 * (_X_HI - _X_LO) * u_np * np.exp(-u_np), lp)
    # d[..., v, i, n] = P(n of the items seen so far (other than i) have
    # arrived by node v's time for item i), n < m.
    ones = xp.ones(lp.shape[:-1] + (num_nodes, k, 1), dtype=lp.dtype,
                   device=array_api_compat.device(lp))
    d = xp.concat([ones] + [xp.zeros_like(ones)] * (m - 1), axis=-1)
    items = xp.arange(k, device=array_api_compat.device(lp))
    for j in range(k):
        log_rate = xp.clip(lp[..., j : j + 1] - lp_i, max=_LOG_RATE_MAX)  # log(p_j / p_i)
        a = u * xp.expand_dims(xp.exp(log_rate), axis=-2)  # (..., V, k)
        other = items != j  # item j is not among the others of i = j
        stay = xp.where(other, xp.exp(-a), xp.ones_like(a))[..., None]
        come = xp.where(other, -xp.expm1(-a), xp.zeros_like(a))[..., None]
        shifted = xp.concat([xp.zeros_like(d[..., :1]), d[..., :-1]], axis=-1)
        d = d * stay + shifted * come
    cdf = xp.sum(d, axis=-1)  # (..., V, k): P(N_{-i} <= m - 1)
    out = xp.sum(weight[:, None] * cdf, axis=-2)
    return xp.where(dead, xp.zeros_like(out), out)


def _log1mexp_of_log(la):
    """``log(1 - exp(-a))`` for ``a = exp(la)``, accurate for every ``la``
    (``la + log((1 - e^-a)/a)`` for small ``a``, where ``a`` may underflow),
    with safe inputs in both branches so that gradients are never NaN."""
    xp = array_namespace(la)
    small = la < 0
    a_small = xp.exp(xp.where(small, la, xp.zeros_like(la)))  # in (0, 1]
    ratio = xp.where(a_small > 0, -xp.expm1(-a_small) / xp.where(a_small > 0, a_small,
                                                                  xp.ones_like(la)),
                     xp.ones_like(la))
    a_big = xp.exp(xp.where(small, xp.zeros_like(la), la))  # >= 1
    return xp.where(small, la + xp.log(ratio), xp.log(-xp.expm1(-a_big)))


def _wide(x):
    """Whether ``x`` is float64 (or wider): the float64 tails and node counts."""
    return float(array_namespace(x).finfo(x.dtype).eps) < 1e-10


def _subset_window(log_rate, mask, num_nodes):
    r"""Gauss-Legendre nodes and weights on a window of :math:`x = \log u`
    around the peak of the log-concave integrand of :func:`subset_log_prob`,
    :math:`h(x) = x - e^x + \sum_{i \in A} \log(1 - e^{-r_i e^x})`.

    The mode solves :math:`F(u) = u - 1 - \sum_A \phi(r_i u) = 0`
    (:math:`h'(x) = -F(e^x)`, :math:`\phi(a) = a/(e^a - 1)`). ``F`` is
    increasing with :math:`F' \ge 1` and concave (:math:`\phi` is convex), and
    :math:`F(1) \le 0`: Newton from ``u = 1`` climbs monotonically onto the
    root, quadratically once near it (:data:`_MODE_STEPS` steps), and any
    ``u`` is within :math:`|F(u)|` of it. Bounds from concavity (``S``
    decreasing), with :math:`u^* \ge u_-`, the low end of that bracket:
    :math:`h(x^*) - h(x^* + d) \ge u_-(e^d - 1 - d)` and
    :math:`h(x^*) - h(x^* - d) \ge u_-(d - 1 + e^{-d})`; the window ends where
    these reach the tail (``_TAIL``; ``_TAIL_32`` below float64), beyond
    the bracket. All without gradients (the nodes only place the quadrature;
    the integral does not depend on them).
    """
    xp = array_namespace(log_rate)
    fmask = xp.astype(mask, log_rate.dtype)
    tail = _TAIL if _wide(log_rate) else _TAIL_32
    tiny = float(xp.finfo(log_rate.dtype).smallest_normal)
    rate = xp.exp(log_rate)
    u = xp.ones_like(log_rate[..., 0])
    with errstate(over="ignore"):
        for _ in range(_MODE_STEPS):
            a = xp.clip(rate * u[..., None], min=tiny)  # a = 0 would give 0/0
            phi = a / xp.expm1(a)  # 0 where expm1 overflows
            f = u - 1 - xp.sum(phi * fmask, axis=-1)
            df = 1 - xp.sum(phi * (1 - a - phi) * fmask, axis=-1) / u  # a phi'(a) = phi (1 - a - phi)
            last, gap = u, xp.abs(f)
            u = u - f / df
    u_lo = xp.maximum(last - gap, xp.ones_like(last))
    c = tail / u_lo  # c <= tail since u* >= 1
    # Right end: e^d - 1 - d = c. Start right of the root (e^d - 1 - d >=
    # d^2/2, and >= c at log(1 + 2c) once c >= 1.26): Newton then decreases
    # monotonically onto the root of this convex increasing function.
    d_hi = xp.sqrt(2 * c)
    d_hi = xp.where(c >= 1.26, xp.minimum(d_hi, xp.log1p(2 * c)), d_hi)
    for _ in range(_WINDOW_STEPS):
        d_hi = d_hi - (xp.expm1(d_hi) - d_hi - c) / xp.expm1(d_hi)
    # Left end: d - 1 + e^-d = c, from the right of the root likewise
    # (d - 1 + e^-d >= d^2/3 for d <= 1, and > d - 1 always).
    d_lo = xp.where(3 * c <= 1, xp.sqrt(3 * c), c + 1)
    for _ in range(_WINDOW_STEPS):
        d_lo = d_lo - (d_lo + xp.expm1(-d_lo) - c) / -xp.expm1(-d_lo)
    start = xp.log(u_lo) - d_lo
    width = xp.log(last + gap) + d_hi - start
    t, w = _legendre(num_nodes)
    t, w = _constant(xp, (t + 1) / 2, log_rate), _constant(xp, w / 2, log_rate)
    return start[..., None] + t * width[..., None], w * width[..., None]


def subset_log_prob(logits, mask, num_nodes=200):
    r"""Log-probability that ``m = |A|`` items drawn without replacement with
    probabilities ``p = softmax(logits)`` form the unordered set ``A``:

    .. math::

        P(A) = \int_0^1 \prod_{i \in A} \big(1 - v^{p_i / p_{\bar A}}\big)\, dv
             = \int_{-\infty}^{\infty} e^{x - e^x}
               \prod_{i \in A} \big(1 - e^{-e^x p_i / p_{\bar A}}\big)\, dx,

    :math:`p_{\bar A} = 1 - \sum_{i \in A} p_i` (every item of ``A`` arrives
    before the first of the rest, which arrives at an exponential time of
    rate :math:`p_{\bar A}`). The integrand is log-concave in ``x``;
    Gauss-Legendre with ``num_nodes`` nodes on a window around its peak
    (found without gradients), summed in log space, so that ``log P(A)`` keeps
    its relative accuracy (about 1e-13 in float64, measured up to ``k = 1000``,
    ``|A| = 999``) for sets of any probability. ``P(A) = 1`` when ``A`` holds
    every item left, ``0`` when it holds a masked item (logit
    :math:`-\infty`). Cost :math:`O(\text{num\_nodes} \cdot k)`.

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``.
    :param mask: the set ``A`` as a boolean (or 0/1) array of shape
        ``batch + (k,)``; broadcast with ``logits``.
    :param int num_nodes: quadrature nodes.
    :return: :math:`\log P(A)`, the broadcast batch shape.
    """
    xp = array_namespace(logits, mask)
    if mask.dtype != xp.bool:
        mask = mask != 0
    lp = log_softmax(logits, axis=-1)
    lp, mask = xp.broadcast_arrays(lp, mask)
    # Masked items (logit -inf): a set holding one has probability 0; the
    # others never arrive, so a set holding every item left is certain.
    dead = lp == -math.inf
    impossible = xp.any(mask & dead, axis=-1)
    mask = mask & ~dead
    full = xp.all(mask | dead, axis=-1)
    # log p_rest, over the items outside A (over all items where A is full,
    # only to keep it finite; that result is replaced by 0).
    outside = xp.where(mask, xp.full_like(lp, -math.inf), lp)
    live = xp.where(dead, xp.zeros_like(lp), lp)
    log_rest = logsumexp(xp.where(full[..., None], live, outside), axis=-1)
    log_rate = xp.where(mask, lp - log_rest[..., None], xp.zeros_like(lp))
    log_rate = xp.clip(log_rate, max=_LOG_RATE_MAX)
    x, w = _subset_window(stop_gradient(log_rate), mask, num_nodes)
    la = xp.expand_dims(log_rate, axis=-2) + x[..., None]  # log(r_i u): (..., V, k)
    factors = xp.where(xp.expand_dims(mask, axis=-2), _log1mexp_of_log(la), xp.zeros_like(la))
    log_p = logsumexp(xp.log(w) + x - xp.exp(x) + xp.sum(factors, axis=-1), axis=-1)
    log_p = xp.where(full, xp.zeros_like(log_p), xp.minimum(log_p, xp.zeros_like(log_p)))
    return xp.where(impossible, xp.full_like(log_p, -math.inf), log_p)


# ------------------------------------------------------- the hard subset
def top_m(keys, m):
    """The ``m`` largest entries of ``keys`` along the last axis and their
    indices, largest first; where entries tie at the ``m``-th place, those
    of lower index are taken, as by a stable sort (``torch.topk`` /
    ``jax.lax.top_k`` where the backend has one, a sort elsewhere). ``m`` is
    a static integer."""
    xp = array_namespace(keys)
    k = keys.shape[-1]
    if is_torch(xp):
        # torch.topk takes tied entries in no set order: one more entry tells
        # (on the host) whether the m-th largest value ties with one left
        # out; only then does the stable sort below decide.
        values, idx = keys.topk(min(m + 1, k), dim=-1)
        if m == k or host_any(values[..., m] == values[..., m - 1]) is False:
            return values[..., :m], idx[..., :m]
    elif is_jax(xp):
        import jax

        # ties: the lower index first; on each device's own rows (no gather)
        flat = xp.reshape(keys, (-1, k))
        values, idx = on_row_shards(lambda rows: jax.lax.top_k(rows, m), flat)
        batch = tuple(keys.shape[:-1]) + (m,)
        return xp.reshape(values, batch), xp.reshape(idx, batch)
    idx = xp.argsort(keys, axis=-1, descending=True, stable=True)[..., :m]
    return xp.take_along_axis(keys, idx, axis=-1), idx


def sample_subset(logits, m, u):
    r"""``m`` categories drawn without replacement with probabilities
    ``softmax(logits)``, as a k-hot mask (Gumbel-top-m: the ``m`` largest of
    :math:`\ell + G`, :math:`G = -\log(-\log u)`; Vieira 2014, Kool et al.
    2019). A masked category (logit :math:`-\infty`) is never chosen while at
    least ``m`` are left. The logits are perturbed as given (the top ``m``
    do not depend on a shift, and a shift by the maximum could overflow
    float32 at logit spreads near its range); the mask is built from the
    ``m`` indices, so it has exactly ``m`` ones even where perturbed logits
    tie.

    :param logits: shape ``batch + (k,)``.
    :param int m: ``1 <= m < k``.
    :param u: uniforms in ``(0, 1)``, shape ``sample + batch + (k,)``.
    :return: ``(mask, members)``: the mask (dtype of ``u``, exactly ``m``
        ones) and the chosen indices, shape ``sample + batch + (m,)``, in
        the order drawn.
    """
    xp = array_namespace(logits, u)
    keys = stop_gradient(logits) - xp.log(-xp.log(u))  # logits + G, bitwise
    _, members = top_m(keys, m)
    return scatter_ones(members, keys.shape[-1], u), members


def scatter_ones(members, k, like):
    """The k-hot mask (dtype of ``like``) with ones at the indices
    ``members`` (shape ``batch + (m,)``, distinct within a row)."""
    xp = array_namespace(like)
    shape = tuple(members.shape[:-1]) + (k,)
    if is_torch(xp):
        import torch

        return torch.zeros(shape, dtype=like.dtype, device=like.device).scatter_(-1, members, 1.0)
    if is_jax(xp):
        import jax
        import jax.numpy as jnp

        # A scatter per row (vmap: one scatter with batch dimensions), which
        # a batch-sharded input partitions without communication (the
        # indices of ``put_along_axis`` are gathered across devices).
        rows = jnp.reshape(members, (-1, members.shape[-1]))
        hot = jax.vmap(lambda i: jnp.zeros((k,), like.dtype).at[i].set(1.0))(rows)
        return jnp.reshape(hot, shape)
    cats = xp.arange(k, device=array_api_compat.device(like))
    hit = xp.expand_dims(members, axis=-1) == cats  # (..., m, k)
    return xp.astype(xp.any(hit, axis=-2), like.dtype)


def set_members(value, m):
    """Indices of the ``m`` ones of a k-hot ``value`` (any order)."""
    return top_m(value, m)[1]


def subset_log_prob_members(logits, value, members, num_nodes=None):
    r""":func:`subset_log_prob` of the set ``A`` given both as its k-hot mask
    ``value`` and its ``m`` member indices ``members`` (shape ``... + (m,)``,
    from :func:`set_members` or :func:`sample_subset`; both broadcast with
    the batch of ``logits``): cost :math:`O(k + \text{num\_nodes} \cdot m)`
    instead of :math:`O(\text{num\_nodes} \cdot k)`. ``num_nodes``: 200 in
    float64 (relative error about 1e-13), 56 below (the window cut at
    e^-18 of the peak; within 1.1e-8 of the float64 result, measured).

    The rates :math:`r_i = p_i / p_{\bar A}` are formed from the logits
    directly, :math:`\log r_i = \ell_i - \mathrm{logsumexp}_{j \notin A}
    \ell_j`, never through ``log_softmax``: at logit spreads near the range
    of float32 the normalised log-probabilities overflow to :math:`-\infty`,
    and a set of probability near 1 would read as impossible. Where the host
    can tell for free that no logit is :math:`-\infty` (torch, JAX outside a
    trace), the sum outside ``A`` runs over the logits with the members' set
    to :math:`-\infty` (a scatter), and ``value`` is not read.

    At each node :math:`u = e^x` each member contributes
    :math:`\log(1 - e^{-a})`, :math:`a = r_i u`, written as
    :math:`\min(\log a, 0) + \log f(a)` with
    :math:`f(a) = (1 - e^{-a}) / \min(a, 1) \in [1 - 1/e, 1]`: one ``expm1``
    per member and node, and the :math:`\log f` summed as the logarithm of
    partial products (exact for any :math:`\log a`, also where ``a`` would
    underflow)."""
    xp = array_namespace(logits, value)
    k, m = logits.shape[-1], members.shape[-1]
    if num_nodes is None:
        num_nodes = 200 if _wide(logits) else _NODES_32
    shape = tuple(np.broadcast_shapes(tuple(members.shape[:-1]), tuple(logits.shape[:-1]),
                                      tuple(value.shape[:-1])))
    lg = xp.broadcast_to(logits, shape + (k,))
    members = xp.broadcast_to(members, shape + (m,))
    l_a = xp.take_along_axis(lg, members, axis=-1)  # (..., m)
    n = math.prod(shape)
    if (m < k and n > 0 and (is_torch(xp) or is_jax(xp))
            and host_any(xp.min(stop_gradient(lg)) == -math.inf) is False):
        # No masked item (asked for free, on the host): no member is dead and
        # A is never every item left; the mass outside A is the sum over the
        # logits with the members' set to -inf (a scatter, not a pass of
        # wheres over the mask).
        impossible = full = xp.zeros(shape, dtype=xp.bool, device=array_api_compat.device(lg))
        if is_torch(xp):
            outside = lg.scatter(-1, members, -math.inf)
        else:
            import jax.numpy as jnp

            outside = jnp.put_along_axis(lg, members, -math.inf, axis=-1, inplace=False)
        log_rest = logsumexp(outside, axis=-1)
    else:
        dead = l_a == -math.inf
        impossible = xp.any(dead, axis=-1)
        l_a = xp.where(dead, xp.zeros_like(l_a), l_a)
        # log of the (unnormalised) mass outside A. Where A holds every item
        # left, P(A) = 1; the sum then runs over the live items only to stay
        # finite (an all -inf row has NaN gradients), and is unused.
        inside = xp.broadcast_to(value, shape + (k,)) > 0.5
        dead_k = lg == -math.inf
        full = xp.all(inside | dead_k, axis=-1)
        row = xp.where(inside, xp.full_like(lg, -math.inf), lg)
        row = xp.where(full[..., None], xp.where(dead_k, xp.zeros_like(lg), lg), row)
        log_rest = logsumexp(row, axis=-1)
    log_rate = xp.clip(l_a - log_rest[..., None], max=_LOG_RATE_MAX)
    # A rate that underflows to 0 (float32 logits whose difference is beyond
    # its range) makes P(A) vanish below the float range: -inf, computed on a
    # safe stand-in so that gradients stay finite (0) there.
    vanished = log_rate == -math.inf
    if host_any(vanished) is not False:
        impossible = impossible | xp.any(vanished, axis=-1)
        log_rate = xp.where(vanished, xp.zeros_like(log_rate), log_rate)
    x, w = _subset_window(stop_gradient(log_rate), xp.ones_like(l_a, dtype=xp.bool), num_nodes)
    # log(1 - e^-a) = min(log a, 0) + log f(a). In f, a rate below e^-60
    # counts as e^-60: f = 1 - a/2 + ... is then 1 to any float precision,
    # min(log a, 0) carries the exact rate, and a (the nodes have u >= e^-41)
    # stays a normal float, never 0/0.

    def log_integral(log_rate, x, w):  # rows (n, m), nodes (n, V) -> (n,)
        log_r = xp.expand_dims(log_rate, axis=-1)  # members before nodes
        low = xp.sum(xp.clip(log_r + xp.expand_dims(x, axis=-2), max=0.0), axis=-2)
        neg_rate = -xp.exp(xp.clip(log_r, min=-_LOG_RATE_MAX))
        neg_a = neg_rate * xp.expand_dims(xp.exp(x), axis=-2)
        f = xp.expm1(neg_a) / xp.clip(neg_a, min=-1.0)
        for i in range(0, m, _CHUNK):
            low = low + xp.log(xp.prod(f[..., i:i + _CHUNK, :], axis=-2))
        return logsumexp(xp.log(w) + x - xp.exp(x) + low, axis=-1)

    log_rate, x, w = (xp.reshape(a, (n, a.shape[-1])) for a in (log_rate, x, w))
    # Eager torch allocates every (rows, m, V) temporary: a few rows at a
    # time keep them small (about 2^18 entries) and in cache.
    step = max(n, 1)
    if is_torch(xp):
        step = max(1, min(n, 2**18 // (m * num_nodes)))
    parts = [log_integral(log_rate[i:i + step], x[i:i + step], w[i:i + step])
             for i in range(0, max(n, 1), step)]
    log_p = xp.reshape(parts[0] if len(parts) == 1 else xp.concat(parts, axis=0), shape)
    # A probability; rounding must not push a near-certain set above 1.
    log_p = xp.where(full, xp.zeros_like(log_p), xp.minimum(log_p, xp.zeros_like(log_p)))
    return xp.where(impossible, xp.full_like(log_p, -math.inf), log_p)


def enumerate_masks(k, m):
    """All ``C(k, m)`` k-hot masks with ``m`` ones, as a NumPy float array of
    shape ``(C(k, m), k)`` in lexicographic order of the member indices."""
    combos = np.array(list(itertools.combinations(range(k), m)), dtype=np.int64).reshape(-1, m)
    out = np.zeros((combos.shape[0], k))
    np.put_along_axis(out, combos, 1.0, axis=-1)
    return out


# ------------------------------------------------- discrete supports
def check_count(m, k=None, owner="Subset"):
    """``m`` as a Python int with ``1 <= m < k``; ``ValueError`` naming ``m``
    otherwise (booleans, fractions and strings included)."""
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, (int, np.integer)):
        raise ValueError(f"{owner}: `m` must be an integer with 1 <= m < k, got {m!r}")
    m = int(m)
    if m < 1 or (k is not None and m >= k):
        bound = "k" if k is None else f"k = {k}"
        raise ValueError(f"{owner}: `m` must be an integer with 1 <= m < {bound}, got {m}")
    return m


def is_binary(x):
    """Entries exactly 0 or 1."""
    return (x == 0) | (x == 1)


def is_one_hot(x):
    """Vectors of exact 0s and 1s with exactly one 1."""
    xp = array_namespace(x)
    return xp.all(is_binary(x), axis=-1) & (xp.sum(x, axis=-1) == 1)


def is_k_hot(x, m):
    """Vectors of exact 0s and 1s with exactly ``m`` ones."""
    xp = array_namespace(x)
    return xp.all(is_binary(x), axis=-1) & (xp.sum(x, axis=-1) == m)


#: The discrete supports and the parameters of :class:`Subset` (see
#: :data:`relaxed_dists.core.supports.SPECS`).
SPECS = {
    "binary": (is_binary, 0, "exact 0s and 1s"),
    "one_hot": (is_one_hot, 1, "one-hot vectors (exact 0s and one exact 1)"),
    "k_hot": (is_k_hot, 1, "{m}-hot vectors (exact 0s and exactly m = {m} exact 1s)"),
    "count_logits": (checks.category_logits, 1,
                     "vectors of real numbers or -inf (no NaN, no +inf; -inf masks a category), "
                     "at least m = {m} of them finite"),
    "count_probs": (checks.category_probs, 1,
                    "probability vectors (entries >= 0 summing to 1 within max(1e-6, 16 eps "
                    "sqrt(k)); a 0 masks its category), at least m = {m} of them positive"),
}
