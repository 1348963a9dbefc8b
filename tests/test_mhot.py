"""RelaxedMHot / ExpRelaxedMHot: the loop-free sampler against a literal
rejection sampler, goodness of fit against the density with a negative
control, the density against a literal implementation of the formula, the
core on every array backend, the ``distinct`` combinations and ``mhot`` of
the adapters, ``m`` and value validation, float32 at low temperature,
unbiased gradients (Pyro ``Trace_ELBO`` with ``score_parts``, NumPyro
``MHotTrace_ELBO``) against an exact enumeration, the bias of the
pathwise-only gradient, hard-limit inclusion probabilities, and SVI. What
every class shares is in ``test_generic.py``."""

import itertools
import math

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pyro
import pyro.distributions as pd
import pytest
import torch
from backends import jit_faces
from conftest import uniforms
from scipy import stats

import relaxed_dists.numpyro as nm
import relaxed_dists.pyro as pm
from relaxed_dists.core import concrete as cc
from relaxed_dists.core import mhot as mh
from relaxed_dists.core.special import softmax

CORE_BACKENDS = {
    "numpy": np.asarray,
    "array_api_strict": array_api_strict.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _log_softmax_np(x):
    return x - np.logaddexp.reduce(x, axis=-1, keepdims=True)


# ---------------------------------------------------------------- oracle
def rejection_sample(logits, tau, m, n, rng, distinct=True):
    """The note's construction, literally: draw Concrete rows; with
    ``distinct`` discard a row whose argmax was already used and draw again."""
    k = logits.shape[-1]
    out = np.empty((n, m, k))
    used = np.zeros((n, k), dtype=bool)
    for j in range(m):
        pending = np.arange(n)
        while pending.size:
            x = cc.rsample(logits, np.asarray(tau), uniforms(rng, (pending.size, k)))
            a = np.argmax(x, axis=-1)
            ok = ~used[pending, a] if distinct else np.ones(pending.size, dtype=bool)
            out[pending[ok], j] = x[ok]
            used[pending[ok], a[ok]] = True
            pending = pending[~ok]
    return out


def fast_sample(logits, tau, m, n, rng, distinct=True):
    u = uniforms(rng, (n, mh.noise_rows(m, distinct), logits.shape[-1]))
    return mh.rsample(logits, np.asarray(tau), u, distinct)


def _two_sample_chi2(cells_a, cells_b, ncells):
    """Chi-squared test that two equal-size samples of cell indices come from
    the same distribution (cells empty in both are dropped)."""
    oa = np.bincount(cells_a, minlength=ncells).astype(float)
    ob = np.bincount(cells_b, minlength=ncells).astype(float)
    keep = (oa + ob) > 0
    stat = np.sum((oa[keep] - ob[keep]) ** 2 / (oa[keep] + ob[keep]))
    return stats.chi2.sf(stat, keep.sum() - 1)


def _oracle_cells(V, bins=(0.6, 0.85)):
    """Discretisation of a selector matrix: the row argmaxes and, per row, a
    bin of its largest entry."""
    k = V.shape[-1]
    a = np.argmax(V, axis=-1)
    b = np.digitize(V.max(-1), bins)
    cell = np.zeros(V.shape[0], dtype=int)
    for j in range(V.shape[1]):
        cell = (cell * k + a[:, j]) * (len(bins) + 1) + b[:, j]
    return cell, (k * (len(bins) + 1)) ** V.shape[1]


# Unnormalised on purpose: the sampler must normalise (M_j ~ Gumbel(0) needs it).
P4 = np.array([0.45, 0.3, 0.15, 0.1])
LOGITS4 = np.log(P4) + 1.3


def test_sampler_matches_rejection_oracle_in_distribution():
    rng = np.random.default_rng(11)
    n, m, tau = 60_000, 3, 0.6
    ref = rejection_sample(LOGITS4, tau, m, n, rng)
    got = fast_sample(LOGITS4, tau, m, n, rng)
    # First and second moments of every entry and every product of two entries.
    for f in (lambda V: V, lambda V: V**2, lambda V: V[:, :, :, None, None] * V[:, None, None]):
        a, b = f(ref).reshape(n, -1), f(got).reshape(n, -1)
        z = (a.mean(0) - b.mean(0)) / np.sqrt((a.var(0) + b.var(0)) / n + 1e-300)
        assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))
    ca, ncells = _oracle_cells(ref)
    cb, _ = _oracle_cells(got)
    p = _two_sample_chi2(ca, cb, ncells)
    assert p > 0.01, p
    # Negative control: the oracle at a wrong temperature is told apart.
    wrong = rejection_sample(LOGITS4, 0.75, m, n, rng)
    cw, _ = _oracle_cells(wrong)
    assert _two_sample_chi2(cw, cb, ncells) < 1e-3


