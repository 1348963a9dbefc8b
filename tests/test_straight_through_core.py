"""The straight-through estimators of :mod:`relaxed_dists.core.straight_through`.

- the value is bitwise the hard sample (one-hot, a bit, exactly m ones) on
  NumPy, ``array_api_strict``, torch and JAX (eager and under ``jit``), and
  does not depend on the estimator;
- the hard draws follow their distributions (chi-squared with
  ``scipy.stats.chi2.sf``, each with a negative control);
- each estimator's gradient equals its formula, computed independently in
  NumPy float64 (closed forms: softmax / sigmoid Jacobians, the truncated
  Gumbel and logistic derivatives, the ReinMax backward), the ReinMax one
  also equals the published ``reinmax`` package's on the same sample, and
  the Gumbel-Rao one is, in expectation, the straight-through
  Gumbel-softmax gradient given the sample (Monte Carlo against rejection);
- torch and JAX give the same values and gradients from the same uniforms;
- the whole domain (float32/float64, temperatures 1e-4 to 1e3, logit spreads
  up to the dtype's range, masked categories): no NaN values or gradients;
- bad arguments raise ``ValueError`` naming them.
"""

import math

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import uniforms
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import special, stats

from relaxed_dists.core import hard_limit, mhot
from relaxed_dists.core import straight_through as st
from relaxed_dists.core import subset as cs

CATEGORICAL = st.ESTIMATORS["categorical"]
BERNOULLI = st.ESTIMATORS["bernoulli"]
SUBSET = st.ESTIMATORS["subset"]
CASES = ([("categorical", e) for e in CATEGORICAL] + [("bernoulli", e) for e in BERNOULLI]
         + [("subset", e) for e in SUBSET])
IDS = [f"{f}-{e}" for f, e in CASES]
R = 3  # rao_samples in the tests
M = 2  # m of the subsets


# ------------------------------------------------------------------ helpers
def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _noise(rng, family, estimator, batch, k, sample=(4,), dtype=np.float64, rao=R):
    shape = sample + batch + st.noise_shape(family, estimator, k, rao)
    u = uniforms(rng, shape, dtype)
    return np.minimum(u, np.nextafter(dtype(1), dtype(0)))


def _call(family, estimator, logits, tau, u):
    if family == "categorical":
        return st.categorical(logits, tau, u, estimator)
    if family == "bernoulli":
        return st.bernoulli(logits, tau, u, estimator)
    return st.subset(logits, tau, M, u, estimator)


def _params(rng, family, batch=(3,), k=5):
    logits = rng.normal(size=batch + (() if family == "bernoulli" else (k,))) * 1.5
    tau = np.array([0.3, 1.0, 2.5])[: batch[0]] * np.ones(batch)
    return logits, tau


def _row0(family, estimator, u):
    """The noise of the hard draw."""
    if estimator != "gumbel_rao":
        return u
    return u[..., 0] if family == "bernoulli" else u[..., 0, :]


def _hard_reference(family, logits, u0):
    """The hard sample, computed independently in NumPy."""
    if family == "bernoulli":
        return (logits + np.log(u0) - np.log1p(-u0) > 0).astype(u0.dtype)
    y = logits - logits.max(-1, keepdims=True) - np.log(-np.log(u0))
    if family == "categorical":
        return (np.arange(y.shape[-1]) == y.argmax(-1)[..., None]).astype(u0.dtype)
    order = np.argsort(-y, axis=-1, kind="stable")[..., :M]
    return np.any(np.arange(y.shape[-1]) == order[..., None], axis=-2).astype(u0.dtype)


def _jac(p):
    """``diag(p) - p p^T`` over the last axis."""
    return np.einsum("...i,ij->...ij", p, np.eye(p.shape[-1])) - p[..., :, None] * p[..., None, :]


def _softmax(x):
    return special.softmax(x, axis=-1)


def _torch_grads(family, estimator, logits, tau, u, w):
    lt = torch.as_tensor(logits).requires_grad_()
    tt = torch.as_tensor(tau).requires_grad_()
    value = _call(family, estimator, lt, tt, torch.as_tensor(u))
    gl, gt = torch.autograd.grad((torch.as_tensor(w) * value).sum(), (lt, tt), allow_unused=True)
    gt = torch.zeros_like(tt) if gt is None else gt
    return _np(value), _np(gl), _np(gt)


