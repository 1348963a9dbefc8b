r"""The backend-neutral body of ``RelaxReparam`` (Pyro and NumPyro): which
sites it relaxes, the temperature and its schedule, the estimator, what the
model is given, and the error messages. Each adapter
(:mod:`relaxed_dists.pyro.reparam`, :mod:`relaxed_dists.numpyro.reparam`)
adds the host's reparameterizer base, its distribution classes, its sample
and deterministic sites and its random numbers. Docs page *Relaxing a discrete
model: RelaxReparam*.

Model values, from the value ``v`` of the stable twin sampled at the new
site ``{name}_relaxed`` (``v = log x`` for a categorical, ``logit x`` for a
bit, ``logit S`` for a subset):

* relaxed (``estimator=None``): ``exp(v)``, ``sigmoid(v)``, ``sigmoid(v)``,
  a point of the relaxation of the original support;
* straight-through: the hard value ``v`` stands for (its argmax one-hot, the
  bit ``v > 0``, its top ``m``), with the gradient of that straight-through
  estimator of :mod:`relaxed_dists.core.straight_through` at the logits
  ``v`` and temperature 1, with no further noise: the twin's relaxed value
  plays the probabilities of the hard draw. ``"st"`` and ``"gumbel"`` then
  both give the gradient of the relaxed value itself.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import NamedTuple, Optional

from ..core import hard_limit as _hard
from ..core import straight_through as _st
from ..core._namespace import array_namespace, host_any, stop_gradient
from ..core.special import sigmoid

__all__ = ["ESTIMATORS", "KINDS", "REPARAM_DOC", "INTEGER_CATEGORICAL", "RelaxReparam", "RelaxSites", "Site",
           "Stepped", "cannot_relax", "relax_sites",
           "check_estimator", "check_temperature", "site_estimator", "model_value"]

#: The ``estimator`` names: ``None`` relaxes; the others keep the discrete
#: value with a straight-through gradient (the first four for one-hot and
#: binary sites, the last two for subset sites, where ``"gumbel"`` stands for
#: ``"relaxed"`` and ``"st"`` for ``"marginals"``).
ESTIMATORS = ("st", "gumbel", "gumbel_rao", "reinmax", "relaxed", "marginals")
_SUBSET_ALIASES = {"gumbel": "relaxed", "st": "marginals"}
#: The kinds of site: a one-hot categorical, a bit, a k-hot subset.
KINDS = ("categorical", "binary", "subset")
_EVENT_NDIM = {"categorical": 1, "binary": 0, "subset": 1}
# u = exp(-1) gives the Gumbel -log(-log u) = 0 and u = 1/2 the logistic
# log u - log(1 - u) = 0: the straight-through functions' noise, switched off
# (the noise is already in the sampled twin).
_NO_GUMBEL = math.exp(-1.0)
_NO_LOGISTIC = 0.5

_RELAXABLE = ("a one-hot categorical (OneHotCategorical; Multinomial with total_count=1; "
              "OneHotCategoricalStraightThrough), a Bernoulli (Bernoulli, BernoulliStraightThrough), "
              "a Subset (Subset, SubsetStraightThrough), or a relaxed one (RelaxedOneHotCategorical, "
              "RelaxedBernoulli, GumbelSoftmax, BinaryConcrete, RelaxedSubset)")


INTEGER_CATEGORICAL = ("its value is an integer category index, which a model uses by indexing, and "
                       "neither a relaxed value nor a gradient passes through an index; {one_hot}")

#: The adapters' class docstring (formatted with the host's names).
REPARAM_DOC = r"""Relax a discrete latent site at inference time: a reparameterizer
    (a ``{base}``) for ``{handler}(model, config=...)``, whose ``config`` is
    a dict of site names or a function of the site, such as
    :func:`~{module}.relax_discrete_sites` (every latent site it can relax).
    The model is written once, with its discrete sites.

    At a latent site ``name`` of a one-hot categorical ({categorical}), a
    ``Bernoulli`` or a :class:`~{module}.Subset` (also inside ``.to_event``,
    ``.expand``, ``.mask`` and plates), it samples the stable twin of the
    site's relaxation at a new latent site ``{{name}}_relaxed``:
    :class:`~{module}.ExpGumbelSoftmax` (value :math:`\log x`),
    :class:`~{module}.LogitBinaryConcrete` (:math:`\mathrm{{logit}}\, x`) or
    :class:`~{module}.LogitRelaxedSubset` (:math:`\mathrm{{logit}}\, S`),
    with the site's logits at ``temperature``. The guide (an AutoGuide
    included) sees that continuous site, finite at any temperature. The
    original site becomes a deterministic site carrying what the model is
    given:

    * ``estimator=None``: the relaxed value: the point :math:`x` of the
      simplex, :math:`x \in (0, 1)`, or the relaxed mask :math:`S` (summing
      to ``m``). The model is then the relaxed model, not the discrete one.
    * a straight-through ``estimator``: the hard value the twin stands for
      (the one-hot of its argmax, the bit :math:`\mathrm{{logit}}\, x > 0`,
      its top ``m``), bitwise, with that estimator's gradient, in which the
      relaxed value plays the probabilities of the hard draw (``"st"`` and
      ``"gumbel"`` both give the gradient of the relaxed value: the
      straight-through Gumbel-softmax). The argmax of a Gumbel-softmax draw
      has the categorical's distribution at every temperature (likewise the
      bit and the top ``m``), so this model *is* the discrete model, with a
      continuous auxiliary latent: only the gradient is approximate, and the
      temperature only sets the scale of that latent.

    Either way the hard value is recorded at a deterministic site
    ``{{name}}_hard``: read the discrete answer there (``Predictive`` returns
    it).

    A site that is already relaxed ({relaxed}, :class:`~{module}.GumbelSoftmax`,
    :class:`~{module}.BinaryConcrete`, :class:`~{module}.RelaxedSubset`)
    keeps its own temperature and its relaxed value, whatever ``estimator``:
    it is only swapped for its stable twin, which leaves the model unchanged.
    Observed sites are left alone. Any other latent site in the config raises
    ``ValueError`` naming the site and why (an integer ``Categorical``, a
    ``Poisson``).

    The attribute ``step`` (0 at first) is the step at which a temperature
    schedule is evaluated: set it before each SVI step, or, under
    ``jax.jit`` or ``JitTrace_ELBO``, pass it to the model made by
    :meth:`stepped`. The docs page *Relaxing a discrete model* has the
    design, the measured accuracy and how to read off the exact discrete
    posterior.

    :param temperature: positive and finite (a number, or an array
        broadcasting with the site's batch shape), or a schedule: a callable
        of the step that returns one, evaluated at ``step`` each time a
        discrete site is relaxed. Used at discrete sites only.
    :param estimator: ``None`` (relax), or a straight-through estimator:
        ``"st"``, ``"gumbel"``, ``"gumbel_rao"``, ``"reinmax"`` for one-hot and
        Bernoulli sites, ``"relaxed"``, ``"marginals"`` for subset sites
        (where ``"gumbel"`` and ``"st"`` stand for these two).
    :param int rao_samples: the conditional draws of ``"gumbel_rao"``
        (default 10).
"""


class Site(NamedTuple):
    """What an adapter found at a site: its ``kind`` (one of :data:`KINDS`),
    ``logits`` (host array), ``m`` (subsets), and ``temperature``: the
    site's own for a relaxed distribution (then ``relaxed`` is ``True``),
    ``None`` for a discrete one (the reparameterizer's temperature is used)."""

    kind: str
    logits: object
    m: Optional[float] = None
    temperature: object = None
    relaxed: bool = False


def cannot_relax(name, fn_name, why):
    """The ``ValueError`` for a latent site that cannot be relaxed, naming
    the site, its distribution and why, worded alike in both adapters."""
    return ValueError(f"RelaxReparam: cannot relax the latent site {name!r} ({fn_name}): {why}. "
                      f"Leave the site out of the config (with relax_discrete_sites: "
                      f"skip=[{name!r}])")


def check_estimator(estimator):
    """``estimator``, or ``ValueError`` naming it unless it is ``None`` or one
    of :data:`ESTIMATORS`."""
    if estimator is not None and (not isinstance(estimator, str) or estimator not in ESTIMATORS):
        raise ValueError(f"RelaxReparam: `estimator` must be None (relax) or one of "
                         f"{', '.join(map(repr, ESTIMATORS))} (straight-through), got {estimator!r}")
    return estimator


def site_estimator(name, kind, estimator):
    """The straight-through function's estimator for a site of ``kind``, or
    ``ValueError`` naming the site where the estimator does not apply to it."""
    if kind == "subset":
        estimator = _SUBSET_ALIASES.get(estimator, estimator)
        valid = _st.ESTIMATORS["subset"]
    else:
        valid = _st.ESTIMATORS["categorical"]
    if estimator not in valid:
        raise ValueError(f"RelaxReparam: `estimator` {estimator!r} does not apply to the {kind} site "
                         f"{name!r}; for a {kind} site use one of {', '.join(map(repr, valid))}"
                         + (" ('gumbel' and 'st' stand for 'relaxed' and 'marginals')"
                            if kind == "subset" else "")
                         + " (a config function can give each site its own RelaxReparam)")
    return estimator


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_temperature(temperature, what="`temperature`"):
    """``temperature`` unchanged if it is a callable (a schedule, checked
    when called), or positive and finite numbers (checked where the host can
    tell for free: not inside ``jax.jit`` / ``torch.jit.trace``); otherwise
    ``ValueError`` naming ``what``."""
    if callable(temperature) and not hasattr(temperature, "shape"):
        return temperature
    if _is_number(temperature):
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"RelaxReparam: {what} must be positive and finite, got {temperature!r}")
        return temperature
    try:
        xp = array_namespace(temperature)
        bad = ~((temperature > 0) & xp.isfinite(temperature))
        if getattr(bad, "dtype", None) is None or str(bad.dtype) not in ("bool", "torch.bool"):
            raise TypeError
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"RelaxReparam: {what} must be a positive number, an array of positive "
                         f"numbers, or a callable of the step (a schedule), got {temperature!r}") from None
    if host_any(bad):
        raise ValueError(f"RelaxReparam: {what} must be positive and finite, got {temperature!r}")
    return temperature


