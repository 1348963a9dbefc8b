r"""The m-hot relaxation of the source note: :class:`RelaxedMHot` and its
stable twin :class:`ExpRelaxedMHot`. Math: :mod:`relaxed_dists.core.mhot`;
docs page *RelaxedMHot*."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core import hard_limit
from ..core import mhot as _mhot
from ..core._namespace import array_namespace
from .base import ArrayLike, Family

__all__ = ["RelaxedMHot", "ExpRelaxedMHot"]

_REFS = """
    References

    1. C. Wu. Gumbel Softmax algorithm description (the m-hot construction:
       m Gumbel-softmax rows, a repeated argmax discarded, the mask the
       maximum over rows). Note, February 2021.
    2. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete distribution: a
       continuous relaxation of discrete random variables. ICLR 2017.
    3. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
    4. W. Kool, H. van Hoof, M. Welling. Stochastic beams and where to find
       them: the Gumbel-top-k trick for sampling sequences without
       replacement. ICML 2019.
    5. C. J. Maddison, D. Tarlow, T. Minka. A* sampling. NeurIPS 2014
       (the maximum of perturbed logits and truncated Gumbels).
    6. J. Chen, L. Song, M. J. Wainwright, M. I. Jordan. Learning to explain:
       an information-theoretic perspective on model interpretation (L2X).
       ICML 2018 (i.i.d. rows, ``distinct=False``).
"""

_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param int m: number of rows (selected categories), a Python integer
        ``>= 1``, and ``<= k`` when ``distinct``. Static: checked at
        construction.
    :param probs: probabilities, nonnegative and summing to 1 over the last dim;
        a 0 masks its category (never chosen). At least ``m`` positive when
        ``distinct``.
    :param logits: unnormalised log-probabilities (reals or ``-inf``, which masks
        its category), stored as given; at least ``m`` finite when ``distinct``.
    :param bool distinct: discard and redraw a row whose argmax repeats an
        earlier row's (the note's construction, default); ``False`` gives
        i.i.d. rows.
    :param validate_args: check arguments and values (``ValueError`` on failure).
"""

_GRADIENTS = """
    Gradients. With ``distinct=True`` the row argmaxes (which categories win)
    are a discrete choice; ``rsample`` is pathwise-differentiable only given
    that choice, so its gradient alone is biased. The unbiased estimator adds
    the score term :math:`E[f(V)\\,\\nabla \\log P(a)]` with the Plackett-Luce
    probability of the argmaxes (``order_log_prob``). In Pyro the class
    declares it through ``score_parts`` (as ``pyro.distributions.Rejector``
    does), so ``pyro.infer.Trace_ELBO`` is unbiased. NumPyro's own
    ``Trace_ELBO`` uses the pathwise part only and is biased for these sites:
    use :class:`relaxed_dists.numpyro.RLOOTrace_ELBO` (in either backend it
    adds leave-one-out baselines across particles). With
    ``distinct=False`` the sampler is fully reparameterised.
"""


class _MHot(Family):
    """Shared body of the m-hot classes: ``m`` and ``distinct`` are static,
    the event is ``(m, k)``, the noise ``(noise_rows(m, distinct), k)``."""

    static_args = ("m", "distinct")

    def __init__(self, temperature: ArrayLike, m: int, probs: Optional[ArrayLike] = None,
                 logits: Optional[ArrayLike] = None, distinct: bool = True,
                 validate_args: Optional[bool] = None) -> None:
        self._setup(temperature, probs, logits, validate_args, m=m, distinct=distinct)

    def _check_static(self, k):
        if isinstance(self.distinct, np.bool_):  # a NumPy bool is a bool
            self.distinct = bool(self.distinct)
        self.m = _mhot.check_m(self.m, self.distinct, k, owner=type(self).__name__)

    def _arg_specs(self):
        return self._param_checks("mhot", m=self.m, distinct=self.distinct)

    def _event_shape_for(self, param_event):
        return (self.m, param_event[0])

    def _noise_shape(self, sample_shape):
        rows = _mhot.noise_rows(self.m, self.distinct)
        return tuple(sample_shape) + tuple(self.batch_shape) + (rows, self.event_shape[-1])

    def _score_term(self, value):
        return self.order_log_prob(value) if self.distinct else None

    def order_log_prob(self, value):
        """Log-probability of the row argmaxes of ``value`` (Plackett-Luce when
        ``distinct``), differentiable in the logits: the score-function term
        of the gradient estimator."""
        return _mhot.order_log_prob(self.logits, value, self.distinct)

    @property
    def inclusion_probs(self):
        """Probability that each category is among the selected ones in the
        hard limit :math:`\\tau \\to 0` (shape ``batch + (k,)``, sums to ``m``
        when ``distinct``)."""
        if not self.distinct:
            return _mhot.iid_inclusion_probs(self.logits, self.m)
        return hard_limit.inclusion_probs(self.logits, self.m)


