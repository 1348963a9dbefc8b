"""The NumPyro side of the family contract (:mod:`relaxed_dists.families.base`):
one base class, :class:`RelaxedDistribution`, that turns a family body into a
NumPyro ``Distribution``."""

from __future__ import annotations

import copy
import inspect
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution
from numpyro.distributions.batch_util import vmap_over
from numpyro.distributions.util import lazy_property
from numpyro.util import not_jax_tracer

from ..core.noise import uniform_low
from ..families.base import (
    ArgConstraints,
    ArrayLike,
    bad_parameter,
    check_contract,
    check_value_shape,
    infer_shapes,
    install_discrete_members,
    not_numbers,
)
from .constraints import Spec

__all__ = ["RelaxedDistribution"]


def _as_array(name, cls_name, x):
    """``x`` as a JAX array of real numbers (NumPy arrays and Python scalars
    accepted, tracers kept); ``ValueError`` naming ``name`` for anything else
    (a string, ``None``, booleans, complex numbers)."""
    if not isinstance(x, (jax.Array, jax.core.Tracer)):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError):
            raise not_numbers(cls_name, name, x) from None
        if arr.dtype.kind not in "iuf":
            raise not_numbers(cls_name, name, x)
        x = arr
    elif jnp.result_type(x).kind not in "iuf":
        raise not_numbers(cls_name, name, x)
    return jnp.asarray(x)


class _ArgConstraints:
    """``arg_constraints`` per instance (the m-hot checks depend on ``m``). Not
    a ``Distribution``: NumPyro reads ``arg_constraints`` from the ``__dict__``
    of every ``Distribution`` class in the bases, where a property would not
    do."""

    arg_constraints = ArgConstraints(Spec)


