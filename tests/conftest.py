"""Shared test set-up: float64 in JAX (float32 is requested explicitly where
tested), fixed seeds, and the backends as fixtures.

XLA compiles without its backend (LLVM) optimisations here, in this process
and in the ones the tests start: the suite compares values, which these
leave alone (the HLO passes, the sharding partitioner among them, still
run), and compiling is most of the NumPyro tests' time (about 20% less
wall time for ``tests/test_mhot.py``). The speed benchmarks keep them."""

import os

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FLAG).strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def uniforms(rng, shape, dtype=np.float64):
    """Uniforms in [smallest_normal, 1), as the adapters draw them."""
    low = np.finfo(dtype).smallest_normal
    # Drawn in float64 and rounded: keep below 1 in the target dtype too.
    high = np.nextafter(np.asarray(1.0, dtype), np.asarray(0.0, dtype))
    return np.minimum(rng.uniform(low, 1.0, size=shape).astype(dtype), high)


def central_differences(fn, x, h=1e-6):
    """Central finite differences of the scalar ``fn`` at the array ``x``."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        out[idx] = (fn(x + e) - fn(x - e)) / (2 * h)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """For files of small tensors: torch's intra-op threads only add
    synchronisation there (10-20x slower on a busy 2-core machine). A file
    opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``;
    the previous thread count is restored after the file."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
