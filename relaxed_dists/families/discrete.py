r"""Discrete distributions with exact probabilities: :class:`Subset`, the
hard m-subset (the :math:`\tau \to 0` limit of the relaxed subsets), and
the straight-through classes, whose value is hard and whose gradient is a
chosen estimator's.
Math: :mod:`relaxed_dists.core.hard_limit`; docs page *Discrete latents*."""

from __future__ import annotations

import math
from typing import Optional

import array_api_compat

from ..core import hard_limit as _hard
from ..core import straight_through as _st
from ..core._namespace import array_namespace, stop_gradient
from ..core.special import log_sigmoid, log_softmax
from .base import ArrayLike, Family

__all__ = ["Subset", "OneHotCategoricalStraightThrough", "BernoulliStraightThrough",
           "SubsetStraightThrough", "ENUMERATION_CAP"]

#: ``Subset.enumerate_support`` lists at most this many sets (``C(k, m)``);
#: above it, it raises ``ValueError``.
ENUMERATION_CAP = 100_000

_SUBSET_DOC = r"""A set of ``m`` of ``k`` categories drawn without replacement with
    probabilities proportional to ``probs`` (sequentially: each draw picks
    one of the categories left with probability proportional to its
    ``probs``), as a k-hot mask.

    **The first thing to know:** this is a discrete latent variable. SVI needs
    a score-function gradient for it: use
    :class:`~relaxed_dists.pyro.RLOOTrace_ELBO` (leave-one-out baselines,
    unbiased) or a straight-through guide
    (:class:`~relaxed_dists.pyro.SubsetStraightThrough`), or marginalise it
    by enumeration for small ``C(k, m)``.

    The value is a float vector of exact 0s and 1s with exactly ``m`` ones,
    event shape ``(k,)`` (support: ``{m}-hot vectors``, discrete). It is the
    hard, temperature-to-zero limit of
    :class:`~relaxed_dists.pyro.RelaxedSubset` and
    :class:`~relaxed_dists.pyro.RelaxedMHot`, drawn as the ``m`` largest
    perturbed logits :math:`\log p + G` (Gumbel-top-m; one Gumbel vector).

    ``log_prob`` is the exact log-probability of the **unordered** set
    :math:`A` (w.r.t. counting measure), a sum over the :math:`m!` orders it
    can be drawn in, written as one integral over the arrival time of an
    exponential race (item ``i`` arrives at rate :math:`p_i`; ``A`` is drawn
    when all its items arrive before any other):

    .. math::

        P(A) = \int_0^\infty e^{-s\, p_{\bar A}}\, p_{\bar A}
            \prod_{i \in A} \big(1 - e^{-s\, p_i}\big)\, ds,
        \qquad p_{\bar A} = 1 - \textstyle\sum_{i \in A} p_i,

    computed by Gauss-Legendre quadrature in the log arrival time (200 nodes
    in float64, 56 in float32, on a window around the peak of the
    log-concave integrand; relative error about 1e-13 in float64, against
    brute-force enumeration of the orders), at cost :math:`O(k + 200\, m)`
    per value. ``mean`` is the exact vector of
    inclusion probabilities (the same quadrature; it sums to ``m``).
    ``enumerate_support`` lists all ``C(k, m)`` masks when there are at most
    ``ENUMERATION_CAP = 100_000`` of them (``relaxed_dists.families.discrete``) (so
    ``TraceEnum_ELBO`` / ``funsor`` enumeration can marginalise a small
    subset exactly) and raises ``ValueError`` above it.

    :param int m: the number of categories drawn, ``1 <= m < k``. Static:
        checked at construction and kept by ``expand``.
    :param probs: probabilities, nonnegative and summing to 1 over the last
        dim; a 0 masks its category (never chosen). At least ``m`` positive.
    :param logits: unnormalised log-probabilities (reals or ``-inf``, which
        masks its category), stored as given; at least ``m`` finite.
    :param validate_args: check arguments and values (``ValueError`` on
        failure).

    References

    1. T. Vieira. Gumbel-max trick and weighted reservoir sampling. 2014.
    2. W. Kool, H. van Hoof, M. Welling. Stochastic beams and where to find
       them: the Gumbel-top-k trick for sampling sequences without
       replacement. ICML 2019.
    3. W. Kool, H. van Hoof, M. Welling. Estimating gradients for discrete
       random variables by sampling without replacement. ICLR 2020.
"""


