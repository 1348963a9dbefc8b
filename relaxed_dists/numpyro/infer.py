"""NumPyro inference for relaxed_dists: :class:`RLOOTrace_ELBO`, the
``Trace_ELBO`` whose gradients stay unbiased for sites with a discrete choice
(host ``Bernoulli``, ``Categorical``, ``OneHotCategorical``; the row order of
:class:`relaxed_dists.numpyro.RelaxedMHot` and
:class:`relaxed_dists.numpyro.ExpRelaxedMHot`), with leave-one-out baselines
across particles; and :class:`MHotTrace_ELBO`, its one-particle form without
a baseline."""

import jax
import jax.numpy as jnp
from jax.lax import stop_gradient
from numpyro.distributions import ExpandedDistribution, Independent, MaskedDistribution
from numpyro.handlers import seed
from numpyro.infer import Trace_ELBO
from numpyro.infer.util import get_importance_trace
from numpyro.util import check_model_guide_match

__all__ = ["RLOOTrace_ELBO", "MHotTrace_ELBO"]


# ---------------------------------------------------------------- ELBO
def _score_function(fn, value):
    """The score-function term of the site distribution ``fn`` at ``value``
    (shape: its batch shape): its log-probability for a distribution with no
    reparameterized sampler, the declared ``score_function`` (looking through
    NumPyro's wrappers) for a partially reparameterized one, ``None``
    otherwise. Not scaled (as in Pyro)."""
    if not fn.has_rsample:
        return fn.log_prob(value)
    if isinstance(fn, (ExpandedDistribution, MaskedDistribution)):
        sf = _score_function(fn.base_dist, value)
        if sf is None:
            return None
        return jnp.broadcast_to(sf, jnp.shape(value)[: jnp.ndim(value) - fn.event_dim])
    if isinstance(fn, Independent):
        sf = _score_function(fn.base_dist, value)
        if sf is None:
            return None
        n = fn.reinterpreted_batch_ndims
        return jnp.sum(sf, axis=tuple(range(-n, 0)))
    score = getattr(fn, "score_function", None)
    return None if score is None else score(value)


def _sum_to(term, term_frames, site_frames, ndim):
    """Sum the detached cost ``term`` over every dim that is not a plate
    shared with the scored site, as Pyro's ``MultiFrameTensor.sum_to``
    (Rao-Blackwellisation over independent plate elements), shaped to
    broadcast against the site's score of ``ndim`` dims: the shared plate
    dims in place, every other dim summed (and dropped where it lies left
    of the score's dims, so that the cost never adds a dim to the score's)."""
    shared = {f.name for f in site_frames}
    keep = {f.dim for f in term_frames if f.name in shared}
    nd = jnp.ndim(term)
    axes = tuple(a for a in range(nd) if a - nd not in keep)
    out = jnp.sum(term, axis=axes, keepdims=True) if axes else term
    extra = jnp.ndim(out) - ndim
    return jnp.reshape(out, jnp.shape(out)[extra:]) if extra > 0 else out


def _particle(key, param_map, model, guide, args, kwargs):
    """One particle: ``(elbo, costs, scores)``, with one detached cost (the
    particle's :math:`\\log p - \\log q` summed to the site's plates) and one
    score term per scored guide site."""
    model_key, guide_key = jax.random.split(key)
    model_trace, guide_trace = get_importance_trace(
        seed(model, model_key), seed(guide, guide_key), args, kwargs, param_map
    )
    check_model_guide_match(model_trace, guide_trace)
    terms = []  # (plate frames, log p - log q) of each sample site
    for name, site in model_trace.items():
        if site["type"] != "sample":
            continue
        term = site["log_prob"]
        if not site["is_observed"] and name in guide_trace:
            term = term - guide_trace[name]["log_prob"]
        terms.append((site["cond_indep_stack"], term))
    for name, site in guide_trace.items():
        if site["type"] == "sample" and name not in model_trace:
            terms.append((site["cond_indep_stack"], -site["log_prob"]))
    elbo = sum((jnp.sum(t) for _, t in terms), start=jnp.zeros(()))
    costs, scores = [], []
    for site in guide_trace.values():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        sf = _score_function(site["fn"], site["value"])
        if sf is None:
            continue
        if site.get("mask") is not None:
            sf = jnp.where(site["mask"], sf, 0.0)
        frames = site["cond_indep_stack"]
        costs.append(sum(_sum_to(stop_gradient(t), f, frames, jnp.ndim(sf)) for f, t in terms))
        scores.append(sf)
    return elbo, costs, scores


