"""The categorical, binary and m-hot families over their whole domain.

Property-based (hypothesis, derandomised) through the core functions with
torch arrays (eager: the fast paths) and JAX arrays (under ``jit`` and
``grad``: the general paths): k from 2 to 10 000, temperature from 1e-4 to
1e3, logit spreads up to 1e4, masked categories (logit ``-inf``), float32
and float64. Own samples pass the support checks, ``log_prob`` is never NaN,
and the gradients of ``rsample`` and ``log_prob`` w.r.t. the logits and the
temperature are finite wherever ``log_prob`` is finite. Then targeted tests:
the known failures, masked categories (quadrature normalisation on the face,
parity with the distribution of the remaining categories), validation of
float32 samples cast to float64, huge logits, and the argument checks.

A larger sweep (the property space, more cases, counts instead of asserts) runs
as a script::

    python3 tests/test_domain.py --batches 40

(``--batches`` of 6 settings per class, dtype and backend; it reports own
samples rejected, NaN ``log_prob`` and NaN gradients per class, dtype and
backend).
"""

import argparse
import math
import time
import zlib
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import relaxed_dists.core as core
from relaxed_dists.core import binary_concrete as bc
from relaxed_dists.core import checks, hard_limit
from relaxed_dists.core import concrete as cc
from relaxed_dists.core import mhot as mh

jax.config.update("jax_enable_x64", True)

DTYPES = {"float32": np.float32, "float64": np.float64}


# ------------------------------------------------------------ the families
@dataclass
class Family:
    """One class's core functions: ``sample(l, t, u, m)``,
    ``log_prob(l, t, value, m)``, the support check on NumPy values, the
    number of noise rows per draw (``None``: the noise is ``(k,)``), whether
    the logits are binary (elementwise) and an optional score term."""

    sample: Callable
    log_prob: Callable
    support: Callable
    rows: Callable = None
    binary: bool = False
    score: Callable = None


def _parts_log_prob(log_prob_parts, log_prob):
    """The log density of a sample from its noise, as the adapters' fast route
    does: the noise formula, or the general one where it declines."""

    def fn(l, t, value, parts):
        out = log_prob_parts(l, t, value, parts)
        return log_prob(l, t, value) if out is None else out

    return fn


def families(c):
    """The families of the core package ``c`` (this tree's, or an older one
    for a before/after sweep: only functions both have are used)."""
    cc, bc, mh, ck = c.concrete, c.binary_concrete, c.mhot, c.checks
    unit = lambda x: (x >= 0) & (x <= 1)  # noqa: E731
    real = lambda x: ~np.isnan(x)  # noqa: E731
    fams = {
        "GumbelSoftmax": Family(lambda l, t, u, m: cc.rsample(l, t, u),
                                lambda l, t, v, m: cc.log_prob(l, t, v), ck.on_simplex),
        "ExpGumbelSoftmax": Family(lambda l, t, u, m: cc.rsample_log(l, t, u),
                                   lambda l, t, v, m: cc.exp_log_prob(l, t, v), ck.on_log_simplex),
        "BinaryConcrete": Family(lambda l, t, u, m: bc.rsample(l, t, u),
                                 lambda l, t, v, m: bc.log_prob(l, t, v), unit, binary=True),
        "LogitBinaryConcrete": Family(lambda l, t, u, m: bc.rsample_logit(l, t, u),
                                      lambda l, t, v, m: bc.logit_log_prob(l, t, v), real, binary=True),
        "RelaxedMHot": Family(lambda l, t, u, m: mh.rsample(l, t, u),
                              lambda l, t, v, m: mh.log_prob(l, t, v), mh.on_simplex_rows,
                              rows=lambda m: m + 1, score=lambda l, v: mh.order_log_prob(l, v)),
        "ExpRelaxedMHot": Family(lambda l, t, u, m: mh.rsample_log(l, t, u),
                                 lambda l, t, v, m: mh.exp_log_prob(l, t, v), mh.on_log_simplex_rows,
                                 rows=lambda m: m + 1, score=lambda l, v: mh.order_log_prob(l, v)),
    }
    # The adapters' fast route: log_prob of a sample from the noise it came from.
    routes = {
        "GumbelSoftmax": (cc.rsample_parts, _parts_log_prob(cc.log_prob_parts, cc.log_prob)),
        "ExpGumbelSoftmax": (cc.rsample_log_parts, cc.exp_log_prob_parts),
        "BinaryConcrete": (bc.rsample_parts, bc.log_prob_parts),
        "LogitBinaryConcrete": (bc.rsample_logit_parts, bc.logit_log_prob_parts),
    }
    for name, (sample_parts, lp_parts) in routes.items():
        base = fams[name]
        fams[name + "/noise"] = Family(
            lambda l, t, u, m, sp=sample_parts: sp(l, t, u),
            lambda l, t, vp, m, lp=lp_parts: lp(l, t, vp[0], vp[1]),
            base.support, binary=base.binary)
    return fams