class Subset(Family):
    __doc__ = _SUBSET_DOC
    param_names = ("probs", "logits")
    static_args = ("m",)
    support_name = "k_hot"
    support_args = ("m",)
    reparameterized = False
    enumerable = True

    def __init__(self, m: int, probs: Optional[ArrayLike] = None, logits: Optional[ArrayLike] = None,
                 validate_args: Optional[bool] = None) -> None:
        self._setup(None, probs, logits, validate_args, m=m)

    def _check_static(self, k):
        self.m = _hard.check_count(self.m, k, owner=type(self).__name__)

    @classmethod
    def _class_arg_specs(cls):
        return {"probs": ("count_probs", {"m": 1}), "logits": ("count_logits", {"m": 1})}

    def _arg_specs(self):
        return {"probs": ("count_probs", {"m": self.m}), "logits": ("count_logits", {"m": self.m})}

    def _sample(self, u):
        mask, members = _hard.sample_subset(self.logits, self.m, u)
        return mask, (members,)  # a tuple: NumPyro tests intermediates for truth

    def _log_prob(self, value):
        return _hard.subset_log_prob_members(self.logits, value, _hard.set_members(value, self.m))

    def _log_prob_from(self, value, intermediates):
        return _hard.subset_log_prob_members(self.logits, value, intermediates[0])

    def _mean(self):
        return _hard.inclusion_probs(self.logits, self.m)

    @property
    def inclusion_probs(self):
        """The probability that each category is in the set (shape
        ``batch + (k,)``, sums to ``m``): the ``mean``."""
        return self._mean()

    def _enumerate_support(self, expand):
        k = self.event_shape[-1]
        count = math.comb(k, self.m)
        if count > ENUMERATION_CAP:
            raise ValueError(f"{type(self).__name__}: enumerate_support lists C(k, m) = C({k}, "
                             f"{self.m}) = {count} sets, more than the cap ENUMERATION_CAP = "
                             f"{ENUMERATION_CAP}; use a score-function or straight-through "
                             f"estimator instead")
        ref = self._reference
        xp = array_namespace(ref)
        masks = xp.asarray(_hard.enumerate_masks(k, self.m), dtype=ref.dtype,
                           device=array_api_compat.device(ref))
        batch = tuple(self.batch_shape)
        masks = xp.reshape(masks, (count,) + (1,) * len(batch) + (k,))
        return xp.broadcast_to(masks, (count,) + batch + (k,)) if expand else masks


# ------------------------------------------------------- straight-through
_ST_COMMON = r"""
    The value is **hard** and exact, bitwise (no hidden attribute on it:
    ``.clone()``, ``* 1``, pickling and ``jax.jit`` change nothing, and it
    passes validation); only its gradient w.r.t. ``logits`` / ``probs`` (and
    ``temperature``, where the estimator uses it) is the estimator's, built
    as :math:`v = h + (s - \mathrm{sg}(s))` with the surrogate ``s`` from the
    same noise (:mod:`relaxed_dists.core.straight_through`). ``rsample``
    therefore gives a *biased* but low-variance gradient of the discrete
    model, from a single evaluation of the model; for an unbiased one, sample
    the host's discrete class and use
    :class:`~relaxed_dists.pyro.RLOOTrace_ELBO`.

    ``log_prob`` is the exact log-probability of the hard value (w.r.t.
    counting measure); for a value from ``rsample`` its gradient also flows
    through the value, as if ``log_prob`` were linear in it (for the one-hot
    and binary classes ``log_prob`` *is* linear in the value: with the
    ``"st"`` estimator the entropy term of an ELBO then has the exact
    gradient in expectation).
"""

_ST_REFS = """
    References

    1. Y. Bengio, N. Leonard, A. Courville. Estimating or propagating
       gradients through stochastic neurons for conditional computation.
       2013.
    2. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
    3. M. B. Paulus, C. J. Maddison, A. Krause. Rao-Blackwellizing the
       straight-through Gumbel-softmax gradient estimator. ICLR 2021.
    4. L. Liu, C. Dong, X. Liu, B. Yu, J. Gao. Bridging discrete and
       backpropagation: straight-through and beyond. NeurIPS 2023 (ReinMax).
"""

