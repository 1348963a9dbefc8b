"""RelaxedSubset / LogitRelaxedSubset over their whole domain, through the
core functions of :mod:`relaxed_dists.core.subset`.

Property-based (hypothesis, derandomised): k from 2 to 10 000, real m in
(0, k) (fractional, integer, and within 1e-3 of both ends), temperature from
1e-4 to 1e3, logits of any finite values (spreads up to the dtype's range, an
entry at -1e4, -1e30 or near the dtype's maximum) and masked categories
(logit ``-inf``), float32 and float64, with NumPy arrays (eager, the fast
paths), torch tensors (eager, with gradients) and JAX arrays (under ``jit``
and ``grad``, the threshold's passes in a ``lax.while_loop``). Own samples
sum to m within :func:`~relaxed_dists.core.subset.subset_tolerance` and pass
the support checks, nothing is NaN, and the gradients of the sample and of
the log density w.r.t. the logits and the temperature are finite wherever
the log density is.

Then targeted tests: the known failures (temperature 1e-4 with a fractional
m, a logit at -1e4, -1e30 and 3e38), masked categories (the sample is the
sample of the remaining categories, the densities are those of the face,
normalised by quadrature, the gradients are finite), rows with too few
unmasked categories, and the solver under ``torch.jit.trace``.
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import uniforms
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from relaxed_dists.core import hard_limit as hl
from relaxed_dists.core import subset as cs

DTYPES = {"float32": np.float32, "float64": np.float64}


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _uniforms(rng, shape, dtype):
    """Uniforms in [smallest_normal, 1) of the dtype (a float64 draw rounded
    to float32 may reach 1, which the adapters never draw)."""
    u = uniforms(rng, shape, dtype)
    return np.minimum(u, np.nextafter(dtype(1), dtype(0)))


def _sample(backend, logits, tau, m, u):
    """``(z, S)`` of the core samplers on one backend, as NumPy arrays (JAX:
    under ``jit``, where the threshold's passes are a ``while_loop``)."""
    if backend == "numpy":
        return cs.rsample_logit(logits, tau, m, u), cs.rsample(logits, tau, m, u)
    if backend == "torch":
        args = [torch.as_tensor(a) for a in (logits, tau, u)]
        return _np(cs.rsample_logit(*args[:2], m, args[2])), _np(cs.rsample(*args[:2], m, args[2]))
    fn = jax.jit(lambda l, t, uu: (cs.rsample_logit(l, t, m, uu), cs.rsample(l, t, m, uu)))
    z, s = fn(jnp.asarray(logits), jnp.asarray(tau), jnp.asarray(u))
    return np.asarray(z), np.asarray(s)


def _assert_own_samples_valid(logits, tau, m, z, s):
    """The support checks pass, nothing is NaN (sample, log densities), the
    masked entries are exactly 0 (``-inf`` in logit space)."""
    assert not np.isnan(z).any() and not np.isnan(s).any()
    assert np.all(cs.on_logit_subset(z, m)), np.abs(special.expit(z.astype(np.float64)).sum(-1) - m).max()
    assert np.all(cs.on_subset(s, m)), np.abs(s.astype(np.float64).sum(-1) - m).max()
    masked = np.broadcast_to(logits == -np.inf, z.shape)
    assert np.all(z[masked] == -np.inf) and np.all(s[masked] == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's notes on +-inf, not NaN
        assert not np.isnan(cs.logit_log_prob(logits, tau, z)).any()
        assert not np.isnan(cs.log_prob(logits, tau, s)).any()


# ------------------------------------------------------------ the known failures
def _known(dtype):
    """The failures reported against the previous solver: (logits, tau, m)."""
    rng = np.random.default_rng(11)
    normal = rng.normal(size=9)
    return {
        # 337 of 1000 own samples were invalid in float64
        "tau=1e-4,k=2,m=0.5625": (np.zeros(2), 1e-4, 0.5625),
        # about 2 % invalid
        "logit -1e4,tau=0.5": (np.append(-1e4, normal), 0.5, 3.0),
        # NaN rows in float32
        "logit -1e30,tau=0.5": (np.append(-1e30, normal), 0.5, 2.5),
        # the perturbed logits overflowed: every sample invalid
        "logit 3e38,tau=0.5": (np.append(3e38, normal), 0.5, 2.5),
        "logit -1e30,tau=1e-4,m=9.5": (np.append(-1e30, normal), 1e-4, 9.5),
    }


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", list(_known(np.float64)))
def test_known_failures_give_valid_samples(case, dtype, backend):
    """(JAX: in :func:`test_jax_jit_hard_rows_valid_and_gradients_finite`.)"""
    dt = DTYPES[dtype]
    logits, tau, m = _known(dt)[case]
    logits, tau = logits.astype(dt), np.asarray(tau, dt)
    n = 1000 if backend == "numpy" else 200
    u = _uniforms(np.random.default_rng(3), (n, logits.shape[-1]), dt)
    z, s = _sample(backend, logits, tau, m, u)
    assert z.dtype == dt and s.dtype == dt
    _assert_own_samples_valid(logits, tau, m, z, s)


def test_huge_logit_is_always_chosen_and_the_rest_share_the_remainder():
    """Logits [3e38, 0, ..., 0] in float32 at temperature 0.5, m = 2.5: the
    first category is in every subset (its logit z is +inf, beyond float32),
    and the other nine, whose perturbed logits all round to -3e38 (the noise
    is below an ulp there), share the remaining 1.5 equally."""
    logits = np.append(np.float32(3e38), np.zeros(9, np.float32))
    u = _uniforms(np.random.default_rng(5), (100, 10), np.float32)
    z, s = _sample("numpy", logits, np.float32(0.5), 2.5, u)
    assert np.all(s[:, 0] == 1) and np.all(z[:, 0] == np.inf)
    assert np.all(np.isfinite(z[:, 1:]))
    np.testing.assert_allclose(s[:, 1:], 1.5 / 9, rtol=1e-6)


# ------------------------------------------------------------ the whole domain
@st.composite
def settings_of_the_domain(draw, ks=(2, 3, 5, 10, 100, 1000, 10_000)):
    dtype = draw(st.sampled_from(list(DTYPES)))
    dt = DTYPES[dtype]
    k = draw(st.sampled_from(ks))
    m = draw(st.one_of(
        st.floats(1e-3, 1 - 1e-3).map(lambda f: f * k),  # fractional
        st.integers(1, k - 1).map(float),
        st.sampled_from([1e-3, 0.5, k - 0.5, k - 1e-3]),  # near both ends
    ))
    tau = 10.0 ** draw(st.floats(-4, 3))
    largest = float(np.finfo(dt).max)
    scale = draw(st.sampled_from([0.0, 1.0, 3.0, 1e2, 1e4, largest / 16]))
    special_entry = draw(st.sampled_from([None, -1e4, -1e30, 0.9 * largest, -np.inf]))
    n_masked = draw(st.integers(1, max(1, k // 3)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=k) * scale + draw(st.sampled_from([0.0, 1e4, -1e4]))
    if special_entry == -np.inf:
        n_masked = min(n_masked, k - math.floor(m) - 1)  # m < the unmasked count
        logits[rng.permutation(k)[:n_masked]] = -np.inf
    elif special_entry is not None:
        logits[rng.integers(k)] = special_entry
    rows = 16 if k <= 100 else 4
    u = _uniforms(rng, (rows, k), dt)
    return logits.astype(dt), np.asarray(tau, dt), m, u


@settings(derandomize=True, max_examples=150, deadline=None, database=None)
@given(settings_of_the_domain())
def test_numpy_own_samples_valid_over_the_domain(case):
    logits, tau, m, u = case
    z, s = _sample("numpy", logits, tau, m, u)
    _assert_own_samples_valid(logits, tau, m, z, s)


def _torch_gradients(logits, tau, m, u, w):
    """Gradients w.r.t. the logits and the temperature of the sample ``S``
    (weighted by ``w``) plus both log densities, of the rows where these are
    finite and ``|z|`` is below a millionth of the dtype's range (``None``
    where no row is): the derivatives of ``z``, and of the density through
    ``logits - tau z``, are of size ``|z| / tau`` and ``|z|``, and add up
    beyond the range for logits near it (3e38 in float32)."""
    lt = torch.tensor(logits, requires_grad=True)
    tt = torch.tensor(tau, requires_grad=True)
    z, parts = cs.rsample_logit_parts(lt, tt, m, torch.as_tensor(u))
    s = torch.sigmoid(z)
    with torch.no_grad():
        ok = torch.isfinite(cs.logit_log_prob(lt, tt, z)) & torch.isfinite(cs.log_prob(lt, tt, s))
        big = torch.where(torch.isfinite(z), z.abs(), torch.zeros_like(z)).amax(-1)
        ok &= big < float(torch.finfo(z.dtype).max) * 1e-6
    if not bool(ok.any()):
        return None
    z, s = z[ok], s[ok]
    lp = cs.logit_log_prob(lt, tt, z) + cs.log_prob(lt, tt, s)
    noise = cs.logit_log_prob_parts(lt, tt, z, tuple(p[ok] for p in parts))
    weighted = s * torch.as_tensor(w)[ok]
    return torch.autograd.grad(weighted.sum() + lp.sum() + noise.sum(), (lt, tt))


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(settings_of_the_domain(ks=(2, 3, 10, 100, 1000)))
def test_torch_own_samples_valid_and_gradients_finite(case):
    logits, tau, m, u = case
    z, s = _sample("torch", logits, tau, m, u)
    _assert_own_samples_valid(logits, tau, m, z, s)
    w = np.random.default_rng(0).normal(size=u.shape).astype(u.dtype)
    grads = _torch_gradients(logits, tau, m, u, w)
    if grads is not None:
        for g in grads:
            assert torch.all(torch.isfinite(g))


def _hard_rows(dt, m, k=10):
    """Rows of logits and temperatures from every corner at once (one JAX
    compilation per dtype and m): the known failures (k = 2 as k = 10 with 8
    masked categories), masked categories, entries at -1e4 and -1e30, spreads
    up to 1e4, temperatures from 1e-4 to 1e3."""
    rng = np.random.default_rng(int(m * 16))
    rows, taus = [], []
    for tau in (1e-4, 1e-2, 0.5, 10.0, 1e3):
        for kind in ("k=2", "zeros", "normal", "spread", "-1e4", "-1e30", "masked"):
            l = rng.normal(size=k)
            if kind == "k=2":
                l = np.append(np.zeros(2), np.full(k - 2, -np.inf))
            elif kind == "zeros":
                l = np.zeros(k)
            elif kind == "spread":
                l = rng.uniform(-1e4, 1e4, size=k)
            elif kind in ("-1e4", "-1e30"):
                l[0] = float(kind)
            elif kind == "masked":
                l[rng.permutation(k)[: k - math.floor(m) - 1]] = -np.inf
            if np.sum(l > -np.inf) > m:
                rows.append(l)
                taus.append(tau)
    return np.array(rows, dt), np.array(taus, dt)


@pytest.mark.parametrize("dtype,m", [("float64", 0.5625), ("float32", 7.5)])
def test_jax_jit_hard_rows_valid_and_gradients_finite(dtype, m):
    """Under ``jit`` (the general path, the passes in a ``while_loop``):
    own samples of every hard row valid, and ``grad`` of the sample plus its
    log density w.r.t. the logits and the temperatures finite."""
    dt = DTYPES[dtype]
    logits, taus = _hard_rows(dt, m)
    u = jnp.asarray(_uniforms(np.random.default_rng(4), (8,) + logits.shape, dt))
    w = jnp.asarray(np.random.default_rng(5).normal(size=u.shape).astype(dt))

    def objective(l, t):
        # S and the log density of the rows whose |z| is below a millionth of
        # the dtype's range (see _torch_gradients)
        z = cs.rsample_logit(l, t, m, u)
        lp = cs.logit_log_prob(l, t, z)
        size = jax.lax.stop_gradient(jnp.max(jnp.where(jnp.isfinite(z), jnp.abs(z), 0.0), axis=-1))
        rows = size < float(np.finfo(dt).max) * 1e-6
        per_row = jnp.sum(jax.nn.sigmoid(z) * w, axis=-1) + lp
        return jnp.sum(jnp.where(rows, per_row, 0.0)), (z, lp)

    (_, (z, lp)), grads = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        jnp.asarray(logits), jnp.asarray(taus))
    z, lp = np.asarray(z), np.asarray(lp)
    assert z.dtype == dt
    _assert_own_samples_valid(logits, taus, m, z, special.expit(z))
    assert np.all(np.isfinite(lp))
    for g in grads:
        assert bool(jnp.all(jnp.isfinite(g)))


def test_tolerance_is_not_loose_and_own_errors_are_a_fraction_of_it():
    """The largest sum error of own samples over a hard grid (temperature
    1e-4 and 1e3, fractional m near both ends, k = 10 000, float32) is below
    a quarter of the tolerance, and a sample moved by the tolerance fails."""
    rng = np.random.default_rng(8)
    worst = 0.0
    for dt in (np.float32, np.float64):
        for tau in (1e-4, 1.0, 1e3):
            for m in (1e-3, 0.5625, 4999.5, 10_000 - 1e-3):
                logits = (rng.normal(size=10_000) * 3).astype(dt)
                z = cs.rsample_logit(logits, np.asarray(tau, dt), m, _uniforms(rng, (4, 10_000), dt))
                s = special.expit(z)
                err = np.abs(s.astype(np.float64).sum(-1) - m).max() / cs.subset_tolerance(s, m)
                worst = max(worst, err)
                moved = s.copy()
                moved[:, 0] = moved[:, 0] - np.sign(moved[:, 0] - 0.5) * 2 * cs.subset_tolerance(s, m)
                assert not np.any(cs.on_subset(moved, m))
    assert worst < 0.25, worst


# ------------------------------------------------------------ masked categories
MASKED = np.array([0.4, -np.inf, -0.3, 0.1])
KEPT = [0, 2, 3]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("tau,m", [(0.5, 1.3), (0.01, 2.0), (3.0, 0.7)])
def test_masked_sample_is_the_sample_of_the_other_categories(backend, tau, m, rng):
    """A logit of -inf: S_i = 0 exactly (z_i = -inf), and the others are the
    k = 3 sample of the remaining categories from the same noise."""
    u = uniforms(rng, (50, 4))
    z, s = _sample(backend, MASKED, np.asarray(tau), m, u)
    assert np.all(z[:, 1] == -np.inf) and np.all(s[:, 1] == 0)
    z3 = cs.rsample_logit(MASKED[KEPT], np.asarray(tau), m, u[:, KEPT])
    np.testing.assert_allclose(z[:, KEPT], z3, rtol=1e-12, atol=1e-12 * np.abs(z3).max())
    _assert_own_samples_valid(MASKED, np.asarray(tau), m, z, s)


@pytest.mark.parametrize("tau,m", [(1.5, 1.3), (1.0, 1.7)])
def test_masked_density_is_the_face_density_and_integrates_to_one(tau, m, rng):
    """k = 4 with one -inf logit is the k = 3 relaxation on the face S_2 = 0:
    the same density at the same points (w.r.t. Lebesgue measure on the
    first k' - 1 = 2 unmasked coordinates), normalised by quadrature; off
    the face the density is 0."""
    t = np.asarray(tau)

    def at(s3):
        return np.insert(s3, 1, 0.0, axis=-1)

    s3 = cs.rsample(MASKED[KEPT], t, m, uniforms(rng, (20, 3)))
    np.testing.assert_allclose(cs.log_prob(MASKED, t, at(s3)), cs.log_prob(MASKED[KEPT], t, s3),
                               rtol=1e-13)

    def density(s2, s0):
        return float(np.exp(cs.log_prob(MASKED, t, at(np.array([s0, s2, m - s0 - s2])))))

    total, _ = integrate.dblquad(density, 0, 1, lambda s0: max(0.0, m - 1 - s0),
                                 lambda s0: min(1.0, m - s0), epsabs=1e-9, epsrel=1e-7)
    assert abs(total - 1) < 1e-5, total
    off = at(s3)
    off[:, 1] = 1e-3  # a masked coordinate off 0
    assert np.all(cs.log_prob(MASKED, t, off) == -np.inf)


@pytest.mark.parametrize("tau", [0.5, 2.5])
def test_masked_logit_density_integrates_to_one(tau):
    """The logit twin's density on the face, w.r.t. Lebesgue measure on the
    k' - 1 = 2 unmasked differences, by a grid over them; finite masked
    entries (off the face) get -inf."""
    m, t = 1.3, np.asarray(tau)
    g = np.linspace(-60 / tau, 60 / tau, 801)
    w1, w2 = np.meshgrid(g, g, indexing="ij")
    v = np.stack([w1.ravel(), np.full(w1.size, -np.inf), w2.ravel(), np.zeros(w1.size)], axis=-1)
    z = cs.project_logit(v, m)
    assert np.all(z[:, 1] == -np.inf) and np.all(cs.on_logit_subset(z, m))
    dens = np.exp(cs.logit_log_prob(MASKED, t, z))
    assert abs(dens.sum() * (g[1] - g[0]) ** 2 - 1) < 1e-4
    np.testing.assert_allclose(cs.logit_log_prob(MASKED, t, z[:5]),
                               cs.logit_log_prob(MASKED[KEPT], t, z[:5, KEPT]), rtol=1e-13)
    z[:, 1] = -50.0
    assert np.all(cs.logit_log_prob(MASKED, t, z[:5]) == -np.inf)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_gradients_finite_and_zero_at_the_masked_logit(dtype, rng):
    """Sample, both log densities, by both routes (from the value and from the
    noise): finite gradients w.r.t. the logits and the temperature, 0 at the
    masked logit; the noise route equals the value route."""
    logits = torch.tensor(MASKED, dtype=dtype, requires_grad=True)
    tau = torch.tensor(0.7, dtype=dtype, requires_grad=True)
    u = torch.as_tensor(uniforms(rng, (8, 4)), dtype=dtype)
    z, parts = cs.rsample_logit_parts(logits, tau, 1.6, u)
    s = torch.sigmoid(z)
    lp_z, lp_s = cs.logit_log_prob(logits, tau, z), cs.log_prob(logits, tau, s)
    from_noise = cs.logit_log_prob_parts(logits, tau, z, parts)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(_np(from_noise), _np(lp_z), rtol=tol)
    s_noise = cs.log_prob_parts(logits, tau, s, parts)
    assert s_noise is not None
    np.testing.assert_allclose(_np(s_noise), _np(lp_s), rtol=tol)
    finite = torch.isfinite(z)
    w = torch.as_tensor(rng.normal(size=(8, 4)), dtype=dtype)
    total = torch.where(finite, z * w, torch.zeros_like(z)).sum() + lp_z.sum() + lp_s.sum()
    g_l, g_t = torch.autograd.grad(total, (logits, tau))
    assert torch.all(torch.isfinite(g_l)) and torch.isfinite(g_t) and g_l[1] == 0
    assert float(g_l.abs().max()) > 1e-3


def test_masked_inclusion_probs_are_those_of_the_remaining_categories():
    for m in (1.0, 2.0, 1.5):
        pi = _np(cs.inclusion_probs(MASKED, m))
        assert pi[1] == 0
        np.testing.assert_allclose(pi[KEPT], cs.inclusion_probs(MASKED[KEPT], m), rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(_np(hl.inclusion_probs(MASKED, 2)).sum(), 2, rtol=1e-10)


def test_rows_with_too_few_unmasked_categories_are_saturated_not_nan():
    """m must be below the number of unmasked categories; a row without a
    solution gets S = 1 on the unmasked ones (which the support check then
    rejects), never NaN."""
    logits = np.array([[0.0, -np.inf, -np.inf, 1.0], [0.3, 0.1, -np.inf, 0.2]])
    u = uniforms(np.random.default_rng(1), (5, 2, 4))
    for backend in ("numpy", "torch"):
        z, s = _sample(backend, logits, np.full(2, 0.5), 2.5, u)
        assert not np.isnan(z).any() and not np.isnan(s).any()
        np.testing.assert_array_equal(s[:, 0], np.broadcast_to([1.0, 0, 0, 1], (5, 4)))
        assert not np.any(cs.on_subset(s[:, 0], 2.5)) and np.all(cs.on_subset(s[:, 1], 2.5))


# ------------------------------------------------------------ graph recorders
def test_torch_jit_trace_of_the_sampler_equals_eager(rng):
    """Under ``torch.jit.trace`` the threshold is one recorded operator whose
    passes still stop early when the graph runs; the traced sampler and its
    gradients equal eager on fresh noise, hard rows included (temperature
    1e-4, a logit at -1e30, a masked category)."""
    logits = torch.tensor([0.3, -1e30, 0.1, -np.inf, 1.2], dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(1e-4, dtype=torch.float64, requires_grad=True)

    def draw(l, t, u):
        z = cs.rsample_logit(l, t, 1.5, u)
        return z, cs.logit_log_prob(l, t, z)

    u0 = torch.as_tensor(uniforms(rng, (3, 5)))
    with warnings.catch_warnings():
        # shapes are traced values (the adapters silence these notes the
        # same way); torch 2.13 deprecates torch.jit.trace itself
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"`torch.jit.trace` is deprecated",
                                category=DeprecationWarning)
        traced = torch.jit.trace(draw, (logits, tau, u0), check_trace=False)
    u = torch.as_tensor(uniforms(rng, (64, 5)))
    got, eager = traced(logits, tau, u), draw(logits, tau, u)
    for a, b in zip(got, eager):
        assert torch.equal(a, b)
    assert np.all(cs.on_logit_subset(_np(got[0]), 1.5))
    g_traced = torch.autograd.grad(got[1].sum(), (logits, tau))
    g_eager = torch.autograd.grad(eager[1].sum(), (logits, tau))
    for a, b in zip(g_traced, g_eager):
        assert torch.equal(a, b) and torch.all(torch.isfinite(a))


def test_chunked_passes_give_the_result_of_one_loop(monkeypatch, rng):
    """Eager torch on an accelerator runs the passes in chunks with a check
    between them (here forced on the CPU): the same threshold as one loop."""
    ys = torch.as_tensor(np.concatenate([rng.normal(size=(32, 50)) * 100, np.full((32, 1), -1e30)], -1))
    tau = torch.as_tensor(np.tile([1e-4, 0.01, 0.5, 10.0], 8))
    expected = cs._solve_rows(ys, tau, 7.5, True)
    monkeypatch.setattr(cs, "_passes", cs._chunked)
    for a, b in zip(cs._solve_rows(ys, tau, 7.5, True), expected):
        assert torch.equal(a, b)