class RLOOTrace_ELBO(Trace_ELBO):
    """``Trace_ELBO`` with unbiased gradients for sites with a discrete choice,
    using the leave-one-out baseline across ``num_particles`` vectorised
    particles (REINFORCE leave-one-out, Kool et al. 2019).

    The scored sites are those with no reparameterized sampler (NumPyro's
    ``Bernoulli``, ``Categorical``, ``OneHotCategorical``, and this package's
    ``Subset``), whose score is their log-probability, and the partially
    reparameterized ones that declare ``score_function(value)``
    (:class:`~relaxed_dists.numpyro.RelaxedMHot` and
    :class:`~relaxed_dists.numpyro.ExpRelaxedMHot` with ``distinct=True``: the
    Plackett-Luce probability of the row argmaxes). NumPyro's own
    ``Trace_ELBO`` differentiates along the sample path only and is biased
    for the latter. With :math:`N` particles the surrogate is

    .. math::

        \\frac1N \\sum_{n} \\Big[\\mathrm{ELBO}_n + \\sum_{s} \\sum_{b}
        \\big(\\overline{c}_{n,s,b} - \\tfrac{1}{N-1}\\textstyle\\sum_{n' \\ne n}
        \\overline{c}_{n',s,b}\\big)\\,\\big(\\log P_{n,s,b} - \\overline{\\log P_{n,s,b}}\\big)\\Big]

    (bars: stopped gradients) over the scored sites :math:`s` and their batch
    elements :math:`b`, where :math:`c` is the particle's
    :math:`\\log p - \\log q` summed over everything except the plates it
    shares with the site (as Pyro's ``Trace_ELBO`` does with
    ``score_parts``), and :math:`\\log P` the site's score. The baseline of a
    particle does not depend on its own draw, so the gradient stays
    unbiased; the added term is zero in value, so ``loss`` equals
    ``Trace_ELBO``'s.

    :param int num_particles: at least 2 (the baseline of each particle is
        the mean cost of the others).

    Mutable state and ``multi_sample_guide`` are not supported.
    """

    _min_particles = 2
    #: Discrete latent sites are scored (NumPyro's ``SVI`` warns otherwise).
    can_infer_discrete = True

    def __init__(self, num_particles=2):
        if isinstance(num_particles, bool) or not isinstance(num_particles, int) or (
                num_particles < self._min_particles):
            raise ValueError(f"{type(self).__name__}: `num_particles` must be an integer >= "
                             f"{self._min_particles}, got {num_particles!r}")
        super().__init__(num_particles=num_particles, vectorize_particles=True)

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        n = self.num_particles
        keys = jax.random.split(rng_key, n) if n > 1 else rng_key[None]
        elbo, costs, scores = jax.vmap(
            lambda key: _particle(key, param_map, model, guide, args, kwargs))(keys)
        surrogate = jnp.mean(elbo)
        for cost, score in zip(costs, scores):
            if n > 1:  # leave-one-out baseline: the others' mean cost
                cost = cost - (jnp.sum(cost, axis=0, keepdims=True) - cost) / (n - 1)
            surrogate = surrogate + jnp.sum(cost * (score - stop_gradient(score))) / n
        return {"loss": -surrogate, "mutable_state": None}


class MHotTrace_ELBO(RLOOTrace_ELBO):
    """:class:`RLOOTrace_ELBO` that also takes one particle, where the score
    term has no baseline (the plain score-function estimator, higher
    variance). Kept for code written against earlier versions; prefer
    :class:`RLOOTrace_ELBO` with several particles.

    :param int num_particles: at least 1.
    """

    _min_particles = 1

    def __init__(self, num_particles=1):
        super().__init__(num_particles=num_particles)
