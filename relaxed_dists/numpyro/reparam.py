"""``RelaxReparam`` for NumPyro: fit a model written with discrete sites
through its relaxation (or a straight-through gradient), with
``numpyro.handlers.reparam(model, config=...)``. The logic is in
:mod:`relaxed_dists.families.reparam`; docs page *Relaxing a discrete model:
RelaxReparam*."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.reparam import Reparam

from ..core.noise import uniform_low
from ..families import reparam as _body
from .distributions import (
    BernoulliStraightThrough,
    BinaryConcrete,
    ExpGumbelSoftmax,
    GumbelSoftmax,
    LogitBinaryConcrete,
    LogitRelaxedSubset,
    OneHotCategoricalStraightThrough,
    RelaxedSubset,
    Subset,
    SubsetStraightThrough,
)

__all__ = ["RelaxReparam", "relax_discrete_sites"]

_TWINS = {"categorical": ExpGumbelSoftmax, "binary": LogitBinaryConcrete, "subset": LogitRelaxedSubset}
_WRAPPERS = (dist.Independent, dist.ExpandedDistribution, dist.MaskedDistribution)


def _is_one(x):
    """Whether ``x`` is concretely 1 everywhere (``False`` for a tracer)."""
    try:
        return bool(np.all(np.asarray(x) == 1))
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return False


class RelaxReparam(_body.RelaxReparam, Reparam):
    __doc__ = _body.REPARAM_DOC.format(
        host="NumPyro", handler="numpyro.handlers.reparam", base="numpyro.infer.reparam.Reparam",
        categorical="NumPyro has none: ``Multinomial(1, probs)`` or "
                    ":class:`~relaxed_dists.numpyro.OneHotCategoricalStraightThrough`",
        relaxed="``RelaxedBernoulli``", module="relaxed_dists.numpyro")

    def __call__(self, name, fn, obs):
        """``(None, value)``: the site ``name`` becomes a deterministic site
        carrying the model's value; an observed site (``obs`` given) is
        returned unchanged."""
        if obs is not None:
            return fn, obs
        value, _ = self._relax(name, fn)
        return None, value

    # ------------------------------------------------------ adapter hooks
    @staticmethod
    def _unwrapped(fn):
        while isinstance(fn, _WRAPPERS):
            fn = fn.base_dist
        return fn

    def _site(self, name, fn):
        wrappers = []
        event_dim = fn.event_dim
        while True:
            if isinstance(fn, dist.Independent):
                wrappers.append(("to_event", fn.reinterpreted_batch_ndims))
            elif isinstance(fn, dist.ExpandedDistribution):
                wrappers.append(("expand", fn.batch_shape))
            elif isinstance(fn, dist.MaskedDistribution):
                wrappers.append(("mask", fn._mask))
            else:
                break
            fn = fn.base_dist

        def rewrap(new):
            for method, arg in reversed(wrappers):
                new = getattr(new, method)(arg)
            return new

        return fn, rewrap, event_dim, self._site_or_raise(name, fn, type(fn).__name__)

    def _classify(self, fn):
        if isinstance(fn, (dist.RelaxedBernoulliLogits, BinaryConcrete)):
            return _body.Site("binary", fn.logits, None, fn.temperature, True), None, False
        if isinstance(fn, GumbelSoftmax):
            return _body.Site("categorical", fn.logits, None, fn.temperature, True), None, False
        if isinstance(fn, RelaxedSubset):
            return _body.Site("subset", fn.logits, fn.m, fn.temperature, True), None, False
        if isinstance(fn, OneHotCategoricalStraightThrough):
            return _body.Site("categorical", fn.logits), None, True
        if isinstance(fn, (dist.BernoulliProbs, dist.BernoulliLogits, BernoulliStraightThrough)):
            return _body.Site("binary", fn.logits), None, True
        if isinstance(fn, (Subset, SubsetStraightThrough)):
            return _body.Site("subset", fn.logits, fn.m), None, True
        if isinstance(fn, (dist.MultinomialProbs, dist.MultinomialLogits)):
            if _is_one(fn.total_count):
                return _body.Site("categorical", fn.logits), None, True
            return None, ("a Multinomial is relaxed only as a one-hot categorical, with a concrete "
                          "total_count=1"), True
        if isinstance(fn, (dist.CategoricalProbs, dist.CategoricalLogits)):
            return None, _body.INTEGER_CATEGORICAL.format(
                one_hot="NumPyro has no OneHotCategorical: write it as a one-hot site, "
                        "Multinomial(1, probs) or relaxed_dists.numpyro."
                        "OneHotCategoricalStraightThrough (same probs or logits)"), True
        if isinstance(fn, (ExpGumbelSoftmax, LogitBinaryConcrete, LogitRelaxedSubset)):
            return None, "it is already a stable twin: there is nothing to relax", False
        discrete = bool(getattr(fn.support, "is_discrete", False))
        return None, self._why_not(type(fn).__name__, discrete), discrete

    def _twin(self, kind, temperature, logits, m):
        cls = _TWINS[kind]
        if kind == "subset":
            return cls(temperature, m, logits=logits)
        return cls(temperature, logits=logits)

    def _temperature_for(self, temperature, logits):
        return jnp.asarray(temperature, dtype=jnp.result_type(logits))

    def _sample_site(self, name, fn):
        return numpyro.sample(name, fn)

    def _record(self, name, value, event_dim):
        numpyro.deterministic(name, value)

    def _uniforms(self, shape, like):
        dtype = jnp.result_type(like)
        key = numpyro.prng_key()
        if key is None:
            raise ValueError("RelaxReparam: estimator='gumbel_rao' draws random numbers: run the model "
                             "under numpyro.handlers.seed (as SVI and Predictive do)")
        return jax.random.uniform(key, shape, dtype=dtype, minval=uniform_low(jnp.finfo(dtype)),
                                  maxval=1.0)


def relax_discrete_sites(reparam=None, *, skip=()):
    """A config for ``numpyro.handlers.reparam`` (picklable):

    * ``reparam`` a :class:`RelaxReparam` (default ``RelaxReparam()``): that
      reparameterizer at every latent site it can relax, ``None`` at the
      others. A discrete latent site it cannot relax (an integer
      ``Categorical``, a ``Poisson``) raises ``ValueError`` naming the site,
      unless its name is in ``skip``. Observed sites, continuous sites and
      sites marked for enumeration (``infer={"enumerate": ...}``) are left
      alone.
    * ``reparam`` a dict of site names to :class:`RelaxReparam`: each at its
      site (the dict config of the handler, through this function).

    :param reparam: a :class:`RelaxReparam`, or a dict of site names to them.
        Its ``step`` drives a temperature schedule.
    :param skip: names of sites to leave alone (a string is one name).
    """
    return _body.relax_sites(RelaxReparam, reparam, skip)
