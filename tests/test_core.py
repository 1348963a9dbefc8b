"""The array-API core: cross-backend parity, exact checks (quadrature
normalisation, argmax ~ Categorical, the binary erratum), goodness of fit with
negative controls, limits without NaN, and float32 accuracy of the twins."""

import math

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import uniforms
from scipy import integrate, special, stats

from relaxed_dists.core import binary_concrete as bc
from relaxed_dists.core import checks
from relaxed_dists.core import concrete as cc

BACKENDS = {
    "numpy": np.asarray,
    "array_api_strict": array_api_strict.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
}


def _np(x):
    return np.asarray(x)


# ---------------------------------------------------------------- parity
CORE_CASES = {
    "concrete.rsample": lambda l, t, u: cc.rsample(l, t, u),
    "concrete.rsample_log": lambda l, t, u: cc.rsample_log(l, t, u),
    "concrete.log_prob": lambda l, t, u: cc.log_prob(l, t, cc.rsample(l, t, u)),
    "concrete.log_prob_log": lambda l, t, u: cc.log_prob_log(l, t, cc.rsample_log(l, t, u)),
    "concrete.exp_log_prob": lambda l, t, u: cc.exp_log_prob(l, t, cc.rsample_log(l, t, u)),
    "binary.rsample": lambda l, t, u: bc.rsample(l[..., 0], t, u[..., 0]),
    "binary.rsample_logit": lambda l, t, u: bc.rsample_logit(l[..., 0], t, u[..., 0]),
    "binary.log_prob": lambda l, t, u: bc.log_prob(l[..., 0], t, bc.rsample(l[..., 0], t, u[..., 0])),
    "binary.logit_log_prob": lambda l, t, u: bc.logit_log_prob(
        l[..., 0], t, bc.rsample_logit(l[..., 0], t, u[..., 0])
    ),
}


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("case", list(CORE_CASES))
def test_same_noise_same_numbers(case, backend, rng):
    logits = rng.normal(size=(3, 5))
    temperature = np.array([0.3, 1.0, 2.5])
    u = uniforms(rng, (4, 3, 5))
    fn = CORE_CASES[case]
    expected = fn(logits, temperature, u)
    conv = BACKENDS[backend]
    got = _np(fn(conv(logits), conv(temperature), conv(u)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_core_imports_neither_backend():
    import subprocess
    import sys

    code = (
        "import sys, relaxed_dists, relaxed_dists.core;"
        "print([m for m in ('torch', 'jax') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("adapter,blocked", [("numpyro", "torch"), ("pyro", "jax")])
def test_each_adapter_works_without_the_other_backend(adapter, blocked):
    import subprocess
    import sys

    code = (  # as if the other backend were not installed: importing it fails
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] == {blocked!r}: raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import relaxed_dists.{adapter} as m\n"
        "d = m.GumbelSoftmax(0.5, logits=[0.0, 1.0])\n"
        "key = [__import__('jax').random.PRNGKey(0)] if 'numpyro' in m.__name__ else []\n"
        "lp = float(d.log_prob(d.sample(*key)))\n"
        f"print(lp > -1e9, {blocked!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True False"


# ---------------------------------------------------------------- exact checks
@pytest.mark.parametrize("tau", [0.4, 1.0, 3.0])
def test_quadrature_normalisation_k2(tau):
    logits = np.array([0.7, -0.4])
    dens = lambda x1: np.exp(cc.log_prob(logits, np.asarray(tau), np.array([x1, 1 - x1])))
    total, err = integrate.quad(dens, 0, 1, limit=200, points=[0.5])
    assert abs(total - 1) < 1e-6


@pytest.mark.parametrize("tau", [1.0, 1.5, 2.0])
def test_quadrature_normalisation_k3(tau):
    logits = np.array([0.5, -0.3, 0.1])

    def dens(x2, x1):
        return np.exp(cc.log_prob(logits, np.asarray(tau), np.array([x1, x2, 1 - x1 - x2])))

    total, _ = integrate.dblquad(dens, 0, 1, 0, lambda x1: 1 - x1, epsabs=1e-9, epsrel=1e-7)
    assert abs(total - 1) < 1e-5


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.0])
def test_quadrature_normalisation_binary(tau):
    logit = np.asarray(0.8)
    t = np.asarray(tau)
    total_x, _ = integrate.quad(lambda x: np.exp(bc.log_prob(logit, t, np.asarray(x))), 0, 1, limit=200)
    total_z, _ = integrate.quad(lambda z: np.exp(bc.logit_log_prob(logit, t, np.asarray(z))), -np.inf, np.inf)
    assert abs(total_x - 1) < 1e-6 and abs(total_z - 1) < 1e-8


def test_log_space_density_normalises_k2():
    # ExpGumbelSoftmax: the density of v w.r.t. Lebesgue on w = v_1 - v_2.
    logits, tau = np.array([0.3, -0.9]), np.asarray(0.5)
    dens = lambda w: np.exp(cc.exp_log_prob(logits, tau, cc.log_ratios_to_log_simplex(np.array([w]))))
    total, _ = integrate.quad(dens, -np.inf, np.inf)
    assert abs(total - 1) < 1e-8


def test_log_density_is_simplex_density_plus_jacobian(rng):
    logits, tau = rng.normal(size=6), np.asarray(0.7)
    v = cc.rsample_log(logits, tau, uniforms(rng, (50, 6)))
    np.testing.assert_allclose(
        cc.exp_log_prob(logits, tau, v) - v.sum(-1), cc.log_prob(logits, tau, np.exp(v)), rtol=1e-10
    )


@pytest.mark.parametrize("tau", [0.05, 0.5, 5.0])
def test_argmax_is_categorical(tau, rng):
    p = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
    n = 40_000
    x = cc.rsample(np.log(p), np.asarray(tau), uniforms(rng, (n, 5)))
    counts = np.bincount(x.argmax(-1), minlength=5)
    pval = stats.chisquare(counts, n * p).pvalue
    assert pval > 1e-3
    # the test can fail: the same counts against a perturbed p
    assert stats.chisquare(counts, n * np.array([0.45, 0.3, 0.15, 0.07, 0.03])).pvalue < 1e-6


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("tau", [0.01, 0.5, 2.0, 10.0])
def test_binary_erratum_pinned(p, tau, rng):
    """P(x > 1/2) == p (the source note's leading minus gives 1 - p)."""
    n = 40_000
    logit = np.asarray(math.log(p) - math.log1p(-p))
    u = uniforms(rng, n)
    x = bc.rsample(logit, np.asarray(tau), u)
    k = int((x > 0.5).sum())
    assert stats.binomtest(k, n, p).pvalue > 1e-4
    # the note's formula, sigma(-(logit p + L)/tau), fails the same test
    note = special.expit(-(logit + np.log(u) - np.log1p(-u)) / tau)
    if p != 0.5:
        assert stats.binomtest(int((note > 0.5).sum()), n, p).pvalue < 1e-6


# ---------------------------------------------------------------- goodness of fit
def _chi2_pvalue(counts, probs):
    n = counts.sum()
    expected = n * probs
    assert expected.min() > 20, "bins too small for the chi-squared approximation"
    stat = ((counts - expected) ** 2 / expected).sum()
    return stats.chi2.sf(stat, len(counts) - 1)


def _bin_probs_1d(logpdf, edges, lo, hi):
    inner = [
        integrate.quad(lambda s: np.exp(logpdf(s)), a, b, limit=200)[0] for a, b in zip(edges[:-1], edges[1:])
    ]
    left = integrate.quad(lambda s: np.exp(logpdf(s)), lo, edges[0], limit=200)[0]
    return np.array([left, *inner, 1 - left - sum(inner)])


@pytest.mark.parametrize("tau", [0.3, 1.5])
def test_goodness_of_fit_binary(tau, rng):
    logit = np.asarray(0.4)
    z = bc.rsample_logit(logit, np.asarray(tau), uniforms(rng, 30_000))
    edges = np.quantile(z, np.linspace(0.05, 0.95, 19))
    counts = np.histogram(z, np.concatenate([[-np.inf], edges, [np.inf]]))[0]
    pdf = lambda t: lambda s: bc.logit_log_prob(logit, np.asarray(t), np.asarray(s))
    assert _chi2_pvalue(counts, _bin_probs_1d(pdf(tau), edges, -np.inf, np.inf)) > 1e-3
    # negative control: the density at a wrong temperature must fail
    assert _chi2_pvalue(counts, _bin_probs_1d(pdf(tau * 1.15), edges, -np.inf, np.inf)) < 1e-6


@pytest.mark.parametrize("tau", [0.4, 1.0])
def test_goodness_of_fit_simplex_k2(tau, rng):
    """GumbelSoftmax on k = 2: x_1 binned, bin probabilities by quadrature of
    the simplex density itself."""
    logits = np.array([0.3, -0.5])
    x1 = cc.rsample(logits, np.asarray(tau), uniforms(rng, (30_000, 2)))[:, 0]
    edges = np.quantile(x1, np.linspace(0.05, 0.95, 19))
    counts = np.histogram(x1, np.concatenate([[0], edges, [1]]))[0]
    pdf = lambda t: lambda s: cc.log_prob(logits, np.asarray(t), np.array([s, 1 - s]))
    assert _chi2_pvalue(counts, _bin_probs_1d(pdf(tau), edges, 0, 1)) > 1e-3
    assert _chi2_pvalue(counts, _bin_probs_1d(pdf(tau * 1.15), edges, 0, 1)) < 1e-6


def _box_probs_2d(logpdf2, ex, ey, nodes=24):
    """Probabilities of the grid boxes between finite edges (tensor
    Gauss-Legendre), plus the remainder outside them."""
    g, w = np.polynomial.legendre.leggauss(nodes)
    probs = []
    for a, b in zip(ex[:-1], ex[1:]):
        for c, d in zip(ey[:-1], ey[1:]):
            xs, ys = (b - a) / 2 * g + (a + b) / 2, (d - c) / 2 * g + (c + d) / 2
            X, Y = np.meshgrid(xs, ys, indexing="ij")
            vals = np.exp(logpdf2(X, Y))
            probs.append((b - a) * (d - c) / 4 * (w[:, None] * w[None, :] * vals).sum())
    probs = np.array(probs)
    return np.concatenate([probs, [1 - probs.sum()]])


@pytest.mark.parametrize("tau", [0.5, 1.2])
def test_goodness_of_fit_log_simplex_k3(tau, rng):
    """ExpGumbelSoftmax on k = 3: the log-ratios (v1 - v3, v2 - v3) binned on
    a 4 x 4 grid of boxes; box probabilities by quadrature of the density."""
    logits = np.array([0.4, -0.2, 0.0])
    v = cc.rsample_log(logits, np.asarray(tau), uniforms(rng, (40_000, 3)))
    w = cc.log_simplex_to_log_ratios(v)
    ex = np.quantile(w[:, 0], np.linspace(0.08, 0.92, 5))
    ey = np.quantile(w[:, 1], np.linspace(0.08, 0.92, 5))
    ix, iy = np.searchsorted(ex, w[:, 0]) - 1, np.searchsorted(ey, w[:, 1]) - 1
    inside = (ix >= 0) & (ix < 4) & (iy >= 0) & (iy < 4)
    counts = np.bincount(ix[inside] * 4 + iy[inside], minlength=16)
    counts = np.concatenate([counts, [(~inside).sum()]])

    def logpdf(t):
        def f(X, Y):
            v = cc.log_ratios_to_log_simplex(np.stack([X, Y], -1))
            return cc.exp_log_prob(logits, np.asarray(t), v)

        return f

    assert _chi2_pvalue(counts, _box_probs_2d(logpdf(tau), ex, ey)) > 1e-3
    assert _chi2_pvalue(counts, _box_probs_2d(logpdf(tau * 1.1), ex, ey)) < 1e-6


# ---------------------------------------------------------------- limits, no NaN
def test_simplex_density_at_exact_zeros_is_the_limit():
    logits = np.array([0.2, -0.1, 0.4])
    x = np.array([[0.0, 0.3, 0.7], [0.0, 0.0, 1.0], [0.0, 0.3, 0.7]])
    # one zero: e = 3 tau - (tau + 1) = 2 tau - 1
    got = cc.log_prob(logits, np.array([0.2, 0.2, 0.9]), x)
    assert got[0] == np.inf and got[1] == np.inf and got[2] == -np.inf
    # e == 0 (tau = 1/2, one zero): the finite limit, approached from inside
    # (the remainder decays as eps ** tau)
    eps = 1e-20
    inner = cc.log_prob(logits, np.asarray(0.5), np.array([eps, 0.3 - eps / 2, 0.7 - eps / 2]))
    assert abs(cc.log_prob(logits, np.asarray(0.5), x[0]) - inner) < 1e-6


def test_binary_density_at_exact_0_and_1_is_the_limit():
    logit = np.asarray(0.3)
    for x in (0.0, 1.0):
        assert bc.log_prob(logit, np.asarray(0.5), np.asarray(x)) == np.inf
        assert bc.log_prob(logit, np.asarray(2.0), np.asarray(x)) == -np.inf
    assert abs(bc.log_prob(logit, np.asarray(1.0), np.asarray(1.0)) - 0.3) < 1e-12
    assert abs(bc.log_prob(logit, np.asarray(1.0), np.asarray(1e-12)) - -0.3) < 1e-9
    assert bc.logit_log_prob(logit, np.asarray(0.5), np.asarray(-np.inf)) == -np.inf


def test_gradients_at_exact_zeros_are_not_nan():
    logits = torch.tensor([0.2, -0.1, 0.4], dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.0, 0.4, 0.6], dtype=torch.float64, requires_grad=True)
    torch.where(torch.isfinite(y := cc.log_prob(logits, tau, x)), y, 0.0).backward()
    for g in (logits.grad, tau.grad, x.grad):
        assert not torch.isnan(g).any()


