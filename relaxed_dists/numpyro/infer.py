"""NumPyro inference for relaxed_dists: :class:`MHotTrace_ELBO`, the
``Trace_ELBO`` whose gradients stay unbiased for distributions with a score
term (:class:`relaxed_dists.numpyro.RelaxedMHot` and
:class:`relaxed_dists.numpyro.ExpRelaxedMHot`)."""

import jax
import jax.numpy as jnp
from jax.lax import stop_gradient
from numpyro.distributions import ExpandedDistribution, Independent, MaskedDistribution
from numpyro.handlers import seed
from numpyro.infer import Trace_ELBO
from numpyro.infer.util import get_importance_trace
from numpyro.util import check_model_guide_match

__all__ = ["MHotTrace_ELBO"]



# ---------------------------------------------------------------- ELBO
def _score_function(fn, value):
    """The score-function term of the site distribution ``fn`` at ``value``
    (shape: its batch shape), looking through NumPyro's wrappers; ``None``
    for a distribution without one. Not scaled or masked (as in Pyro)."""
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


def _sum_to(term, term_frames, site_frames):
    """Sum the detached cost ``term`` over every dim that is not a plate
    shared with the scored site (keeping dims, so it broadcasts against the
    site's score): Rao-Blackwellisation over independent plate elements, as
    Pyro's ``MultiFrameTensor.sum_to``."""
    shared = {f.name for f in site_frames}
    keep = {f.dim for f in term_frames if f.name in shared}
    nd = jnp.ndim(term)
    axes = tuple(a for a in range(nd) if a - nd not in keep)
    return jnp.sum(term, axis=axes, keepdims=True) if axes else term


class MHotTrace_ELBO(Trace_ELBO):
    """``Trace_ELBO`` with the score-function terms of distributions that
    declare one (``score_function(value)``; :class:`RelaxedMHot` and
    :class:`ExpRelaxedMHot` with ``distinct=True``), so that its gradients
    are unbiased for them.

    NumPyro's ``Trace_ELBO`` differentiates only along the sample path; for
    these distributions that misses the discrete choice of the winning
    categories and the gradient is biased. Here each particle's surrogate is

    .. math::

        \\mathrm{ELBO} + \\sum_{s} \\sum_{b}
        \\overline{\\log r}_{s,b} \\,\\big(\\log P_s(a)_b
        - \\overline{\\log P_s(a)_b}\\big)

    (bars: stopped gradients) over the scored sites ``s`` and their batch
    elements ``b``, where :math:`\\log r` is the particle's
    :math:`\\log p - \\log q`, summed over everything except the plates it
    shares with the site (as Pyro's ``Trace_ELBO`` does with
    ``score_parts``). The added term is zero in value: ``loss`` equals
    ``Trace_ELBO``'s.

    Supports ``num_particles`` and ``vectorize_particles``; mutable state
    and ``multi_sample_guide`` are not supported.
    """

    def __init__(self, num_particles=1, vectorize_particles=True):
        super().__init__(num_particles=num_particles, vectorize_particles=vectorize_particles)

    def loss_with_mutable_state(self, rng_key, param_map, model, guide, *args, **kwargs):
        def single_particle(key):
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
            surrogate = elbo
            for name, site in guide_trace.items():
                if site["type"] != "sample" or site["is_observed"]:
                    continue
                sf = _score_function(site["fn"], site["value"])
                if sf is None:
                    continue
                frames = site["cond_indep_stack"]
                cost = sum(_sum_to(stop_gradient(t), f, frames) for f, t in terms)
                surrogate = surrogate + jnp.sum(cost * (sf - stop_gradient(sf)))
            return surrogate

        if self.num_particles == 1:
            return {"loss": -single_particle(rng_key), "mutable_state": None}
        keys = jax.random.split(rng_key, self.num_particles)
        return {
            "loss": -jnp.mean(self.vectorize_particles_fn(single_particle, keys)),
            "mutable_state": None,
        }
