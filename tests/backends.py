"""A uniform face over the two adapters, for table-driven tests."""

import jax
import jax.numpy as jnp
import numpy as np
import torch

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp
from relaxed_dists.pyro._base import draw_uniforms


class Pyro:
    name = "pyro"
    module = rp

    @staticmethod
    def asarray(x, dtype=np.float64):
        if isinstance(x, torch.Tensor):
            return x
        return torch.as_tensor(np.asarray(x, dtype=dtype))

    @staticmethod
    def sample(d, sample_shape=(), seed=0):
        torch.manual_seed(seed)
        return d.rsample(torch.Size(sample_shape))

    @staticmethod
    def uniforms(shape, dtype, seed=0):
        """The uniforms the adapter draws for a sample of this full shape."""
        torch.manual_seed(seed)
        return draw_uniforms(shape, dtype)

    @staticmethod
    def numpy(x):
        return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    @staticmethod
    def grad(fn, *args):
        """Gradient of the scalar ``fn(*args)`` w.r.t. each argument."""
        ts = [torch.as_tensor(np.asarray(a, dtype=np.float64)).requires_grad_() for a in args]
        return [g.numpy() for g in torch.autograd.grad(fn(*ts), ts)]

    @staticmethod
    def float32():
        return torch.float32


class NumPyro:
    name = "numpyro"
    module = rn

    @staticmethod
    def asarray(x, dtype=np.float64):
        if isinstance(x, jax.Array):
            return x
        return jnp.asarray(np.asarray(x, dtype=dtype))

    @staticmethod
    def sample(d, sample_shape=(), seed=0):
        return d.sample(jax.random.PRNGKey(seed), tuple(sample_shape))

    @staticmethod
    def uniforms(shape, dtype, seed=0):
        low = float(jnp.finfo(dtype).smallest_normal)
        return jax.random.uniform(jax.random.PRNGKey(seed), shape, dtype=dtype, minval=low, maxval=1.0)

    @staticmethod
    def numpy(x):
        return np.asarray(x)

    @staticmethod
    def grad(fn, *args):
        argnums = tuple(range(len(args)))
        gs = jax.grad(fn, argnums=argnums)(*[jnp.asarray(np.asarray(a, dtype=np.float64)) for a in args])
        return [np.asarray(g) for g in gs]

    @staticmethod
    def float32():
        return jnp.float32


BACKENDS = [Pyro, NumPyro]
