r"""The subset relaxation with an exact density on the mask:
:class:`RelaxedSubset` and its stable twin :class:`LogitRelaxedSubset`.
Math: :mod:`relaxed_dists.core.subset`; docs page *RelaxedSubset*."""

from __future__ import annotations

from typing import Optional

from ..core import subset as _subset
from .base import ArrayLike, Family

__all__ = ["RelaxedSubset", "LogitRelaxedSubset"]

_REFS = """
    References

    1. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete distribution: a
       continuous relaxation of discrete random variables. ICLR 2017.
    2. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
    3. W. Kool, H. van Hoof, M. Welling. Stochastic beams and where to find
       them: the Gumbel-top-k trick for sampling sequences without
       replacement. ICML 2019.
    4. S. M. Xie, S. Ermon. Reparameterizable subset sampling via continuous
       relaxations. IJCAI 2019.
    5. M. Blondel, Q. Berthet, M. Cuturi, R. Frostig, S. Hoyer,
       F. Llinares-Lopez, F. Pedregosa, J.-P. Vert. Efficient and modular
       implicit differentiation. NeurIPS 2022.
"""

_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param float m: the size of the relaxed subset, any real number with
        ``0 < m < k`` (``k >= 2``). Static: checked at construction.
    :param probs: probabilities, nonnegative and summing to 1 over the last dim;
        a 0 masks its category (never chosen). More than ``m`` positive.
    :param logits: unnormalised log-probabilities (reals or ``-inf``, which masks
        its category), stored as given; more than ``m`` finite.
    :param validate_args: check arguments and values (``ValueError`` on failure).
"""

_WHICH = r"""
    Which subset relaxation to use. :class:`RelaxedMHot` is the m-hot
    note's construction: its latent is the ``(m, k)`` matrix of m selector
    rows, whose maximum is the relaxed mask; the density is that of the
    selectors, not of the mask, its gradient needs a score term for the
    distinct-argmax rule, and its cost grows with ``m`` (m Gumbel rows).
    :class:`RelaxedSubset` makes the mask itself the latent, with an exact
    density on it, fully reparameterised gradients, one Gumbel vector and a
    cost independent of ``m``; ``m`` may even be fractional. Both have the
    same hard limit (``m`` categories sampled without replacement), so their
    ``inclusion_probs`` agree. Prefer :class:`RelaxedSubset` when the model
    (a prior, a KL term) needs the density of the mask.
"""

_BEHAVIOUR = r"""
    A draw perturbs the logits once, :math:`y = \log p + G` with i.i.d.
    standard Gumbel :math:`G`, and thresholds them softly:
    :math:`S_i = \sigma((y_i - t)/\tau)`, where the scalar ``t`` is the unique
    solution of :math:`\sum_i S_i = m`. So every draw sums to ``m`` exactly
    (to float rounding), and ``t`` is solved without gradients in a bounded
    number of passes (the sampler runs under ``jax.jit``), its gradient
    attached by the implicit function theorem: the sampler is fully
    reparameterised, no score term is needed.

    As :math:`\tau \to 0` the draw approaches the indicator of the ``m``
    largest perturbed logits, that is ``m`` categories sampled without
    replacement from ``probs`` (for fractional ``m`` the next category gets
    the weight :math:`m - \lfloor m \rfloor`); ``inclusion_probs`` is the
    mean of that limit, exact by quadrature. As :math:`\tau \to \infty`
    every entry approaches ``m / k``.
"""

_RELAXED_SUBSET_DOC = r"""A relaxed m-subset of ``k`` categories with an exact density on the
    relaxed mask itself.
""" + _BEHAVIOUR + r"""
    The value is :math:`S \in (0, 1)^k` with :math:`\sum_i S_i = m`, event
    shape ``(k,)``. ``log_prob`` is the exact density w.r.t. Lebesgue measure
    on the first ``k - 1`` coordinates of ``S``
    (:func:`relaxed_dists.core.subset.log_prob`). At low temperatures in
    float32 entries round to exactly 0 or 1, and the density is then its
    limit there (often ``+inf``), never NaN: use :class:`LogitRelaxedSubset`,
    whose value ``logit S`` stays finite.
""" + _WHICH + _PARAMS + _REFS

_LOGIT_RELAXED_SUBSET_DOC = r"""The subset relaxation in logit space (the stable twin of
    :class:`RelaxedSubset`): the value is :math:`z = \mathrm{logit}\, S =
    (y - t)/\tau`, finite at any temperature, and ``sigmoid(z)`` is
    distributed as :class:`RelaxedSubset`.
""" + _BEHAVIOUR + r"""
    ``log_prob`` is the exact density of ``z`` w.r.t. Lebesgue measure on the
    ``k - 1`` differences :math:`z_i - z_k` (``z`` lives on the surface
    :math:`\sum_i \sigma(z_i) = m`, which these differences parametrise).
    Since :math:`z_i - z_k = (y_i - y_k)/\tau`, it is the ExpConcrete density
    of the Gumbel-softmax (:func:`relaxed_dists.core.subset.logit_log_prob`),
    the same for every ``m``. To score :math:`S = \sigma(z)` itself subtract
    :math:`\sum_i \log q_i - \log\sum_i q_i`, :math:`q_i = S_i(1 - S_i)`.
""" + _WHICH + _PARAMS + _REFS


class _Subset(Family):
    """Shared body of the subset classes: ``m`` is static (a real number,
    ``0 < m < k``, checked at construction) and kept by ``expand``; the event
    and the noise are ``(k,)``."""

    static_args = ("m",)
    support_args = ("m",)

    def __init__(self, temperature: ArrayLike, m: float, probs: Optional[ArrayLike] = None,
                 logits: Optional[ArrayLike] = None, validate_args: Optional[bool] = None) -> None:
        self._setup(temperature, probs, logits, validate_args, m=m)

    def _check_static(self, k):
        self.m = _subset.check_m(self.m, k, owner=type(self).__name__)

    def _arg_specs(self):
        return self._param_checks("subset", m=self.m)

    @property
    def inclusion_probs(self):
        r"""The :math:`\tau \to 0` limit of the mean of :math:`S` (shape
        ``batch + (k,)``, sums to ``m``): for integer ``m`` the probability
        that each category is among ``m`` drawn without replacement
        (:func:`relaxed_dists.core.subset.inclusion_probs`)."""
        return _subset.inclusion_probs(self.logits, self.m)


class RelaxedSubset(_Subset):
    __doc__ = _RELAXED_SUBSET_DOC
    support_name = "subset"

    def _sample(self, u):
        return _subset.rsample_parts(self.logits, self.temperature, self.m, u)

    def _log_prob(self, value):
        return _subset.log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return _subset.log_prob_parts(self.logits, self.temperature, value, intermediates)


class LogitRelaxedSubset(_Subset):
    __doc__ = _LOGIT_RELAXED_SUBSET_DOC
    support_name = "logit_subset"

    def _sample(self, u):
        return _subset.rsample_logit_parts(self.logits, self.temperature, self.m, u)

    def _log_prob(self, value):
        return _subset.logit_log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return _subset.logit_log_prob_parts(self.logits, self.temperature, value, intermediates)
