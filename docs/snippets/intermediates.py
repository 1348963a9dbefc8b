import jax
import jax.numpy as jnp
import torch

from relaxed_dists import numpyro as rn
from relaxed_dists import pyro as rp

# Pyro: the sample and the noise terms that score it.
torch.manual_seed(0)
d = rp.GumbelSoftmax(torch.tensor(0.5), logits=torch.zeros(1000))
x, parts = d.rsample_with_intermediates((64,))
fast = d.log_prob(x, parts)      # from the noise: two sums
slow = d.log_prob(x)             # the general formula
print(((fast - slow) / slow).abs().max())  # the same number, to float32 rounding

# NumPyro: its own convention, used by its inference code.
n = rn.GumbelSoftmax(0.5, logits=jnp.zeros(1000))
y, intermediates = n.sample_with_intermediates(jax.random.PRNGKey(0), (64,))
fast_n, slow_n = n.log_prob(y, intermediates), n.log_prob(y)
print(jnp.abs((fast_n - slow_n) / slow_n).max())