def test_iid_rows_match_independent_concrete_rows():
    rng = np.random.default_rng(12)
    n, m, tau = 40_000, 3, 0.6
    ref = rejection_sample(LOGITS4, tau, m, n, rng, distinct=False)
    got = fast_sample(LOGITS4, tau, m, n, rng, distinct=False)
    ca, ncells = _oracle_cells(ref)
    cb, _ = _oracle_cells(got)
    assert _two_sample_chi2(ca, cb, ncells) > 0.01
    # Repeats happen with i.i.d. rows, never with distinct rows.
    assert np.mean(np.argmax(got[:, 0], -1) == np.argmax(got[:, 1], -1)) > 0.2
    d = fast_sample(LOGITS4, tau, 4, 2000, rng)
    assert np.all(np.sort(np.argmax(d, axis=-1), axis=-1) == np.arange(4))


def test_order_is_plackett_luce_at_every_temperature():
    rng = np.random.default_rng(13)
    n, m = 40_000, 2
    p = P4
    perms = list(itertools.permutations(range(4), m))
    expected = np.array([p[a] * p[b] / (1 - p[a]) for a, b in perms])
    for tau in (0.05, 5.0):
        V = fast_sample(LOGITS4, tau, m, n, rng)
        a = np.argmax(V, axis=-1)
        idx = {pp: i for i, pp in enumerate(perms)}
        counts = np.bincount([idx[tuple(r)] for r in a], minlength=len(perms))
        stat = np.sum((counts - n * expected) ** 2 / (n * expected))
        assert stats.chi2.sf(stat, len(perms) - 1) > 0.01
    # The order_log_prob of a sample is exactly log P(a).
    V = fast_sample(LOGITS4, 0.5, m, 5, rng)
    a = np.argmax(V, axis=-1)
    lp = np.log([expected[idx[tuple(r)]] for r in a])
    np.testing.assert_allclose(mh.order_log_prob(LOGITS4 + 3.0, V), lp, rtol=1e-12)


# ---------------------------------------------------------------- goodness of fit
K3 = np.log(np.array([0.5, 0.3, 0.2])) - 0.7  # unnormalised
GAPS = (1.0, 3.0)  # bins of the gap between the largest and second log-entry of a row


def _row_cell(v):
    """Per row of a log-space selector matrix: argmax * 3 + gap bin."""
    srt = np.sort(v, axis=-1)
    return np.argmax(v, axis=-1) * 3 + np.digitize(srt[..., -1] - srt[..., -2], GAPS)


def _row_nodes():
    """Quadrature nodes over one row of the log-simplex (k = 3) and their
    weights for Lebesgue measure on the log-ratios. Per (argmax a, second s)
    the coordinates (d, t) = (v_a - v_s, v_s - v_third) cover the quadrant
    d, t > 0 and are a unimodular linear map of the log-ratios (unit
    Jacobian); the gap bins are d-intervals, so every cell is a union of
    rectangles and composite Gauss-Legendre is accurate to ~1e-8."""
    edges = np.array([0, 0.5, 1, 2, 3, 5, 8, 12, 17, 24, 32, 44])
    assert set(GAPS) <= set(edges)
    x, w = np.polynomial.legendre.leggauss(10)
    lo, hi = edges[:-1, None], edges[1:, None]
    g = ((hi - lo) / 2 * x + (hi + lo) / 2).ravel()
    gw = ((hi - lo) / 2 * w).ravel()
    d, t = (a.ravel() for a in np.meshgrid(g, g, indexing="ij"))
    wt = np.outer(gw, gw).ravel()
    rows, weights, cells = [], [], []
    for a, s in itertools.permutations(range(3), 2):
        v = np.zeros((d.size, 3))
        v[:, s] = t
        v[:, a] = t + d
        rows.append(_log_softmax_np(v))
        weights.append(wt)
        cells.append(a * 3 + np.digitize(d, GAPS))
    return np.concatenate(rows), np.concatenate(weights), np.concatenate(cells)