@pytest.mark.parametrize("fn,event", [(cc.log_prob, 4), (bc.log_prob, 0)])
def test_eager_fast_path_equals_the_general_path(fn, event, rng):
    """Eager on the host, a value with no coordinate at 0 or 1 takes the
    unmasked fast path; under ``jax.jit`` the masked general path runs. Both
    give the same numbers and gradients, in the interior and (for the rows
    with an exact 0 or 1, which send eager calls to the general path) at the
    boundary."""
    shape = (6, event) if event else (6,)
    logits, tau = rng.normal(size=shape), rng.uniform(0.3, 2.0, size=6)
    x = (cc.rsample if event else bc.rsample)(logits, tau, uniforms(rng, shape))
    edge = x.copy()
    edge[0, ...] = np.eye(event)[1] if event else 1.0
    edge[1, ...] = np.array([0.0, 0.5, 0.25, 0.25]) if event else 0.0

    def total(lg, t, v):
        y = fn(lg, t, v)
        return jnp.sum(jnp.where(jnp.isfinite(y), y, 0.0))

    grad = jax.grad(total, argnums=(0, 1, 2))
    for value in (x, edge):
        args = (jnp.asarray(logits), jnp.asarray(tau), jnp.asarray(value))
        np.testing.assert_allclose(fn(*args), jax.jit(fn)(*args), rtol=1e-12, atol=0)
        np.testing.assert_allclose(fn(*args), fn(logits, tau, value), rtol=1e-12, atol=0)
        for eager, jitted in zip(grad(*args), jax.jit(grad)(*args)):
            np.testing.assert_allclose(eager, jitted, rtol=1e-10, atol=1e-12)
    assert np.isinf(fn(logits, tau, edge)[:2]).all() and np.isfinite(fn(logits, tau, edge)[2:]).all()