def _jax_grads(family, estimator, logits, tau, u, w, jit=False):
    uj, wj = jnp.asarray(u), jnp.asarray(w)

    def loss(lj, tj):
        value = _call(family, estimator, lj, tj, uj)
        return jnp.sum(wj * value), value

    fn = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
    if jit:
        fn = jax.jit(fn)
    (_, value), (gl, gt) = fn(jnp.asarray(logits), jnp.asarray(tau))
    return _np(value), _np(gl), _np(gt)


def _bits(x):
    x = np.ascontiguousarray(x)
    return x.view(np.int64 if x.dtype == np.float64 else np.int32)


# ------------------------------------------------------ value exactly hard
CONVERTERS = {
    "numpy": np.asarray,
    "array_api_strict": array_api_strict.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
}


# (eager JAX runs the RelaxedSubset solver pass by pass, about 8 s: marked slow)
VALUE_CASES = [pytest.param(f, e, b, id=f"{f}-{e}-{b}",
                            marks=[pytest.mark.slow] if (b, e) == ("jax", "relaxed") else [])
               for f, e in CASES for b in list(CONVERTERS) + ["torch_grad"]]


@pytest.mark.parametrize("family,estimator,backend", VALUE_CASES)
def test_value_is_bitwise_hard(family, estimator, backend, rng):
    logits, tau = _params(rng, family)
    u = _noise(rng, family, estimator, (3,), 5)
    hard = _hard_reference(family, logits, _row0(family, estimator, u))
    if backend == "torch_grad":
        value = _torch_grads(family, estimator, logits, tau, u, np.ones(hard.shape))[0]
    else:
        conv = CONVERTERS[backend]
        value = _np(_call(family, estimator, conv(logits), conv(tau), conv(u)))
    assert value.dtype == np.float64 and value.shape == hard.shape
    np.testing.assert_array_equal(_bits(value), _bits(hard))
    if family != "bernoulli":
        assert np.all(value.sum(-1) == (1 if family == "categorical" else M))


@pytest.mark.parametrize("family", ["categorical", "bernoulli"])
def test_sample_does_not_depend_on_the_estimator(family, rng):
    """Row 0 of the Gumbel-Rao noise is the noise of the other estimators."""
    logits, tau = _params(rng, family)
    u = _noise(rng, family, "gumbel_rao", (3,), 5, sample=(50,))
    u0 = _row0(family, "gumbel_rao", u)
    ref = _call(family, "gumbel_rao", logits, tau, u)
    for estimator in ("st", "gumbel", "reinmax"):
        np.testing.assert_array_equal(_bits(_call(family, estimator, logits, tau, u0)), _bits(ref))


# --------------------------------------------------------- hard distribution
def _chi2_p(counts, expected):
    stat = np.sum((counts - expected) ** 2 / expected)
    return stats.chi2.sf(stat, counts.size - 1)


def test_categorical_draws_follow_softmax(rng):
    logits = np.array([1.0, -0.5, 0.3, -2.0, 0.0, -np.inf])  # the last one masked
    n = 20000
    u = _noise(rng, "categorical", "gumbel", (), 6, sample=(n,))
    value = _np(st.categorical(torch.as_tensor(logits), torch.tensor(0.5, dtype=torch.float64),
                               torch.as_tensor(u), "st"))
    counts = value.sum(0)
    assert counts[-1] == 0
    p = special.softmax(logits)
    assert _chi2_p(counts[:-1], n * p[:-1]) > 1e-3
    # negative control: slightly wrong probabilities are rejected
    wrong = special.softmax(logits * 1.1)
    assert _chi2_p(counts[:-1], n * wrong[:-1]) < 1e-6


