"""The shared base of the NumPyro classes: parameters, shapes, noise,
validation with errors that say what was expected."""

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution
from numpyro.distributions.util import lazy_property
from numpyro.util import not_jax_tracer

from ..core.noise import uniform_low
from ..core.params import given_param, param_shapes


class RelaxedBase(Distribution):
    """Parameters ``temperature`` and exactly one of ``probs`` / ``logits``,
    broadcast together into ``batch_shape``; reparameterized sampling from
    uniforms through a core function.

    Subclasses set ``_categorical``, the core functions ``_rsample_fn`` and
    ``_log_prob_fn``, ``_probs_to_logits`` / ``_logits_to_probs`` and
    ``support``, as in the Pyro adapter.
    """

    _categorical = True
    pytree_data_fields = ("temperature", "logits", "probs")

    def __init__(self, temperature, probs=None, logits=None, *, validate_args=None):
        name = type(self).__name__
        given, param = given_param(name, probs, logits)
        param, temperature = jnp.asarray(param), jnp.asarray(temperature)
        dtype = jnp.result_type(param, temperature, float)
        param, temperature = param.astype(dtype), temperature.astype(dtype)
        batch_shape, param_event = param_shapes(
            name, given, temperature.shape, param.shape, self._categorical
        )
        self.temperature = jnp.broadcast_to(temperature, batch_shape)
        setattr(self, given, jnp.broadcast_to(param, batch_shape + param_event))
        super().__init__(
            batch_shape, self._event_shape_for(param_event), validate_args=validate_args
        )

    @property
    def reparametrized_params(self):
        return list(self.arg_constraints)

    def _event_shape_for(self, param_event):
        return param_event

    @lazy_property
    def logits(self):
        return self._probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return self._logits_to_probs(self.logits)

    def _noise_shape(self, sample_shape):
        return tuple(sample_shape) + self.batch_shape + self.event_shape

    def sample(self, key, sample_shape=()):
        dtype = jnp.result_type(self.temperature)
        low = uniform_low(jnp.finfo(dtype))
        u = jax.random.uniform(
            key, self._noise_shape(sample_shape), dtype=dtype, minval=low, maxval=1.0
        )
        return self._rsample_fn(self.logits, self.temperature, u)

    def log_prob(self, value):
        # Validate before computing (NumPyro's ``validate_sample`` decorator
        # computes first, so a value of the wrong shape would fail obscurely).
        mask = self._validate_sample(value) if self._validate_args else None
        log_prob = self._log_prob_fn(self.logits, self.temperature, value)
        return log_prob if mask is None else jnp.where(mask, log_prob, -jnp.inf)

    def validate_args(self, strict=True):
        """As NumPyro's, but the error names the parameter and what was expected."""
        with jax.ensure_compile_time_eval():
            for param, value in self.get_args().items():
                constraint = self.arg_constraints[param]
                is_valid = constraint(value)
                if not_jax_tracer(is_valid):
                    if not np.all(is_valid):
                        raise ValueError(
                            f"{type(self).__name__}: parameter `{param}` must be "
                            f"{constraint!r}; got invalid values:\n{value}"
                        )
                elif strict:
                    raise RuntimeError("Cannot validate arguments inside jitted code.")

    def _validate_sample(self, value):
        """Raise ``ValueError`` (NumPyro only warns) for a value of the wrong
        event shape or outside the support; returns the support mask."""
        value = jnp.asarray(value)
        n = len(self.event_shape)
        if value.shape[value.ndim - n :] != self.event_shape or value.ndim < n:
            raise ValueError(
                f"{type(self).__name__}: `value` must have event shape "
                f"{self.event_shape} (rightmost dims), got shape {value.shape}"
            )
        mask = self.support(value)
        if not_jax_tracer(mask) and not np.all(mask):
            raise ValueError(
                f"{type(self).__name__}: `value` must be {self.support!r}; "
                f"got values outside the support"
            )
        return mask
