r"""Straight-through estimators: a *hard* discrete sample (a one-hot vector,
a bit, a k-hot vector with exactly ``m`` ones) whose gradient is that of a
chosen surrogate.

Every value here is built as

.. math::

    v = h + (s - \mathrm{sg}(s)),

with ``h`` the hard sample, ``s`` a differentiable surrogate made from the
same noise and :math:`\mathrm{sg}` ``stop_gradient``. In the forward pass
:math:`s - \mathrm{sg}(s)` is exactly ``0.0`` (``s`` is finite), so the value
is *bitwise* the hard sample; in the backward pass the gradient of ``v`` is
that of ``s``. No custom autodiff rule is involved, so the same code runs
under torch autograd and ``jax.grad`` / ``jit`` / ``vmap``, and the same
uniforms give the same values and gradients on both.

Where the wanted backward is not the Jacobian of a simple function
(ReinMax), the surrogate is a sum of zero-valued terms whose Jacobians add
up to it: :math:`T(p, d) = p \odot (d - \langle p, d\rangle)` with ``p``
stopped and :math:`d = \ell - \mathrm{sg}(\ell)` (exactly 0 in value,
Jacobian the identity; 0 at masked logits, where :math:`-\infty -
(-\infty)` would be NaN) has :math:`\partial T/\partial \ell =
\mathrm{diag}(p) - p p^\top`, as has :math:`q - \mathrm{sg}(q)`,
:math:`q = \mathrm{softmax}(\ell)` with :math:`p = q`; so any combination of
such matrices is the Jacobian of an exact zero, at :math:`O(k)` cost.

**Noise layout.** The adapters draw the uniforms; :func:`noise_shape`
gives their trailing shape, after ``sample + batch``:

- :func:`categorical`: ``(k,)``; with ``"gumbel_rao"``, ``(1 + R, k)``,
  row 0 for the hard draw and rows ``1..R`` for the ``R = rao_samples``
  conditional draws.
- :func:`bernoulli`: ``()``; with ``"gumbel_rao"``, ``(1 + R,)``, entry 0
  for the hard bit and entries ``1..R`` for the conditional draws.
- :func:`subset`: ``(k,)``.

The hard sample depends only on row (entry) 0, never on the estimator:
the same uniforms give the same sample whatever the estimator, which
changes only its gradient.

**Masked categories** (logit :math:`-\infty`, probability 0) are never
chosen and never give NaN values or gradients; logits are shifted by their
(stopped) maximum before they are perturbed, so finite logits up to the
dtype's range do not overflow.

References
    1. Y. Bengio, N. Léonard, A. Courville. Estimating or propagating
       gradients through stochastic neurons for conditional computation.
       arXiv:1308.3432, 2013.
    2. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
    3. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete distribution: a
       continuous relaxation of discrete random variables. ICLR 2017.
    4. M. B. Paulus, C. J. Maddison, A. Krause. Rao-Blackwellizing the
       straight-through Gumbel-softmax gradient estimator. ICLR 2021.
    5. L. Liu, C. Dong, X. Liu, B. Yu, J. Gao. Bridging discrete and
       backpropagation: straight-through and beyond. NeurIPS 2023 (ReinMax).
    6. W. Kool, H. van Hoof, M. Welling. Stochastic beams and where to find
       them: the Gumbel-top-k trick for sampling sequences without
       replacement. ICML 2019.
    7. C. J. Maddison, D. Tarlow, T. Minka. A* sampling. NeurIPS 2014
       (truncated Gumbels).
"""

import math
import numbers

from array_api_compat import device as _device

from . import hard_limit
from . import subset as _subset
from ._namespace import array_namespace, errstate, host_any, is_jax, is_torch, stop_gradient
from .noise import logistic
from .special import log_sigmoid, log_softmax, sigmoid, softmax

__all__ = [
    "ESTIMATORS",
    "check_estimator",
    "check_m",
    "noise_shape",
    "categorical",
    "categorical_log_prob",
    "bernoulli",
    "bernoulli_log_prob",
    "subset",
    "subset_log_prob",
]

#: The valid ``estimator`` names of each function (the first is the default).
ESTIMATORS = {
    "categorical": ("gumbel", "st", "gumbel_rao", "reinmax"),
    "bernoulli": ("gumbel", "st", "gumbel_rao", "reinmax"),
    "subset": ("relaxed", "marginals"),
}


