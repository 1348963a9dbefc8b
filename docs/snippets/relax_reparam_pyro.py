import itertools

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoNormal
from pyro.infer.importance import vectorized_importance_weights

from relaxed_dists.pyro import RelaxReparam, relax_discrete_sites

# Which of three known effects are switched on? The discrete model, written once.
f64 = torch.float64
X = torch.tensor([[1.0, 0.2, -0.3], [0.5, 1.0, 0.1], [-0.4, 0.3, 1.0], [1.2, -0.8, 0.4],
                  [0.1, 0.9, -1.0], [-1.0, 0.4, 0.6]], dtype=f64)
w = torch.tensor([1.0, -1.0, 0.5], dtype=f64)
y = torch.tensor([1.3, -0.2, 0.9, 2.1, -1.4, -0.6], dtype=f64)
prior = torch.full((3,), 0.4, dtype=f64)


def model():
    on = pyro.sample("on", dist.Bernoulli(prior).to_event(1))
    pyro.sample("y", dist.Normal((on * w) @ X.T, 1.0).to_event(1), obs=y)


# Fit it through the relaxation: the guide sees the continuous site "on_relaxed".
relaxed = poutine.reparam(model, config=relax_discrete_sites(RelaxReparam(temperature=0.5)))
guide = AutoNormal(relaxed)
pyro.set_rng_seed(0)
elbo = Trace_ELBO(num_particles=8, vectorize_particles=True, max_plate_nesting=0)
svi = SVI(relaxed, guide, pyro.optim.Adam({"lr": 0.03}), elbo)
for step in range(600):
    svi.step()

# The guide's discrete answer: the hard values, recorded at "on_hard".
fitted = Predictive(relaxed, guide=guide, num_samples=4000)()["on_hard"].mean(0)

# The exact answer: weight the guide's draws under the straight-through
# rewrite, which *is* the discrete model (same temperature, same twin).
discrete = poutine.reparam(model, config=relax_discrete_sites(RelaxReparam(0.5, "st")))
with torch.no_grad():
    log_w, trace, _ = vectorized_importance_weights(discrete, guide, num_samples=20000,
                                                    max_plate_nesting=0)
weighted = torch.softmax(log_w, 0) @ trace.nodes["on_hard"]["value"]

# Check against the 8 configurations, enumerated.
configs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=f64)
log_post = (dist.Bernoulli(prior).log_prob(configs).sum(-1)
            + dist.Normal((configs * w) @ X.T, 1.0).log_prob(y).sum(-1))
exact = torch.softmax(log_post, 0) @ configs
print(fitted, weighted, exact, sep="\n")  # fitted: pulled toward the prior 0.4; weighted: exact
