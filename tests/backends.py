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


# Eager JAX compiles every op for every new shape (~30 ms each on CPU) and
# dispatches every op of a solver separately; one jit per shape is several
# times faster. Validation errors need eager calls.
_jit_sample = jax.jit(lambda d, key, shape: d.sample(key, shape), static_argnums=2)
_jit_log_prob = jax.jit(lambda d, x: d.log_prob(x))


def jit_faces(pyro_module, numpyro_module):
    """Faces ``(PyroB, NumPyroB)`` over the given adapter modules for the
    m-of-k tests: ``mod``, ``asarray`` (float64 from Python floats),
    ``sample`` / ``log_prob`` (jitted in NumPyro), ``uniforms`` (those the
    adapter draws) and ``check`` (the support's check)."""

    class PyroB:
        name = "pyro"
        mod = pyro_module

        @staticmethod
        def asarray(x):
            return torch.as_tensor(np.asarray(x))

        @staticmethod
        def sample(d, shape=(), seed=0):
            torch.manual_seed(seed)
            return d.rsample(torch.Size(shape))

        @staticmethod
        def log_prob(d, x):
            return d.log_prob(x)

        @staticmethod
        def uniforms(shape, dtype=torch.float64, seed=0):
            torch.manual_seed(seed)
            return draw_uniforms(shape, dtype)

        @staticmethod
        def check(d, x):
            return d.support.check(x)

    class NumPyroB:
        name = "numpyro"
        mod = numpyro_module

        @staticmethod
        def asarray(x):
            return jnp.asarray(np.asarray(x))

        @staticmethod
        def sample(d, shape=(), seed=0):
            return _jit_sample(d, jax.random.PRNGKey(seed), tuple(shape))

        @staticmethod
        def log_prob(d, x):
            return _jit_log_prob(d, x)

        @staticmethod
        def uniforms(shape, dtype=jnp.float64, seed=0):
            low = float(jnp.finfo(dtype).smallest_normal)
            return jax.random.uniform(jax.random.PRNGKey(seed), shape, dtype=dtype, minval=low,
                                      maxval=1.0)

        @staticmethod
        def check(d, x):
            return d.support(x)

    return PyroB, NumPyroB