def _expected_cell_probs(tau, distinct):
    """Cell probabilities of (row-1 cell, row-2 cell) at k = 3, m = 2, by
    integrating ``exp(exp_log_prob)`` (the library's density). Given the
    argmaxes the density is a product over rows, so the 4-d integral over a
    product cell is a product of 2-d integrals taken through the library's
    own log_prob with the other row held at a reference point, divided by the
    density at the reference pair."""
    rows, weights, cell = _row_nodes()
    argmax = cell // 3
    refs = _log_softmax_np(2.0 * np.eye(3))
    t = np.asarray(tau)

    def density(V):
        return np.exp(mh.exp_log_prob(K3, t, V, distinct))

    probs = np.zeros((9, 9))
    for a1, a2 in itertools.product(range(3), range(3)):
        if distinct and a1 == a2:
            continue
        r1, r2 = refs[a1], refs[a2]
        in1, in2 = argmax == a1, argmax == a2
        first = density(np.stack([rows[in1], np.broadcast_to(r2, rows[in1].shape)], axis=-2))
        second = density(np.stack([np.broadcast_to(r1, rows[in2].shape), rows[in2]], axis=-2))
        norm = density(np.stack([r1, r2])[None])[0]
        c1 = np.bincount(cell[in1], weights=first * weights[in1], minlength=9)
        c2 = np.bincount(cell[in2], weights=second * weights[in2], minlength=9)
        probs += np.outer(c1, c2) / norm
    return probs.ravel()


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "iid"])
def test_goodness_of_fit_k3_m2_with_negative_control(distinct):
    tau, n = 0.5, 20_000
    expected = _expected_cell_probs(tau, distinct)
    # The density integrates to 1 (this includes the 1/(1 - p_a1) factor).
    assert abs(expected.sum() - 1) < 1e-6, expected.sum()
    keep = expected > 0
    assert n * expected[keep].min() > 5

    def pvalue(sample_tau, seed):
        u = uniforms(np.random.default_rng(seed), (n, mh.noise_rows(2, distinct), 3))
        V = mh.rsample_log(K3, np.asarray(sample_tau), u, distinct)
        c = _row_cell(V)
        counts = np.bincount(c[:, 0] * 9 + c[:, 1], minlength=81)
        assert counts[~keep].sum() == 0  # never a repeated argmax when distinct
        e = n * expected[keep] / expected[keep].sum()
        stat = np.sum((counts[keep] - e) ** 2 / e)
        return stats.chi2.sf(stat, keep.sum() - 1)

    assert pvalue(tau, 1) > 0.01
    assert pvalue(0.6, 2) < 1e-3  # wrong temperature: rejected


# ---------------------------------------------------------------- the density
def _literal_log_prob(logits, tau, V, distinct):
    """The density of the docs page (a Concrete density per row, divided by
    the probability left for its argmax when distinct), row by row with loops."""
    k = V.shape[-1]
    logp = _log_softmax_np(logits)
    out = np.zeros(V.shape[:-2])
    for idx in np.ndindex(*V.shape[:-2]):
        used, total = [], 0.0
        for x in V[idx]:
            a = int(np.argmax(x))
            if distinct and a in used:
                total = -np.inf
                break
            lx = np.log(x)
            conc = (math.lgamma(k) + (k - 1) * math.log(tau) + np.sum(logp - (tau + 1) * lx)
                    - k * np.logaddexp.reduce(logp - tau * lx))
            rest = 1 - sum(np.exp(logp[u]) for u in used) if distinct else 1.0
            total += conc - math.log(rest)
            used.append(a)
        out[idx] = total
    return out


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "iid"])
def test_log_prob_is_the_formula(distinct, rng):
    logits = rng.normal(size=5)
    tau = 0.7
    u = uniforms(rng, (6, mh.noise_rows(4, distinct), 5))
    V = mh.rsample(logits, np.asarray(tau), u, distinct)
    lv = mh.rsample_log(logits, np.asarray(tau), u, distinct)
    want = _literal_log_prob(logits, tau, V, distinct)
    np.testing.assert_allclose(mh.log_prob(logits, np.asarray(tau), V, distinct), want, rtol=1e-10)
    # Exp twin: the same density up to the Jacobian sum(log x) between the measures.
    np.testing.assert_allclose(
        mh.exp_log_prob(logits, np.asarray(tau), lv, distinct) - lv.sum((-2, -1)), want, rtol=1e-10
    )
    # Invariant to a shift of the logits.
    np.testing.assert_allclose(mh.log_prob(logits + 2.5, np.asarray(tau), V, distinct), want,
                               rtol=1e-10)


def test_repeated_argmax_is_minus_inf_when_distinct(rng):
    logits = rng.normal(size=4)
    V = mh.rsample(logits, np.asarray(0.5), uniforms(rng, (3, 4, 4)))
    V[:, 2] = V[:, 0]
    assert np.all(mh.log_prob(logits, np.asarray(0.5), V) == -np.inf)
    assert np.all(mh.order_log_prob(logits, V) == -np.inf)
    assert np.all(np.isfinite(mh.log_prob(logits, np.asarray(0.5), V, distinct=False)))
    for B, mod, mk in [("pyro", pm, torch.as_tensor), ("numpyro", nm, jnp.asarray)]:
        d = mod.RelaxedMHot(mk(0.5), 3, logits=mk(logits), validate_args=True)
        assert np.all(_np(d.log_prob(mk(V))) == -np.inf), B


def test_mhot_is_the_max_over_rows(rng):
    logits = rng.normal(size=6)
    u = uniforms(rng, (50, 4, 6))
    V = mh.rsample(logits, np.asarray(0.3), u)
    S = mh.mhot(V)
    np.testing.assert_array_equal(S, V.max(axis=-2))
    np.testing.assert_allclose(np.exp(mh.log_mhot(mh.rsample_log(logits, np.asarray(0.3), u))), S,
                               rtol=1e-12)
    # m distinct winners: S has m entries above 1/2 at a low temperature, sum(S) <= m.
    Vc = mh.rsample(logits, np.asarray(0.05), u)
    assert np.all(np.sum(mh.mhot(Vc) > 0.5, axis=-1) == 3)
    assert np.all(S.sum(-1) <= 3 + 1e-12)