_ESTIMATORS_DOC = r"""
    :param str estimator: the gradient: ``"gumbel"`` (default; the
        straight-through Gumbel-softmax at ``temperature``), ``"st"`` (the
        gradient of the probabilities, :math:`\mathrm{softmax}(\ell/\tau)`;
        :math:`\tau = 1` is the classic straight-through estimator),
        ``"gumbel_rao"`` (Gumbel-softmax averaged over ``rao_samples``
        Gumbel draws conditional on the sampled value: lower variance, cost
        grows with ``rao_samples``) or ``"reinmax"`` (second-order accurate,
        the gradient of the published ``reinmax`` function). Static.
    :param int rao_samples: conditional draws of ``"gumbel_rao"`` (at
        least 1; default 10). Static.
"""


class _StraightThrough(Family):
    """Shared body: ``estimator`` and ``rao_samples`` are static; the noise
    layout is :func:`relaxed_dists.core.straight_through.noise_shape`'s."""

    static_args = ("estimator", "rao_samples")
    _kind = ""

    def __init__(self, temperature: ArrayLike = 1.0, probs: Optional[ArrayLike] = None,
                 logits: Optional[ArrayLike] = None, estimator: str = "gumbel", rao_samples: int = 10,
                 validate_args: Optional[bool] = None) -> None:
        self._setup(temperature, probs, logits, validate_args, estimator=estimator,
                    rao_samples=rao_samples)

    def _check_static(self, k):
        self.estimator, self.rao_samples = _st.check_estimator(
            self._kind, self.estimator, self.rao_samples, owner=type(self).__name__)

    def _noise_shape(self, sample_shape):
        # The hard draw's uniforms: the same for every estimator.
        return tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

    def _extra_noise_shape(self, sample_shape):
        if self.estimator != "gumbel_rao":
            return None
        # The conditional draws of Gumbel-Rao, rows before the event dims.
        return (tuple(sample_shape) + tuple(self.batch_shape) + (self.rao_samples,)
                + tuple(self.event_shape))

    def _noise(self, u):
        """The core's layout: the hard draw's uniforms as row 0 of the
        Gumbel-Rao rows (:func:`relaxed_dists.core.straight_through.noise_shape`)."""
        if not isinstance(u, tuple):
            return u
        u0, rows = u
        xp = array_namespace(u0)
        axis = -2 if self.event_shape else -1
        return xp.concat([xp.expand_dims(u0, axis=axis), rows], axis=axis)

    def _mean(self):
        return self.probs


class OneHotCategoricalStraightThrough(_StraightThrough):
    __doc__ = r"""A one-hot categorical sample with a straight-through gradient.

    The value is the one-hot vector of a category drawn with probabilities
    ``probs`` (Gumbel-max), event shape ``(k,)``; ``mean`` is ``probs``.
""" + _ST_COMMON + r"""
    :param temperature: positive and finite, broadcast with the batch shape;
        used by the gradient only (not by the sample).
    :param probs: probabilities, nonnegative and summing to 1 over the last
        dim; a 0 masks its category (never chosen).
    :param logits: unnormalised log-probabilities (reals or ``-inf``, which
        masks its category).
""" + _ESTIMATORS_DOC + """    :param validate_args: check arguments and values (``ValueError`` on
        failure).
""" + _ST_REFS
    support_name = "straight_through_one_hot"
    _kind = "categorical"

    def _sample(self, u):
        return _st.categorical(self.logits, self.temperature, self._noise(u), self.estimator), None

    def _log_prob(self, value):
        return _linear_log_prob(log_softmax(self.logits, axis=-1), value)


class BernoulliStraightThrough(_StraightThrough):
    __doc__ = r"""A 0./1. Bernoulli sample with a straight-through gradient.

    The value is 1. with probability ``probs`` (:math:`\sigma(\ell)`) and 0.
    otherwise, drawn as :math:`\mathbf 1[\ell + L > 0]` with logistic noise
    :math:`L`; event shape ``()``; ``mean`` is ``probs``. Logits of
    :math:`\pm\infty` (probabilities 1 and 0) force the value.
""" + _ST_COMMON + r"""
    :param temperature: positive and finite, broadcast with the batch shape;
        used by the gradient only (not by the sample).
    :param probs: probabilities in ``[0, 1]``.
    :param logits: log-odds (reals or :math:`\pm\infty`).
""" + _ESTIMATORS_DOC + """    :param validate_args: check arguments and values (``ValueError`` on
        failure).
""" + _ST_REFS
    category_dim = False
    support_name = "straight_through_binary"
    _kind = "bernoulli"

    def _sample(self, u):
        return _st.bernoulli(self.logits, self.temperature, self._noise(u), self.estimator), None

    def _log_prob(self, value):
        xp = array_namespace(value)
        one = log_sigmoid(self.logits) + xp.zeros_like(value)
        zero = log_sigmoid(-self.logits) + xp.zeros_like(value)
        return _linear_log_prob(xp.stack([one, zero], axis=-1),
                                xp.stack([value, 1 - value], axis=-1))