# ---------------------------------------------------------------- arguments
def check_estimator(family, estimator, rao_samples=1, owner=None):
    """Check the static arguments of a straight-through class: ``estimator``
    one of ``ESTIMATORS[family]`` and ``rao_samples`` a Python integer
    (NumPy integers count, ``bool`` does not) at least 1 (checked whatever
    the estimator). Raises ``ValueError`` naming the argument and listing
    what is valid; returns ``(estimator, int(rao_samples))``."""
    if family not in ESTIMATORS:
        raise ValueError(f"`family` must be one of {sorted(ESTIMATORS)}, got {family!r}")
    who = f"{owner}: " if owner else ""
    valid = ESTIMATORS[family]
    if not isinstance(estimator, str) or estimator not in valid:
        raise ValueError(f"{who}`estimator` must be one of {', '.join(map(repr, valid))}, "
                         f"got {estimator!r}")
    if isinstance(rao_samples, bool) or not isinstance(rao_samples, numbers.Integral) or rao_samples < 1:
        raise ValueError(f"{who}`rao_samples` must be an integer >= 1, got {rao_samples!r}")
    return estimator, int(rao_samples)


def check_m(m, k, owner=None):
    """``int(m)``; ``ValueError`` naming ``m`` unless it is an integer (NumPy
    integers count, ``bool`` does not) with ``1 <= m < k``."""
    who = f"{owner}: " if owner else ""
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or not 1 <= m < k:
        raise ValueError(f"{who}`m` must be an integer with 1 <= m < k = {k}, got {m!r}")
    return int(m)


def noise_shape(family, estimator, k=None, rao_samples=1):
    """Trailing shape of the uniforms one draw consumes per batch element
    (the full shape is ``sample_shape + batch_shape + noise_shape(...)``):
    ``(k,)`` for ``"categorical"`` and ``"subset"``, ``()`` for
    ``"bernoulli"``; with ``"gumbel_rao"``, ``(1 + rao_samples, k)`` and
    ``(1 + rao_samples,)``. Checks the arguments as :func:`check_estimator`."""
    estimator, rao_samples = check_estimator(family, estimator, rao_samples)
    event = () if family == "bernoulli" else (int(k),)
    if estimator != "gumbel_rao":
        return event
    return (1 + rao_samples,) + event


def _rows(u, event_ndim, need_ndim, name):
    """The number ``R`` of conditional rows in the Gumbel-Rao layout, from
    the axis of ``u`` before its ``event_ndim`` last ones."""
    axis = -1 - event_ndim
    if u.ndim < need_ndim or u.shape[axis] < 2:
        raise ValueError(f"{name}: with estimator='gumbel_rao', `u` must have shape "
                         f"sample + batch + {'(1 + rao_samples, k)' if event_ndim else '(1 + rao_samples,)'}"
                         f" with rao_samples >= 1, got shape {tuple(u.shape)}")
    return u.shape[axis] - 1


# ------------------------------------------------------------------ helpers
# Speed: every estimator runs a fast path when the host can say for free
# (``host_any``: NumPy, torch on the CPU, JAX outside a trace) that no entry
# needs the masked / overflow handling; the check is one reduction (a sum,
# finite exactly when every entry is) rather than a boolean array, which
# costs several times an arithmetic pass in torch. Inside a trace the
# general path runs; it gives the same values and gradients.
def _known_finite(x):
    """Whether the host knows for free that every entry of ``x`` is finite:
    ``False`` if one may not be (or the sum overflows, or inside a trace);
    the caller's general path is right in every case."""
    xp = array_namespace(x)
    with errstate(over="ignore", invalid="ignore"):
        total = xp.sum(x)
    return host_any(~xp.isfinite(total)) is False


def _softmax(x):
    """Softmax over the last axis. torch's kernel is several times slower
    than ``exp(x - max) / sum`` (its gradient included) below 16 entries;
    there it is written out (the maximum stopped: the result does not depend
    on it), elsewhere :func:`relaxed_dists.core.special.softmax`."""
    xp = array_namespace(x)
    if is_torch(xp) and x.shape[-1] < 16:
        e = xp.exp(x - stop_gradient(xp.max(x, axis=-1, keepdims=True)))
        return e / xp.sum(e, axis=-1, keepdims=True)
    return softmax(x, axis=-1)