# ---------------------------------------------------------------- parity
CORE_CASES = {
    "rsample": lambda l, t, u, d: mh.rsample(l, t, u, d),
    "rsample_log": lambda l, t, u, d: mh.rsample_log(l, t, u, d),
    "log_prob": lambda l, t, u, d: mh.log_prob(l, t, mh.rsample(l, t, u, d), d),
    "exp_log_prob": lambda l, t, u, d: mh.exp_log_prob(l, t, mh.rsample_log(l, t, u, d), d),
    "order_log_prob": lambda l, t, u, d: mh.order_log_prob(l, mh.rsample_log(l, t, u, d), d),
    "mhot": lambda l, t, u, d: mh.mhot(mh.rsample(l, t, u, d)),
    "iid_inclusion_probs": lambda l, t, u, d: mh.iid_inclusion_probs(l, 3),
}


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "iid"])
@pytest.mark.parametrize("backend", [b for b in CORE_BACKENDS if b != "numpy"])
@pytest.mark.parametrize("case", list(CORE_CASES))
def test_same_noise_same_numbers(case, backend, distinct, rng):
    logits = rng.normal(size=(3, 5))
    temperature = np.array([0.3, 1.0, 2.5])
    u = uniforms(rng, (4, 3, mh.noise_rows(3, distinct), 5))
    fn = CORE_CASES[case]
    expected = fn(logits, temperature, u, distinct)
    conv = CORE_BACKENDS[backend]
    got = _np(fn(conv(logits), conv(temperature), conv(u), distinct))
    assert got.dtype == np.float64
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- adapters
PyroB, NumPyroB = jit_faces(pm, nm)


ADAPTERS = [pytest.param(PyroB, id="pyro"), pytest.param(NumPyroB, id="numpyro")]
CLASSES = ["RelaxedMHot", "ExpRelaxedMHot"]


# The table of test_generic.py has RelaxedMHot with distinct=True and
# ExpRelaxedMHot with distinct=False; these are the other two combinations.
@pytest.mark.parametrize("name,distinct", [("RelaxedMHot", False), ("ExpRelaxedMHot", True)],
                         ids=["RelaxedMHot-iid", "ExpRelaxedMHot-distinct"])
@pytest.mark.parametrize("B", ADAPTERS)
def test_adapter_sample_is_core_of_its_uniforms(B, name, distinct, rng):
    logits = rng.normal(size=(2, 5))
    d = getattr(B.mod, name)(B.asarray(0.4), 3, logits=B.asarray(logits), distinct=distinct)
    x = _np(B.sample(d, (7,), seed=3))
    u = _np(B.uniforms((7, 2, mh.noise_rows(3, distinct), 5), seed=3))
    core = mh.rsample if name == "RelaxedMHot" else mh.rsample_log
    np.testing.assert_allclose(x, core(logits, np.full(2, 0.4), u, distinct),
                               rtol=1e-12, atol=1e-13)
    lp = (mh.log_prob if name == "RelaxedMHot" else mh.exp_log_prob)(logits, np.full(2, 0.4), x,
                                                                    distinct)
    np.testing.assert_allclose(_np(B.log_prob(d, B.asarray(x))), lp, rtol=1e-12)
    # the mask of a batch of samples: shape sample + batch + (k,)
    mask = mh.mhot(x) if name == "RelaxedMHot" else np.exp(mh.log_mhot(x))
    np.testing.assert_allclose(_np(d.mhot(B.asarray(x))), mask, rtol=1e-12)
    assert mask.shape == (7, 2, 5)


@pytest.mark.parametrize("B", ADAPTERS)
def test_bad_m_raises_value_error_naming_m(B):
    logits = B.asarray(np.zeros(4))
    for bad in (2.0, True, "2", np.float64(2.0), torch.tensor(2), jnp.asarray(2)):
        with pytest.raises(ValueError, match=r"`m` must be a Python integer with 1 <= m <= k"):
            B.mod.RelaxedMHot(B.asarray(0.5), bad, logits=logits)
    for bad in (0, -1, 5):
        with pytest.raises(ValueError, match=rf"`m` must be .*1 <= m <= k = 4.*got m = {bad}"):
            B.mod.ExpRelaxedMHot(B.asarray(0.5), bad, logits=logits)
    with pytest.raises(ValueError, match=r"`m` must be .*m >= 1 \(with distinct=False\)"):
        B.mod.ExpRelaxedMHot(B.asarray(0.5), 0, logits=logits, distinct=False)
    # i.i.d. rows may outnumber the categories; numpy integers are integers
    d = B.mod.RelaxedMHot(B.asarray(0.5), 5, logits=logits, distinct=False)
    assert tuple(d.event_shape) == (5, 4)
    assert B.mod.RelaxedMHot(B.asarray(0.5), np.int64(4), logits=logits).m == 4
    with pytest.raises(ValueError, match="`distinct`"):
        B.mod.RelaxedMHot(B.asarray(0.5), 2, logits=logits, distinct=1)
    with pytest.raises(ValueError, match="temperature"):
        B.mod.RelaxedMHot(B.asarray(-0.5), 2, logits=logits, validate_args=True)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("B", ADAPTERS)
