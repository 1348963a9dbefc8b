"""RelaxedSubset / LogitRelaxedSubset: the threshold solver's convergence,
the densities (against the logistic law, quadrature normalisation and a
finite-difference Jacobian), goodness of fit at k = 3 with a negative
control, the tau -> 0 limit against the exact hard-limit probabilities,
float32 at low temperature, the core on every array backend and its
gradients against central finite differences (low temperature included),
``m`` and value validation, and SVI with an AutoNormal guide. What every
class shares is in ``test_generic.py``."""

import itertools
import math

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pyro
import pytest
import torch
from backends import jit_faces
from conftest import central_differences, uniforms
from scipy import integrate, special, stats

import relaxed_dists.numpyro as ns
import relaxed_dists.pyro as ps
from relaxed_dists.core import hard_limit as hl
from relaxed_dists.core import subset as cs

CORE_BACKENDS = {
    "numpy": np.asarray,
    "array_api_strict": array_api_strict.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _perturbed(logits, tau, u):
    """Gumbel-perturbed logits over the temperature, in NumPy."""
    return (logits - np.log(-np.log(u))) / np.asarray(tau)[..., None]


# ---------------------------------------------------------------- the solver
def _remaining_newton_step(yt, z, m):
    """The Newton step on h from the threshold implied by ``z`` (in float64):
    0 at the exact root, however flat the sum is there."""
    yt = np.asarray(yt, np.float64)
    t = np.mean(yt - np.asarray(z, np.float64), axis=-1)
    _, step, _, _ = cs._newton_h(yt, t, m)
    return step


SOLVER_CASES = [(k, m) for k in (3, 100, 10_000) for m in (1.0, 2.5, k / 2, k - 0.5)]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("k,m", SOLVER_CASES, ids=[f"k={k},m={m}" for k, m in SOLVER_CASES])
def test_threshold_reaches_the_root(k, m, dtype):
    """Every draw, temperatures 10 to 0.01: the sum is m to rounding and the
    threshold is the exact root (the Newton step on h left from it is at the
    rounding level of the perturbed logits)."""
    rng = np.random.default_rng(k + int(2 * m))
    logits = (rng.normal(size=k) * 2).astype(dtype)
    u = uniforms(rng, (16, k), dtype)
    for tau in (10.0, 1.0, 0.1, 0.01):
        z = cs.rsample_logit(logits, np.asarray(tau, dtype), m, u)
        assert z.dtype == dtype and np.all(np.isfinite(z))
        s = special.expit(z)
        assert np.all(np.abs(s.sum(-1) - m) <= 0.5 * cs.subset_tolerance(s, m))
        yt = _perturbed(logits.astype(np.float64), tau, u.astype(np.float64)).astype(dtype)
        step = _remaining_newton_step(yt, z, m)
        scale = np.maximum(1.0, np.abs(yt.astype(np.float64)).max(-1))
        assert np.all(np.abs(step) <= 64 * np.finfo(dtype).eps * scale), (tau, np.abs(step).max())


def test_early_stop_gives_the_result_of_every_pass(monkeypatch, rng):
    """The secant phase stops once every row is in the dead band (a Python
    check eager, which also drops the finished rows once half are done; a
    while_loop under jit); the result is that of all _SECANT_STEPS passes,
    and jit and torch agree with eager NumPy."""
    monkeypatch.setattr(cs, "_FAST_START", [False])  # the search alone (see the next test)
    tau = np.array([1.0, 0.1, 0.02, 0.5] * 16)[:, None]
    yt = (rng.normal(size=(64, 50)) + rng.gumbel(size=(64, 50))) / tau
    eager = cs.threshold(yt, 7.5)
    jitted = jax.jit(cs.threshold, static_argnums=1)(jnp.asarray(yt), 7.5)
    in_torch = [a.numpy() for a in cs.threshold(torch.as_tensor(yt), 7.5)]
    calls = []

    def every_pass(body, data, state, max_iter, pending):
        for _ in range(max_iter):
            state = body(data, state)
        calls.append(max_iter)
        return state

    monkeypatch.setattr(cs, "bounded_loop", every_pass)
    full = cs.threshold(yt, 7.5)
    assert calls == [cs._SECANT_STEPS]
    for a, b, c, d in zip(eager, jitted, full, in_torch):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_allclose(d, c, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(b, c, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("passes", [6, 1])
def test_newton_start_gives_the_threshold_of_the_search(monkeypatch, rng, backend, passes):
    """Eager on the host the search starts with Newton passes from the order
    statistics, and only the rows they leave go through the bracketed search
    (with one pass, most rows do): the root and the weights are those of the
    search alone, in float64, from temperatures 1e-3 to 100 and integer and
    fractional m, including tied and clustered values."""
    tau = np.array([1e-3, 0.05, 0.5, 5.0, 100.0] * 8)[:, None]
    y = rng.normal(size=(40, 50)) + rng.gumbel(size=(40, 50))
    y[::5, :10] = y[::5, :1]  # ties
    y[1::5, :20] = y[1::5, :1] + 1e-9 * rng.normal(size=(8, 20))  # a cluster
    yt = y / tau
    convert = torch.as_tensor if backend == "torch" else np.asarray
    for m in (0.5, 1.0, 2.5, 7.0, 10.0, 49.5):
        monkeypatch.setattr(cs, "_START_PASSES", passes)
        fast = [np.asarray(a) for a in cs.threshold(convert(yt), m)]
        monkeypatch.setattr(cs, "_FAST_START", [False])
        alone = [np.asarray(a) for a in cs.threshold(convert(yt), m)]
        monkeypatch.setattr(cs, "_FAST_START", [True])
        root, root_alone = fast[0] + fast[1], alone[0] + alone[1]
        scale = np.maximum(1.0, np.abs(yt).max(-1))
        assert np.all(np.abs(root - root_alone) <= 64 * np.finfo(float).eps * scale), m
        np.testing.assert_allclose(fast[2], alone[2], rtol=1e-9, atol=1e-12)
        total = special.expit(yt - root[:, None]).sum(-1)
        assert np.all(np.abs(total - m) <= cs.subset_tolerance(yt, m)), m


def test_threshold_is_exact_where_the_sum_is_flat():
    """k = 2 at temperature 0.01: both values are tens of units from the
    threshold, the sum is 1 to float precision over a wide interval, and the
    root is still exact: z_1 = -z_2 (by symmetry of sigma)."""
    yt = np.array([[300.0, -200.0], [1.0, 0.5]]) / 0.01
    z = cs.project_logit(yt, 1.0)
    np.testing.assert_allclose(z[:, 0], -z[:, 1], rtol=1e-13)
    np.testing.assert_allclose(z[:, 0], (yt[:, 0] - yt[:, 1]) / 2, rtol=1e-13)


def test_m_out_of_range_raises_naming_m():
    for bad in (0, -1.0, 3, 3.5, float("nan"), float("inf"), "1", True, None):
        with pytest.raises(ValueError, match="`m`"):
            cs.rsample(np.zeros(3), np.asarray(1.0), bad, np.full((1, 3), 0.5))
    with pytest.raises(ValueError, match="k >= 2"):
        cs.check_m(0.5, 1)


# ---------------------------------------------------------------- the densities
def test_logit_density_is_the_logistic_law_for_k2(rng):
    """k = 2: z_1 - z_2 = (y_1 - y_2)/tau, and y_1 - y_2 is logistic with
    location logit p: the density w.r.t. Lebesgue measure on z_1 - z_2."""
    logits = np.array([0.7, -0.4])
    tau = 0.6
    z = cs.rsample_logit(logits, np.asarray(tau), 1.0, uniforms(rng, (50, 2)))
    w = z[:, 0] - z[:, 1]
    expected = stats.logistic.logpdf(tau * w, loc=logits[0] - logits[1]) + math.log(tau)
    np.testing.assert_allclose(cs.logit_log_prob(logits, np.asarray(tau), z), expected,
                               rtol=1e-12)


def _k3_grid(logits, tau, m, half_width, n):
    """A grid over the logit differences (w_1, w_2) = (z_1 - z_3, z_2 - z_3),
    the points z on the surface, and the density of w there."""
    g = np.linspace(-half_width, half_width, n)
    w1, w2 = np.meshgrid(g, g, indexing="ij")
    v = np.stack([w1.ravel(), w2.ravel(), np.zeros(w1.size)], axis=-1)
    z = cs.project_logit(v, m)
    dens = np.exp(cs.logit_log_prob(logits, np.asarray(tau), z))
    return z, dens, (g[1] - g[0]) ** 2


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.5])
def test_logit_density_integrates_to_one_k3(tau):
    z, dens, cell = _k3_grid(np.array([0.4, -0.3, 0.1]), tau, 1.3, 60 / tau, 801)
    assert abs(dens.sum() * cell - 1) < 1e-4


@pytest.mark.parametrize("tau,m", [(1.5, 1.3), (1.0, 1.7)])
def test_subset_density_integrates_to_one_k3(tau, m):
    """Over the polygon {S_1, S_2, m - S_1 - S_2 in (0, 1)} w.r.t. Lebesgue
    measure on (S_1, S_2). (For tau < 1 the density is unbounded at the
    edges; the logit-space normalisation above covers those temperatures.)"""
    logits = np.array([0.4, -0.3, 0.1])

    def density(s2, s1):
        s = np.array([s1, s2, m - s1 - s2])
        return float(np.exp(cs.log_prob(logits, np.asarray(tau), s)))

    total, err = integrate.dblquad(
        density, 0, 1, lambda s1: max(0.0, m - 1 - s1), lambda s1: min(1.0, m - s1),
        epsabs=1e-9, epsrel=1e-7,
    )
    assert abs(total - 1) < 1e-5, (total, err)


def test_subset_density_jacobian_against_finite_differences(rng):
    """log q(S) - log q_z(z) is -log |det dS_{1:k-1} / dw|, with w the logit
    differences; the determinant by central differences through the solver."""
    k, m, tau = 4, 1.6, 0.7
    logits = rng.normal(size=k)
    z = cs.rsample_logit(logits, np.asarray(tau), m, uniforms(rng, (5, k)))
    for zi in z:
        w = zi[:-1] - zi[-1]

        def first_coords(w):
            return special.expit(cs.project_logit(np.append(w, 0.0), m))[:-1]

        jac = np.stack([central_differences(lambda w: first_coords(w)[j], w) for j in range(k - 1)])
        s = special.expit(zi)
        got = cs.log_prob(logits, np.asarray(tau), s) - cs.logit_log_prob(logits, np.asarray(tau), zi)
        assert got == pytest.approx(-np.log(abs(np.linalg.det(jac))), abs=1e-6)


def test_log_prob_at_rounded_values_is_the_limit_not_nan():
    logits = np.array([0.2, -0.1, 0.4])
    # m = 2, one coordinate exactly 1 (n1 = 1, none 0): e = tau - 1
    s = np.array([1.0, 0.3, 0.7])
    assert cs.log_prob(logits, np.asarray(0.5), s) == np.inf
    assert cs.log_prob(logits, np.asarray(2.0), s) == -np.inf
    # a hard 1-subset (n0 = 2, n1 = 1, none inside): e = tau (3 - 2 + 1) - 3 + 1
    s = np.array([1.0, 0.0, 0.0])
    assert cs.log_prob(logits, np.asarray(0.9), s) == np.inf
    assert cs.log_prob(logits, np.asarray(1.5), s) == -np.inf
    assert np.isfinite(cs.log_prob(logits, np.asarray(1.0), s))  # e = 0: the finite limit
    # value and gradients finite where e = 0 (n1 = 1, tau = 1)
    lt = torch.tensor(logits, requires_grad=True)
    out = cs.log_prob(lt, torch.tensor(1.0), torch.tensor([1.0, 0.3, 0.7]))
    (g,) = torch.autograd.grad(out, lt)
    assert torch.isfinite(out) and torch.all(torch.isfinite(g))


# ---------------------------------------------------------------- goodness of fit
K3_LOGITS = np.log(np.array([0.5, 0.3, 0.2]))
K3_M, K3_TAU, K3_BINS = 1.4, 0.6, 6


def _cell_of(s, bins=K3_BINS):
    c = np.clip((s[..., :2] * bins).astype(int), 0, bins - 1)
    return c[..., 0] * bins + c[..., 1]


def _expected_cells(tau):
    """P(cell of (S_1, S_2)) by quadrature of the logit-difference density
    on a fine grid (smooth and fast-decaying there), each grid point's mass
    assigned to the cell of its S."""
    z, dens, cell = _k3_grid(K3_LOGITS, tau, K3_M, 50 / tau, 801)
    probs = np.bincount(_cell_of(special.expit(z)), weights=dens * cell, minlength=K3_BINS**2)
    return probs


def test_goodness_of_fit_k3_with_negative_control():
    n = 20_000
    expected = _expected_cells(K3_TAU)
    assert abs(expected.sum() - 1) < 1e-4
    keep = expected * n > 5
    assert keep.sum() >= 15

    def pvalue(sample_tau, seed):
        u = uniforms(np.random.default_rng(seed), (n, 3))
        s = cs.rsample(K3_LOGITS, np.asarray(sample_tau), K3_M, u)
        counts = np.bincount(_cell_of(s), minlength=K3_BINS**2)
        e = n * expected[keep] / expected[keep].sum()
        stat = np.sum((counts[keep] - e) ** 2 / e)
        return stats.chi2.sf(stat, keep.sum() - 1)

    assert pvalue(K3_TAU, 1) > 1e-3
    assert pvalue(K3_TAU * 1.25, 2) < 1e-6  # wrong temperature: rejected


# ---------------------------------------------------------------- tau -> 0
def test_hard_limit_sets_follow_sampling_without_replacement():
    """At tau = 0.01 the top-m set of S is m items drawn without replacement:
    its frequencies against the exact set probabilities, and (negative
    control) against i.i.d. draws, which must be rejected."""
    probs = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    k, m, n = 5, 2, 20_000
    u = uniforms(np.random.default_rng(11), (n, k))
    s = cs.rsample(np.log(probs), np.asarray(0.01), m, u)
    assert np.median(np.sort(s, -1)[:, -m:]) > 1 - 1e-9  # nearly hard
    sets = list(itertools.combinations(range(k), m))
    masks = np.array([[i in a for i in range(k)] for a in sets])
    index = {a: j for j, a in enumerate(sets)}
    top = np.sort(np.argsort(-s, -1)[:, :m], -1)
    counts = np.bincount([index[tuple(t)] for t in top], minlength=len(sets))
    exact = np.exp(hl.subset_log_prob(np.log(probs), masks))
    assert stats.chi2.sf(np.sum((counts - n * exact) ** 2 / (n * exact)), len(sets) - 1) > 1e-3
    # inclusion frequencies against the quadrature (z-scores)
    incl = ps.RelaxedSubset(0.01, m, probs=torch.tensor(probs)).inclusion_probs.numpy()
    freq = (s > 0.5).mean(0)
    assert np.all(np.abs(freq - incl) <= 4 * np.sqrt(incl * (1 - incl) / n))
    iid = (1 - (1 - probs) ** m) * m / (1 - (1 - probs) ** m).sum()  # with replacement, rescaled
    assert np.max(np.abs(freq - iid) / np.sqrt(iid * (1 - iid) / n)) > 6


def test_fractional_m_limit_mean_interpolates():
    probs = np.array([0.45, 0.3, 0.15, 0.1])
    m, n = 1.5, 20_000
    s = cs.rsample(np.log(probs), np.asarray(0.01), m, uniforms(np.random.default_rng(4), (n, 4)))
    expected = cs.inclusion_probs(np.log(probs), m)
    np.testing.assert_allclose(expected.sum(), m, rtol=1e-12)
    np.testing.assert_allclose(
        expected, 0.5 * (hl.inclusion_probs(np.log(probs), 1) + hl.inclusion_probs(np.log(probs), 2)),
        rtol=1e-12)
    assert np.all(np.abs(s.mean(0) - expected) <= 4 * s.std(0) / np.sqrt(n))
    # the (floor(m) + 1)-th largest entry is about m - floor(m) = 1/2
    assert np.median(np.abs(np.sort(s, -1)[:, -2] - 0.5)) < 1e-9


def test_high_temperature_limit_is_even():
    s = cs.rsample(np.array([2.0, 0.0, -1.0, 0.5]), np.asarray(1e4), 1.2,
                   uniforms(np.random.default_rng(2), (100, 4)))
    np.testing.assert_allclose(s, 0.3, atol=2e-3)


# ---------------------------------------------------------------- parity
CORE_CASES = {
    "rsample": lambda l, t, u: cs.rsample(l, t, 2.5, u),
    "rsample_logit": lambda l, t, u: cs.rsample_logit(l, t, 2.0, u),
    "log_prob": lambda l, t, u: cs.log_prob(l, t, cs.rsample(l, t, 2.5, u)),
    "logit_log_prob": lambda l, t, u: cs.logit_log_prob(l, t, cs.rsample_logit(l, t, 2.0, u)),
    "inclusion_probs": lambda l, t, u: cs.inclusion_probs(l, 1.5, num_nodes=50),
}


@pytest.mark.parametrize("backend", [b for b in CORE_BACKENDS if b != "numpy"])
@pytest.mark.parametrize("case", list(CORE_CASES))
def test_same_noise_same_numbers(case, backend, rng):
    logits = rng.normal(size=(3, 5))
    temperature = np.array([0.3, 1.0, 2.5])
    u = uniforms(rng, (4, 3, 5))
    fn = CORE_CASES[case]
    expected = fn(logits, temperature, u)
    conv = CORE_BACKENDS[backend]
    got = _np(fn(conv(logits), conv(temperature), conv(u)))
    assert got.dtype == np.float64 and np.all(np.isfinite(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", [b for b in CORE_BACKENDS if b != "numpy"])
def test_same_noise_same_numbers_at_low_temperature(backend, rng):
    """Temperature 0.01: the logits are hundreds of units apart and the
    threshold rests on the log-space Newton steps; same numbers still."""
    logits = rng.normal(size=(3, 6))
    temperature = np.full(3, 0.01)
    u = uniforms(rng, (4, 3, 6))
    conv = CORE_BACKENDS[backend]
    for m in (2.0, 2.5):
        expected = cs.rsample_logit(logits, temperature, m, u)
        got = _np(cs.rsample_logit(conv(logits), conv(temperature), m, conv(u)))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
        lp = _np(cs.logit_log_prob(conv(logits), conv(temperature), conv(expected)))
        np.testing.assert_allclose(lp, cs.logit_log_prob(logits, temperature, expected), rtol=1e-12)


# ---------------------------------------------------------------- gradients
GRAD_CASES = [("rsample", 0.5, 2.0), ("rsample", 0.5, 2.5), ("rsample_logit", 0.05, 2.0),
              ("rsample_logit", 1.5, 1.3)]


@pytest.mark.parametrize("fn,tau,m", GRAD_CASES, ids=[f"{f},tau={t},m={m}" for f, t, m in GRAD_CASES])
def test_sample_gradients_match_central_differences(fn, tau, m, rng):
    """d/d(logits, temperature) of sum_i w_i x_i for fixed noise, torch and
    jax (jit) against central differences of the NumPy core."""
    sampler = getattr(cs, fn)
    logits = rng.normal(size=(2, 5))
    temperature = np.array([tau, 1.3 * tau])
    u = uniforms(rng, (3, 2, 5))
    w = rng.normal(size=(3, 2, 5))

    def f(xp, lg, t):
        return xp.sum(sampler(lg, t, m, xp.asarray(u)) * xp.asarray(w))

    fd_l = central_differences(lambda lg: float(f(np, lg, temperature)), logits)
    fd_t = central_differences(lambda t: float(f(np, logits, t)), temperature)
    lt = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(temperature, requires_grad=True)
    g_torch = torch.autograd.grad(f(torch, lt, tt), (lt, tt))
    g_jax = jax.jit(jax.grad(lambda lg, t: f(jnp, lg, t), argnums=(0, 1)))(
        jnp.asarray(logits), jnp.asarray(temperature))
    for gl, gt in (g_torch, g_jax):
        np.testing.assert_allclose(_np(gl), fd_l, rtol=1e-6, atol=1e-6 * np.abs(fd_l).max())
        np.testing.assert_allclose(_np(gt), fd_t, rtol=1e-6, atol=1e-6 * np.abs(fd_t).max())
    assert np.abs(fd_l).max() > 1e-2 and np.abs(fd_t).max() > 1e-2


@pytest.mark.parametrize("fn", ["log_prob", "logit_log_prob"])
def test_log_prob_gradients_match_central_differences(fn, rng):
    logits = rng.normal(size=(2, 4))
    temperature = np.array([0.6, 1.7])
    value = getattr(cs, "rsample" if fn == "log_prob" else "rsample_logit")(
        logits, temperature, 1.5, uniforms(rng, (3, 2, 4)))
    density = getattr(cs, fn)

    def f(xp, lg, t):
        return xp.sum(density(lg, t, xp.asarray(value)))

    lt = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(temperature, requires_grad=True)
    gl, gt = torch.autograd.grad(f(torch, lt, tt), (lt, tt))
    np.testing.assert_allclose(
        gl.numpy(), central_differences(lambda lg: float(f(np, lg, temperature)), logits), rtol=1e-6)
    np.testing.assert_allclose(
        gt.numpy(), central_differences(lambda t: float(f(np, logits, t)), temperature), rtol=1e-6)


def test_threshold_gradient_is_the_implicit_function_rule(rng):
    """dt/dy_i = q_i / sum q and dt/dtau = -sum_i omega_i z_i, read off the
    gradient of z: dz_j/dy_i = (delta_ij - omega_i)/tau."""
    k, m, tau = 6, 2.5, 0.8
    y = torch.tensor(rng.normal(size=k), requires_grad=True)
    t_ = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    z = cs.project_logit(y / t_, m)
    zz = z.detach().numpy()
    q = special.expit(zz) * special.expit(-zz)  # S (1 - S) without cancellation
    omega = q / q.sum()
    (gy,) = torch.autograd.grad(z[0], y, retain_graph=True)
    np.testing.assert_allclose(gy.numpy(), (np.eye(k)[0] - omega) / tau, rtol=1e-12, atol=1e-14)
    # tau: z = (y - t)/tau with dt/dtau = -sum omega z
    (gt,) = torch.autograd.grad(z[0], t_)
    dt = -np.sum(omega * zz)
    assert gt.item() == pytest.approx((-dt - zz[0]) / tau, rel=1e-12)


# ---------------------------------------------------------------- adapters
PyroB, NumPyroB = jit_faces(ps, ns)


ADAPTERS = [pytest.param(PyroB, id="pyro"), pytest.param(NumPyroB, id="numpyro")]
CLASSES = ["RelaxedSubset", "LogitRelaxedSubset"]


@pytest.mark.parametrize("B", ADAPTERS)
def test_inclusion_probs_follow_the_batch(B, rng):
    """A batch from the temperature alone: one row of inclusion
    probabilities (the tau -> 0 limit, independent of tau) per element."""
    probs = rng.dirichlet(np.ones(5))
    d = B.mod.RelaxedSubset(B.asarray(np.array([0.3, 0.5, 1.0, 2.0])), 2, probs=B.asarray(probs))
    pi = _np(d.inclusion_probs)
    assert pi.shape == (4, 5)
    np.testing.assert_allclose(pi, np.broadcast_to(cs.inclusion_probs(np.log(probs), 2.0), (4, 5)),
                               rtol=1e-12)
    np.testing.assert_allclose(pi.sum(-1), 2, rtol=1e-10)


@pytest.mark.parametrize("B", ADAPTERS)
def test_bad_m_raises_at_construction(B):
    logits = B.asarray(np.zeros(4))
    for cls in (B.mod.RelaxedSubset, B.mod.LogitRelaxedSubset):
        for bad in (0, -0.5, 4, 4.0, 7, "2", None, float("nan")):
            with pytest.raises(ValueError, match="`m`"):
                cls(B.asarray(0.5), bad, logits=logits)
        with pytest.raises(ValueError, match="k >= 2"):
            cls(B.asarray(0.5), 0.5, logits=B.asarray(np.zeros(1)))
    assert B.mod.RelaxedSubset(B.asarray(0.5), np.int64(3), logits=logits).m == 3.0


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("B", ADAPTERS)
def test_validation_of_values(B, name, rng):
    d = getattr(B.mod, name)(B.asarray(0.5), 1.5, logits=B.asarray(rng.normal(size=4)),
                             validate_args=True)
    x = B.sample(d, (3,))
    assert np.all(np.isfinite(_np(d.log_prob(x))))  # own samples pass
    bad = _np(x).copy()
    bad[1, 0] += 0.3  # the sum leaves m
    np.testing.assert_array_equal(_np(B.check(d, B.asarray(bad))), [True, False, True])
    with pytest.raises(ValueError):
        d.log_prob(B.asarray(bad))
    with pytest.raises(ValueError):
        d.log_prob(x[..., :3])  # wrong event shape
    assert d.support.event_dim == 1 and "1.5" in repr(d.support)
    if B is NumPyroB:  # a feasible point is inside
        f = d.support.feasible_like(jnp.zeros(4))
        assert bool(B.check(d, f)) and np.isfinite(d.log_prob(f))
    # The registered bijection maps R^(k-1) into the support; its Jacobian
    # turns the density of the value into that of the logit differences.
    biject = torch.distributions.biject_to if B is PyroB else numpyro.distributions.biject_to
    t = biject(d.support)
    w = rng.normal(size=(6, 3)) * 3
    v = (t if B is PyroB else jax.jit(lambda w: t(w)))(B.asarray(w))  # eager JAX: slow
    assert tuple(v.shape) == (6, 4) and np.all(_np(B.check(d, v)))
    np.testing.assert_allclose(_np(t.inv(v)), w, rtol=1e-9, atol=1e-9)
    z = cs.from_log_ratios(w, 1.5)
    np.testing.assert_allclose(_np(d.log_prob(v)) + _np(t.log_abs_det_jacobian(B.asarray(w), v)),
                               cs.logit_log_prob(_np(d.logits), np.asarray(0.5), z), rtol=1e-12)


@pytest.mark.slow
def test_pyro_autonormal_svi_on_a_subset_latent():
    """SVI with an AutoNormal guide over a RelaxedSubset site (the guide
    lives in R^(k-1), mapped by the registered bijection) moves the mass of
    the relaxed mask towards the items the data favour."""
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    target = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)

    def model():
        s = pyro.sample("s", ps.RelaxedSubset(torch.tensor(0.5, dtype=torch.float64), 2,
                                              logits=torch.zeros(5, dtype=torch.float64)))
        pyro.sample("obs", pyro.distributions.Normal(s, 0.1).to_event(1), obs=target)

    guide = pyro.infer.autoguide.AutoNormal(model)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    losses = [svi.step() for _ in range(150)]
    assert np.all(np.isfinite(losses)) and np.mean(losses[-20:]) < np.mean(losses[:20])
    s = guide.median()["s"].detach().numpy()
    assert s.sum() == pytest.approx(2) and s[:2].min() > s[2:].max()


@pytest.mark.slow
def test_numpyro_autonormal_svi_on_a_subset_latent():
    target = jnp.array([1.0, 1.0, 0.0, 0.0, 0.0])

    def model():
        s = numpyro.sample("s", ns.RelaxedSubset(0.5, 2, logits=jnp.zeros(5)))
        numpyro.sample("obs", numpyro.distributions.Normal(s, 0.1).to_event(1), obs=target)

    guide = numpyro.infer.autoguide.AutoNormal(model)
    svi = numpyro.infer.SVI(model, guide, numpyro.optim.Adam(0.05), numpyro.infer.Trace_ELBO())
    result = svi.run(jax.random.PRNGKey(0), 150, progress_bar=False)
    assert np.all(np.isfinite(result.losses))
    assert np.mean(result.losses[-20:]) < np.mean(result.losses[:20])
    s = np.asarray(guide.median(result.params)["s"])
    assert s.sum() == pytest.approx(2) and s[:2].min() > s[2:].max()


@pytest.mark.slow
@pytest.mark.parametrize("B", ADAPTERS)
def test_float32_low_temperature_logit_log_prob_finite(B):
    """k = 10 000, temperature 0.01, float32: every own sample passes
    validation, with a finite log_prob; S sums to m."""
    logits = B.asarray(np.random.default_rng(5).normal(size=10_000).astype(np.float32))
    tau = B.asarray(np.float32(0.01))
    for m, cls in ((2500.5, B.mod.LogitRelaxedSubset), (5, B.mod.RelaxedSubset)):
        d = cls(tau, m, logits=logits, validate_args=True)
        x = B.sample(d, (8,), seed=7)
        assert x.dtype == (torch.float32 if B is PyroB else jnp.float32)
        lp = _np(d.log_prob(x))  # validation passes on own samples
        assert lp.shape == (8,) and not np.any(np.isnan(lp))
        s = _np(x) if cls is B.mod.RelaxedSubset else special.expit(_np(x).astype(np.float64))
        assert np.all(np.abs(s.sum(-1) - m) < 1e-3)
        if cls is B.mod.LogitRelaxedSubset:
            assert np.all(np.isfinite(lp))


def test_subset_tolerance_is_a_fraction_of_the_float32_error_budget():
    """The check is not loose: a float32 sample moved by 10 ulps of m in
    total still passes, one moved by 0.1 fails."""
    x = np.full(1000, np.float32(0.005))  # sums to m = 5
    assert cs.on_subset(x, 5.0)
    assert cs.on_subset(np.append(x[:-1], x[-1] + np.float32(10 * np.spacing(np.float32(5)))), 5.0)
    assert not cs.on_subset(x + np.float32(1e-4), 5.0)
    assert not cs.on_subset(np.append(x[:-1], np.float32(-1e-3)), 5.0)
    z = special.logit(np.full(1000, 0.005))
    # float64 values are checked at float32's rounding (a float32 sample cast
    # to float64 passes): a sum off by 5e-6 passes, one off by 5e-3 fails.
    assert cs.on_logit_subset(z, 5.0) and cs.on_logit_subset(z + 1e-6, 5.0)
    assert not cs.on_logit_subset(z + 1e-3, 5.0)
    assert not cs.on_logit_subset(np.append(z[:-1], np.inf), 5.0)