def _scaled(y, tau):
    """``y / tau`` (``tau`` broadcast against ``y``), ``-inf`` where ``y`` is
    ``-inf`` (a masked category) or the division overflows to ``-inf`` (a
    probability of 0 to the dtype's precision at this temperature). There
    the division runs on 0 (double where): its derivative in ``tau``,
    ``-y/tau^2``, would be infinite and meet a zero upstream gradient."""
    xp = array_namespace(y, tau)
    with errstate(over="ignore"):
        scaled = y / tau
    if _known_finite(scaled):
        return scaled
    out = scaled == -math.inf
    if host_any(out) is False:
        return scaled
    y = xp.where(out, xp.zeros_like(y), y)
    return xp.where(out, xp.full_like(scaled, -math.inf), y / tau)


def _sigmoid_scaled(z, tau):
    r""":math:`\sigma(z/\tau)`; where ``z`` is infinite (a forced bit) or
    ``z / tau`` overflows, the exact limit 0 or 1, with no gradient (double
    where, as in :func:`_scaled`)."""
    xp = array_namespace(z, tau)
    with errstate(over="ignore"):
        scaled = z / tau
    if _known_finite(scaled):
        return sigmoid(scaled)
    over = xp.isinf(scaled)
    if host_any(over) is False:
        return sigmoid(scaled)
    z0 = xp.where(over, xp.zeros_like(z), z)
    return xp.where(over, xp.astype(z > 0, z.dtype), sigmoid(z0 / tau))


def _argmax(y):
    """``argmax(y, axis=-1)`` (the first index of the maximum). Under JAX as
    the smallest index where ``y`` equals its maximum: two plain reductions,
    which XLA vectorises on the CPU, while its argmax (a reduction over value
    and index pairs) runs several times slower, and slower still with the
    noise transform fused into it."""
    xp = array_namespace(y)
    if not is_jax(xp):
        return xp.argmax(y, axis=-1)
    k = y.shape[-1]
    cats = xp.arange(k, device=_device(y))
    top = xp.max(y, axis=-1, keepdims=True)
    return xp.min(xp.where(y == top, cats, xp.full_like(cats, k)), axis=-1)


def _one_hot(idx, k, like):
    """One-hot of the integer array ``idx`` in the dtype of ``like`` (a
    scatter of ones, :func:`relaxed_dists.core.hard_limit.scatter_ones`)."""
    xp = array_namespace(idx, like)
    return hard_limit.scatter_ones(xp.expand_dims(idx, axis=-1), k, like)


def _zero_with_identity_jacobian(logits):
    r""":math:`d = \ell - \mathrm{sg}(\ell)`: exactly 0 in value, Jacobian
    the identity w.r.t. the finite logits, 0 (and no NaN) at infinite ones."""
    xp = array_namespace(logits)
    if _known_finite(logits):
        return logits - stop_gradient(logits)
    finite = xp.isfinite(logits)
    fl = xp.where(finite, logits, xp.zeros_like(logits))
    return fl - stop_gradient(fl)


def _shift(logits):
    """The logits minus their stopped maximum (at most 0, so that no
    perturbed logit overflows; ``-inf`` stays ``-inf``). The logits are real
    or ``-inf`` (never ``+inf``), so their plain maximum is the largest finite
    one unless every entry is ``-inf``; then the shift is 0."""
    xp = array_namespace(logits)
    top = stop_gradient(xp.max(logits, axis=-1, keepdims=True))
    return logits - xp.where(xp.isfinite(top), top, xp.zeros_like(top))


def _straight_through(hard, s):
    """``hard + (s - sg(s))``: bitwise ``hard`` in value, the gradient of ``s``."""
    return hard + (s - stop_gradient(s))


# -------------------------------------------------------------- categorical
def _reinmax_surrogate(l, temperature, hard):
    r"""The ReinMax surrogate (zero in value) for the one-hot ``hard``, from
    the shifted logits ``l``: with :math:`\pi = \mathrm{softmax}(\ell)`,
    :math:`\pi_\tau = \mathrm{softmax}(\ell/\tau)`, :math:`s = (\pi_\tau
    + D)/2` (stopped) and ``d`` of :func:`_zero_with_identity_jacobian`,
    :math:`2T(s, d) - \tfrac12 (\pi - \mathrm{sg}(\pi))`: the first term's
    Jacobian is :math:`2 J(s)`, the second's :math:`-\tfrac12 J(\pi)`, the
    Jacobian of the softmax itself (one fused softmax backward)."""
    xp = array_namespace(l, temperature, hard)
    tau = stop_gradient(xp.expand_dims(temperature, axis=-1))
    two_s = _softmax(_scaled(stop_gradient(l), tau)) + hard  # 2 s
    d = _zero_with_identity_jacobian(l)
    first = two_s * (d - xp.sum(two_s * d, axis=-1, keepdims=True) / 2)  # 2 T(s, d)
    pi = _softmax(l)
    return first - (pi - stop_gradient(pi)) / 2


