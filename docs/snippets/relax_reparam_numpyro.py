import itertools

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import reparam
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import AutoNormal
from numpyro.infer.util import log_density

from relaxed_dists.numpyro import RelaxReparam, relax_discrete_sites

# Which of three known effects are switched on? The discrete model, written once.
X = jnp.array([[1.0, 0.2, -0.3], [0.5, 1.0, 0.1], [-0.4, 0.3, 1.0], [1.2, -0.8, 0.4],
               [0.1, 0.9, -1.0], [-1.0, 0.4, 0.6]])
w = jnp.array([1.0, -1.0, 0.5])
y = jnp.array([1.3, -0.2, 0.9, 2.1, -1.4, -0.6])


def model():
    on = numpyro.sample("on", dist.Bernoulli(0.4).expand([3]).to_event(1))
    numpyro.sample("y", dist.Normal((on * w) @ X.T, 1.0).to_event(1), obs=y)


# Fit it through the relaxation: the guide sees the continuous site "on_relaxed".
relaxed = reparam(model, config=relax_discrete_sites(RelaxReparam(temperature=0.5)))
guide = AutoNormal(relaxed)
svi = SVI(relaxed, guide, numpyro.optim.Adam(0.03), Trace_ELBO(num_particles=8))
params = svi.run(jax.random.PRNGKey(0), 600, progress_bar=False).params

# The guide's discrete answer: the hard values, recorded at "on_hard".
predictive = Predictive(relaxed, guide=guide, params=params, num_samples=4000)
fitted = jax.jit(predictive)(jax.random.PRNGKey(1))["on_hard"].mean(0)

# The exact answer: weight the guide's draws under the straight-through
# rewrite, which *is* the discrete model (same temperature, same twin).
discrete = reparam(model, config=relax_discrete_sites(RelaxReparam(0.5, "st")))
draws = jax.jit(Predictive(guide, params=params, num_samples=20000))(jax.random.PRNGKey(2))


@jax.jit
@jax.vmap
def log_weight_and_hard(draw):
    log_p, trace = log_density(discrete, (), {}, draw)
    log_q, _ = log_density(guide, (), {}, {**params, **draw})
    return log_p - log_q, trace["on_hard"]["value"]


log_w, hard = log_weight_and_hard(draws)
weighted = jax.nn.softmax(log_w) @ hard

# Check against the 8 configurations, enumerated.
configs = jnp.array(list(itertools.product([0.0, 1.0], repeat=3)))
log_post = (dist.Bernoulli(0.4).log_prob(configs).sum(-1)
            + dist.Normal((configs * w) @ X.T, 1.0).log_prob(y).sum(-1))
exact = jax.nn.softmax(log_post) @ configs
print(fitted, weighted, exact, sep="\n")  # fitted: pulled toward the prior 0.4; weighted: exact
