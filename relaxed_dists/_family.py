"""Backend-neutral bodies of the distribution classes.

Everything here calls only core (array-API) functions, so one body serves
both adapters: ``relaxed_dists.pyro.X`` is ``class X(_family.X, <Pyro base>)``
and ``relaxed_dists.numpyro.X`` the same with the NumPyro base. What stays in
the adapters is host-specific: supports and parameter constraints, the
probability maps, Pyro's ``score_parts`` and NumPyro's pytree fields.
"""

from .core import binary_concrete, concrete, hard_limit
from .core import mhot as _mhot
from .core._namespace import array_namespace


class GumbelSoftmax:
    _categorical = True
    _rsample_fn = staticmethod(concrete.rsample)
    _log_prob_fn = staticmethod(concrete.log_prob)
    _rsample_parts_fn = staticmethod(concrete.rsample_parts)
    _log_prob_parts_fn = staticmethod(concrete.log_prob_parts)


class ExpGumbelSoftmax:
    _categorical = True
    _rsample_fn = staticmethod(concrete.rsample_log)
    _log_prob_fn = staticmethod(concrete.exp_log_prob)
    _rsample_parts_fn = staticmethod(concrete.rsample_log_parts)
    _log_prob_parts_fn = staticmethod(concrete.exp_log_prob_parts)


class BinaryConcrete:
    _categorical = False
    _rsample_fn = staticmethod(binary_concrete.rsample)
    _log_prob_fn = staticmethod(binary_concrete.log_prob)
    _rsample_parts_fn = staticmethod(binary_concrete.rsample_parts)
    _log_prob_parts_fn = staticmethod(binary_concrete.log_prob_parts)


class LogitBinaryConcrete:
    _categorical = False
    _rsample_fn = staticmethod(binary_concrete.rsample_logit)
    _log_prob_fn = staticmethod(binary_concrete.logit_log_prob)
    _rsample_parts_fn = staticmethod(binary_concrete.rsample_logit_parts)
    _log_prob_parts_fn = staticmethod(binary_concrete.logit_log_prob_parts)


class MHot:
    """Shared body of the m-hot classes: ``m`` and ``distinct`` are static,
    the event is ``(m, k)``, the noise ``(noise_rows(m, distinct), k)``."""

    _categorical = True

    def __init__(self, temperature, m, probs=None, logits=None, distinct=True,
                 validate_args=None):
        self.m = _mhot.check_m(m, distinct, owner=type(self).__name__)
        self.distinct = distinct
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)

    def _event_shape_for(self, param_event):
        k = param_event[0]
        _mhot.check_m(self.m, self.distinct, k, owner=type(self).__name__)
        return (self.m, k)

    def _extra_args(self):
        return {"m": self.m, "distinct": self.distinct}

    def _noise_shape(self, sample_shape):
        rows = _mhot.noise_rows(self.m, self.distinct)
        return tuple(sample_shape) + tuple(self.batch_shape) + (rows, self.event_shape[-1])

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


class RelaxedMHot(MHot):
    def _rsample_fn(self, logits, temperature, u):
        return _mhot.rsample(logits, temperature, u, self.distinct)

    def _log_prob_fn(self, logits, temperature, value):
        return _mhot.log_prob(logits, temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\max_j x_j`, shape ``... + (k,)``."""
        return _mhot.mhot(value)


class ExpRelaxedMHot(MHot):
    def _rsample_fn(self, logits, temperature, u):
        return _mhot.rsample_log(logits, temperature, u, self.distinct)

    def _log_prob_fn(self, logits, temperature, value):
        return _mhot.exp_log_prob(logits, temperature, value, self.distinct)

    def mhot(self, value):
        """The relaxed m-hot mask :math:`S = \\exp(\\max_j v_j)`, shape ``... + (k,)``."""
        return array_namespace(value).exp(_mhot.log_mhot(value))