def _rao_rows(l, idx, u_rows):
    r"""The conditional perturbed logits of ``"gumbel_rao"`` (stopped; rows
    ``1..R`` of the noise), as :func:`relaxed_dists.core.mhot.conditional_perturbed`
    defines them: with :math:`E = -\log u` and :math:`p = \mathrm{softmax}(\ell)`,
    the maximum :math:`M = -\log E_a` at the argmax ``a`` and, elsewhere,
    :math:`-\mathrm{logaddexp}(-M, -(\log p_i + G_i)) = -\log(E_a + E_i/p_i)`:
    two logarithms per entry. The factor :math:`1/p_i` is set to 0 at the
    argmax, where the formula then gives ``M`` exactly; it is ``inf`` at a
    masked category (``-inf``), and the argmax's :math:`p_a` is never 0 (its
    Gumbel lead is bounded by the range of the uniforms)."""
    xp = array_namespace(l, u_rows)
    lp = log_softmax(stop_gradient(l), axis=-1)
    with errstate(over="ignore"):
        inv_p = xp.exp(-lp)
    k = l.shape[-1]
    at_a = xp.expand_dims(idx, axis=-1) == xp.arange(k, dtype=idx.dtype, device=_device(l))
    inv_p = xp.where(at_a, xp.zeros_like(inv_p), inv_p)
    log_u = xp.log(u_rows)  # -E < 0 (u < 1)
    where = xp.broadcast_to(idx[..., None, None], log_u.shape[:-1] + (1,))
    e_a = -xp.take_along_axis(log_u, where, axis=-1)
    return -xp.log(e_a - log_u * xp.expand_dims(inv_p, axis=-2))


