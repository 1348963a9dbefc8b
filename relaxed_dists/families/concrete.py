r"""The categorical relaxation: :class:`GumbelSoftmax` and its stable twin
:class:`ExpGumbelSoftmax`. Math: :mod:`relaxed_dists.core.concrete`; docs
page *GumbelSoftmax*."""

from ..core import concrete
from .base import REFERENCES, Family

__all__ = ["GumbelSoftmax", "ExpGumbelSoftmax", "CATEGORICAL_PARAMS"]

#: The parameter fields of every class with categorical parameters.
CATEGORICAL_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param probs: probabilities, nonnegative and summing to 1 over the last dim.
    :param logits: unnormalised log-probabilities (reals or ``-inf``), stored as given.
    :param validate_args: check arguments and values (``ValueError`` on failure).

    A logit of ``-inf`` (a probability of 0) masks its category: it is never
    chosen, its coordinate is exactly 0 (``-inf`` in the log-space twin), the
    other coordinates are distributed as the relaxation of the categories
    left, and ``log_prob`` is that distribution's density on the face (w.r.t.
    Lebesgue measure on all but one of the coordinates left), ``-inf`` for a
    value with mass on a masked category.
"""


class GumbelSoftmax(Family):
    support_name = "simplex"

    def _sample(self, u):
        return concrete.rsample_parts(self.logits, self.temperature, u)

    def _log_prob(self, value):
        return concrete.log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return concrete.log_prob_parts(self.logits, self.temperature, value, intermediates)


GumbelSoftmax.__doc__ = r"""The Gumbel-softmax (Concrete) relaxation of a categorical variable.

    A draw is :math:`x = \mathrm{softmax}((\log p + G)/\tau)` with i.i.d.
    standard Gumbel :math:`G`: a point of the simplex whose argmax is
    distributed exactly as ``Categorical(probs)`` at every temperature. As
    :math:`\tau \to 0` draws approach one-hot vectors; as
    :math:`\tau \to \infty` they approach the centre ``1/k``.

    ``log_prob`` is the exact density w.r.t. Lebesgue measure on the first
    ``k - 1`` coordinates (:func:`relaxed_dists.core.concrete.log_prob`).
    At low temperatures in float32, coordinates of ``x`` underflow to 0 and
    the density is then its limit there (often ``+inf``), never NaN: use
    :class:`ExpGumbelSoftmax` there, whose value ``log x`` stays finite.

    A drop-in for ``RelaxedOneHotCategorical``: the same constructor signature.
""" + CATEGORICAL_PARAMS + REFERENCES


class ExpGumbelSoftmax(Family):
    support_name = "log_simplex"

    def _sample(self, u):
        return concrete.rsample_log_parts(self.logits, self.temperature, u)

    def _log_prob(self, value):
        return concrete.exp_log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return concrete.exp_log_prob_parts(self.logits, self.temperature, value, intermediates)


ExpGumbelSoftmax.__doc__ = r"""The Gumbel-softmax relaxation in log space (the stable twin of
    :class:`GumbelSoftmax`): the value is
    :math:`v = \log x = \mathrm{log\_softmax}((\log p + G)/\tau)`, finite at
    any temperature in float32.

    ``log_prob`` is the exact density of ``v`` w.r.t. Lebesgue measure on the
    log-ratios :math:`v_i - v_k` (the ExpConcrete density,
    :func:`relaxed_dists.core.concrete.exp_log_prob`; TFP's convention). The
    exponential of ``v`` is distributed as :class:`GumbelSoftmax`; to score
    ``x`` itself subtract ``v.sum(-1)``. Under an AutoGuide its support maps
    from ``R^(k-1)`` by ``w -> log_softmax([w, 0])`` with unit Jacobian.
""" + CATEGORICAL_PARAMS + REFERENCES