class RelaxedDistribution(_ArgConstraints, Distribution):
    """Base of the NumPyro classes: a ``Distribution`` whose body is a family
    of :mod:`relaxed_dists.families` (the first base of each class).

    Sampling draws uniforms with ``jax.random.uniform`` and hands them to the
    family's sampler, so the sample is reparameterized.
    ``sample_with_intermediates`` also returns what :meth:`log_prob` needs to
    score that very sample from its noise; NumPyro's inference passes them
    back (``log_prob(value, intermediates)``), with the same value and
    gradient as ``log_prob(value)``. The classes are pytrees (static
    arguments such as ``m`` are aux data), work under ``jax.jit``,
    ``jax.vmap`` and ``jax.grad``, and have ``vmap_over`` registered.
    """

    pytree_data_fields = ("logits", "probs")  # and each class's param_names

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_contract(cls, RelaxedDistribution)
        cls.reparametrized_params = list(cls.param_names) if cls.reparameterized else []
        cls.has_enumerate_support = cls.enumerable
        cls.pytree_data_fields = tuple(cls.param_names)
        install_discrete_members(cls)
        cls.pytree_aux_fields = tuple(cls.static_args)

    # ------------------------------------------------------ family hooks
    def _host_shapes(self):
        # Concrete arguments stay concrete inside ``jax.jit``, so that they
        # are validated as NumPyro's own classes validate theirs.
        return jax.ensure_compile_time_eval()

    def _host_arrays(self, name, temperature, param, given):
        param = _as_array(given, name, param)
        if temperature is None:
            return None, param.astype(jnp.result_type(param, float))
        temperature = _as_array("temperature", name, temperature)
        dtype = jnp.result_type(param, temperature, float)
        return temperature.astype(dtype), param.astype(dtype)

    def _host_init(self, batch_shape, event_shape, validate_args):
        Distribution.__init__(self, tuple(batch_shape), tuple(event_shape), validate_args=validate_args)

    # --------------------------------------------------------- parameters
    @lazy_property
    def logits(self):
        return self._probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return self._logits_to_probs(self.logits)

    @property
    def support(self) -> Spec:
        return Spec(self.support_name, **{k: getattr(self, k) for k in self.support_args})

    @classmethod
    def infer_shapes(cls, *args, **kwargs) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``(batch_shape, event_shape)`` of a distribution made from
        arguments of the given shapes (positional in the constructor's
        order, or by name); static arguments (``m``, ``distinct``) are given
        by value."""
        names = list(inspect.signature(cls.__init__).parameters)[1:]
        kwargs.update(zip(names, args))
        kwargs = {k: v for k, v in kwargs.items() if v is not None and k != "validate_args"}
        return infer_shapes(cls, kwargs)

    def validate_args(self, strict=True):
        """As NumPyro's, but the error names the parameter and what was expected."""
        with jax.ensure_compile_time_eval():
            for param, value in self.get_args().items():
                constraint = self.arg_constraints[param]
                is_valid = constraint(value)
                if not_jax_tracer(is_valid):
                    if not np.all(is_valid):
                        raise bad_parameter(type(self).__name__, param, constraint, value)
                elif strict:
                    raise RuntimeError("Cannot validate arguments inside jitted code.")

    # ---------------------------------------------------- sample, density
    def sample(self, key: jax.Array, sample_shape: tuple[int, ...] = ()) -> jax.Array:
        return self.sample_with_intermediates(key, sample_shape)[0]

    def sample_with_intermediates(
        self, key: jax.Array, sample_shape: tuple[int, ...] = ()
    ) -> tuple[jax.Array, Optional[tuple]]:
        """``(value, intermediates)``: a reparameterized sample and the noise
        terms that :meth:`log_prob` scores it from."""
        dtype = jnp.result_type(self._reference)
        low = uniform_low(jnp.finfo(dtype))
        u = jax.random.uniform(key, self._noise_shape(sample_shape), dtype=dtype, minval=low,
                               maxval=1.0)
        extra = self._extra_noise_shape(sample_shape)
        if extra is not None:
            u = (u, jax.random.uniform(jax.random.fold_in(key, 1), extra, dtype=dtype, minval=low,
                                       maxval=1.0))
        return self._sample(u)

    def log_prob(self, value: ArrayLike, intermediates: Optional[tuple] = None) -> jax.Array:
        """The exact log density of ``value`` (base measure: see the class);
        with the ``intermediates`` that came with ``value`` from
        ``sample_with_intermediates``, the same number, from the noise where that
        is exact (in float32 the log-space classes score the value itself: the
        density of the rounded value, not of the noise)."""
        value, mask = self._check_value(value)
        out = None
        if intermediates is not None:
            out = self._log_prob_from(value, intermediates)
        if out is None:
            out = self._log_prob(value)
        return out if mask is None else jnp.where(mask, out, -jnp.inf)

    def _check_value(self, value):
        """``(value, mask)``: ``value`` as a floating array of this
        distribution's dtype, its shape checked (``ValueError`` naming
        ``value``); when validating, outside the support raises
        ``ValueError`` for concrete values, and ``mask`` marks the support
        for traced ones (NumPyro's convention)."""
        name = type(self).__name__
        value = _as_array("value", name, value)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            value = value.astype(jnp.result_type(self._reference))
        check_value_shape(name, jnp.shape(value), self.batch_shape, self.event_shape)
        if not self._validate_args:
            return value, None
        mask = self.support(value)
        if not_jax_tracer(mask) and not np.all(mask):
            raise ValueError(f"{name}: `value` must be {self.support!r}; got "
                             f"{int(np.sum(~np.asarray(mask)))} of {np.size(mask)} values outside "
                             f"the support")
        return value, mask


    def score_function(self, value: ArrayLike) -> Optional[jax.Array]:
        """The score-function term of the gradient estimator (the family's
        discrete choice, or ``None`` when fully reparameterized); used by
        :class:`relaxed_dists.numpyro.MHotTrace_ELBO`."""
        return self._score_term(value)


@vmap_over.register(RelaxedDistribution)
def _vmap_over(dist, temperature=None, probs=None, logits=None):
    """Axes for ``jax.vmap`` over a batch of distributions: the given axes
    for the array fields present, ``None`` (not mapped) elsewhere."""
    axes = copy.copy(dist)
    for name, axis in (("temperature", temperature), ("probs", probs), ("logits", logits)):
        if name in dist.__dict__:
            setattr(axes, name, axis)
    return axes