def _check_rao_samples(rao_samples):
    if isinstance(rao_samples, bool) or not isinstance(rao_samples, numbers.Integral) or rao_samples < 1:
        raise ValueError(f"RelaxReparam: `rao_samples` must be an integer >= 1, got {rao_samples!r}")
    return int(rao_samples)


def model_value(kind, v, m=None, estimator=None, rao_uniforms=None):
    """``(value, hard)``: what the model is given for the twin's value ``v``
    and the hard value it stands for (argmax one-hot, the bit ``v > 0``, the
    top ``m``; no gradient). With ``estimator=None`` the value is the
    relaxed one; otherwise it is the hard value, bitwise, with the gradient
    of that straight-through estimator at the logits ``v`` and temperature 1
    with no further noise (the twin's relaxed value plays the probabilities
    of the hard draw). ``rao_uniforms``: the conditional draws of
    ``"gumbel_rao"``, shape ``batch + (R, k)`` or ``batch + (R,)``."""
    xp = array_namespace(v)
    if estimator is None:
        value = xp.exp(v) if kind == "categorical" else sigmoid(v)
        return value, _hard_value(kind, stop_gradient(v), m)
    one = xp.ones(tuple(v.shape[: v.ndim - _EVENT_NDIM[kind]]), dtype=v.dtype)
    if kind == "binary":
        u = xp.full_like(v, _NO_LOGISTIC)
        if estimator == "gumbel_rao":
            u = xp.concat([xp.expand_dims(u, axis=-1), rao_uniforms], axis=-1)
        value = _st.bernoulli(v, one, u, estimator)
    else:
        u = xp.full_like(v, _NO_GUMBEL)
        if kind == "subset":
            value = _st.subset(v, one, int(m), u, estimator)
        else:
            if estimator == "gumbel_rao":
                u = xp.concat([xp.expand_dims(u, axis=-2), rao_uniforms], axis=-2)
            value = _st.categorical(v, one, u, estimator)
    return value, stop_gradient(value)