def test_bernoulli_draws_follow_sigmoid(rng):
    logits = np.array([-2.0, -0.3, 0.0, 0.7, 3.0])
    n = 20000
    u = _noise(rng, "bernoulli", "gumbel", (5,), None, sample=(n,))
    value = _np(st.bernoulli(torch.as_tensor(logits), torch.ones(5, dtype=torch.float64),
                             torch.as_tensor(u), "gumbel"))
    ones = value.sum(0)

    def p_value(p):
        stat = np.sum((ones - n * p) ** 2 / (n * p * (1 - p)))
        return stats.chi2.sf(stat, logits.size)

    assert p_value(special.expit(logits)) > 1e-3
    assert p_value(special.expit(logits + 0.1)) < 1e-6  # negative control
    # the forced bits
    forced = _np(st.bernoulli(torch.tensor([-math.inf, math.inf], dtype=torch.float64),
                              torch.ones(2, dtype=torch.float64), torch.as_tensor(u[:100, :2]), "st"))
    assert np.all(forced == [0.0, 1.0])


def test_subset_draws_follow_plackett_luce(rng):
    logits = np.array([0.8, -0.4, 0.1, -1.2, 0.5])
    k, n = logits.size, 20000
    u = _noise(rng, "subset", "relaxed", (), k, sample=(n,))
    value = _np(st.subset(torch.as_tensor(logits), torch.tensor(0.5, dtype=torch.float64), M,
                          torch.as_tensor(u), "marginals"))
    assert np.all(value.sum(-1) == M)
    sets = [s for s in np.ndindex(*(2,) * k) if sum(s) == M]
    masks = np.array(sets, dtype=np.float64)
    counts = np.array([np.sum(np.all(value == mk, axis=-1)) for mk in masks])
    assert counts.sum() == n

    def set_probs(lg):
        return np.exp(_np(st.subset_log_prob(torch.as_tensor(lg), torch.as_tensor(masks))))

    probs = set_probs(logits)
    np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-12)
    assert _chi2_p(counts, n * probs) > 1e-3
    assert _chi2_p(counts, n * set_probs(logits * 1.2)) < 1e-6  # negative control


