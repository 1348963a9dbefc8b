"""The contract between a family body and a host adapter.

A *family* is the backend-neutral body of one distribution class: its
constructor, shapes, sampler and density, written once against the core's
array-API functions. A *host adapter* (:class:`relaxed_dists.pyro.RelaxedDistribution`,
:class:`relaxed_dists.numpyro.RelaxedDistribution`) turns it into a Pyro or
NumPyro distribution. Each public class is two lines::

    class GumbelSoftmax(families.GumbelSoftmax, RelaxedDistribution):
        __doc__ = families.GumbelSoftmax.__doc__

Every hook the two sides exchange is declared here, once, with its
convention. The body side (this class and its subclasses) and the adapter
side define disjoint sets of names; the adapter checks that when the class
is created and raises ``TypeError`` otherwise, so no behaviour depends on
the order of the base classes. The body comes first only because it owns
``__init__`` (its signature is the public one); the adapter checks that too.

Hooks a family fills (see each method):

* :attr:`category_dim`, :attr:`static_args`, :attr:`support_name`;
* :meth:`_check_static`, :meth:`_event_shape_for`, :meth:`_noise_shape`
  (and optionally :meth:`_extra_noise_shape`);
* :meth:`_sample`, :meth:`_log_prob`, :meth:`_log_prob_from`;
* optionally :meth:`_score_term` (a discrete choice scored by the ELBO),
  :meth:`_mean`, :attr:`reparameterized` and, with :attr:`enumerable`,
  :meth:`_enumerate_support`.

Hooks an adapter fills: :data:`ADAPTER_HOOKS`.
"""

from __future__ import annotations

from typing import Any, Optional

from ..core import params
from ..core._namespace import array_namespace
from ..core.special import sigmoid, softmax

#: A float, a nested sequence of floats, or an array of the host library
#: (``torch.Tensor`` in Pyro; ``jax.Array`` or a NumPy array in NumPyro).
ArrayLike = Any

__all__ = ["ArrayLike", "Family", "REFERENCES", "ADAPTER_HOOKS", "check_contract", "check_value_shape",
           "infer_shapes", "not_numbers", "bad_parameter", "ArgConstraints", "install_discrete_members"]

#: The numbered references shared by the relaxation families' docstrings.
REFERENCES = """
    References

    1. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete distribution: a
       continuous relaxation of discrete random variables. ICLR 2017.
    2. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
"""


