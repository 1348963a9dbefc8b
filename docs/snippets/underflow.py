import jax
import jax.numpy as jnp
import numpy as np
import torch

from relaxed_dists import numpyro as rn
from relaxed_dists import pyro as rp

n = 10_000
torch.manual_seed(0)
keys = jax.random.split(jax.random.PRNGKey(0), 2)
print("| k | tau | backend | a coordinate exactly 0 | log_prob +inf | log_prob -inf | NaN | twin finite |")
for k in (10, 1000):
    for tau in (0.5, 0.1, 0.05, 0.01):
        d = rp.GumbelSoftmax(torch.tensor(tau), logits=torch.zeros(k))
        e = rp.ExpGumbelSoftmax(torch.tensor(tau), logits=torch.zeros(k))
        x, v = d.rsample((n,)), e.rsample((n,))
        rows = [("torch", x, d.log_prob(x), e.log_prob(v))]
        d = rn.GumbelSoftmax(tau, logits=jnp.zeros(k))
        e = rn.ExpGumbelSoftmax(tau, logits=jnp.zeros(k))
        x, v = d.sample(keys[0], (n,)), e.sample(keys[1], (n,))
        rows.append(("jax", x, d.log_prob(x), e.log_prob(v)))
        for name, x, lp, lp_twin in rows:
            x, lp, lp_twin = np.asarray(x), np.asarray(lp), np.asarray(lp_twin)
            print(f"| {k} | {tau} | {name} | {(x == 0).any(-1).mean():.1%} | {(lp == np.inf).mean():.1%} "
                  f"| {(lp == -np.inf).mean():.1%} | {np.isnan(lp).mean():.0%} "
                  f"| {np.isfinite(lp_twin).mean():.0%} |")