def test_validation_of_values(B, name, rng):
    cls = getattr(B.mod, name)
    d = cls(B.asarray(0.5), 2, logits=B.asarray(rng.normal(size=4)), validate_args=True)
    x = B.sample(d, (3,))
    assert np.all(np.isfinite(_np(d.log_prob(x))))
    with pytest.raises(ValueError):
        d.log_prob(x[..., :1, :])  # wrong event shape
    bad = _np(x).copy()
    bad[0, 1, 0] += 0.5  # a row leaves the (log-)simplex
    with pytest.raises(ValueError):
        d.log_prob(B.asarray(bad))
    assert d.support.event_dim == 2
    check = d.support.check if B is PyroB else d.support
    np.testing.assert_array_equal(_np(check(B.asarray(bad))), [False, True, True])
    # Distinct rows have no bijection from unconstrained space (biject_to says
    # so); with i.i.d. rows the registered one maps (m, k-1) arrays into the
    # support.
    biject_to = torch.distributions.biject_to if B is PyroB else numpyro.distributions.biject_to
    with pytest.raises(ValueError, match="no bijection"):
        biject_to(d.support)
    iid = cls(B.asarray(0.5), 2, logits=B.asarray(rng.normal(size=4)), distinct=False)
    t = biject_to(iid.support)
    z = B.asarray(np.random.default_rng(3).normal(size=(6, 2, 3)))
    assert np.all(_np(check(t(z)))) and tuple(t(z).shape) == (6, 2, 4)
    np.testing.assert_allclose(_np(t.inv(t(z))), _np(z), atol=1e-9)
    if B is NumPyroB:  # a feasible point has distinct row argmaxes
        f = d.support.feasible_like(jnp.zeros((2, 4)))
        assert bool(check(f)) and np.isfinite(d.log_prob(f))


@pytest.mark.parametrize("B", ADAPTERS)
def test_float32_low_temperature_exp_log_prob_finite(B):
    logits = B.asarray(np.random.default_rng(5).normal(size=1000).astype(np.float32))
    d = B.mod.ExpRelaxedMHot(B.asarray(np.float32(0.01)), 50, logits=logits, validate_args=True)
    v = B.sample(d, (40,), seed=7)
    assert v.dtype == (torch.float32 if B is PyroB else jnp.float32)
    lp = _np(d.log_prob(v))  # validation passes on own samples
    assert lp.shape == (40,) and np.all(np.isfinite(lp))
    assert np.all(np.isfinite(_np(d.order_log_prob(v))))
    # distinct argmaxes, and a nearly hard mask: S sums to about m
    a = np.sort(np.argmax(_np(v), axis=-1), axis=-1)
    assert np.all(np.diff(a, axis=-1) > 0)
    assert np.all(np.abs(_np(d.mhot(v)).sum(-1) - 50) < 5)


# ---------------------------------------------------------------- gradients
GK, GM, GTAU = 4, 2, 0.5
G_THETA = np.log(np.array([0.4, 0.3, 0.2, 0.1])) + 0.4  # unnormalised
G_W = np.array([1.0, -2.0, 3.0, 0.5])


def _f(S, w):
    """A fixed non-linear function of the m-hot mask: sum_i w_i S_i^2."""
    return (w * S**2).sum(-1)


@pytest.fixture(scope="module")
def reference_gradient():
    """d/dtheta E[f(V)] by exact enumeration of the ordered argmaxes:
    E[f] = sum_a P_theta(a) E[f(V) | a], each conditional expectation by
    Monte Carlo with common random numbers (continuous in theta given a, so
    central differences are valid there). Returns the estimate and its
    Monte Carlo standard error."""
    rng = np.random.default_rng(2024)
    n, h = 40_000, 1e-5
    u = uniforms(rng, (n, GM, GK))

    def per_sample(theta):
        lp = _log_softmax_np(theta)
        out = np.zeros(n)
        for a in itertools.permutations(range(GK), GM):
            prob = np.exp(lp[a[0]] + lp[a[1]]) / (1 - np.exp(lp[a[0]]))
            order = np.broadcast_to(np.array(a), (n, GM))
            V = softmax(mh.conditional_perturbed(theta, order, u) / GTAU, axis=-1)
            out += prob * _f(V.max(-2), G_W)
        return out

    g = np.empty((GK, n))
    for i in range(GK):
        e = np.zeros(GK)
        e[i] = h
        g[i] = (per_sample(G_THETA + e) - per_sample(G_THETA - e)) / (2 * h)
    return g.mean(1), g.std(1) / np.sqrt(n)


