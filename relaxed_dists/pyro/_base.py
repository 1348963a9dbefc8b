"""The Pyro side of the family contract (:mod:`relaxed_dists.families.base`):
one base class, :class:`RelaxedDistribution`, that turns a family body into
a ``TorchDistribution``."""

from __future__ import annotations

import contextlib
import warnings
from typing import Optional

import torch
from pyro.distributions.score_parts import ScoreParts
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import Distribution
from torch.distributions.utils import lazy_property

from ..core import subset as _subset
from ..core._namespace import torch_is_tracing
from ..core.noise import uniform_low
from ..families.base import (
    ArgConstraints,
    bad_parameter,
    check_contract,
    check_value_shape,
    infer_shapes,
    install_discrete_members,
    not_numbers,
)
from .constraints import Spec

# The subset threshold solver is one torch custom operator: registered at import, so that
# torch.compile finds it whichever backend's adapter was imported first.
_subset._torch_solver()

__all__ = ["RelaxedDistribution", "draw_uniforms"]


def draw_uniforms(shape, dtype, device=None):
    """Uniforms in ``[smallest_normal, 1)`` from torch's global generator:
    ``torch.rand`` with its rare exact zeros raised to the smallest normal
    float (:func:`relaxed_dists.core.noise.uniform_low`). Several times faster
    than ``uniform_(low, 1)``, whose CPU kernel with a nonzero lower end is
    not vectorised."""
    return torch.rand(shape, dtype=dtype, device=device).clamp(min=uniform_low(torch.finfo(dtype)))


def _as_tensor(name, cls_name, x):
    """``x`` as a tensor of real numbers; ``ValueError`` naming ``name`` for
    anything else (a string, ``None``, booleans, complex numbers)."""
    try:
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise not_numbers(cls_name, name, x) from None
    if t.dtype == torch.bool or t.is_complex():
        raise not_numbers(cls_name, name, t)
    return t


@contextlib.contextmanager
def _specialised_shapes():
    """While ``torch.jit.trace`` records, shapes are traced values and every
    Python use of one warns. A trace is specialised to its input shapes
    anyway, as for any torch code, so those warnings say nothing here; no
    branch on tensor *values* runs while tracing (the fast paths that would
    take one step aside: :func:`relaxed_dists.core._namespace.host_any`)."""
    if not torch.jit.is_tracing():
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        yield


