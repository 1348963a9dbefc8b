"""The shared base of the Pyro classes: parameters, shapes, noise, expand."""

import weakref

import torch
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions.utils import lazy_property

from ..core.noise import uniform_low
from ..core.params import given_param, param_shapes


def _float_tensors(temperature, param):
    param = torch.as_tensor(param)
    if not param.is_floating_point():
        param = param.to(torch.get_default_dtype())
    temperature = torch.as_tensor(temperature, device=param.device)
    dtype = param.dtype
    if temperature.is_floating_point():
        dtype = torch.promote_types(dtype, temperature.dtype)
    return temperature.to(dtype), param.to(dtype)


def draw_uniforms(shape, dtype, device=None):
    """Uniforms in ``[smallest_normal, 1)`` from torch's global generator:
    ``torch.rand`` with its rare exact zeros raised to the smallest normal
    float (:func:`relaxed_dists.core.noise.uniform_low`), in place. Several
    times faster than ``uniform_(low, 1)``, whose CPU kernel with a nonzero
    lower end is not vectorised."""
    return torch.rand(shape, dtype=dtype, device=device).clamp_(min=uniform_low(torch.finfo(dtype)))


class RelaxedBase(TorchDistribution):
    """Parameters ``temperature`` and exactly one of ``probs`` / ``logits``,
    broadcast together into ``batch_shape``; reparameterized sampling from
    uniforms through a core function.

    Subclasses set ``_categorical`` (the parameters carry a trailing category
    dimension), the core functions ``_rsample_fn(logits, temperature, u)`` and
    ``_log_prob_fn(logits, temperature, value)``, the probability maps
    ``_probs_to_logits`` / ``_logits_to_probs``, and ``support``.
    """

    has_rsample = True
    _categorical = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        name = type(self).__name__
        given, param = given_param(name, probs, logits)
        temperature, param = _float_tensors(temperature, param)
        batch_shape, param_event = (
            torch.Size(s)
            for s in param_shapes(name, given, temperature.shape, param.shape, self._categorical)
        )
        self.temperature = temperature.expand(batch_shape)
        setattr(self, given, param.expand(batch_shape + param_event))
        super().__init__(batch_shape, torch.Size(self._event_shape_for(param_event)), validate_args)

    def _event_shape_for(self, param_event):
        return param_event

    @property
    def _param_event_shape(self):
        p = self.__dict__.get("logits", self.__dict__.get("probs"))
        return p.shape[len(self.batch_shape) :]

    @lazy_property
    def logits(self):
        return self._probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return self._logits_to_probs(self.logits)

    def _noise_shape(self, sample_shape):
        return self._extended_shape(sample_shape)

    def _uniform(self, sample_shape):
        t = self.temperature
        return draw_uniforms(self._noise_shape(torch.Size(sample_shape)), t.dtype, t.device)

    def rsample(self, sample_shape=torch.Size()):
        u = self._uniform(sample_shape)
        parts_fn = getattr(self, "_rsample_parts_fn", None)
        if parts_fn is None or not torch.is_grad_enabled():
            return self._rsample_fn(self.logits, self.temperature, u)
        value, parts = parts_fn(self.logits, self.temperature, u)
        if value.requires_grad:
            self._own_sample = (weakref.ref(value), value._version, parts)
        return value

    def _parts_of(self, value):
        """The noise parts of ``value`` if it is, unchanged, the latest
        reparameterized sample of this distribution (``rsample`` with a graph
        to the parameters), else ``None``."""
        own = self.__dict__.get("_own_sample")
        if own is None or own[0]() is not value or value._version != own[1]:
            return None
        return own[2]

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        parts = self._parts_of(value) if isinstance(value, torch.Tensor) else None
        if parts is not None:
            out = self._log_prob_parts_fn(self.logits, self.temperature, value, parts)
            if out is not None:
                return out
        return self._log_prob_fn(self.logits, self.temperature, value)

    def _extra_args(self):
        """Non-tensor constructor arguments of a subclass (e.g. ``m``)."""
        return {}

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.temperature = self.temperature.expand(batch_shape)
        for name in ("logits", "probs"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(batch_shape + self._param_event_shape))
        for name, value in self._extra_args().items():
            setattr(new, name, value)
        super(RelaxedBase, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