def _report(label, est, se, ref, ref_se):
    print(f"\n{label}: estimate {np.round(est, 4)}  reference {np.round(ref, 4)}  "
          f"MC s.e. {np.round(se, 4)} (reference s.e. {np.round(ref_se, 4)})")


def _agree(est, se, ref, ref_se):
    z = (est - ref) / np.sqrt(se**2 + ref_se**2)
    return np.max(np.abs(z)), z


class _PathOnly(pm.RelaxedMHot):
    """The pathwise-only estimator: the default ``score_parts`` of a
    reparameterised distribution."""

    def score_parts(self, value):
        return pd.TorchDistribution.score_parts(self, value)


def _pyro_grad(cls, n_batches=50, per_batch=2000):
    tau = torch.tensor(GTAU, dtype=torch.float64)

    def model(theta):
        # prior = the guide at theta0 (constant): the ELBO's gradient at
        # theta0 is then exactly d/dtheta E[f(V)] (the KL term is stationary).
        V = pyro.sample("V", cls(tau, GM, logits=torch.as_tensor(G_THETA)))
        pyro.factor("f", _f(V.max(-2).values, torch.as_tensor(G_W)))

    def guide(theta):
        pyro.sample("V", cls(tau, GM, logits=theta))

    torch.manual_seed(0)
    elbo = pyro.infer.Trace_ELBO(num_particles=per_batch, vectorize_particles=True,
                                 max_plate_nesting=0)
    gs = []
    for _ in range(n_batches):
        theta = torch.tensor(G_THETA, requires_grad=True)
        loss = elbo.differentiable_loss(model, guide, theta)
        gs.append(-torch.autograd.grad(loss, theta)[0].numpy())
    gs = np.array(gs)
    return gs.mean(0), gs.std(0, ddof=1) / np.sqrt(n_batches)


def test_pyro_trace_elbo_gradient_is_unbiased(reference_gradient):
    ref, ref_se = reference_gradient
    est, se = _pyro_grad(pm.RelaxedMHot)
    _report("pyro Trace_ELBO + score_parts", est, se, ref, ref_se)
    zmax, _ = _agree(est, se, ref, ref_se)
    assert zmax < 4.0, zmax
    path, path_se = _pyro_grad(_PathOnly)
    _report("pyro pathwise only", path, path_se, ref, ref_se)
    zmax, _ = _agree(path, path_se, ref, ref_se)
    assert zmax > 20, zmax  # biased: the discrete choice of the winners is ignored


def _numpyro_grads(elbo, plate=1, n=40_000):
    def model():
        with numpyro.plate("p", plate):
            V = numpyro.sample("V", nm.RelaxedMHot(GTAU, GM, logits=jnp.asarray(G_THETA)))
            numpyro.factor("f", _f(V.max(-2), jnp.asarray(G_W)))

    def guide():
        theta = numpyro.param("theta", jnp.broadcast_to(jnp.asarray(G_THETA), (plate, GK)))
        with numpyro.plate("p", plate):
            numpyro.sample("V", nm.RelaxedMHot(GTAU, GM, logits=theta))

    theta0 = jnp.broadcast_to(jnp.asarray(G_THETA), (plate, GK))
    grad = jax.grad(lambda th, key: -elbo.loss(key, {"theta": th}, model, guide))
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    gs = jax.jit(jax.vmap(grad, in_axes=(None, 0)))(theta0, keys)
    gs = np.asarray(gs)  # (n, plate, k)
    return gs.mean(0), gs.std(0) / np.sqrt(n)


def test_numpyro_mhot_trace_elbo_gradient_is_unbiased(reference_gradient):
    ref, ref_se = reference_gradient
    est, se = _numpyro_grads(nm.MHotTrace_ELBO())
    _report("numpyro MHotTrace_ELBO", est[0], se[0], ref, ref_se)
    assert _agree(est[0], se[0], ref, ref_se)[0] < 4.0
    # In a plate each element is scored against its own terms only.
    est3, se3 = _numpyro_grads(nm.MHotTrace_ELBO(), plate=3, n=15_000)
    for i in range(3):
        assert _agree(est3[i], se3[i], ref, ref_se)[0] < 4.0
    # NumPyro's own Trace_ELBO is pathwise only: biased here.
    path, path_se = _numpyro_grads(numpyro.infer.Trace_ELBO())
    _report("numpyro Trace_ELBO (pathwise only)", path[0], path_se[0], ref, ref_se)
    assert _agree(path[0], path_se[0], ref, ref_se)[0] > 20