class Family:
    """Backend-neutral body of a distribution with a ``temperature`` and
    exactly one of ``probs`` / ``logits``, broadcast together into the batch
    shape, sampled by a deterministic transform of uniform noise."""

    #: The parameters carry a trailing category dimension ``k``.
    category_dim: bool = True
    #: Names of the static (non-array) constructor arguments, such as ``m``:
    #: kept by ``expand``, pytree aux fields in NumPyro, passed to the support.
    static_args: tuple = ()
    #: Name of the support in :data:`relaxed_dists.core.supports.SPECS`; each
    #: adapter maps it to a constraint of its host, built with the static
    #: arguments named in :attr:`support_args` as parameters.
    support_name: str = ""
    #: The static arguments the support takes as parameters (``("m",)`` for
    #: the subsets, whose support depends on ``m``).
    support_args: tuple = ()

    def __init__(self, temperature: ArrayLike, probs: Optional[ArrayLike] = None,
                 logits: Optional[ArrayLike] = None, validate_args: Optional[bool] = None) -> None:
        self._setup(temperature, probs, logits, validate_args)

    # ------------------------------------------------------- construction
    def _setup(self, temperature, probs, logits, validate_args, **static):
        """Check and store the arguments, then hand the shapes to the host.
        Families with static arguments call this from their ``__init__``;
        families without a temperature (``"temperature"`` not in
        :attr:`param_names`) pass ``temperature=None``."""
        with self._host_shapes():
            name = type(self).__name__
            for key, value in static.items():
                setattr(self, key, value)
            self._check_static(None)
            given, param = params.given_param(name, probs, logits)
            temperature, param = self._host_arrays(name, temperature, param, given)
            batch_shape, param_event = params.param_shapes(
                name, given, () if temperature is None else temperature.shape, param.shape,
                self.category_dim
            )
            self._check_static(param_event[0] if param_event else None)
            xp = array_namespace(param)

            def broadcast(x, shape):  # the array itself where it has the shape (a leaf stays a leaf)
                return x if tuple(x.shape) == tuple(shape) else xp.broadcast_to(x, shape)

            if temperature is not None:
                self.temperature = broadcast(temperature, batch_shape)
            setattr(self, given, broadcast(param, batch_shape + param_event))
            self._host_init(batch_shape, self._event_shape_for(param_event), validate_args)

    @property
    def _reference(self):
        """An array parameter of the instance (the temperature, else
        ``logits`` or ``probs``, whichever is stored): its dtype and device
        are those of the samples."""
        d = self.__dict__
        return next(d[n] for n in ("temperature", "logits", "probs") if d.get(n) is not None)

    #: The array parameters, in the order of ``arg_constraints``.
    param_names: tuple = ("temperature", "probs", "logits")
    #: The sampler is (fully or partially) reparameterized: Pyro's
    #: ``has_rsample``, NumPyro's ``reparametrized_params``. ``False`` for a
    #: discrete distribution (its gradients need a score function).
    reparameterized: bool = True
    #: ``enumerate_support`` lists the support (Pyro's and NumPyro's
    #: ``has_enumerate_support``): see :meth:`_enumerate_support`.
    enumerable: bool = False

    @classmethod
    def _class_arg_specs(cls):
        """``{parameter: (check name, check parameters)}``: each parameter's
        check in :data:`relaxed_dists.core.supports.SPECS`, as far as the
        class alone says (``arg_constraints`` read from the class)."""
        return cls._param_checks("category" if cls.category_dim else "binary")

    @staticmethod
    def _param_checks(kind, **params):
        """The checks ``{kind}_probs`` and ``{kind}_logits`` (with ``params``)
        beside the temperature's, in the form of :meth:`_class_arg_specs`."""
        return {"temperature": ("temperature", {}), "probs": (f"{kind}_probs", params),
                "logits": (f"{kind}_logits", params)}

    def _arg_specs(self):
        """As :meth:`_class_arg_specs`, for this instance (with its static
        arguments: the adapters' ``arg_constraints``)."""
        return self._class_arg_specs()

    @property
    def _static(self):
        """The static arguments as a dict (for ``expand``, supports, pickling)."""
        return {key: getattr(self, key) for key in self.static_args}

    def _check_static(self, k):
        """Check (and normalise in place) the static arguments, raising
        ``ValueError`` naming them; ``k`` is the number of categories, or
        ``None`` before the parameters' shapes are known."""

    def _event_shape_for(self, param_event):
        """The event shape, given the parameters' event shape (``(k,)`` or
        ``()``)."""
        return tuple(param_event)

    def _noise_shape(self, sample_shape):
        """Shape of the uniform noise one call of :meth:`_sample` consumes."""
        return tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

    def _extra_noise_shape(self, sample_shape):
        """Shape of a second block of uniforms, or ``None`` (the default).
        Where it is given, the adapter draws it *after* the main block
        (torch: the next draw of the generator; JAX: the key folded with 1)
        and :meth:`_sample` receives ``(u, extra)``: the main block stays
        what a family without extra noise would draw from the same seed (the
        straight-through classes draw the same value whatever their
        estimator)."""
        return None

    # ----------------------------------------------------- probability maps
    def _logits_to_probs(self, logits):
        return softmax(logits, axis=-1) if self.category_dim else sigmoid(logits)

    def _probs_to_logits(self, probs):
        xp = array_namespace(probs)
        if self.category_dim:
            return xp.log(probs)
        return xp.log(probs) - xp.log1p(-probs)

    # ------------------------------------------------- sampler and density
    def _sample(self, u):
        """``(value, intermediates)``: the reparameterized sample made from the
        uniforms ``u`` (shape :meth:`_noise_shape`) and what
        :meth:`_log_prob_from` needs to score that very value cheaply."""
        raise NotImplementedError

    def _log_prob(self, value):
        """The exact log density (or probability) of ``value``, w.r.t. the
        base measure the family's docstring states; never NaN on the
        support."""
        raise NotImplementedError

    def _log_prob_from(self, value, intermediates):
        """:meth:`_log_prob` at a ``value`` returned by :meth:`_sample` with
        ``intermediates``: the same number (from the noise where that is exact
        to the dtype), or ``None`` where
        the general formula must run (a boundary value, or a check that
        cannot be asked for free)."""
        return None

    def _mean(self):
        """The mean of the distribution (the adapters' ``mean``), or ``None``
        where it has no closed form (the adapters then raise
        ``NotImplementedError``, as the host libraries do)."""
        return None

    def _enumerate_support(self, expand):
        """Every value of the support, shape ``(n,) + batch_shape +
        event_shape`` (``(n,) + (1,) * len(batch_shape) + event_shape``
        unless ``expand``); only for :attr:`enumerable` families."""
        raise NotImplementedError

    def _score_term(self, value):
        """The log-probability of the discrete choice inside a partially
        reparameterized sample (its gradient needs a score-function term),
        or ``None`` for a fully reparameterized family."""
        return None