def _hard_value(kind, v, m):
    """The hard value a twin's value ``v`` stands for (see :func:`model_value`)."""
    xp = array_namespace(v)
    if kind == "binary":
        return xp.astype(v > 0, v.dtype)
    if kind == "subset" and float(m) != int(m):
        # A fractional m (RelaxedSubset) has no hard set of that size: the
        # entries above 1/2.
        return xp.astype(v > 0, v.dtype)
    members = (xp.expand_dims(xp.argmax(v, axis=-1), axis=-1) if kind == "categorical"
               else _hard.top_m(v, int(m))[1])
    return _hard.scatter_ones(members, v.shape[-1], v)


class RelaxReparam:
    """Backend-neutral body of ``RelaxReparam`` (the docstring is the
    adapters'). An adapter defines the hooks:

    ``_site(name, fn)``
        ``(base, rewrap, event_dim, site)``: the distribution inside the
        host's wrappers (``Independent``, ``ExpandedDistribution``,
        ``MaskedDistribution``), a function that wraps a new distribution the
        same way, the event dim of ``fn``, and the :class:`Site`; raises the
        ``ValueError`` of :func:`cannot_relax` for a site it cannot relax.
    ``_classify(fn)``
        ``(site or None, why or None, is_discrete)`` for an unwrapped
        distribution (used by :meth:`_site` and :class:`RelaxSites`).
    ``_twin(kind, temperature, logits, m)``
        the host's stable-twin distribution.
    ``_temperature_for(temperature, logits)``
        the temperature as a host array of the logits' dtype and device.
    ``_sample_site(name, fn)``, ``_record(name, value, event_dim)``
        a latent sample site and a deterministic site.
    ``_uniforms(shape, like)``
        uniforms in ``[smallest normal, 1)`` (the Gumbel-Rao draws).
    """

    def __init__(self, temperature=0.5, estimator=None, *, rao_samples=10):
        self.temperature = check_temperature(temperature)
        self.estimator = check_estimator(estimator)
        self.rao_samples = _check_rao_samples(rao_samples)
        #: The step at which a temperature schedule is evaluated: set it (an
        #: integer, or an array inside a jitted function) or use
        #: :meth:`stepped`.
        self.step = 0

    def __repr__(self):
        return (f"{type(self).__name__}(temperature={self.temperature!r}, "
                f"estimator={self.estimator!r})")

    # ---------------------------------------------------------- schedule
    def temperature_at(self, step=None):
        """The temperature of the discrete sites at ``step`` (default: the
        current :attr:`step`): the fixed temperature, or the schedule's
        value, checked positive and finite where it is concrete."""
        if not callable(self.temperature) or hasattr(self.temperature, "shape"):
            return self.temperature
        step = self.step if step is None else step
        return check_temperature(self.temperature(step),
                                 f"the temperature schedule's value at step {step!r}")

    @contextlib.contextmanager
    def at_step(self, step):
        """A context in which :attr:`step` is ``step`` (restored after)."""
        before = self.step
        self.step = step
        try:
            yield self
        finally:
            self.step = before

    def stepped(self, model):
        """``model`` with the step as a new first argument:
        ``stepped(model)(step, *args, **kwargs)`` runs ``model(*args,
        **kwargs)`` with :attr:`step` set to ``step``. Under ``jax.jit`` (or
        Pyro's ``JitTrace_ELBO``) pass the step as an array (a tensor): it is
        then a traced input, and the schedule follows it without
        recompiling."""
        return Stepped(model, self)

    # ------------------------------------------------------------- relax
    def _relax(self, name, fn):
        """The model's value for the latent site ``name`` of distribution
        ``fn``: samples the twin at ``{name}_relaxed``, records the hard value
        at ``{name}_hard``; returns ``(value, event_dim)``."""
        base, rewrap, event_dim, site = self._site(name, fn)
        estimator = None
        if site.relaxed:
            temperature = site.temperature
        else:
            temperature = self._temperature_for(self.temperature_at(), site.logits)
            if self.estimator is not None:
                estimator = site_estimator(name, site.kind, self.estimator)
        twin = self._twin(site.kind, temperature, site.logits, site.m)
        v = self._sample_site(f"{name}_relaxed", rewrap(twin))
        rao = None
        if estimator == "gumbel_rao":
            event = (self.rao_samples, v.shape[-1]) if site.kind == "categorical" else (self.rao_samples,)
            rao = self._uniforms(tuple(v.shape[: v.ndim - _EVENT_NDIM[site.kind]]) + event, v)
        value, hard = model_value(site.kind, v, site.m, estimator, rao)
        self._record(f"{name}_hard", hard, event_dim)
        return value, event_dim

    def _claim(self, msg):
        """Called by :class:`RelaxSites` on the message of a site it hands to
        this reparameterizer, before the host's handler goes on (Pyro's
        adapter uses it; nothing by default)."""

    def _site_or_raise(self, name, fn, fn_name):
        site, why, _ = self._classify(fn)
        if site is None:
            raise cannot_relax(name, fn_name, why)
        return site

    def _why_not(self, fn_name, discrete):
        """The reason for a distribution with no case of its own."""
        if discrete:
            return f"{fn_name} has no relaxation here; RelaxReparam relaxes {_RELAXABLE}"
        return f"{fn_name} is neither discrete nor a relaxation; RelaxReparam relaxes {_RELAXABLE}"