def test_numpyro_mhot_trace_elbo_loss_equals_trace_elbo():
    def model():
        V = numpyro.sample("V", nm.ExpRelaxedMHot(0.5, 2, logits=jnp.zeros(4)))
        numpyro.sample("y", nd.Normal(jnp.exp(V).max(-2).sum(), 1.0), obs=1.3)

    def guide():
        numpyro.sample("V", nm.ExpRelaxedMHot(0.5, 2, logits=numpyro.param("t", jnp.arange(4.0))))

    params = {"t": jnp.arange(4.0) / 3}
    for n in (1, 4):
        key = jax.random.PRNGKey(n)

        @jax.jit
        def both(p):
            mine = jax.value_and_grad(lambda q: nm.MHotTrace_ELBO(n).loss(key, q, model, guide))
            theirs = jax.value_and_grad(
                lambda q: numpyro.infer.Trace_ELBO(n).loss(key, q, model, guide))
            return mine(p), theirs(p)

        (a, ga), (b, gb) = both(params)
        np.testing.assert_allclose(a, b, rtol=1e-12)
        assert not np.allclose(ga["t"], gb["t"])  # the score term is there


def test_pyro_score_parts(rng):
    logits = torch.tensor(rng.normal(size=(2, 4)), requires_grad=True)
    d = pm.ExpRelaxedMHot(torch.tensor(0.5, dtype=torch.float64), 3, logits=logits)
    v = d.rsample((5,))
    sp = d.score_parts(v)
    assert torch.equal(sp.log_prob, d.log_prob(v)) and torch.equal(sp.entropy_term, sp.log_prob)
    np.testing.assert_allclose(_np(sp.score_function), mh.order_log_prob(_np(logits), _np(v)),
                               rtol=1e-12)
    assert sp.score_function.requires_grad
    iid = pm.RelaxedMHot(torch.tensor(0.5, dtype=torch.float64), 3, logits=logits, distinct=False)
    assert iid.score_parts(iid.rsample()).score_function == 0  # fully reparameterised


# ---------------------------------------------------------------- hard limit
@pytest.mark.parametrize("B", ADAPTERS)
def test_inclusion_probs_match_sampled_subsets(B):
    """The set of row argmaxes is the tau -> 0 subset at every temperature;
    at tau = 0.01 the relaxed mask itself is close to its indicator."""
    p = np.array([0.5, 0.3, 0.15, 0.05])
    n = 40_000
    for distinct in (True, False):
        d = B.mod.RelaxedMHot(B.asarray(0.01), 2, probs=B.asarray(p), distinct=distinct)
        pi = _np(d.inclusion_probs)
        assert pi.shape == (4,)
        V = _np(B.sample(d, (n,), seed=4))
        chosen = np.any(np.argmax(V, axis=-1)[..., None] == np.arange(4), axis=-2)
        freq = np.mean(chosen, axis=0)
        se = np.sqrt(pi * (1 - pi) / n)
        assert np.all(np.abs(freq - pi) < 4.5 * se), (distinct, freq, pi)
        assert np.mean(np.abs(_np(d.mhot(B.asarray(V))) - chosen)) < 0.01
        if distinct:
            np.testing.assert_allclose(pi.sum(), 2.0, rtol=1e-6)
            assert np.all(chosen.sum(-1) == 2)
        else:
            np.testing.assert_allclose(pi, 1 - (1 - p) ** 2, rtol=1e-12)
    # batched logits: one row of inclusion probabilities per batch element
    d = B.mod.ExpRelaxedMHot(B.asarray(0.5), 3, logits=B.asarray(np.log(np.stack([p, p[::-1]]))))
    pi = _np(d.inclusion_probs)
    assert pi.shape == (2, 4)
    np.testing.assert_allclose(pi[1], pi[0][::-1], rtol=1e-10)
    np.testing.assert_allclose(pi.sum(-1), 3.0, rtol=1e-6)


# ---------------------------------------------------------------- SVI
SVI_K, SVI_M, SVI_N, PLANTED = 8, 2, 200, [1, 5]


def _svi_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(SVI_N, SVI_K))
    y = X[:, PLANTED].sum(1) + 0.3 * rng.normal(size=SVI_N)
    return X, y


def test_pyro_svi_recovers_planted_features():
    X, y = map(torch.as_tensor, _svi_data())
    tau = torch.tensor(0.3, dtype=torch.float64)

    def model(X, y):
        V = pyro.sample("V", pm.RelaxedMHot(tau, SVI_M, logits=torch.zeros(SVI_K, dtype=X.dtype)))
        S = V.max(-2).values
        with pyro.plate("data", SVI_N, dim=-1):
            pyro.sample("y", pd.Normal((X * S.unsqueeze(-2)).sum(-1), 0.5), obs=y)

    def guide(X, y):
        logits = pyro.param("logits", torch.zeros(SVI_K, dtype=X.dtype))
        pyro.sample("V", pm.RelaxedMHot(tau, SVI_M, logits=logits))

    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.2}),
                         pyro.infer.Trace_ELBO(num_particles=8, vectorize_particles=True,
                                               max_plate_nesting=1))
    for _ in range(300):
        svi.step(X, y)
    logits = pyro.param("logits").detach()
    assert sorted(np.argsort(-logits.numpy())[:SVI_M]) == PLANTED
    pi = pm.RelaxedMHot(tau, SVI_M, logits=logits).inclusion_probs.numpy()
    assert np.all(pi[PLANTED] > 0.9), pi


