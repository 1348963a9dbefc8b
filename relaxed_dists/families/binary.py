r"""The binary relaxation: :class:`BinaryConcrete` and its stable twin
:class:`LogitBinaryConcrete`. Math: :mod:`relaxed_dists.core.binary_concrete`;
docs page *BinaryConcrete*."""

from ..core import binary_concrete
from .base import REFERENCES, Family

__all__ = ["BinaryConcrete", "LogitBinaryConcrete", "BINARY_PARAMS"]

#: The parameter fields of every class with binary parameters.
BINARY_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param probs: ``P(1)``, in the closed interval [0, 1].
    :param logits: log-odds of ``P(1)`` (reals or ``+-inf``).
    :param validate_args: check arguments and values (``ValueError`` on failure).

    A logit of ``-inf`` or ``+inf`` (a probability of 0 or 1) forces the value
    to 0 or 1 (``-inf`` or ``+inf`` in the logit twin): a point mass, whose
    ``log_prob`` is 0 at the forced value and ``-inf`` elsewhere.
"""


class BinaryConcrete(Family):
    category_dim = False
    support_name = "unit_interval"

    def _sample(self, u):
        return binary_concrete.rsample_parts(self.logits, self.temperature, u)

    def _log_prob(self, value):
        return binary_concrete.log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return binary_concrete.log_prob_parts(self.logits, self.temperature, value, intermediates)


BinaryConcrete.__doc__ = r"""The Binary Concrete relaxation of a Bernoulli variable.

    A draw is :math:`x = \sigma((\mathrm{logit}\,p + L)/\tau)` with a standard
    logistic :math:`L`, so :math:`P(x > 1/2) = p` at every temperature, and
    :math:`x \to \mathrm{Bernoulli}(p)` as :math:`\tau \to 0`. (The binary-case
    source note writes a leading minus sign that gives :math:`1 - p`; this is
    the corrected formula.)

    ``log_prob`` is the exact density w.r.t. Lebesgue measure on (0, 1)
    (:func:`relaxed_dists.core.binary_concrete.log_prob`). No value is
    clipped: where float rounding gives exactly 0 or 1 the density is its
    limit there (``+inf`` for :math:`\tau < 1`). At low temperatures use
    :class:`LogitBinaryConcrete`, whose value ``logit x`` stays finite.

    A drop-in for ``RelaxedBernoulli``: the same constructor signature.
""" + BINARY_PARAMS + REFERENCES


class LogitBinaryConcrete(Family):
    category_dim = False
    support_name = "real"

    def _sample(self, u):
        return binary_concrete.rsample_logit_parts(self.logits, self.temperature, u)

    def _log_prob(self, value):
        return binary_concrete.logit_log_prob(self.logits, self.temperature, value)

    def _log_prob_from(self, value, intermediates):
        return binary_concrete.logit_log_prob_parts(self.logits, self.temperature, value, intermediates)


LogitBinaryConcrete.__doc__ = r"""The Binary Concrete relaxation in logit space (the stable twin of
    :class:`BinaryConcrete`): the value is
    :math:`z = (\mathrm{logit}\,p + L)/\tau`, finite at any temperature;
    ``sigmoid(z)`` is distributed as :class:`BinaryConcrete`.

    ``log_prob`` is the exact density of ``z`` w.r.t. Lebesgue measure on the
    real line: a logistic density with location :math:`\mathrm{logit}\,p/\tau`
    and scale :math:`1/\tau`
    (:func:`relaxed_dists.core.binary_concrete.logit_log_prob`).
""" + BINARY_PARAMS + REFERENCES