class RelaxedDistribution(TorchDistribution):
    """Base of the Pyro classes: a ``TorchDistribution`` whose body is a
    family of :mod:`relaxed_dists.families` (the first base of each class).

    Sampling draws uniforms from torch's global generator and hands them to
    the family's sampler, so the sample is reparameterized.
    :meth:`rsample_with_intermediates` also returns what
    :meth:`log_prob` needs to score that very sample from its noise (two sums
    instead of passes over the value); ``log_prob(value, intermediates)``
    equals ``log_prob(value)`` in value and in its gradient w.r.t. the
    parameters.
    """

    has_rsample = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_contract(cls, RelaxedDistribution)
        cls.has_rsample = cls.reparameterized
        cls.has_enumerate_support = cls.enumerable
        install_discrete_members(cls)

    # ------------------------------------------------------ family hooks
    def _host_arrays(self, name, temperature, param, given):
        param = _as_tensor(given, name, param)
        dtype = param.dtype if param.is_floating_point() else torch.get_default_dtype()
        if temperature is None:
            return None, param.to(dtype)
        temperature = _as_tensor("temperature", name, temperature)
        if temperature.is_floating_point():
            dtype = torch.promote_types(dtype, temperature.dtype)
        return temperature.to(device=param.device, dtype=dtype), param.to(dtype)

    def _host_shapes(self):
        return _specialised_shapes()

    def _host_init(self, batch_shape, event_shape, validate_args):
        # torch's own argument check words its error differently: ours runs
        # instead, with the message of the NumPyro classes.
        TorchDistribution.__init__(self, torch.Size(batch_shape), torch.Size(event_shape),
                                   validate_args=False)
        self._validate_args = Distribution._validate_args if validate_args is None else validate_args
        if self._validate_args and not torch_is_tracing():
            for param, constraint in self.arg_constraints.items():
                value = self.__dict__.get(param)
                if value is not None and not bool(constraint.check(value).all()):
                    raise bad_parameter(type(self).__name__, param, constraint, value)

    # --------------------------------------------------------- parameters
    @lazy_property
    def logits(self):
        return self._probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return self._logits_to_probs(self.logits)

    #: Per instance (the m-hot checks depend on ``m``); read from the class,
    #: the checks the class alone fixes.
    arg_constraints = ArgConstraints(Spec)

    @property
    def support(self) -> Spec:
        return Spec(self.support_name, **{k: getattr(self, k) for k in self.support_args})

    @classmethod
    def infer_shapes(cls, **arg_shapes) -> tuple[torch.Size, torch.Size]:
        """``(batch_shape, event_shape)`` of a distribution made from
        arguments of the given shapes; static arguments (``m``, ``distinct``)
        are given by value."""
        batch_shape, event_shape = infer_shapes(cls, arg_shapes)
        return torch.Size(batch_shape), torch.Size(event_shape)

    # ---------------------------------------------------- sample, density
    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        return self.rsample_with_intermediates(sample_shape)[0]

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            return self._draw(sample_shape)[0]

    def rsample_with_intermediates(
        self, sample_shape: torch.Size = torch.Size()
    ) -> tuple[torch.Tensor, Optional[tuple]]:
        """``(value, intermediates)``: a reparameterized sample and the noise
        terms that :meth:`log_prob` scores it from (a discrete distribution
        has no reparameterized sample: ``NotImplementedError``, as in torch;
        its :meth:`sample_with_intermediates` draws without gradients)."""
        if not self.has_rsample:
            raise NotImplementedError(f"{type(self).__name__} is discrete: it has no "
                                      f"reparameterized sample (use sample)")
        return self._draw(sample_shape)

    def sample_with_intermediates(
        self, sample_shape: torch.Size = torch.Size()
    ) -> tuple[torch.Tensor, Optional[tuple]]:
        """``(value, intermediates)`` as :meth:`rsample_with_intermediates`,
        without gradients."""
        with torch.no_grad():
            return self._draw(sample_shape)

    def _draw(self, sample_shape):
        with _specialised_shapes():
            t = self._reference
            u = draw_uniforms(self._noise_shape(torch.Size(sample_shape)), t.dtype, t.device)
            extra = self._extra_noise_shape(torch.Size(sample_shape))
            if extra is not None:
                u = (u, draw_uniforms(extra, t.dtype, t.device))
            return self._sample(u)


    def log_prob(self, value: torch.Tensor, intermediates: Optional[tuple] = None) -> torch.Tensor:
        """The exact log density of ``value`` (base measure: see the class);
        with the ``intermediates`` that came with ``value`` from
        :meth:`rsample_with_intermediates`, the same number, from the noise where that
        is exact (in float32 the log-space classes score the value itself: the
        density of the rounded value, not of the noise)."""
        with _specialised_shapes():
            value = self._check_value(value)
            if intermediates is not None:
                out = self._log_prob_from(value, intermediates)
                if out is not None:
                    return out
            return self._log_prob(value)

    def _check_value(self, value):
        """``value`` as a floating tensor of this distribution's dtype, with
        its shape checked (always: shapes are free) and, when validating,
        its support (``ValueError`` naming ``value`` in both cases)."""
        name = type(self).__name__
        value = _as_tensor("value", name, value)
        if not value.is_floating_point():
            value = value.to(self._reference.dtype)
        check_value_shape(name, value.shape, self.batch_shape, self.event_shape)
        if self._validate_args and not torch_is_tracing():
            ok = self.support.check(value)
            if not bool(ok.all()):
                raise ValueError(f"{name}: `value` must be {self.support!r}; got "
                                 f"{int((~ok).sum())} of {ok.numel()} values outside the support")
        return value

    def score_parts(self, value: torch.Tensor) -> ScoreParts:
        """As Pyro's, plus the family's score term for a discrete choice
        inside the sample (``log_prob`` stays the entropy term, as
        ``pyro.distributions.Rejector`` does)."""
        with _specialised_shapes():
            score = self._score_term(value)
        if score is None:
            return super().score_parts(value)
        log_prob = self.log_prob(value)
        return ScoreParts(log_prob=log_prob, score_function=score, entropy_term=log_prob)

    # -------------------------------------------------------------- expand
    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        if "temperature" in self.__dict__:
            new.temperature = self.temperature.expand(batch_shape)
        for name in ("logits", "probs"):
            if name in self.__dict__:
                param = self.__dict__[name]
                setattr(new, name, param.expand(batch_shape + param.shape[len(self.batch_shape):]))
        for name, value in self._static.items():
            setattr(new, name, value)
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