def categorical(logits, temperature, u, estimator="gumbel"):
    r"""One-hot sample with a straight-through gradient.

    The hard category is the Gumbel-max of row 0 of the noise,
    :math:`a = \arg\max_i (\ell_i + G_i)`, :math:`G = -\log(-\log u)`, so
    :math:`P(a = i) = \mathrm{softmax}(\ell)_i`; the value is the one-hot
    :math:`D = e_a`, bitwise. Its gradient is the estimator's:

    * ``"st"`` (Bengio et al. 2013): :math:`s = \mathrm{softmax}(\ell/\tau)`.
      At :math:`\tau = 1` this is the classic straight-through gradient of
      the probabilities; the temperature is the one of the ReinMax paper's
      ST baseline (it scales the backward only; the sample is always drawn
      from :math:`\mathrm{softmax}(\ell)`).
    * ``"gumbel"`` (straight-through Gumbel-softmax, Jang et al. 2017):
      :math:`s = \mathrm{softmax}((\ell + G)/\tau)` with the Gumbels of the
      hard draw.
    * ``"gumbel_rao"`` (Paulus, Maddison & Krause 2021):
      :math:`s = \frac1R \sum_{r=1}^R \mathrm{softmax}((\ell + G_r)/\tau)`
      with Gumbels :math:`G_r` drawn *conditionally on*
      :math:`\arg\max(\ell + G_r) = a` (rows ``1..R`` of ``u``,
      :func:`relaxed_dists.core.mhot.conditional_perturbed`: the maximum of
      :math:`\log\pi + G_r` is a Gumbel of location
      :math:`\mathrm{logsumexp}\log\pi = 0`, independent of the argmax, the
      other entries are Gumbels truncated below it) and held fixed in the
      backward, as in the paper: a Monte Carlo estimate of
      :math:`E[\nabla\,\mathrm{softmax}((\ell + G)/\tau) \mid a]`, the
      straight-through Gumbel-softmax gradient Rao-Blackwellized over the
      noise given the sample (same mean, less variance).
    * ``"reinmax"`` (Liu et al. 2023): not the Jacobian of a function of
      the noise. With :math:`\pi = \mathrm{softmax}(\ell)`,
      :math:`s = (\mathrm{softmax}(\ell/\tau) + D)/2`, an upstream
      gradient ``g`` and :math:`J(p) = \mathrm{diag}(p) - p p^\top`,

      .. math::

          \nabla_\ell = 2 J(s) g - \tfrac12 J(\pi) g,

      the backward of the published ReinMax estimator (which also
      subtracts the mean of this gradient: a no-op but for rounding, as
      :math:`\mathbf 1^\top J(p) = 0`). No gradient flows to the
      temperature.

    The temperature receives gradients through ``"st"``, ``"gumbel"`` and
    ``"gumbel_rao"``.

    :param logits: unnormalised log-probabilities, shape ``batch + (k,)``:
        real or :math:`-\infty` (masked, never chosen; no NaN values or
        gradients), at least one finite.
    :param temperature: positive, shape ``batch``.
    :param u: uniforms in ``[smallest_normal, 1)``, shape
        ``sample + batch + (k,)``, or ``sample + batch + (1 + R, k)`` for
        ``"gumbel_rao"`` with ``R`` conditional draws (:func:`noise_shape`).
    :param str estimator: one of ``ESTIMATORS["categorical"]``.
    :return: the one-hot value, shape ``sample + batch + (k,)``, in the dtype
        of ``u``.
    """
    xp = array_namespace(logits, temperature, u)
    estimator, _ = check_estimator("categorical", estimator)
    k = logits.shape[-1]
    rao = estimator == "gumbel_rao"
    if rao:
        _rows(u, 1, logits.ndim + 1, "categorical")
    u0 = u[..., 0, :] if rao else u
    # The logits shifted by their stopped maximum (at most 0: no overflow;
    # -inf stays -inf, and _scaled gives it no gradient).
    l = _shift(logits)
    minus_g = xp.log(-xp.log(u0))  # -G: y = l - (-G) is bitwise l + G
    y = l - minus_g if estimator == "gumbel" else stop_gradient(l) - minus_g
    idx = _argmax(stop_gradient(y))
    hard = _one_hot(idx, k, u0)
    tau = xp.expand_dims(temperature, axis=-1)
    if estimator == "reinmax":
        return hard + _reinmax_surrogate(l, temperature, hard)
    if estimator == "st":
        s = _softmax(_scaled(l, tau))
    elif estimator == "gumbel":
        s = _softmax(_scaled(y, tau))
    else:
        # The conditional noise is held fixed (stopped); the rows depend on
        # the logits as l + G_r does, with Jacobian the identity.
        rows = _rao_rows(l, idx, u[..., 1:, :])
        rows = rows + xp.expand_dims(_zero_with_identity_jacobian(logits), axis=-2)
        s = xp.mean(_softmax(_scaled(rows, xp.expand_dims(tau, axis=-1))), axis=-2)
    return _straight_through(hard, s)


def categorical_log_prob(logits, value):
    r"""Exact log-probability of the one-hot ``value``,
    :math:`\sum_i D_i \log\mathrm{softmax}(\ell)_i` (w.r.t. the counting
    measure on the ``k`` one-hot vectors): :math:`-\infty` for a masked
    category, never NaN (the masked terms of the other categories are
    dropped, not multiplied by 0).

    :param logits: shape ``batch + (k,)``.
    :param value: one-hot, shape ``sample + batch + (k,)``.
    """
    xp = array_namespace(logits, value)
    lp = log_softmax(logits, axis=-1)
    lp = lp + xp.zeros_like(value)
    return xp.sum(xp.where(value != 0, lp, xp.zeros_like(lp)), axis=-1)


# ---------------------------------------------------------------- bernoulli
def _truncated_logistic(a, v):
    r"""Perturbed logit :math:`z = a + L`, ``L`` standard logistic,
    conditioned on :math:`z > 0`, by the inverse CDF from the uniforms ``v``
    (the formula of :func:`bernoulli`): with :math:`c = \max(a, 0)`,
    :math:`z = c + \log(e^{-c} + v e^{\min(a, 0)}) - \log(1 - v)`, that is
    :math:`a + \log(e^{-a} + v) - \log(1 - v)` for :math:`a > 0` and
    :math:`\log(1 + v e^a) - \log(1 - v)` otherwise. No overflow for any
    finite ``a``; 0 at ``v = 0``, an Exponential(1) as
    :math:`a \to -\infty`, :math:`a + L` as :math:`a \to \infty`. ``a``
    has a trailing axis of 1 against the rows of ``v``: the exponentials are
    taken once per logit, one logarithm per row entry besides
    :math:`\log(1 - v)`. Called on stopped values (no gradient flows through
    it)."""
    xp = array_namespace(a, v)
    zero = xp.zeros_like(a)
    c = xp.maximum(a, zero)  # a - c = min(a, 0), also at a = +inf
    return c + xp.log(xp.exp(-c) + v * xp.exp(xp.minimum(a, zero))) - xp.log1p(-v)