#: The hooks an adapter must define (the family calls them; being after the
#: family in the bases, the adapter cannot override a method of the family,
#: so these are declared here, not defined on :class:`Family`):
#:
#: ``_host_arrays(self, name, temperature, param, given)``
#:     ``(temperature, param)`` as arrays of the host, of one floating dtype,
#:     on one device; ``ValueError`` naming the argument for what cannot be
#:     made one (``name`` is the class name, ``given`` ``"probs"`` or
#:     ``"logits"``).
#: ``_host_init(self, batch_shape, event_shape, validate_args)``
#:     initialise the host distribution (shapes, argument validation).
#: ``_host_shapes(self)``
#:     a context manager around the construction: where the host traces
#:     (``jax.jit``, ``torch.jit.trace``), what construction needs concrete,
#:     shapes and the validation of concrete arguments.
ADAPTER_HOOKS = ("_host_arrays", "_host_init", "_host_shapes")


# ------------------------------------------------ shared by both adapters
_NEUTRAL = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
            "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
            "__slots__", "_abc_impl", "__abstractmethods__", "__init_subclass__"}


def check_contract(cls, adapter):
    """Raise ``TypeError`` unless ``cls`` is ``class X(<family>, <adapter>)``
    (or a subclass of such a class) with the family first (it owns ``__init__``) and no name other than
    ``__init__`` defined on both sides: then the order of the bases decides
    nothing else."""
    bases = cls.__bases__
    if adapter not in bases and any(issubclass(b, adapter) for b in bases):
        return  # a subclass of a checked class (a user's own, say): its parent was checked
    if len(bases) != 2 or not issubclass(bases[0], Family) or not issubclass(bases[1], adapter):
        raise TypeError(f"{cls.__name__}: declare it as `class {cls.__name__}(<family>, "
                        f"{adapter.__name__})`, the family body first")
    body = set().union(*(vars(c) for c in bases[0].__mro__ if issubclass(c, Family)))
    host = set().union(*(vars(c) for c in bases[1].__mro__ if c is not object))
    clash = (body & host) - _NEUTRAL - {"__init__"}
    if clash:
        raise TypeError(f"{cls.__name__}: the family and the adapter both define {sorted(clash)}")
    missing = [hook for hook in ADAPTER_HOOKS if hook not in host]
    if missing:
        raise TypeError(f"{cls.__name__}: the adapter does not define {missing}")


