"""float32 accuracy of the log-space classes: a float32 own sample, cast to
float64, has a float64 ``log_prob`` within 1e-4 (relative, with a floor of
1 nat where ``|log_prob| < 1``) of its float32 ``log_prob``, by both routes
(``log_prob(value)`` and ``log_prob(value, intermediates)``), in both
backends, for logits spread over 1, 100 and 10 000 and 2 to 1000
categories. At a spread of 10 000 the plain float32 difference
``logits - tau v`` is off by about 1e-3 (the control below); the core
computes it with error-free transformations (``core.special.sub_scaled``).
The wider table: ``python benchmarks/float32_accuracy.py --cast``."""

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp
from relaxed_dists.core import concrete, special

TOL = 1e-4
SPREADS = (1.0, 100.0, 1e4)
TAUS = (0.1, 1.0, 10.0)
KS = (2, 1000)
SAMPLES = 4

#: class name -> the static arguments for k categories
TWINS = {
    "ExpGumbelSoftmax": lambda k: {},
    "LogitBinaryConcrete": lambda k: {},
    "LogitRelaxedSubset": lambda k: {"m": max(1, k // 3)},
    "ExpRelaxedMHot": lambda k: {"m": min(3, k)},
}


def _rows(k, seed):
    """float32 logits, one row per spread, shape (uniform on [-s, s] or
    normal with deviation s) and temperature, and the temperatures."""
    rng = np.random.default_rng(seed)
    logits, taus = [], []
    for spread in SPREADS:
        for shape in ("uniform", "normal"):
            for tau in TAUS:
                draw = rng.uniform(-1, 1, size=k) if shape == "uniform" else rng.normal(size=k)
                logits.append(draw * spread)
                taus.append(tau)
    return np.asarray(logits, np.float32), np.asarray(taus, np.float32)


def _relative_error(lp32, lp64):
    lp32, lp64 = np.asarray(lp32, np.float64), np.asarray(lp64, np.float64)
    assert np.all(np.isfinite(lp64)) and np.all(np.isfinite(lp32))
    return np.max(np.abs(lp32 - lp64) / np.maximum(np.abs(lp64), 1.0))


def _pyro(name, k, seed):
    """(float32 log_prob general, noise or None, float64 log_prob of the cast value)."""
    logits, taus = _rows(k, seed)
    if name == "LogitBinaryConcrete":
        taus = taus[:, None]
    cls, extra = getattr(rp, name), TWINS[name](k)
    torch.manual_seed(seed)
    d32 = cls(torch.as_tensor(taus), logits=torch.as_tensor(logits), **extra)
    d64 = cls(torch.as_tensor(taus, dtype=torch.float64), logits=torch.as_tensor(logits, dtype=torch.float64),
              validate_args=False, **extra)
    v, inter = d32.rsample_with_intermediates((SAMPLES,))
    assert v.dtype == torch.float32
    noise = None if inter is None else d32.log_prob(v, inter).detach().numpy()
    return d32.log_prob(v).detach().numpy(), noise, d64.log_prob(v.double()).detach().numpy()


def _numpyro(name, k, seed):
    """As :func:`_pyro`, under ``jax.jit`` (where XLA fuses multiplies and
    adds into FMAs): the sample, then its scores from the returned sample.
    (Sampling and scoring in one ``jit`` that does not return the sample
    lets XLA recompute the sample inside each consumer, rounded differently:
    the scores are then of values a rounding away from the one returned.)"""
    logits, taus = _rows(k, seed)
    if name == "LogitBinaryConcrete":
        taus = taus[:, None]
    cls, extra = getattr(rn, name), TWINS[name](k)
    d32 = cls(jnp.asarray(taus), logits=jnp.asarray(logits), **extra)
    d64 = cls(jnp.asarray(taus, jnp.float64), logits=jnp.asarray(logits, jnp.float64),
              validate_args=False, **extra)
    v, inter = jax.jit(lambda key: d32.sample_with_intermediates(key, (SAMPLES,)))(jax.random.PRNGKey(seed))
    assert v.dtype == jnp.float32

    @jax.jit
    def scores(v, inter, v64):
        return d32.log_prob(v), None if inter is None else d32.log_prob(v, inter), d64.log_prob(v64)

    return scores(v, inter, jnp.asarray(v, jnp.float64))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("name", list(TWINS))
def test_float32_log_prob_matches_float64_of_the_cast_sample(name, backend):
    run = _pyro if backend == "pyro" else _numpyro
    for k in KS:
        general, noise, ref = run(name, k, seed=k)
        assert _relative_error(general, ref) <= TOL, (k, "general")
        if name != "ExpRelaxedMHot":  # it has no intermediates (the general route runs)
            assert noise is not None
            assert _relative_error(noise, ref) <= TOL, (k, "noise")


def _plain_exp_log_prob(logits, tau, v):
    """The ExpConcrete density with the plain difference, as before the fix."""
    k = v.shape[-1]
    a = concrete.shift(logits) - tau[..., None] * v
    top = a.max(-1, keepdims=True)
    log_softmax = a - top - np.log(np.sum(np.exp(a - top), -1, keepdims=True))
    return np.log(tau) * (k - 1) + float(np.sum(np.log(np.arange(1, k)))) + np.sum(log_softmax, axis=-1)


def test_control_plain_float32_difference_misses_the_tolerance():
    """The same comparison with the plain float32 difference fails at a
    spread of 10 000 (so the test above can fail), and the core passes on
    the same samples."""
    rng = np.random.default_rng(3)
    k, tau = 10, np.asarray([10.0], np.float32)
    logits = (rng.normal(size=(1, k)) * 1e4).astype(np.float32)
    u = rng.uniform(1e-30, 1, size=(64, 1, k)).astype(np.float32)
    v = concrete.rsample_log(logits, tau, u)
    ref = concrete.exp_log_prob(logits.astype(np.float64), tau.astype(np.float64), v.astype(np.float64))
    assert _relative_error(_plain_exp_log_prob(logits.astype(np.float64), tau.astype(np.float64),
                                               v.astype(np.float64)), ref) < 1e-10
    assert _relative_error(_plain_exp_log_prob(logits, tau, v), ref) > 10 * TOL
    assert _relative_error(concrete.exp_log_prob(logits, tau, v), ref) <= TOL / 10


# ------------------------------------------------------------ the helpers
def _wide(rng, n):
    """float32 (l, tau, v) with l - tau v of order 1 and |l| up to 1e6."""
    l = (rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(0, 6, n)).astype(np.float32)
    tau = (10.0 ** rng.uniform(-3, 3, n)).astype(np.float32)
    g = rng.gumbel(size=n)
    v = ((l.astype(np.float64) + g) / tau).astype(np.float32)
    return l, tau, v


BACKENDS = {
    "numpy": (np.asarray, np.asarray),
    "array_api_strict": (array_api_strict.asarray, np.asarray),
    "torch": (torch.as_tensor, lambda x: x.numpy()),
    "jax": (jnp.asarray, np.asarray),
    "jax-jit": (jnp.asarray, np.asarray),
}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_sub_scaled_is_accurate_in_float32(backend):
    """``l - tau v`` within 4 float32 roundings of the exact value (the plain
    difference: about ``eps |l|``, a thousand times that), also under
    ``jax.jit`` (XLA fuses multiplies and adds into FMAs)."""
    conv, back = BACKENDS[backend]
    rng = np.random.default_rng(5)
    l, tau, v = _wide(rng, 20_000)
    exact = l.astype(np.float64) - tau.astype(np.float64) * v.astype(np.float64)
    fn = jax.jit(special.sub_scaled) if backend == "jax-jit" else special.sub_scaled
    out = back(fn(conv(l), conv(tau), conv(v)))
    assert out.dtype == np.float32
    err = np.abs(out.astype(np.float64) - exact)
    assert np.all(err <= 4 * 2.0 ** -24 * np.abs(exact) + 1e-30)
    plain = np.abs((l - tau * v).astype(np.float64) - exact)
    assert np.max(plain) > 1000 * np.max(err)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_sub_scaled_centred_removes_a_common_offset(backend):
    """``centre=True``: the difference minus a per-vector constant, accurate
    where all coordinates share a large offset (here 1e4)."""
    conv, back = BACKENDS[backend]
    rng = np.random.default_rng(6)
    k = 50
    l = (rng.uniform(-1, 1, (8, k)) * 1e4).astype(np.float32)
    tau = np.full((8, 1), 0.7, np.float32)
    v = ((l.astype(np.float64) + rng.gumbel(size=(8, k)) - 1e4) / tau).astype(np.float32)
    exact = l.astype(np.float64) - tau.astype(np.float64) * v.astype(np.float64)
    out = back(special.sub_scaled(conv(l), conv(tau), conv(v), centre=True)).astype(np.float64)
    offset = exact - out
    assert np.all(np.ptp(offset, axis=-1) <= 1e-5)
    assert np.all(np.abs(offset) > 1e3)  # the offset is gone
    # without centring the common offset carries its rounding
    plain = back(special.sub_scaled(conv(l), conv(tau), conv(v))).astype(np.float64)
    assert np.max(np.ptp(exact - plain, axis=-1)) > 1e-4


def test_sub_scaled_float64_is_the_plain_difference():
    rng = np.random.default_rng(7)
    l, tau, v = (x.astype(np.float64) for x in _wide(rng, 1000))
    assert np.array_equal(special.sub_scaled(l, tau, v), l - tau * v)
    t = [torch.as_tensor(x) for x in (l, tau, v)]
    assert torch.equal(special.sub_scaled(*t), t[0] - t[1] * t[2])


def test_sub_scaled_gradient_is_the_plain_one():
    """Gradient in ``l``, ``tau`` and ``v`` (torch and JAX, float32): that of
    ``l - tau v``; infinite ``v`` gives the plain infinities."""
    rng = np.random.default_rng(8)
    l, tau, v = _wide(rng, 64)
    w = rng.normal(size=64).astype(np.float32)
    args = [torch.tensor(x, requires_grad=True) for x in (l, tau, v)]
    (special.sub_scaled(*args) * torch.as_tensor(w)).sum().backward()
    grads = [a.grad.numpy() for a in args]
    want = [w, -w * v, -w * tau]
    for got, exp in zip(grads, want):
        np.testing.assert_allclose(got, exp, rtol=1e-5)
    jgrads = jax.grad(lambda *a: jnp.sum(special.sub_scaled(*a) * w), argnums=(0, 1, 2))(
        *(jnp.asarray(x) for x in (l, tau, v)))
    for got, exp in zip(jgrads, want):
        np.testing.assert_allclose(np.asarray(got), exp, rtol=1e-5)
    inf = np.asarray([np.inf, -np.inf], np.float32)
    out = special.sub_scaled(np.float32([3.0, -5.0]), np.float32([0.5, 2.0]), inf)
    np.testing.assert_array_equal(out, [-np.inf, np.inf])


def test_difference_error_is_exact():
    rng = np.random.default_rng(9)
    a = (rng.normal(size=10_000) * 10.0 ** rng.uniform(-5, 5, 10_000)).astype(np.float32)
    b = (rng.normal(size=10_000) * 10.0 ** rng.uniform(-5, 5, 10_000)).astype(np.float32)
    d = a - b
    e = special.difference_error(a, b, d)
    exact = a.astype(np.float64) - b.astype(np.float64)
    np.testing.assert_array_equal(d.astype(np.float64) + e.astype(np.float64), exact)