def bernoulli(logits, temperature, u, estimator="gumbel"):
    r"""0./1. sample with a straight-through gradient.

    The hard bit is :math:`b = \mathbf 1[\ell + L > 0]` with the logistic
    :math:`L = \log u_0 - \log(1 - u_0)`, so :math:`P(b = 1) = \sigma(\ell)`;
    the value is ``b``, bitwise. Its gradient is the estimator's:

    * ``"st"``: :math:`s = \sigma(\ell/\tau)` (as in :func:`categorical`).
    * ``"gumbel"``: the Binary Concrete :math:`s = \sigma((\ell + L)/\tau)`
      with the same ``L``.
    * ``"gumbel_rao"``: :math:`s = \frac1R\sum_r \sigma((\ell + L_r)/\tau)`
      with :math:`L_r` drawn conditionally on the sampled bit and held fixed
      in the backward (as in :func:`categorical`): truncated to
      :math:`(-\ell, \infty)` for ``b = 1``, by the inverse CDF
      :math:`L = F^{-1}(F(-\ell) + v(1 - F(-\ell)))`, :math:`F = \sigma`,
      and to :math:`(-\infty, -\ell)` for ``b = 0`` by the mirror image
      :math:`L = F^{-1}((1 - v) F(-\ell))`, from the uniforms
      ``v = u[..., 1:]``. In terms of :math:`z = \ell + L`, for ``b = 1``
      (with :math:`1 - F(-\ell) = \sigma(\ell)` this simplifies to)

      .. math::

          z = \log\big(1 + v e^{\ell}\big) - \log(1 - v),

      taken as :math:`\ell + \log(e^{-\ell} + v) - \log(1 - v)` for
      :math:`\ell > 0` (no overflow for any finite :math:`\ell`), and minus
      the same expression at :math:`-\ell` for ``b = 0``.
    * ``"reinmax"``: the categorical ReinMax on the two logits
      :math:`[\ell, 0]`, reduced to the first coordinate. With upstream
      ``g`` on the bit only, :math:`J(p)[g, 0]^\top = p_1 p_2 g [1, -1]^\top`
      for two categories and the re-centring is a no-op, so

      .. math::

          \partial_\ell = \big(2 s(1 - s) - \tfrac12 \sigma(\ell)\sigma(-\ell)\big) g,
          \qquad s = \tfrac12 (\sigma(\ell/\tau) + b),

      realised as :math:`c \cdot (\ell - \mathrm{sg}(\ell))` with ``c``
      stopped. No gradient flows to the temperature.

    A logit of :math:`\pm\infty` forces the bit and gets no gradient; so
    does a finite one where the surrogate's argument over the temperature
    overflows (the surrogate is then exactly 0 or 1).

    :param logits: log-odds of ``P(1)``, real or :math:`\pm\infty`.
    :param temperature: positive, broadcast with ``logits`` (the batch shape).
    :param u: uniforms in ``[smallest_normal, 1)``, shape ``sample + batch``,
        or ``sample + batch + (1 + R,)`` for ``"gumbel_rao"``.
    :param str estimator: one of ``ESTIMATORS["bernoulli"]``.
    :return: shape ``sample + batch``, in the dtype of ``u``.
    """
    xp = array_namespace(logits, temperature, u)
    estimator, _ = check_estimator("bernoulli", estimator)
    rao = estimator == "gumbel_rao"
    if rao:
        _rows(u, 0, max(logits.ndim, temperature.ndim) + 1, "bernoulli")
    u0 = u[..., 0] if rao else u
    noise = logistic(u0)
    hard = xp.astype((stop_gradient(logits) + noise) > 0, u0.dtype)
    # Infinite logits (a forced bit), and values whose quotient by the
    # temperature overflows, take the limit 0 or 1 in _sigmoid_scaled, with
    # no gradient there.
    if estimator == "reinmax":
        ls, ts = stop_gradient(logits), stop_gradient(temperature)
        two_s = _sigmoid_scaled(ls, ts) + hard  # 2 s; 2 s (1 - s) = 2s (2 - 2s) / 2
        c = (two_s * (2 - two_s) - sigmoid(ls) * sigmoid(-ls)) / 2
        return hard + c * _zero_with_identity_jacobian(logits)
    if estimator == "st":
        s = _sigmoid_scaled(logits, temperature)
    elif estimator == "gumbel":
        s = _sigmoid_scaled(logits + noise, temperature)
    else:
        # the conditional noise held fixed, as in `categorical`
        sign = xp.expand_dims(2 * hard - 1, axis=-1)
        ls = xp.expand_dims(stop_gradient(logits), axis=-1)
        with errstate(over="ignore", invalid="ignore"):
            z = sign * _truncated_logistic(sign * ls, u[..., 1:])
        z = z + xp.expand_dims(_zero_with_identity_jacobian(logits), axis=-1)
        s = xp.mean(_sigmoid_scaled(z, xp.expand_dims(temperature, axis=-1)), axis=-1)
    return _straight_through(hard, s)