def test_numpyro_svi_recovers_planted_features():
    X, y = map(jnp.asarray, _svi_data())
    tau = 0.3

    def model(X, y):
        V = numpyro.sample("V", nm.RelaxedMHot(tau, SVI_M, logits=jnp.zeros(SVI_K)))
        S = V.max(-2)
        with numpyro.plate("data", SVI_N, dim=-1):
            numpyro.sample("y", nd.Normal(X @ S, 0.5), obs=y)

    def guide(X, y):
        logits = numpyro.param("logits", jnp.zeros(SVI_K))
        numpyro.sample("V", nm.RelaxedMHot(tau, SVI_M, logits=logits))

    svi = numpyro.infer.SVI(model, guide, numpyro.optim.Adam(0.2),
                            nm.MHotTrace_ELBO(num_particles=8))
    result = svi.run(jax.random.PRNGKey(0), 300, X, y, progress_bar=False)
    logits = np.asarray(result.params["logits"])
    assert sorted(np.argsort(-logits)[:SVI_M]) == PLANTED
    pi = np.asarray(nm.RelaxedMHot(tau, SVI_M, logits=jnp.asarray(logits)).inclusion_probs)
    assert np.all(pi[PLANTED] > 0.9), pi


@pytest.mark.parametrize("backend", ["numpy", "torch"])  # JAX runs the same code (test_domain)
def test_remaining_mass_two_ways_agree(monkeypatch, backend):
    """The mass left before each row, from the unchosen categories plus the
    later argmaxes (O(k + m^2), large matrices) and by masked sums over
    (m, k) (small ones): the same numbers to 1e-15 relative, with and without
    masked categories, repeated argmaxes and logits spread over 3000; never
    NaN, and finite gradients in torch where the masked sums' are."""
    monkeypatch.setattr(mh, "_MASKED_SUMS", 0)  # the O(k + m^2) path below
    rng = np.random.default_rng(7)
    conv = {"numpy": np.asarray, "torch": torch.as_tensor}[backend]
    worst = 0.0
    for trial in range(120):
        k = int(rng.integers(2, 12))
        m = int(rng.integers(1, k + 1))
        logits = rng.normal(size=(3, k)) * rng.choice([1.0, 30.0, 3000.0])
        if trial % 3 == 0 and k > m:
            logits[:, :int(rng.integers(0, k - m + 1))] = -np.inf
        value = rng.dirichlet(np.ones(k), size=(2, 3, m))
        if trial % 4 == 0 and m > 1:
            value[..., 1, :] = value[..., 0, :]  # a repeated argmax
        L, V = conv(logits), conv(value)
        fast, masked = mh._log_remaining(L, V), mh._log_remaining_masked(L, V)
        np.testing.assert_array_equal(np.asarray(fast[1]), np.asarray(masked[1]))
        lead_fast, lead_masked = mh._log_remaining(L, V, True)[3], mh._log_remaining_masked(L, V, True)[3]
        clean = ~np.asarray(masked[1]).any(-1, keepdims=True)  # matrices without a repeat
        for a, b in ((fast[0], masked[0]), (lead_fast, lead_masked)):
            a, b = np.asarray(a), np.asarray(b)
            assert not np.isnan(a).any()
            a, b = a[np.broadcast_to(clean, a.shape)], b[np.broadcast_to(clean, b.shape)]
            np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
            fin = np.isfinite(b)
            if fin.any():
                worst = max(worst, float(np.max(np.abs(a[fin] - b[fin]) / (1 + np.abs(b[fin])))))
        if backend == "torch":
            lg = torch.tensor(logits, requires_grad=True)
            for lead in (False, True):
                out = mh._log_remaining(lg, V, lead)[3 if lead else 0]
                g, = torch.autograd.grad(torch.where(torch.isfinite(out), out, 0.0).sum(), lg)
                assert torch.isfinite(g).all(), trial
    assert worst < 1e-14, worst
    # a wrong remaining mass (the earlier rows' argmaxes not removed) differs
    L = conv(np.array([[0.3, -0.2, 1.0]]))
    V = conv(np.array([[[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]]))
    p = np.exp([0.3, -0.2, 1.0]) / np.exp([0.3, -0.2, 1.0]).sum()
    np.testing.assert_allclose(np.asarray(mh._log_remaining(L, V)[0])[0], [0.0, np.log1p(-p[2])], rtol=1e-14)