class RelaxedMHot(_MHot):
    @property
    def support_name(self):
        return "distinct_simplex_rows" if self.distinct else "simplex_rows"

    def _sample(self, u):
        return _mhot.rsample(self.logits, self.temperature, u, self.distinct), None

    def _log_prob(self, value):
        return _mhot.log_prob(self.logits, self.temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\max_j x_j`, shape ``... + (k,)``."""
        return _mhot.mhot(value)


RelaxedMHot.__doc__ = r"""The m-hot relaxation of the source note: m relaxed one-hot rows
    whose maximum relaxes a set of m categories drawn without replacement.
    **Fit it with RLOOTrace_ELBO**: with ``distinct=True`` NumPyro's own
    ``Trace_ELBO`` gives biased gradients for it (see *Gradients* below).

    The value is the selector matrix :math:`V = [x_1; \dots; x_m]`, shape
    ``batch + (m, k)``: each row a Gumbel-softmax (Concrete) point of the
    simplex. With ``distinct=True`` a row whose argmax repeats an earlier
    row's is discarded and drawn again (sampled exactly and without a loop:
    Gumbel-top-m order, then each row conditioned on its argmax); the
    argmaxes are then m categories sampled without replacement from
    ``probs``, at every temperature. The relaxed m-hot mask of the note,
    :math:`S_i = \max_j x_{j,i}`, is ``mhot(value)``; it has no tractable
    density, the selector matrix does.

    As :math:`\tau \to 0` the rows approach distinct one-hot vectors and
    ``mhot`` approaches the indicator of the sampled subset, whose inclusion
    probabilities are ``inclusion_probs`` (exact, by quadrature; with
    ``distinct=False`` :math:`1 - (1 - p_i)^m`). As :math:`\tau \to \infty`
    every row approaches the centre ``1/k`` (the distinct argmaxes still
    follow sampling without replacement).

    ``log_prob`` is the exact density w.r.t. the product over rows of
    Lebesgue measure on the first ``k - 1`` coordinates of each row
    (:func:`relaxed_dists.core.mhot.log_prob`), :math:`-\infty` for a value
    whose row argmaxes repeat when ``distinct``. At low temperatures in
    float32 coordinates underflow to 0 and the density is then its limit
    there: use :class:`ExpRelaxedMHot`, whose value stays finite.
""" + _GRADIENTS + _PARAMS + _REFS


class ExpRelaxedMHot(_MHot):
    @property
    def support_name(self):
        return "distinct_log_simplex_rows" if self.distinct else "log_simplex_rows"

    def _sample(self, u):
        return _mhot.rsample_log(self.logits, self.temperature, u, self.distinct), None

    def _log_prob(self, value):
        return _mhot.exp_log_prob(self.logits, self.temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\exp(\\max_j v_j)`, shape ``... + (k,)``."""
        return array_namespace(value).exp(_mhot.log_mhot(value))


ExpRelaxedMHot.__doc__ = r"""The m-hot relaxation in log space (the stable twin of
    :class:`RelaxedMHot`). **Fit it with RLOOTrace_ELBO**: with
    ``distinct=True`` NumPyro's own ``Trace_ELBO`` gives biased gradients for
    it (see *Gradients* below). The same distribution with every row a point
    of the log-simplex, :math:`v_j = \log x_j = \mathrm{log\_softmax}(y_j/\tau)`,
    finite at any temperature in float32. ``mhot(value)`` returns
    :math:`S = \exp(\max_j v_j)`.

    ``log_prob`` is the exact density w.r.t. the product over rows of
    Lebesgue measure on the log-ratios :math:`v_{j,i} - v_{j,k}`
    (:func:`relaxed_dists.core.mhot.exp_log_prob`; the ExpConcrete density of
    each row, minus the log-probability that its argmax was still unused).
    The exponential of the value is distributed as :class:`RelaxedMHot`; to
    score ``exp(value)`` itself subtract ``value.sum((-2, -1))``. As
    :math:`\tau \to 0` the rows approach distinct log-one-hot vectors (0 at
    the argmax, :math:`-\infty` elsewhere) and ``inclusion_probs`` are those
    of sampling m categories without replacement; as :math:`\tau \to \infty`
    every row approaches :math:`-\log k`.
""" + _GRADIENTS + _PARAMS + _REFS