class ArgConstraints:
    """The adapters' ``arg_constraints``: per instance from
    :meth:`Family._arg_specs`, and read from the class, from
    :meth:`Family._class_arg_specs` (as the host libraries read it from the
    class too). ``make(name, **params)`` builds a host constraint."""

    def __init__(self, make):
        self.make = make

    def __get__(self, obj, cls):
        specs = cls._class_arg_specs() if obj is None else obj._arg_specs()
        return {name: self.make(spec, **params) for name, (spec, params) in specs.items()}


def bad_parameter(cls_name, param, constraint, value):
    """The ``ValueError`` for a parameter outside its constraint, worded alike
    in both adapters."""
    return ValueError(f"{cls_name}: parameter `{param}` must be {constraint!r}; got invalid "
                      f"values:\n{value}")


def not_numbers(cls_name, name, x):
    """The ``ValueError`` for an argument ``name`` that is not real numbers
    (a string, ``None``, booleans, complex numbers), worded alike in both
    adapters."""
    what = f"dtype {x.dtype}" if hasattr(x, "dtype") else repr(x)
    return ValueError(f"{cls_name}: `{name}` must be real numbers (a number or an array of "
                      f"numbers), got {what}")


def check_value_shape(cls_name, value_shape, batch_shape, event_shape):
    """``ValueError`` naming ``value`` unless its rightmost dims are the event
    shape and the rest broadcasts with the batch shape."""
    value_shape, batch_shape, event_shape = tuple(value_shape), tuple(batch_shape), tuple(event_shape)
    n = len(event_shape)
    if len(value_shape) < n or value_shape[len(value_shape) - n:] != event_shape:
        raise ValueError(f"{cls_name}: `value` must have event shape {event_shape} (rightmost "
                         f"dims), got shape {value_shape}")
    try:
        params.broadcast_shapes(value_shape[: len(value_shape) - n], batch_shape)
    except ValueError:
        raise ValueError(f"{cls_name}: the batch dims of `value` (shape {value_shape}) do not "
                         f"broadcast with the batch shape {batch_shape}") from None


def infer_shapes(cls, arg_shapes):
    """``(batch_shape, event_shape)`` of ``cls`` made from arguments of the
    shapes ``arg_shapes`` (static arguments given by value)."""
    arg_shapes = dict(arg_shapes)
    obj = object.__new__(cls)
    for key in cls.static_args:
        setattr(obj, key, arg_shapes.pop(key, None))
    unknown = set(arg_shapes) - set(cls.param_names)
    if unknown:
        raise ValueError(f"{cls.__name__}.infer_shapes: unknown arguments {sorted(unknown)}")
    given, param_shape = params.given_param(cls.__name__, arg_shapes.get("probs"),
                                            arg_shapes.get("logits"))
    batch_shape, param_event = params.param_shapes(
        cls.__name__, given, tuple(arg_shapes.get("temperature", ())), param_shape, cls.category_dim
    )
    if all(getattr(obj, key) is not None for key in cls.static_args):
        obj._check_static(param_event[0] if param_event else None)
    return batch_shape, obj._event_shape_for(param_event)


def _mean(self):
    """The mean (exact; see the class)."""
    return self._mean()


def _enumerate_support(self, expand: bool = True):
    """Every value of the support, shape ``(n,) + batch_shape + event_shape``
    (``(n,) + (1,) * len(batch_shape) + event_shape`` unless ``expand``)."""
    return self._enumerate_support(expand)


def install_discrete_members(cls):
    """Called by each adapter for each class: ``mean`` where the family has
    one, ``enumerate_support`` where it enumerates, set on those classes
    only, so that the others keep the host's (which raise
    ``NotImplementedError``) and their docs do not list them."""
    if cls._mean is not Family._mean and "mean" not in vars(cls):
        cls.mean = property(_mean)
    if cls.enumerable and "enumerate_support" not in vars(cls):
        cls.enumerate_support = _enumerate_support
