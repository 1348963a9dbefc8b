"""Pyro inference for relaxed_dists: :class:`RLOOTrace_ELBO`, ``Trace_ELBO``
with leave-one-out baselines across vectorised particles for the score
terms of sites with a discrete choice."""

from pyro.distributions.util import is_identically_zero
from pyro.infer import Trace_ELBO
from pyro.infer.trace_elbo import _compute_log_r
from pyro.infer.util import torch_item

__all__ = ["RLOOTrace_ELBO"]

_PARTICLES = "num_particles_vectorized"  # the name of Pyro's particle plate


class RLOOTrace_ELBO(Trace_ELBO):
    """``Trace_ELBO`` whose score-function terms use the leave-one-out
    baseline across ``num_particles`` vectorised particles (REINFORCE
    leave-one-out, Kool et al. 2019): unbiased, and of far lower variance
    than the plain score function.

    Scored are the sites whose ``score_parts`` carry a score term: those with
    no reparameterized sampler (``Bernoulli``, ``Categorical``,
    ``OneHotCategorical``, this package's ``Subset``) and the partially
    reparameterized :class:`~relaxed_dists.pyro.RelaxedMHot` /
    :class:`~relaxed_dists.pyro.ExpRelaxedMHot` (the row order). As in
    ``Trace_ELBO``, each site's cost :math:`\\log p - \\log q` is summed
    over everything except the plates the site shares (Rao-Blackwellisation
    over plates); then each particle's cost has the mean cost of the other
    particles subtracted. The baseline of a particle does not depend on its
    own draw, so the gradient stays unbiased, and the loss equals
    ``Trace_ELBO``'s.

    :param int num_particles: at least 2.
    :param max_plate_nesting: as for ``Trace_ELBO``.
    :param kwargs: further arguments of ``Trace_ELBO`` (``vectorize_particles``
        is always ``True``: the baselines are formed along the particle plate).
    """

    def __init__(self, num_particles=2, max_plate_nesting=float("inf"), **kwargs):
        if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 2:
            raise ValueError(f"RLOOTrace_ELBO: `num_particles` must be an integer >= 2, "
                             f"got {num_particles!r}")
        if kwargs.pop("vectorize_particles", True) is not True:
            raise ValueError("RLOOTrace_ELBO: `vectorize_particles` must be True (the baselines "
                             "are formed along the particle plate)")
        super().__init__(num_particles=num_particles, max_plate_nesting=max_plate_nesting,
                         vectorize_particles=True, **kwargs)

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = 0.0
        surrogate = 0.0
        log_r = None
        for site in model_trace.nodes.values():
            if site["type"] == "sample":
                elbo = elbo + torch_item(site["log_prob_sum"])
                surrogate = surrogate + site["log_prob_sum"]
        for site in guide_trace.nodes.values():
            if site["type"] != "sample":
                continue
            _, score, entropy = site["score_parts"]
            elbo = elbo - torch_item(site["log_prob_sum"])
            if not is_identically_zero(entropy):
                surrogate = surrogate - entropy.sum()
            if not is_identically_zero(score):
                if log_r is None:
                    log_r = _compute_log_r(model_trace, guide_trace)
                cost = _leave_one_out(log_r.sum_to(site["cond_indep_stack"]), site["cond_indep_stack"])
                surrogate = surrogate + (cost * score).sum()
        return -elbo, -surrogate


def _leave_one_out(cost, frames):
    """``cost`` minus, for each particle, the mean cost of the others, along
    the particle plate among ``frames``."""
    frame = next((f for f in frames if f.name == _PARTICLES), None)
    if frame is None or cost.dim() < -frame.dim or cost.shape[frame.dim] == 1:
        raise ValueError("RLOOTrace_ELBO: a scored site is outside the particle plate; "
                         "it needs num_particles >= 2 vectorised particles")
    n = cost.shape[frame.dim]
    total = cost.sum(frame.dim, keepdim=True)
    return cost - (total - cost) / (n - 1)