def test_log_probs():
    logits = torch.tensor([0.5, -math.inf, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
    value = torch.eye(4, dtype=torch.float64)
    lp = st.categorical_log_prob(logits, value)
    ref = np.log(special.softmax([0.5, 1.0, -1.0]))
    np.testing.assert_allclose(_np(lp)[[0, 2, 3]], ref, rtol=1e-14)
    assert _np(lp)[1] == -math.inf
    (g,) = torch.autograd.grad(lp[[0, 2, 3]].sum(), logits)
    assert np.all(np.isfinite(_np(g)))
    bl = torch.tensor([-math.inf, -1.0, 2.0, math.inf], dtype=torch.float64, requires_grad=True)
    lp1 = st.bernoulli_log_prob(bl, torch.ones(4, dtype=torch.float64))
    lp0 = st.bernoulli_log_prob(bl, torch.zeros(4, dtype=torch.float64))
    np.testing.assert_allclose(_np(lp1), [-math.inf, np.log(special.expit(-1.0)),
                                          np.log(special.expit(2.0)), 0.0], rtol=1e-14)
    np.testing.assert_allclose(_np(lp0), [0.0, np.log(special.expit(1.0)),
                                          np.log(special.expit(-2.0)), -math.inf], rtol=1e-14)
    (g,) = torch.autograd.grad(lp1[1:3].sum() + lp0[1:3].sum(), bl)
    assert np.all(np.isfinite(_np(g)))


# ------------------------------------------------- gradients vs closed forms
def _categorical_reference(estimator, logits, tau, u, w):
    """Value-independent reference gradients (w.r.t. logits, temperature),
    NumPy float64, summed over the sample axis 0."""
    t = tau[:, None]
    if estimator in ("st", "gumbel"):
        y = logits + (0.0 if estimator == "st" else -np.log(-np.log(u)))
        y = y + np.zeros_like(w)
        p = _softmax(y / t)
        jw = np.einsum("...ij,...j->...i", _jac(p), w)
        return (jw / t).sum(0), (-(y * jw).sum(-1) / tau**2).sum(0)
    if estimator == "reinmax":
        d = _hard_reference("categorical", logits, u)
        pi = _softmax(logits) + np.zeros_like(w)
        s = (_softmax(logits / t) + d) / 2
        g = 2 * np.einsum("...ij,...j->...i", _jac(s), w) - 0.5 * np.einsum("...ij,...j->...i", _jac(pi), w)
        return (g - g.mean(-1, keepdims=True)).sum(0), np.zeros_like(tau)
    # Gumbel-Rao: the conditional Gumbels written out (the maximum M at the
    # argmax, Gumbels truncated below M elsewhere), held fixed: dy/dl = I.
    hard = _hard_reference("categorical", logits, u[..., 0, :])
    a = hard.argmax(-1)
    lp = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    rows = u[..., 1:, :]
    rr = rows.shape[-2]
    big = -np.log(-np.log(np.take_along_axis(rows, a[..., None, None] + 0 * rows[..., :1].astype(int),
                                             axis=-1)))  # (..., R, 1)
    z = lp[:, None, :] - np.log(-np.log(rows))
    at_a = (np.arange(logits.shape[-1]) == a[..., None])[..., None, :]
    y = np.where(at_a, big, -np.logaddexp(-big, -z))
    p = _softmax(y / tau[:, None, None])
    jw = np.einsum("...rij,...j->...ri", _jac(p), w) / rr
    g_l = jw.sum(-2) / t
    g_t = -(y * jw).sum((-1, -2)) / tau**2
    return g_l.sum(0), g_t.sum(0)


@pytest.mark.parametrize("estimator", CATEGORICAL)
def test_categorical_gradient_formula(estimator, rng):
    logits, tau = _params(rng, "categorical")
    u = _noise(rng, "categorical", estimator, (3,), 5, sample=(6,))
    w = rng.normal(size=(6, 3, 5))
    _, gl, gt = _torch_grads("categorical", estimator, logits, tau, u, w)
    rl, rt = _categorical_reference(estimator, logits, tau, u, w)
    np.testing.assert_allclose(gl, rl, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gt, rt, rtol=1e-10, atol=1e-13)
    if estimator != "reinmax":
        assert np.abs(rt).max() > 1e-3  # the temperature gradient is really there


def test_reinmax_matches_the_published_package(rng):
    reinmax = pytest.importorskip(
        "reinmax", reason="the published ReinMax package is the reference implementation of its backward")
    for tau in (0.5, 1.0, 3.0):
        torch.manual_seed(int(10 * tau))
        logits = torch.randn(8, 6, dtype=torch.float64) * 1.5
        lp = logits.clone().requires_grad_()
        sample, _ = reinmax.reinmax(lp, tau)
        g = torch.as_tensor(rng.normal(size=(8, 6)))
        (ref,) = torch.autograd.grad((g * sample).sum(), lp)
        # uniforms whose Gumbel-max is the package's category: G = 36.7 there,
        # about -6.6 elsewhere (the logits span less than 10)
        hot = _np(sample) == 1
        u = torch.as_tensor(np.where(hot, np.nextafter(1.0, 0.0), 1e-3))
        lt = logits.clone().requires_grad_()
        value = st.categorical(lt, torch.full((8,), tau, dtype=torch.float64), u, "reinmax")
        assert torch.equal(value, sample)
        (got,) = torch.autograd.grad((g * value).sum(), lt)
        np.testing.assert_allclose(_np(got), _np(ref), rtol=0, atol=1e-12)
        assert _np(ref).std() > 1e-3


def _bernoulli_reference(estimator, logits, tau, u, w):
    if estimator in ("st", "gumbel"):
        z = logits + (0.0 if estimator == "st" else np.log(u) - np.log1p(-u))
        z = z + np.zeros_like(w)
        ds = special.expit(z / tau) * special.expit(-z / tau) * w
        return (ds / tau).sum(0), (-ds * z / tau**2).sum(0)
    b = _hard_reference("bernoulli", logits, _row0("bernoulli", estimator, u))
    if estimator == "reinmax":
        s = (special.expit(logits / tau) + b) / 2
        c = 2 * s * (1 - s) - 0.5 * special.expit(logits) * special.expit(-logits)
        return (c * w).sum(0), np.zeros_like(tau)
    # Gumbel-Rao by the plain inverse CDF of the truncated logistic
    v = u[..., 1:]
    lg = logits[..., None] + 0 * v
    one = b[..., None] == 1
    # bit 1: L = F^-1(F(-l) + v (1 - F(-l))); bit 0: L = F^-1((1 - v) F(-l)) (the
    # mirror image); the noise is held fixed, dz/dl = 1
    q = np.where(one, special.expit(-lg) + v * special.expit(lg), (1 - v) * special.expit(-lg))
    z = lg + special.logit(q)
    assert np.all((z > 0) == one)
    ds = special.expit(z / tau[..., None]) * special.expit(-z / tau[..., None]) * w[..., None] / v.shape[-1]
    return (ds / tau[..., None]).sum((0, -1)), (-ds * z / tau[..., None] ** 2).sum((0, -1))


@pytest.mark.parametrize("estimator", BERNOULLI)
def test_bernoulli_gradient_formula(estimator, rng):
    logits, tau = _params(rng, "bernoulli", batch=(3,))
    u = _noise(rng, "bernoulli", estimator, (3,), None, sample=(40,))
    w = rng.normal(size=(40, 3))
    _, gl, gt = _torch_grads("bernoulli", estimator, logits, tau, u, w)
    rl, rt = _bernoulli_reference(estimator, logits, tau, u, w)
    np.testing.assert_allclose(gl, rl, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gt, rt, rtol=1e-10, atol=1e-13)


def test_bernoulli_reinmax_is_categorical_reinmax_on_the_pair(rng):
    """ReinMax on the logits [l, 0], read on the first coordinate."""
    logits = rng.normal(size=(50,)) * 2
    tau = np.exp(rng.uniform(-1, 1, size=(50,)))
    u = _noise(rng, "bernoulli", "reinmax", (50,), None, sample=(3,))
    w = rng.normal(size=(3, 50))
    value, gl, gt = _torch_grads("bernoulli", "reinmax", logits, tau, u, w)
    assert np.all(gt == 0)
    # categorical uniforms that pick category 0 exactly where the bit is 1
    bit = value[..., None] == np.array([1.0, 0.0])
    uc = np.where(bit, np.nextafter(1.0, 0.0), 1e-3)
    lt = torch.as_tensor(logits).requires_grad_()
    pair = torch.stack([lt, torch.zeros_like(lt)], dim=-1)
    cat = st.categorical(pair, torch.as_tensor(tau), torch.as_tensor(uc), "reinmax")
    assert np.array_equal(_np(cat[..., 0]), value)
    (gc,) = torch.autograd.grad((torch.as_tensor(w) * cat[..., 0]).sum(), lt)
    np.testing.assert_allclose(gl, _np(gc), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("estimator", SUBSET)
def test_subset_gradient_formula(estimator, rng):
    logits, tau = _params(rng, "subset", k=6)
    u = _noise(rng, "subset", estimator, (3,), 6, sample=(5,))
    w = rng.normal(size=(5, 3, 6))
    value, gl, gt = _torch_grads("subset", estimator, logits, tau, u, w)
    lt = torch.as_tensor(logits).requires_grad_()
    tt = torch.as_tensor(tau).requires_grad_()
    if estimator == "relaxed":
        s = cs.rsample(lt, tt, M, torch.as_tensor(u))
        # the hard set is the top m of the relaxed sample from the same noise
        sn = _np(s)
        assert np.all(np.min(np.where(value == 1, sn, 2), -1) >= np.max(np.where(value == 0, sn, -1), -1))
    else:
        s = hard_limit.inclusion_probs(lt, M) + 0 * tt[:, None]
    rl, rt = torch.autograd.grad((torch.as_tensor(w) * s).sum(), (lt, tt))
    np.testing.assert_allclose(gl, _np(rl), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gt, _np(rt), rtol=1e-12, atol=1e-14)


# --------------------------------------- Gumbel-Rao: conditional expectation
def _hotelling_p(a, b):
    """p-value of equal means of the rows of ``a`` and ``b`` (chi-squared
    with as many degrees of freedom as columns; large samples)."""
    d = a.mean(0) - b.mean(0)
    cov = np.cov(a, rowvar=False) / len(a) + np.cov(b, rowvar=False) / len(b)
    stat = d @ np.linalg.solve(cov, d)
    return stats.chi2.sf(stat, d.size)


def test_conditional_gumbels_keep_the_argmax(rng):
    logits = np.array([2.0, -1.0, 0.0, 0.5, -np.inf])
    a = np.repeat(np.arange(4), 2000)
    u = uniforms(rng, (a.size, 3, 5))
    y = _np(mhot.conditional_perturbed(torch.as_tensor(logits), torch.as_tensor(a)[:, None].expand(-1, 3),
                                       torch.as_tensor(u)))
    top = np.take_along_axis(y, a[:, None, None] + np.zeros((1, 3, 1), dtype=int), axis=-1)
    assert np.all(top >= y.max(-1, keepdims=True)) and np.all(y[..., -1] == -np.inf)
    # E[softmax(y/tau) | argmax = a] against rejection from unconditional draws
    tau, lp = 0.7, logits - special.logsumexp(logits)
    free = lp - np.log(-np.log(uniforms(rng, (40000, 5))))
    for cat, other in ((3, 0), (1, 2)):
        ref = _softmax(free[free.argmax(-1) == cat] / tau)[:, :3]  # (the rest is implied)
        cond = _softmax(y[a == cat].reshape(-1, 5) / tau)[:, :3]
        assert _hotelling_p(cond, ref) > 1e-3
        assert _hotelling_p(_softmax(y[a == other].reshape(-1, 5) / tau)[:, :3], ref) < 1e-6


def _per_draw_grads(family, estimator, logits, tau, u, w):
    """Per-draw gradients w.r.t. the logits and the temperature: the
    parameters are repeated along the batch, one copy per draw."""
    n = u.shape[0]
    lt = torch.as_tensor(np.broadcast_to(logits, (n,) + logits.shape).copy()).requires_grad_()
    tt = torch.full((n,), tau, dtype=torch.float64, requires_grad=True)
    value = _call(family, estimator, lt, tt, torch.as_tensor(u))
    gl, gt = torch.autograd.grad((torch.as_tensor(w) * value).sum(), (lt, tt))
    return _np(value), np.concatenate([_np(gl).reshape(n, -1), _np(gt)[:, None]], axis=-1)


def test_gumbel_rao_is_the_conditional_mean_of_gumbel_softmax(rng):
    """E[Gumbel-Rao gradient | a] equals E[ST Gumbel-softmax gradient | a]
    (the latter by rejection), for the logits and the temperature."""
    logits = np.array([1.0, 0.2, -0.5, -1.0])
    tau, k, n, a = 0.7, 4, 40000, 1
    w = rng.normal(size=k)
    u = uniforms(rng, (n, k))
    value, g = _per_draw_grads("categorical", "gumbel", logits, tau, u, w)
    ref = g[value[:, a] == 1][:, 1:]  # drop one logit: the gradient sums to 0 over them

    def rao(cat, n_draws):
        ur = uniforms(rng, (n_draws, 2, k))
        ur[:, 0, :] = np.where(np.arange(k) == cat, np.nextafter(1.0, 0.0), 1e-3)  # force the category
        val, gr = _per_draw_grads("categorical", "gumbel_rao", logits, tau, ur, w)
        assert np.all(val[:, cat] == 1)
        return gr[:, 1:]

    assert _hotelling_p(rao(a, 4000), ref) > 1e-3
    assert _hotelling_p(rao(0, 4000), ref) < 1e-6  # negative control: another category


def test_bernoulli_gumbel_rao_is_the_conditional_mean(rng):
    logit, tau, n = 0.4, 0.6, 40000
    u = uniforms(rng, (n,))
    value, g = _per_draw_grads("bernoulli", "gumbel", np.float64(logit), tau, u, np.ones(n))
    for bit in (0, 1):
        ref = g[value == bit]
        ur = uniforms(rng, (4000, 2))
        ur[:, 0] = np.nextafter(1.0, 0.0) if bit else 1e-3
        val, gr = _per_draw_grads("bernoulli", "gumbel_rao", np.float64(logit), tau, ur, np.ones(4000))
        assert np.all(val == bit)
        assert _hotelling_p(gr, ref) > 1e-3
        assert _hotelling_p(gr, g[value == 1 - bit]) < 1e-6  # negative control: the other bit


# ----------------------------------------------------------- torch == JAX
def _domain_params(family, dtype, k=6):
    """Rows: ordinary logits, spreads up to the dtype's range, masked
    categories, each at temperatures 1e-4, 1 and 1e3."""
    big = float(np.finfo(dtype).max) * 0.9
    if family == "bernoulli":
        rows = np.array([0.3, -2.0, 1e4, -1e4, big, -big, np.inf, -np.inf])
    else:
        rows = np.array([
            [0.3, -1.0, 2.0, 0.0, 0.5, -0.2],
            [1e4, -1e4, 0.0, 5e3, -5e3, 1.0],
            [big, -big, 0.0, big / 2, 1.0, -1.0],
            [big, big, big, -big, -big, 0.0],
            [-np.inf, 0.0, -np.inf, 1.0, 2.0, -3.0],
            [-np.inf, -np.inf, -1e4, 1e4, -np.inf, 0.0],
            [-1e30, 0.0, -1e30, 1.0, -1e30, 2.0],
        ])
    taus = np.array([1e-4, 1.0, 1e3])
    logits = np.repeat(rows, 3, axis=0).astype(dtype)
    tau = np.tile(taus, len(rows)).astype(dtype)
    return logits, tau


def _check_domain(family, logits, value, gl, gt):
    """No NaN, the value hard (exactly m ones), masked categories never
    chosen and without gradient, finite gradients."""
    assert not np.any(np.isnan(value)) and np.all((value == 0) | (value == 1))
    if family != "bernoulli":
        assert np.all(value.sum(-1) == (1 if family == "categorical" else M))
        masked = np.isneginf(logits)
        assert np.all(value[np.broadcast_to(masked, value.shape)] == 0)
        assert np.all(gl[masked] == 0)
    else:
        assert np.all(value[..., logits == np.inf] == 1) and np.all(value[..., logits == -np.inf] == 0)
        assert np.all(gl[np.isinf(logits)] == 0)
    assert np.all(np.isfinite(gl)) and np.all(np.isfinite(gt))


def _domain_case(rng, family, estimator, dtype):
    logits, tau = _domain_params(family, dtype)
    u = _noise(rng, family, estimator, tau.shape, 6, sample=(3,), dtype=dtype)
    w = rng.normal(size=_row0(family, estimator, u).shape).astype(dtype)
    return logits, tau, u, w


@pytest.mark.parametrize("family,estimator", CASES, ids=IDS)
def test_torch_and_jax_agree(family, estimator, rng):
    """Float64, over the domain (temperatures 1e-4 to 1e3, spreads up to the
    dtype's range, masked categories), torch eager and JAX under ``jit``."""
    logits, tau, u, w = _domain_case(rng, family, estimator, np.float64)
    vt, glt, gtt = _torch_grads(family, estimator, logits, tau, u, w)
    vj, glj, gtj = _jax_grads(family, estimator, logits, tau, u, w, jit=True)
    np.testing.assert_array_equal(_bits(vt), _bits(vj))
    _check_domain(family, logits, vt, glt, gtt)
    np.testing.assert_allclose(glj, glt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gtj, gtt, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- domain
@pytest.mark.parametrize("backend", ["torch-float32", "torch-float64",
                                     pytest.param("jax-float32", marks=pytest.mark.slow)])
@pytest.mark.parametrize("family,estimator", CASES, ids=IDS)
def test_domain_no_nan(family, estimator, backend, rng):
    dtype = np.float32 if backend.endswith("32") else np.float64
    logits, tau, u, w = _domain_case(rng, family, estimator, dtype)
    if backend.startswith("torch"):
        value, gl, gt = _torch_grads(family, estimator, logits, tau, u, w)
    else:
        value, gl, gt = _jax_grads(family, estimator, logits, tau, u, w, jit=True)
    assert value.dtype == dtype
    _check_domain(family, logits, value, gl, gt)


@settings(derandomize=True, max_examples=40, deadline=None, database=None)
@given(
    family=hs.sampled_from(["categorical", "bernoulli"]),
    estimator=hs.sampled_from(CATEGORICAL),
    k=hs.integers(2, 8),
    log_spread=hs.floats(-2, 38),
    log_tau=hs.floats(-4, 3),
    masked=hs.integers(0, 3),
    float32=hs.booleans(),
    seed=hs.integers(0, 2**16),
)
def test_domain_property(family, estimator, k, log_spread, log_tau, masked, float32, seed):
    """Random spreads (up to 1e38), temperatures, masks and dtypes (torch):
    value exactly hard, no NaN, finite gradients."""
    dtype = np.float32 if float32 else np.float64
    rng = np.random.default_rng(seed)
    logits = (rng.uniform(-1, 1, size=(2, k)) * 10.0**log_spread).astype(dtype)
    if family == "categorical":
        logits[:, :min(masked, k - 1)] = -np.inf
    else:
        logits = logits[:, 0]
        logits[: min(masked, 2)] = [np.inf, -np.inf][: min(masked, 2)]
    tau = np.full(logits.shape[:1], 10.0**log_tau, dtype=dtype)
    u = _noise(rng, family, estimator, tau.shape, k, sample=(3,), dtype=dtype)
    u0 = _row0(family, estimator, u)
    value, gl, gt = _torch_grads(family, estimator, logits, tau, u, rng.normal(size=u0.shape).astype(dtype))
    assert not np.any(np.isnan(value))
    assert np.all(np.isfinite(gl)) and np.all(np.isfinite(gt))
    if family == "categorical":
        assert np.all(value.sum(-1) == 1)
        assert np.all(value[np.broadcast_to(np.isneginf(logits), value.shape)] == 0)
    if dtype == np.float64:  # the reference (NumPy, same arithmetic) draws the same sample
        np.testing.assert_array_equal(value, _hard_reference(family, logits, u0))


# ---------------------------------------------------------- bad arguments
@pytest.mark.parametrize("family", list(st.ESTIMATORS))
def test_bad_estimator(family):
    with pytest.raises(ValueError, match="`estimator`.*" + st.ESTIMATORS[family][0]):
        st.check_estimator(family, "gumbel-softmax")
    with pytest.raises(ValueError, match="`estimator`"):
        st.noise_shape(family, None, 4)
    logits, tau = torch.zeros(4, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    u = torch.full((4,), 0.5, dtype=torch.float64)
    with pytest.raises(ValueError, match="`estimator`"):
        if family == "categorical":
            st.categorical(logits, tau, u, "ST")
        elif family == "bernoulli":
            st.bernoulli(logits, tau, u, "ST")
        else:
            st.subset(logits, tau, 1, u, "gumbel")


@pytest.mark.parametrize("rao_samples", [0, -1, 1.5, True, "2", None])
def test_bad_rao_samples(rao_samples):
    with pytest.raises(ValueError, match="`rao_samples`.*integer >= 1"):
        st.check_estimator("categorical", "gumbel_rao", rao_samples)
    with pytest.raises(ValueError, match="`rao_samples`"):
        st.noise_shape("bernoulli", "gumbel", None, rao_samples)


def test_bad_noise_layout_and_m():
    logits, tau = torch.zeros(2, 4, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="`u`.*1 \\+ rao_samples"):
        st.categorical(logits, tau, torch.full((2, 4), 0.5, dtype=torch.float64), "gumbel_rao")
    with pytest.raises(ValueError, match="`u`.*1 \\+ rao_samples"):
        st.bernoulli(logits[:, 0], tau, torch.full((2,), 0.5, dtype=torch.float64), "gumbel_rao")
    for m in (0, 4, 1.0, True):
        with pytest.raises(ValueError, match="`m`"):
            st.subset(logits, tau, m, torch.full((2, 4), 0.5, dtype=torch.float64))
    assert st.noise_shape("categorical", "gumbel_rao", 7, np.int64(3)) == (4, 7)
    assert st.noise_shape("bernoulli", "gumbel_rao", None, 2) == (3,)
    assert st.noise_shape("subset", "marginals", 7) == (7,)
    assert st.noise_shape("bernoulli", "reinmax") == ()


def test_subset_with_exactly_m_categories_left(rng):
    """The hard draw (and "marginals") needs only m unmasked categories: it
    takes all of them."""
    logits = torch.tensor([[-math.inf, 0.3, -math.inf, -1.0, -math.inf]], dtype=torch.float64,
                          requires_grad=True)
    u = torch.as_tensor(uniforms(rng, (50, 1, 5)))
    value = st.subset(logits, torch.ones(1, dtype=torch.float64), M, u, "marginals")
    assert np.all(_np(value) == [0.0, 1.0, 0.0, 1.0, 0.0])
    (g,) = torch.autograd.grad((value * torch.as_tensor(rng.normal(size=(50, 1, 5)))).sum(), logits)
    assert np.all(np.isfinite(_np(g)))