def _value(out):
    """The value of a sampler's output (a ``(value, parts)`` pair on the noise route)."""
    return out[0] if isinstance(out, tuple) else out


# ------------------------------------------------------------ one batch
@dataclass
class Batch:
    """Draws of several settings that share ``k``, ``m`` and the dtype, one
    row of logits and temperature per draw (so each draw's gradient is its
    own row of the gradient)."""

    dtype: str
    k: int
    m: int
    logits: np.ndarray  # (N, k); -inf (binary: +-inf) where masked
    tau: np.ndarray  # (N,), binary (N, k)
    u: np.ndarray  # (N,) + noise shape
    huge: np.ndarray  # (N,) bool: logits near the dtype's largest floats


def setting_logits(rng, fam, dtype, k, m, spread, offset, mask_frac, huge):
    """Logits ``offset + spread * N(0, 1)``, a fraction of them masked (at
    least ``m`` left for the m-hot classes; binary: forced to +-inf),
    optionally scaled to the dtype's largest floats (``huge``)."""
    logits = offset + spread * rng.standard_normal(k)
    if huge:
        big = float(np.finfo(DTYPES[dtype]).max) * 0.9
        logits = np.clip(logits / max(np.abs(logits).max(), 1e-300), -1, 1) * big
    n_mask = int(mask_frac * k)
    if fam.binary:
        idx = rng.permutation(k)[:n_mask]
        logits[idx] = np.where(rng.random(n_mask) < 0.5, -np.inf, np.inf)
    else:
        n_mask = min(n_mask, k - m)
        logits[rng.permutation(k)[:n_mask]] = -np.inf
    return logits.astype(DTYPES[dtype])


