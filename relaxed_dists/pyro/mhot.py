"""Pyro distributions for the m-hot relaxation (RelaxedMHot, ExpRelaxedMHot)."""

import torch
from pyro.distributions.score_parts import ScoreParts
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.transforms import IndependentTransform, StickBreakingTransform

from .. import _docs_mhot
from ..core import hard_limit
from ..core import mhot as _mhot
from .constraints import LogSimplexTransform, from_spec
from .distributions import _Categorical

__all__ = ["RelaxedMHot", "ExpRelaxedMHot", "simplex_rows", "log_simplex_rows"]


simplex_rows = from_spec("simplex_rows", _mhot.SPECS)
log_simplex_rows = from_spec("log_simplex_rows", _mhot.SPECS)

for _c, _t in [(simplex_rows, StickBreakingTransform), (log_simplex_rows, LogSimplexTransform)]:
    # Row by row: the base transform acts on the last dim, rows are independent.
    biject_to.register(type(_c), lambda c, _t=_t: IndependentTransform(_t(), 1))
    transform_to.register(type(_c), lambda c, _t=_t: IndependentTransform(_t(), 1))


class _MHot(_Categorical):
    """Shared body: ``m`` and ``distinct`` are static; the event is ``(m, k)``."""

    def __init__(self, temperature, m, probs=None, logits=None, distinct=True,
                 validate_args=None):
        self.m = _mhot.check_m(m, distinct, owner=type(self).__name__)
        self.distinct = distinct
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)

    def _event_shape_for(self, param_event):
        k = param_event[0]
        _mhot.check_m(self.m, self.distinct, k, owner=type(self).__name__)
        return torch.Size((self.m, k))

    def _extra_args(self):
        return {"m": self.m, "distinct": self.distinct}

    def _noise_shape(self, sample_shape):
        rows = _mhot.noise_rows(self.m, self.distinct)
        return sample_shape + self.batch_shape + torch.Size((rows, self.event_shape[-1]))

    def score_parts(self, value):
        """``log_prob = entropy_term = log q(V)``, ``score_function = log P(a)``
        (Plackett-Luce probability of the row argmaxes): the discrete choice
        of the winners is scored, the rest is pathwise (as
        ``pyro.distributions.Rejector``)."""
        if not self.distinct:
            return super().score_parts(value)
        log_prob = self.log_prob(value)
        return ScoreParts(log_prob, self.order_log_prob(value), log_prob)

    def order_log_prob(self, value):
        """Log-probability of the row argmaxes of ``value`` (Plackett-Luce when
        ``distinct``), differentiable in the logits."""
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
    __doc__ = _docs_mhot.RELAXED_MHOT
    support = simplex_rows

    def _rsample_fn(self, logits, temperature, u):
        return _mhot.rsample(logits, temperature, u, self.distinct)

    def _log_prob_fn(self, logits, temperature, value):
        return _mhot.log_prob(logits, temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\max_j x_j`, shape ``... + (k,)``."""
        return _mhot.mhot(value)


class ExpRelaxedMHot(_MHot):
    __doc__ = _docs_mhot.EXP_RELAXED_MHOT
    support = log_simplex_rows

    def _rsample_fn(self, logits, temperature, u):
        return _mhot.rsample_log(logits, temperature, u, self.distinct)

    def _log_prob_fn(self, logits, temperature, value):
        return _mhot.exp_log_prob(logits, temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\exp(\\max_j v_j)`, shape ``... + (k,)``."""
        return torch.exp(_mhot.log_mhot(value))
