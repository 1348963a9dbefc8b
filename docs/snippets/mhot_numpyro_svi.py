import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer import SVI

from relaxed_dists.numpyro import MHotTrace_ELBO, RelaxedMHot

# Synthetic regression: 6 features, only features 1 and 4 matter.
X = jax.random.normal(jax.random.PRNGKey(0), (100, 6))
y = 1.5 * X[:, 1] - 2.0 * X[:, 4] + 0.3 * jax.random.normal(jax.random.PRNGKey(1), (100,))
tau, m = 0.5, 2


def model(X, y):
    rows = numpyro.sample("rows", RelaxedMHot(tau, m, logits=jnp.zeros(6)))
    mask = jnp.max(rows, axis=-2)  # the m-hot mask of the selector rows
    beta = numpyro.sample("beta", dist.Normal(0.0, 2.0).expand([6]).to_event(1))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Normal(X @ (mask * beta), 0.3), obs=y)


def guide(X, y):
    logits = numpyro.param("mask_logits", jnp.zeros(6))
    numpyro.sample("rows", RelaxedMHot(tau, m, logits=logits))
    loc = numpyro.param("beta_loc", jnp.zeros(6))
    scale = numpyro.param("beta_scale", jnp.full(6, 0.1), constraint=dist.constraints.positive)
    numpyro.sample("beta", dist.Normal(loc, scale).to_event(1))


svi = SVI(model, guide, numpyro.optim.Adam(0.05), MHotTrace_ELBO(num_particles=4))
result = svi.run(jax.random.PRNGKey(2), 1000, X, y, progress_bar=False)
fitted = RelaxedMHot(tau, m, logits=result.params["mask_logits"])
print(fitted.inclusion_probs)    # close to 1 at features 1 and 4