def make_batch(rng, fam, dtype, k, m, settings):
    """``settings``: dicts of ``tau``, ``spread``, ``offset``, ``mask_frac``,
    ``huge``; each gets ``n`` draws (fewer when ``k`` is big) of uniform
    noise as the adapters draw it, in ``[smallest_normal, 1)``."""
    dt = DTYPES[dtype]
    rows = fam.rows(m) if fam.rows else None
    n = int(max(2, min(16, 20_000 // (k * (rows or 1)))))
    logits, tau, huge = [], [], []
    for st_ in settings:
        row = setting_logits(rng, fam, dtype, k, m, st_["spread"], st_["offset"], st_["mask_frac"],
                             st_["huge"])
        logits.append(np.broadcast_to(row, (n, k)))
        tau.append(np.full((n, k) if fam.binary else (n,), st_["tau"], dtype=dt))
        huge.append(np.full(n, st_["huge"]))
    N = n * len(settings)
    shape = (N, rows, k) if rows else (N, k)
    u = rng.uniform(np.finfo(dt).smallest_normal, 1.0, size=shape).astype(dt)
    u = np.minimum(u, np.nextafter(dt(1), dt(0)))  # float32 rounding up to 1
    return Batch(dtype, k, m, np.concatenate(logits), np.concatenate(tau), u, np.concatenate(huge))


def _objective(xp, fam, l, t, u, m, c):
    """The objective whose gradient must be finite: ``log_prob`` of the
    sample (where finite), a linear function of the sample, and the score
    term of the m-hot classes; plus the values for the checks."""
    out = fam.sample(l, t, u, m)
    value = _value(out)
    lp = fam.log_prob(l, t, out, m)
    total = xp.sum(xp.where(xp.isfinite(lp), lp, xp.zeros_like(lp)))
    v_fin = xp.where(xp.isfinite(value), value, xp.zeros_like(value))
    total = total + xp.sum(v_fin * c)
    if fam.score is not None:
        s = fam.score(l, value)
        total = total + xp.sum(xp.where(xp.isfinite(s), s, xp.zeros_like(s)))
    return total, (value, lp)


def _weights(batch, fam):
    shape = (batch.m, batch.k) if fam.rows else (batch.k,)
    return np.random.default_rng(batch.k).standard_normal(shape).astype(DTYPES[batch.dtype])


def run_torch(batch, fam):
    """Eager torch on the CPU: the fast paths where they apply."""
    l = torch.tensor(batch.logits, requires_grad=True)
    t = torch.tensor(batch.tau, requires_grad=True)
    c = torch.as_tensor(_weights(batch, fam))
    total, (value, lp) = _objective(torch, fam, l, t, torch.as_tensor(batch.u), batch.m, c)
    gl, gt = torch.autograd.grad(total, (l, t), allow_unused=True)
    gt = torch.zeros_like(t) if gt is None else gt
    return value.detach().numpy(), lp.detach().numpy(), gl.numpy(), gt.numpy()


_JAX_CACHE = {}


def run_jax(batch, fam, name):
    """JAX under ``jit`` and ``grad``: the general (traced) paths."""
    key = (name, batch.m)
    if key not in _JAX_CACHE:
        def f(l, t, u, c, m=batch.m):
            return _objective(jnp, fam, l, t, u, m, c)

        _JAX_CACHE[key] = jax.jit(jax.grad(f, argnums=(0, 1), has_aux=True))
    args = (batch.logits, batch.tau, batch.u, _weights(batch, fam))
    (gl, gt), (value, lp) = _JAX_CACHE[key](*map(jnp.asarray, args))
    return tuple(np.asarray(a) for a in (value, lp, gl, gt))


def assess(batch, fam, result):
    """Counts over the draws (binary: over the elements): own samples
    rejected, NaN ``log_prob``, non-finite gradients where ``log_prob`` is
    finite (not counted for huge logits, whose derivatives themselves can
    exceed the dtype's range), finite ``log_prob``; and for float32 the
    samples cast to float64 that the float64 checks reject. Keys with the
    prefix ``huge_`` count the draws with huge logits."""
    value, lp, gl, gt = result
    N = value.shape[0]
    with np.errstate(all="ignore"):
        ok = np.asarray(fam.support(value)).reshape(N, -1)
        cast = np.ones_like(ok)
        if batch.dtype == "float32":
            cast = np.asarray(fam.support(value.astype(np.float64))).reshape(N, -1)
    finite = np.isfinite(lp).reshape(N, -1)
    bad = ~np.isfinite(gl).reshape(N, -1) | ~np.isfinite(gt).reshape(N, -1)
    if not fam.binary:  # a draw is a row
        ok, cast, finite, bad = ok.all(-1), cast.all(-1), finite.all(-1), bad.any(-1)
    huge = batch.huge.reshape((N,) + (1,) * (ok.ndim - 1))
    counts = {}
    for prefix, sel in (("", ~huge), ("huge_", huge)):
        sel = np.broadcast_to(sel, ok.shape)
        counts.update({
            f"{prefix}draws": int(sel.sum()),
            f"{prefix}rejected": int((~ok & sel).sum()),
            f"{prefix}nan_lp": int((np.isnan(lp).reshape(N, -1).any(-1).reshape((N,) + (1,) * (ok.ndim - 1))
                                    & sel).sum()) if not fam.binary else int((np.isnan(lp) & sel).sum()),
            f"{prefix}nan_grad": int((bad & finite & sel).sum()),
            f"{prefix}finite": int((finite & sel).sum()),
            f"{prefix}cast_rejected": int((~cast & sel).sum()),
        })
    return counts


# ------------------------------------------------------------ properties
def _decade(lo, hi):
    """A log-uniform number in [10^lo, 10^hi]: a decade (the low ones first,
    which hypothesis tries first) and a position in it."""
    return st.tuples(st.integers(lo, hi - 1), st.floats(0, 1)).map(lambda d: 10.0 ** (d[0] + d[1]))


@st.composite
def batch_params(draw, fam, n_settings=6):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    if fam.binary:
        k, m = draw(st.integers(1, 64)), 1
    else:
        k = int(round(draw(st.sampled_from([10.0, 1.0, 100.0, 1000.0]).flatmap(
            lambda lo: st.floats(max(2.0, lo), min(10 * lo, 10_000.0))))))
        m = draw(st.integers(1, min(k, 6))) if fam.rows else 1
    settings = draw(st.lists(st.fixed_dictionaries({
        "tau": _decade(-4, 3),
        "spread": st.sampled_from([4, 2, 0, -3]).flatmap(lambda d: _decade(d - 1, d)),
        "offset": st.sampled_from([0.0, 1e4, -1e4]),
        "mask_frac": st.sampled_from([0.0, 0.25, 0.9]),
        "huge": st.sampled_from([False, False, False, True]),
    }), min_size=n_settings, max_size=n_settings))
    seed = draw(st.integers(0, 2**31 - 1))
    return dict(dtype=dtype, k=k, m=m, settings=settings, seed=seed)


FAMILIES = families(core)
#: Examples per family (each a batch of 6 settings of the temperature,
#: the logits and their masks): torch is cheap; each JAX example compiles.
EXAMPLES = {"torch": 20, "jax": 4}


def _check_batch(name, params, backend):
    fam = FAMILIES[name]
    p = dict(params)
    batch = make_batch(np.random.default_rng(p.pop("seed")), fam, **p)
    result = run_torch(batch, fam) if backend == "torch" else run_jax(batch, fam, name)
    counts = assess(batch, fam, result)
    for key in ("rejected", "nan_lp", "nan_grad", "cast_rejected", "huge_rejected", "huge_nan_lp"):
        assert counts[key] == 0, (key, counts, p)


# Under jit the GumbelSoftmax noise route declines (None) and the general
# path runs: the same computation as GumbelSoftmax with JAX.
PROPERTY_CASES = [(name, backend) for backend in ("torch", "jax") for name in FAMILIES
                  if (name, backend) != ("GumbelSoftmax/noise", "jax")]


@pytest.mark.parametrize("name,backend", PROPERTY_CASES)
def test_own_samples_valid_no_nan_finite_gradients(name, backend):
    fam = FAMILIES[name]

    @settings(derandomize=True, max_examples=EXAMPLES[backend], deadline=None, database=None)
    @given(batch_params(fam))
    def check(params):
        _check_batch(name, params, backend)

    check()


# ------------------------------------------------------------ known failures
def _torch_grads_nan(fn, *params):
    """Per-draw: NaN in the gradient of ``fn`` (a vector over draws whose
    entries depend on their own row of each parameter), where it is finite."""
    ps = [p.detach().clone().requires_grad_() for p in params]
    out = fn(*ps)
    fin = torch.isfinite(out)
    gs = torch.autograd.grad(torch.where(fin, out, 0).sum(), ps)
    bad = torch.zeros_like(fin)
    for g in gs:
        bad = bad | ~torch.isfinite(g.reshape(fin.shape[0], -1)).all(-1)
    return int((bad & fin).sum()), int(fin.sum())


def test_gumbel_softmax_float32_gradients_finite_where_log_prob_is():
    """Was: NaN gradients of rsample + log_prob on 32 of 128 draws (the
    density's derivative in a coordinate below ~1e-37 overflows float32)."""
    torch.manual_seed(0)
    n, k = 128, 100
    logits = torch.randn(n, k)
    tau = torch.full((n,), 0.1)
    u = torch.rand(n, k).clamp_min(torch.finfo(torch.float32).smallest_normal)
    c = torch.randn(k)

    def fn(l, t):
        x, parts = cc.rsample_parts(l, t, u)
        lp = cc.log_prob_parts(l, t, x, parts)
        lp = cc.log_prob(l, t, x) if lp is None else lp
        return lp + (x * c).sum(-1)

    nan, finite = _torch_grads_nan(fn, logits, tau)
    assert nan == 0 and finite > 60


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relaxed_mhot_log_prob_never_nan_and_gradients_finite(dtype):
    """Was: float32, k = 1000, m = 3, temperature 0.1: NaN log_prob on 64 of
    128 own samples (one row's limit +inf plus another's -inf); k = 100:
    NaN gradients on 77 of 128 draws with finite log_prob."""
    torch.manual_seed(4)
    for k in (1000, 100):
        n, m = 128, 3
        logits = torch.randn(n, k, dtype=dtype)
        tau = torch.full((n,), 0.1, dtype=dtype)
        u = torch.rand(n, m + 1, k, dtype=dtype).clamp_min(torch.finfo(dtype).smallest_normal)
        x = mh.rsample(logits, tau, u)
        lp = mh.log_prob(logits, tau, x)
        assert not torch.isnan(lp).any()
        c = torch.randn(k, dtype=dtype)

        def fn(l, t):
            x = mh.rsample(l, t, u)
            return mh.log_prob(l, t, x) + (x * c).sum((-2, -1)) + mh.order_log_prob(l, x)

        nan, finite = _torch_grads_nan(fn, logits, tau)
        assert nan == 0
        if dtype == torch.float64:
            assert finite == n


def test_mhot_any_row_at_minus_inf_makes_the_total_minus_inf():
    logits = np.array([0.3, -0.2, 0.1])
    # row 1 has two exact zeros at tau = 0.2 (its limit is +inf); row 2 one
    # exact zero at tau = 2 would be -inf: use per-row densities directly.
    per_row = np.array([[np.inf, -np.inf], [np.inf, 1.0], [-np.inf, 2.0]])
    got = mh._total(per_row)
    assert got[0] == -np.inf and got[1] == np.inf and got[2] == -np.inf
    value = np.array([[[1.0, 0.0, 0.0], [0.2, 0.8, 0.0]]])  # both rows with zeros
    for tau in (0.2, 0.6, 3.0):
        assert not np.isnan(mh.log_prob(logits, np.asarray(tau), value)).any()


@pytest.mark.parametrize("name", ["GumbelSoftmax", "ExpGumbelSoftmax", "RelaxedMHot", "ExpRelaxedMHot"])
def test_float32_sample_cast_to_float64_passes_and_scores_alike(name, rng):
    """Validation by meaning: a float32 sample cast to float64 passes the
    float64 support check, and its float64 log_prob is within 1e-4 of the
    float32 one, relative to max(1, |log q|), where both are finite (float32
    values within ~5e-38 of 0 are boundary values in float32 only). Logits
    N(0, 4); with logit spreads of 1e3 and more the float32 evaluation of
    the log twins' density itself (the cancellation in logits - tau v) is
    off by up to 7e-3 relative, whatever the cast."""
    fam = FAMILIES[name]
    for k in (10, 1000, 10_000):
        for tau in (0.05, 0.5, 5.0):
            m = 3 if fam.rows else 1
            shape = (8, m + 1, k) if fam.rows else (8, k)
            logits = (rng.normal(size=k) * 2).astype(np.float32)
            u = rng.uniform(np.finfo(np.float32).smallest_normal, 1, size=shape).astype(np.float32)
            u = np.minimum(u, np.nextafter(np.float32(1), np.float32(0)))
            t32 = np.asarray(tau, dtype=np.float32)
            v32 = fam.sample(torch.as_tensor(logits), torch.as_tensor(t32), torch.as_tensor(u), m)
            lp32 = fam.log_prob(torch.as_tensor(logits), torch.as_tensor(t32), v32, m).numpy()
            v64 = v32.double()
            assert np.asarray(fam.support(v32)).all() and np.asarray(fam.support(v64)).all()
            lp64 = fam.log_prob(torch.as_tensor(logits).double(), torch.tensor(tau, dtype=torch.float64),
                                v64, m).numpy()
            both = np.isfinite(lp32) & np.isfinite(lp64)
            assert both.any() or "Exp" not in name
            rel = np.abs(lp64[both] - lp32[both]) / np.maximum(1.0, np.abs(lp64[both]))
            assert (rel <= 1e-4).all(), (k, tau, rel.max())


def test_simplex_tolerance_allows_float32_rounding():
    x32 = np.full(10_000, 1e-4, dtype=np.float32)
    x32[0] += np.float32(1.5e-6)  # float32 rounding of a sum of 10 000 terms
    assert checks.on_simplex(x32.astype(np.float64))
    assert not checks.on_simplex(np.full(10_000, 1.001e-4))  # a real 0.1% error is still rejected
    assert checks.on_log_simplex(np.log(x32).astype(np.float64) - 1e-6)
    assert not checks.on_log_simplex(np.log(np.full(4, 0.25)) + 1e-3)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_huge_logits_give_valid_samples_of_the_stable_twins(backend):
    """float32 logits of 3e38: shifted by the maximum before perturbing, so
    nothing overflows; a category 3e38 below the top is masked (its
    probability is 0 in float32)."""
    conv = torch.as_tensor if backend == "torch" else jnp.asarray
    rng = np.random.default_rng(0)
    logits = np.array([3e38, 3e38, 2.9e38, 0.0, -3e38], dtype=np.float32)
    u = rng.uniform(np.finfo(np.float32).smallest_normal, 1, size=(64, 5)).astype(np.float32)
    for tau in (1e-4, 0.5, 1e3):
        t = conv(np.float32(tau))
        v = cc.rsample_log(conv(logits), t, conv(u))
        assert np.asarray(checks.on_log_simplex(v)).all()
        lp = np.asarray(cc.exp_log_prob(conv(logits), t, v))
        assert np.isfinite(lp).all()
        x = np.asarray(cc.rsample(conv(logits), t, conv(u)))
        assert np.asarray(checks.on_simplex(x)).all() and (x[:, 3:] == 0).all()
        z = np.asarray(bc.rsample_logit(conv(logits), t, conv(u)))
        assert not np.isnan(z).any()
        assert not np.isnan(np.asarray(bc.logit_log_prob(conv(logits), t, conv(z)))).any()
        V = mh.rsample_log(conv(logits), t, conv(rng.uniform(0.01, 0.99, size=(8, 3, 5)).astype(np.float32)))
        assert np.asarray(mh.on_log_simplex_rows(V)).all()
        assert not np.isnan(np.asarray(mh.exp_log_prob(conv(logits), t, V))).any()


# ------------------------------------------------------------ masked categories
def _integrate_log_ratios(log_density, half_width, nodes=400):
    """Integral over R^2 of ``exp(log_density(w))`` (``w`` of shape
    ``(..., 2)``), by tensor Gauss-Legendre on the square of this half-width
    (beyond which the density is below 1e-20), in one vectorised call."""
    g, wt = np.polynomial.legendre.leggauss(nodes)
    g, wt = g * half_width, wt * half_width
    W = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1)
    return float((wt[:, None] * wt[None, :] * np.exp(log_density(W))).sum())


def test_masked_category_density_normalises_on_the_face():
    """k = 4 with one -inf logit: the density on the face {x_2 = 0}
    integrates to 1. Over the two log-ratios of the three remaining
    categories (the base measure of the log twin); for the simplex density
    the same integral with the Jacobian x_0 x_1 x_3 of the change to
    log-ratios."""
    logits = np.array([0.5, -0.3, -np.inf, 0.1])
    for tau in (0.4, 1.0, 2.5):
        t = np.asarray(tau)

        def face(w):
            v = cc.log_ratios_to_log_simplex(w)  # the three remaining, in log space
            return np.stack([v[..., 0], v[..., 1], np.full(v.shape[:-1], -np.inf), v[..., 2]], axis=-1)

        # the log-ratios are differences of Gumbels / tau: tails below e^-45 beyond 50 / tau
        width = 50 / tau
        total = _integrate_log_ratios(lambda w: cc.exp_log_prob(logits, t, face(w)), width)
        assert abs(total - 1) < 1e-6, (tau, total)
        total = _integrate_log_ratios(
            lambda w: cc.log_prob(logits, t, np.exp(face(w))) + np.sum(cc.log_ratios_to_log_simplex(w), -1),
            width)
        assert abs(total - 1) < 1e-6, (tau, total)
        # the negative control: the density of the full k = 4 (logit 0 in place of -inf) is not
        # normalised on that face
        other = np.array([0.5, -0.3, 0.0, 0.1])
        v = face(np.zeros((1, 2)))
        assert np.isfinite(cc.exp_log_prob(logits, t, v)) and cc.exp_log_prob(other, t, v) == -np.inf
        # mass on the masked category: impossible
        assert cc.log_prob(logits, t, np.array([0.3, 0.3, 0.1, 0.3])) == -np.inf
        assert cc.exp_log_prob(logits, t, np.log(np.array([0.3, 0.3, 0.1, 0.3]))) == -np.inf


@pytest.mark.parametrize("backend", ["numpy", "torch"])  # JAX: in the property tests
def test_masked_categories_are_the_remaining_distribution(backend, rng):
    """Same noise, same numbers: with category 2 masked, the sample on the
    others equals the sample of the remaining categories, and the densities
    agree (both classes, both m-hot classes)."""
    conv = {"numpy": np.asarray, "torch": torch.as_tensor}[backend]
    k, keep = 6, np.array([0, 1, 3, 4, 5])
    logits = rng.normal(size=k)
    logits[2] = -np.inf
    tau = np.array(0.4)
    u = rng.uniform(1e-300, 1, size=(50, k))
    L, T, R = conv(logits), conv(tau), conv(logits[keep])
    for sample, dens in [(cc.rsample, cc.log_prob), (cc.rsample_log, cc.exp_log_prob)]:
        full = np.asarray(sample(L, T, conv(u)))
        part = np.asarray(sample(R, T, conv(u[:, keep])))
        assert (full[:, 2] == (0.0 if sample is cc.rsample else -np.inf)).all()
        np.testing.assert_allclose(full[:, keep], part, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(np.asarray(dens(L, T, conv(full))), np.asarray(dens(R, T, conv(part))),
                                   rtol=1e-10)
    um = rng.uniform(1e-300, 1, size=(50, 4, k))
    for sample, dens in [(mh.rsample, mh.log_prob), (mh.rsample_log, mh.exp_log_prob)]:
        full = np.asarray(sample(L, T, conv(um)))
        part = np.asarray(sample(R, T, conv(um[..., keep])))
        np.testing.assert_allclose(full[..., keep], part, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(np.asarray(dens(L, T, conv(full))), np.asarray(dens(R, T, conv(part))),
                                   rtol=1e-10)
        np.testing.assert_allclose(np.asarray(mh.order_log_prob(L, conv(full))),
                                   np.asarray(mh.order_log_prob(R, conv(part))), rtol=1e-10)


def test_hard_limit_of_masked_categories(rng):
    """Inclusion and set probabilities with a masked item are those of the
    remaining items (the masked one: 0), with finite gradients."""
    keep = np.array([0, 1, 3, 4, 5])
    logits = rng.normal(size=6)
    logits[2] = -np.inf
    incl = hard_limit.inclusion_probs(logits, 3)
    np.testing.assert_allclose(incl[keep], hard_limit.inclusion_probs(logits[keep], 3),
                               rtol=1e-10, atol=1e-14)
    assert incl[2] == 0
    A = np.array([True, False, False, True, True, False])
    np.testing.assert_allclose(hard_limit.subset_log_prob(logits, A),
                               hard_limit.subset_log_prob(logits[keep], A[keep]), rtol=1e-10)
    assert hard_limit.subset_log_prob(logits, ~A) == -np.inf  # holds the masked item
    assert hard_limit.subset_log_prob(logits, np.arange(6) != 2) == 0  # every item left
    assert mh.iid_inclusion_probs(np.array([0.3, -np.inf]), 2)[0] == 1
    lg = torch.tensor(logits, requires_grad=True)
    total = (hard_limit.inclusion_probs(lg, 3) * torch.arange(6.0)).sum() + hard_limit.subset_log_prob(
        lg, torch.as_tensor(A)) + mh.iid_inclusion_probs(lg, 2).sum()
    (grad,) = torch.autograd.grad(total, lg)
    assert torch.isfinite(grad).all() and grad[2] == 0


def test_masked_gradients_finite():
    """The masked entries carry no NaN into the gradients (double where)."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.tensor([0.2, -math.inf, 1.0, -math.inf, -0.5], dtype=dtype)
        tau = torch.tensor(0.3, dtype=dtype)
        u = 0.05 + 0.9 * torch.rand(16, 5, dtype=dtype)  # away from the boundary limits
        um = 0.05 + 0.9 * torch.rand(16, 3, 5, dtype=dtype)
        cases = [
            lambda l, t: cc.exp_log_prob(l, t, cc.rsample_log(l, t, u)) + cc.rsample_log(l, t, u)[:, 0],
            lambda l, t: cc.log_prob(l, t, cc.rsample(l, t, u)),
            lambda l, t: mh.exp_log_prob(l, t, mh.rsample_log(l, t, um)),
            lambda l, t: mh.log_prob(l, t, mh.rsample(l, t, um)) + mh.order_log_prob(l, mh.rsample(l, t, um)),
            lambda l, t: bc.logit_log_prob(l, t, bc.rsample_logit(l, t, u)),
            lambda l, t: bc.log_prob(l, t, bc.rsample(l, t, u)),
        ]
        for fn in cases:
            l, t = logits.clone().requires_grad_(), tau.clone().requires_grad_()
            out = fn(l, t)
            assert torch.isfinite(out).all()
            gl, gt = torch.autograd.grad(out.sum(), (l, t))
            assert torch.isfinite(gl).all() and torch.isfinite(gt)


def test_binary_masked_values_are_point_masses():
    logits = np.array([-np.inf, np.inf, 0.3])
    t = np.asarray(0.5)
    u = np.array([0.3, 0.7, 0.9])
    assert (bc.rsample(logits, t, u)[:2] == [0.0, 1.0]).all()
    assert (bc.rsample_logit(logits, t, u)[:2] == [-np.inf, np.inf]).all()
    assert (bc.log_prob(logits, t, np.array([0.0, 1.0, 0.5]))[:2] == 0).all()
    assert (bc.log_prob(logits, t, np.array([0.5, 0.5, 0.5]))[:2] == -np.inf).all()
    assert (bc.logit_log_prob(logits, t, np.array([-np.inf, np.inf, 0.0]))[:2] == 0).all()
    assert (bc.logit_log_prob(logits, t, np.array([0.0, -np.inf, 0.0]))[:2] == -np.inf).all()
    # a finite logit scores +-inf values as the density's limit, -inf; never NaN
    assert bc.logit_log_prob(np.asarray(0.3), t, np.asarray(np.inf)) == -np.inf


def test_argument_checks_accept_masks():
    spec = checks.SPECS
    ok = spec["category_logits"][0]
    assert ok(np.array([0.0, -np.inf, 2.0])) and not ok(np.array([-np.inf, -np.inf]))
    assert not ok(np.array([0.0, np.nan])) and not ok(np.array([0.0, np.inf]))
    ok = spec["category_probs"][0]
    assert ok(np.array([0.5, 0.0, 0.5])) and not ok(np.array([0.5, -0.1, 0.6]))
    assert not ok(np.array([0.5, 0.4, 0.0]))
    assert spec["binary_logits"][0](np.array([-np.inf, 0.0, np.inf])).all()
    assert not spec["binary_logits"][0](np.array(np.nan))
    assert spec["binary_probs"][0](np.array([0.0, 0.5, 1.0])).all()
    assert not spec["binary_probs"][0](np.array([-0.1, 1.1])).any()
    logits = np.array([0.0, -np.inf, 1.0, -np.inf])
    assert mh.SPECS["mhot_logits"][0](logits, m=2) and not mh.SPECS["mhot_logits"][0](logits, m=3)
    assert mh.SPECS["mhot_logits"][0](logits, m=3, distinct=False)
    assert mh.SPECS["mhot_probs"][0](np.array([0.5, 0.0, 0.5]), m=2)
    assert not mh.SPECS["mhot_probs"][0](np.array([0.5, 0.0, 0.5]), m=3)
    for name in ("category_logits", "category_probs", "binary_logits", "binary_probs", "temperature"):
        assert name in spec and spec[name][2]
    assert "{m}" in mh.SPECS["mhot_logits"][2]


# ------------------------------------------------------------ the sweep
def sweep(c, batches, seed=0, backends=("torch", "jax"), names=None, masks=True):
    """Counts per class, dtype and backend over ``batches`` random batches
    of 6 settings each (the property space of the tests above; a fixed
    seed, the same batches for each backend); without ``masks``, no masked
    categories and no huge logits."""
    fams = families(c)
    rows = []
    for name in names or fams:
        fam = fams[name]
        for dtype in DTYPES:
            for backend in backends:
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), len(dtype)])
                tot = {}
                for _ in range(batches):
                    if fam.binary:
                        k, m = int(rng.integers(1, 65)), 1
                    else:
                        k = int(round(10 ** rng.uniform(math.log10(2), 4)))
                        m = int(rng.integers(1, min(k, 6) + 1)) if fam.rows else 1
                    settings = [dict(tau=10 ** rng.uniform(-4, 3), spread=10 ** rng.uniform(-3, 4),
                                     offset=rng.choice([0.0, 1e4, -1e4]),
                                     mask_frac=rng.choice([0.0, 0.25, 0.9]) if masks else 0.0,
                                     huge=bool(rng.random() < 0.125) and masks) for _ in range(6)]
                    batch = make_batch(rng, fam, dtype, k, m, settings)
                    with np.errstate(all="ignore"):
                        result = run_torch(batch, fam) if backend == "torch" else run_jax(batch, fam, name)
                        for key, v in assess(batch, fam, result).items():
                            tot[key] = tot.get(key, 0) + v
                rows.append((name, dtype, backend, tot))
    return rows


def _main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="torch,jax")
    parser.add_argument("--no-masks", action="store_true", help="no masked categories, no huge logits")
    args = parser.parse_args()
    start = time.time()
    rows = sweep(core, args.batches, args.seed, tuple(args.backends.split(",")), masks=not args.no_masks)
    print("| class | dtype | backend | draws | own samples rejected | NaN log_prob | NaN gradients "
          "(log_prob finite) | finite log_prob | float32 cast to float64 rejected | huge logits: draws, "
          "rejected, NaN log_prob |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, dtype, backend, t in rows:
        print(f"| {name} | {dtype} | {backend} | {t['draws']} | {t['rejected']} | {t['nan_lp']} | "
              f"{t['nan_grad']} | {t['finite']} | {t['cast_rejected'] if dtype == 'float32' else '-'} | "
              f"{t['huge_draws']}, {t['huge_rejected']}, {t['huge_nan_lp']} |")
    print(f"({time.time() - start:.0f} s, core from {core.__file__})")


if __name__ == "__main__":
    _main()