def bernoulli_log_prob(logits, value):
    r"""Exact log-probability of the bit ``value`` (0. or 1.):
    :math:`\log\sigma(\ell)` for 1, :math:`\log\sigma(-\ell)` for 0;
    :math:`-\infty` for a bit a logit of :math:`\mp\infty` excludes, 0 for
    the bit it forces, never NaN."""
    xp = array_namespace(logits, value)
    one = value != 0
    return xp.where(one, log_sigmoid(logits), log_sigmoid(-logits))


# ------------------------------------------------------------------- subset
def subset(logits, temperature, m, u, estimator="relaxed"):
    r"""k-hot sample with exactly ``m`` ones, with a straight-through
    gradient.

    The hard set is the Gumbel-top-``m`` of :math:`y = \ell + G` (Kool, van
    Hoof & Welling 2019): ``m`` categories drawn without replacement with
    probabilities :math:`\mathrm{softmax}(\ell)` (Plackett-Luce), from the
    same perturbed logits as :func:`relaxed_dists.core.subset.rsample`. Its
    gradient is the estimator's:

    * ``"relaxed"``: :math:`s` = the RelaxedSubset sample
      :math:`\sigma((y - t)/\tau)` (:func:`relaxed_dists.core.subset.rsample`,
      same uniforms); its top ``m`` entries are the hard set.
    * ``"marginals"``: :math:`s_i = P(i \in \text{set})`, the exact inclusion
      probabilities (:func:`relaxed_dists.core.hard_limit.inclusion_probs`,
      one per batch element; the temperature is unused). Cost
      :math:`O(200 k^2 m)` per batch element.

    Masked categories (logit :math:`-\infty`) are never chosen: the hard
    draw needs at least ``m`` unmasked categories per vector, ``"relaxed"``
    more than ``m`` (as RelaxedSubset does).

    :param logits: shape ``batch + (k,)``.
    :param temperature: positive, shape ``batch``.
    :param int m: the number of ones, ``1 <= m < k``.
    :param u: uniforms in ``[smallest_normal, 1)``, shape ``sample + batch + (k,)``.
    :param str estimator: one of ``ESTIMATORS["subset"]``.
    :return: the k-hot value, shape ``sample + batch + (k,)``, in the dtype of ``u``.
    """
    array_namespace(logits, temperature, u)  # one backend for all three
    estimator, _ = check_estimator("subset", estimator)
    m = check_m(m, logits.shape[-1], owner="subset")
    # The perturbed logits, once: the hard set is their top m, and the
    # relaxed sample is made from them (as RelaxedSubset's rsample does).
    y, _, general = _subset._perturbed(logits, temperature, u)
    hard = hard_limit.scatter_ones(hard_limit.top_m(stop_gradient(y), m)[1], y.shape[-1], u)
    if estimator == "relaxed":
        s = sigmoid(_subset._project(y, temperature, m, general))
    else:
        s = hard_limit.inclusion_probs(logits, m)
    return _straight_through(hard, s)


def subset_log_prob(logits, value):
    r"""Exact log-probability that the hard draw of :func:`subset` is the
    set marked by the k-hot ``value``
    (:func:`relaxed_dists.core.hard_limit.subset_log_prob`, the Plackett-Luce
    probability of the unordered set; :math:`-\infty` if it holds a masked
    category)."""
    return hard_limit.subset_log_prob(logits, value != 0)
