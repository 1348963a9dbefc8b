"""``RelaxReparam`` for Pyro: fit a model written with discrete sites through
its relaxation (or a straight-through gradient), with
``poutine.reparam(model, config=...)``. The logic is in
:mod:`relaxed_dists.families.reparam`; docs page *Relaxing a discrete model:
RelaxReparam*."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import ExpandedDistribution, MaskedDistribution
from pyro.infer.reparam.reparam import Reparam
from pyro.poutine.reparam_messenger import _get_init_messengers

from ..families import reparam as _body
from ._base import draw_uniforms
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
_HOST_ST = (dist.RelaxedOneHotCategoricalStraightThrough, dist.RelaxedBernoulliStraightThrough)


class RelaxReparam(_body.RelaxReparam, Reparam):
    __doc__ = _body.REPARAM_DOC.format(
        host="Pyro", handler="pyro.poutine.reparam", base="pyro.infer.reparam.reparam.Reparam",
        categorical="``OneHotCategorical``", relaxed="``RelaxedOneHotCategorical``, ``RelaxedBernoulli``",
        module="relaxed_dists.pyro")

    def apply(self, msg):
        """Relax the site of the Pyro message ``msg`` (observed sites are
        returned unchanged): the original site becomes a deterministic site
        carrying the model's value."""
        if msg["is_observed"]:
            return {"fn": msg["fn"], "value": msg["value"], "is_observed": True}
        # An initial value of the original site (from an init strategy) is
        # not carried over: the new latent site is initialised by the same
        # strategy instead.
        value, event_dim = self._relax(msg["name"], msg["fn"])
        fn = dist.Delta(value, event_dim=event_dim).mask(False)
        return {"fn": fn, "value": value, "is_observed": True}

    # ------------------------------------------------------ adapter hooks
    def _claim(self, msg):
        # Pyro's reparam handler runs the initialisation strategies in force
        # (an AutoGuide's, Predictive's) on the original site before the
        # reparameterizer, and most of them (init_to_feasible, AutoNormal's
        # default) fail on a discrete site. A placeholder value of the site's
        # shape (never used: ``apply`` replaces it) makes them pass it by; the
        # new latent site is initialised by the same strategy. Only then: the
        # handler checks that the new value has the placeholder's shape, which
        # plates outside the handler (vectorized particles) would change.
        if msg["value"] is None and _get_init_messengers():
            fn = msg["fn"]
            placeholder = torch.zeros(fn.batch_shape + fn.event_shape)
            placeholder._pyro_custom_init = False
            msg["value"] = placeholder

    @staticmethod
    def _unwrapped(fn):
        while isinstance(fn, (torch.distributions.Independent, ExpandedDistribution,
                              MaskedDistribution)):
            fn = fn.base_dist
        return fn

    def _site(self, name, fn):
        wrappers = []
        event_dim = fn.event_dim
        while True:
            if isinstance(fn, torch.distributions.Independent):
                wrappers.append(("to_event", fn.reinterpreted_batch_ndims))
            elif isinstance(fn, ExpandedDistribution):
                wrappers.append(("expand", fn.batch_shape))
            elif isinstance(fn, MaskedDistribution):
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
        td = torch.distributions
        if isinstance(fn, _HOST_ST):
            return None, ("already straight-through (a hard value with Pyro's straight-through "
                          "gradient); relax the distribution it stands for instead"), False
        if isinstance(fn, (td.RelaxedOneHotCategorical, GumbelSoftmax)):
            return _body.Site("categorical", fn.logits, None, fn.temperature, True), None, False
        if isinstance(fn, (td.RelaxedBernoulli, BinaryConcrete)):
            return _body.Site("binary", fn.logits, None, fn.temperature, True), None, False
        if isinstance(fn, RelaxedSubset):
            return _body.Site("subset", fn.logits, fn.m, fn.temperature, True), None, False
        if isinstance(fn, (td.OneHotCategorical, OneHotCategoricalStraightThrough)):
            return _body.Site("categorical", fn.logits), None, True
        if isinstance(fn, (td.Bernoulli, BernoulliStraightThrough)):
            return _body.Site("binary", fn.logits), None, True
        if isinstance(fn, (Subset, SubsetStraightThrough)):
            return _body.Site("subset", fn.logits, fn.m), None, True
        if isinstance(fn, td.Multinomial):
            if fn.total_count == 1:
                return _body.Site("categorical", fn.logits), None, True
            return None, (f"a Multinomial is relaxed only as a one-hot categorical, with "
                          f"total_count=1 (got {fn.total_count})"), True
        if isinstance(fn, td.Categorical):
            return None, _body.INTEGER_CATEGORICAL.format(
                one_hot="write it as a OneHotCategorical site (same probs or logits)"), True
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
        return torch.as_tensor(temperature, dtype=logits.dtype, device=logits.device)

    def _sample_site(self, name, fn):
        return pyro.sample(name, fn)

    def _record(self, name, value, event_dim):
        pyro.deterministic(name, value, event_dim=event_dim)

    def _uniforms(self, shape, like):
        return draw_uniforms(shape, like.dtype, like.device)


def relax_discrete_sites(reparam=None, *, skip=()):
    """A config for ``pyro.poutine.reparam`` (picklable):

    * ``reparam`` a :class:`RelaxReparam` (default ``RelaxReparam()``): that
      reparameterizer at every latent site it can relax, ``None`` at the
      others. A discrete latent site it cannot relax (an integer
      ``Categorical``, a ``Poisson``) raises ``ValueError`` naming the site,
      unless its name is in ``skip``. Observed sites, continuous sites and
      sites marked for enumeration (``infer={"enumerate": ...}``) are left
      alone.
    * ``reparam`` a dict of site names to :class:`RelaxReparam`: each at its
      site (the dict config of the handler, through this function).

    In Pyro, pass a dict config through this function when the guide is an
    AutoGuide: Pyro's reparam handler runs the guide's initialisation on the
    original (discrete) site before the reparameterizer, which most
    initialisation strategies cannot do for a discrete site; this config
    lets them pass it by (the new latent site is initialised instead).

    :param reparam: a :class:`RelaxReparam`, or a dict of site names to them.
        Its ``step`` drives a temperature schedule.
    :param skip: names of sites to leave alone (a string is one name).
    """
    return _body.relax_sites(RelaxReparam, reparam, skip)