class Stepped:
    """A model whose first argument is the step of a temperature schedule
    (see :meth:`RelaxReparam.stepped`). Picklable where the model is."""

    def __init__(self, model, reparam):
        self.model = model
        self.reparam = reparam

    def __call__(self, step, *args, **kwargs):
        with self.reparam.at_step(step):
            return self.model(*args, **kwargs)


class RelaxSites:
    """A config function for the host's ``reparam`` handler (see
    :func:`relax_discrete_sites`); picklable.

    With one reparameterizer: that reparameterizer at every latent site whose
    distribution it can relax; ``None`` (left alone) for observed sites,
    sites marked for enumeration (``infer={"enumerate": ...}``), the names in
    ``skip`` and continuous sites; ``ValueError`` (naming the site) for a
    discrete latent site it cannot relax (an integer ``Categorical``, a
    ``Poisson``), unless skipped. With a dict: its reparameterizer at each
    latent site it names (a site that cannot be relaxed raises when it is
    reached), ``None`` elsewhere.
    """

    def __init__(self, reparam, skip=()):
        self.reparam = reparam
        if isinstance(skip, str):
            skip = (skip,)
        try:
            skip = frozenset(skip)
        except TypeError:
            raise ValueError(f"relax_discrete_sites: `skip` must be a collection of site names, got "
                             f"{skip!r}") from None
        if not all(isinstance(s, str) for s in skip):
            raise ValueError(f"relax_discrete_sites: `skip` must be a collection of site names "
                             f"(strings), got {sorted(map(repr, skip))}")
        self.skip = skip

    def __repr__(self):
        return f"relax_discrete_sites({self.reparam!r}, skip={sorted(self.skip)!r})"

    def __call__(self, msg):
        name = msg["name"]
        if msg.get("type", "sample") != "sample" or name in self.skip or msg.get("is_observed"):
            return None
        if isinstance(self.reparam, dict):
            reparam = self.reparam.get(name)
            if reparam is not None:
                reparam._claim(msg)
            return reparam
        infer = msg.get("infer") or {}
        if infer.get("enumerate") or infer.get("_deterministic"):
            return None
        base = self.reparam._unwrapped(msg["fn"])
        site, why, discrete = self.reparam._classify(base)
        if site is not None:
            self.reparam._claim(msg)
            return self.reparam
        if discrete:
            raise cannot_relax(name, type(base).__name__, why)
        return None


def relax_sites(cls, reparam, skip):
    """The body of the adapters' ``relax_discrete_sites``: checks its
    arguments (``ValueError`` naming them) and builds the :class:`RelaxSites`."""
    expected = f"a {cls.__module__.rsplit('.', 1)[0]}.RelaxReparam"
    if reparam is None:
        reparam = cls()
    elif isinstance(reparam, dict):
        bad = {k: v for k, v in reparam.items() if not isinstance(k, str) or not isinstance(v, cls)}
        if bad:
            raise ValueError(f"relax_discrete_sites: `reparam` as a dict must map site names to "
                             f"{expected} each, got {bad!r}")
        reparam = dict(reparam)
    elif not isinstance(reparam, cls):
        raise ValueError(f"relax_discrete_sites: `reparam` must be {expected}, or a dict of site names "
                         f"to them, got {reparam!r}")
    return RelaxSites(reparam, skip)