class SubsetStraightThrough(_StraightThrough):
    __doc__ = r"""A set of ``m`` of ``k`` categories drawn without replacement
    (the value of :class:`Subset`: a k-hot mask with exactly ``m`` ones),
    with a straight-through gradient.

    The set is the Gumbel-top-m of the perturbed logits, the same noise as
    :class:`~relaxed_dists.pyro.RelaxedSubset`; ``mean`` is the exact vector
    of inclusion probabilities and ``log_prob`` the exact log-probability of
    the unordered set, as in :class:`Subset` (its gradient w.r.t. the logits;
    none flows through the value, on which the set probability is not a
    smooth function).
""" + _ST_COMMON.split("``log_prob`` is")[0] + r"""
    :param temperature: positive and finite, broadcast with the batch shape
        (the relaxation's temperature for ``"relaxed"``; unused by
        ``"marginals"``).
    :param int m: the number of categories, ``1 <= m < k``. Static.
    :param probs: probabilities, nonnegative and summing to 1 over the last
        dim; a 0 masks its category (never chosen). More than ``m``
        positive.
    :param logits: unnormalised log-probabilities (reals or ``-inf``, which
        masks its category); more than ``m`` finite.
    :param str estimator: the gradient: ``"relaxed"`` (default; the gradient
        of the :class:`~relaxed_dists.pyro.RelaxedSubset` sample drawn from
        the same noise) or ``"marginals"`` (the gradient of the exact
        inclusion probabilities, the subset analogue of ``"st"``). Static.
    :param validate_args: check arguments and values (``ValueError`` on
        failure).
""" + _ST_REFS + """    5. S. M. Xie, S. Ermon. Reparameterizable subset sampling via continuous
       relaxations. IJCAI 2019.
"""
    static_args = ("m", "estimator")
    support_name = "straight_through_k_hot"
    support_args = ("m",)
    _kind = "subset"

    def __init__(self, temperature: ArrayLike = 1.0, m: Optional[int] = None,
                 probs: Optional[ArrayLike] = None, logits: Optional[ArrayLike] = None,
                 estimator: str = "relaxed", validate_args: Optional[bool] = None) -> None:
        self._setup(temperature, probs, logits, validate_args, m=m, estimator=estimator)

    def _check_static(self, k):
        self.m = _hard.check_count(self.m, k, owner=type(self).__name__)
        self.estimator, _ = _st.check_estimator("subset", self.estimator, owner=type(self).__name__)

    def _arg_specs(self):
        return self._param_checks("subset", m=self.m)

    @classmethod
    def _class_arg_specs(cls):
        return cls._param_checks("category")

    def _noise_shape(self, sample_shape):
        return tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

    def _sample(self, u):
        return _st.subset(self.logits, self.temperature, self.m, u, self.estimator), None

    def _log_prob(self, value):
        xp = array_namespace(value)
        hard = stop_gradient(value)
        return _hard.subset_log_prob_members(self.logits, hard, _hard.set_members(hard, self.m)) \
            + xp.zeros(value.shape[:-1], dtype=value.dtype, device=array_api_compat.device(value))

    def _mean(self):
        return _hard.inclusion_probs(self.logits, self.m)


def _linear_log_prob(lp, value):
    r""":math:`\sum_i v_i \log p_i` over the last axis, for a hard ``value``
    (exact 0s and 1s), written so that its gradient flows through the value
    (:math:`\partial/\partial v_i = \log p_i`, 0 where that is
    :math:`-\infty`) and never NaN: :math:`-\infty` where the value puts a 1
    on a masked entry (:math:`\log p_i = -\infty`)."""
    xp = array_namespace(lp, value)
    dead = lp == -math.inf
    lp = xp.where(dead, xp.zeros_like(lp), lp)
    out = xp.sum(value * lp, axis=-1)
    return xp.where(xp.any(dead & (value != 0), axis=-1), xp.full_like(out, -math.inf), out)
