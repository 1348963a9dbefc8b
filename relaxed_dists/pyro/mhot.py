"""Pyro distributions for the m-hot relaxation (RelaxedMHot, ExpRelaxedMHot)."""

from pyro.distributions.score_parts import ScoreParts
from torch.distributions import biject_to, transform_to
from torch.distributions.transforms import IndependentTransform, StickBreakingTransform

from .. import _docs_mhot, _family
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


class _MHot(_family.MHot, _Categorical):
    def score_parts(self, value):
        """``log_prob = entropy_term = log q(V)``, ``score_function = log P(a)``
        (Plackett-Luce probability of the row argmaxes): the discrete choice
        of the winners is scored, the rest is pathwise (as
        ``pyro.distributions.Rejector``)."""
        if not self.distinct:
            return super().score_parts(value)
        log_prob = self.log_prob(value)
        return ScoreParts(log_prob, self.order_log_prob(value), log_prob)


class RelaxedMHot(_family.RelaxedMHot, _MHot):
    __doc__ = _docs_mhot.RELAXED_MHOT
    support = simplex_rows


class ExpRelaxedMHot(_family.ExpRelaxedMHot, _MHot):
    __doc__ = _docs_mhot.EXP_RELAXED_MHOT
    support = log_simplex_rows
