import jax
import jax.numpy as jnp

from relaxed_dists.numpyro import BinaryConcrete, GumbelSoftmax, RelaxedMHot

d = GumbelSoftmax(temperature=0.5, logits=jnp.array([1.0, 0.0, -1.0, 0.0]))
x = d.sample(jax.random.PRNGKey(0), (3,))     # shape (3, 4)
print(jax.jit(d.log_prob)(x))                  # exact log-density, shape (3,)

# Gradients of a Monte Carlo expectation flow through the sample.
def loss(logits):
    b = BinaryConcrete(0.5, logits=logits)
    return jnp.mean(b.sample(jax.random.PRNGKey(1), (1000,)))

print(jax.grad(loss)(jnp.array(0.3)))

# m = 2 selector rows over 5 categories; mhot() is the relaxed mask.
r = RelaxedMHot(0.5, 2, logits=jnp.zeros(5))
v = r.sample(jax.random.PRNGKey(2))            # shape (2, 5)
print(r.mhot(v), r.log_prob(v))
print(r.inclusion_probs)                       # [0.4 0.4 0.4 0.4 0.4]