# ---------------------------------------------------------------- float32
TEMPS = [0.5, 0.1, 0.05, 0.01]


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("k", [10, 1000, 10_000])
def test_float32_log_space_twin_is_finite_and_accurate(k, backend, rng):
    """ExpGumbelSoftmax in float32: finite for every own sample and within
    1e-3 nats + 16 float32 spacings of |log q| of the float64 value from the
    same noise (|log q| reaches 6e4 at k = 10 000, where float32 spacing is
    4e-3 to 8e-3 nats: 1e-3 alone is below float32 resolution there)."""
    conv = BACKENDS[backend]
    logits = rng.normal(size=k) * 2
    u32 = uniforms(rng, (100, k), np.float32)
    for tau in TEMPS:
        ref = cc.exp_log_prob(
            logits, np.asarray(tau), cc.rsample_log(logits, np.asarray(tau), u32.astype(np.float64))
        )
        l32, t32 = conv(logits.astype(np.float32)), conv(np.float32(tau))
        lp = _np(cc.exp_log_prob(l32, t32, cc.rsample_log(l32, t32, conv(u32)))).astype(np.float64)
        assert np.isfinite(lp).all()
        tol = 1e-3 + 16 * np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
        assert (np.abs(lp - ref) <= tol).all(), (tau, np.abs(lp - ref).max())
        # the simplex value never gives NaN (it gives the limit where x underflows)
        assert not np.isnan(_np(cc.log_prob(l32, t32, cc.rsample(l32, t32, conv(u32))))).any()


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float32_logit_twin_is_finite_and_accurate(backend, rng):
    conv = BACKENDS[backend]
    logits = rng.normal(size=10_000) * 2
    u32 = uniforms(rng, 10_000, np.float32)
    for tau in TEMPS:
        t = np.asarray(tau)
        ref = bc.logit_log_prob(logits, t, bc.rsample_logit(logits, t, u32.astype(np.float64)))
        l32, t32 = conv(logits.astype(np.float32)), conv(np.float32(tau))
        lp = _np(bc.logit_log_prob(l32, t32, bc.rsample_logit(l32, t32, conv(u32))))
        assert np.isfinite(lp).all() and np.abs(lp - ref).max() < 1e-3
        assert not np.isnan(_np(bc.log_prob(l32, t32, bc.rsample(l32, t32, conv(u32))))).any()


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float32_own_samples_on_support(backend, rng):
    conv = BACKENDS[backend]
    logits = conv((rng.normal(size=10_000) * 2).astype(np.float32))
    u = conv(uniforms(rng, (50, 10_000), np.float32))
    for tau in [10.0, 0.5, 0.01]:
        t = conv(np.float32(tau))
        assert _np(checks.on_simplex(cc.rsample(logits, t, u))).all()
        assert _np(checks.on_log_simplex(cc.rsample_log(logits, t, u))).all()
