"""The hard ``Subset`` (m categories drawn without replacement, as a k-hot
mask) in both backends.

* Exact probabilities: ``log_prob`` against brute-force Plackett-Luce sums
  over all m! orders of every set (k <= 7, every m, wide and masked logits),
  the set probabilities sum to 1, ``mean`` is the enumerated inclusion
  probability vector.
* Sampling: a chi-squared goodness of fit of 20 000 draws against the exact
  set probabilities, with negative controls (perturbed probabilities, and
  pairs drawn with replacement and conditioned to be distinct).
* Masked categories, the domain (hypothesis: k up to 300, spreads up to 1e4,
  float32 values up to +-3e38), gradients (central differences, cross-backend
  parity from shared uniforms), host conventions (expand, infer_shapes,
  pickling, pytrees, ``jax.jit``, ``vmap_over``, ``torch.jit.trace``, plates,
  ``enumerate_support`` and its cap), enumeration in inference
  (``TraceEnum_ELBO``), unbiased and lower-variance ``RLOOTrace_ELBO``
  gradients against the exact gradient by enumeration, and argument errors.

JAX compiles once per shape, so the NumPyro checks share a few shapes (k = 5,
m = 2, values of shape (10, 5): the ten sets) through module-level jitted
helpers.
"""

import itertools
import math
import pickle
import warnings

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pyro
import pyro.distributions as pd
import pyro.poutine as poutine
import pytest
import torch
from conftest import central_differences, uniforms
from hypothesis import given, settings
from hypothesis import strategies as st
from numpyro.distributions.batch_util import vmap_over
from scipy import special, stats

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp
from relaxed_dists.core import hard_limit as hl
from relaxed_dists.families.discrete import ENUMERATION_CAP

K, M = 5, 2
LOGITS = np.log([0.4, 0.25, 0.15, 0.12, 0.08])
DRAWS = 20_000


# ------------------------------------------------------------------ helpers
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _logsumexp_rows(x):
    """``log sum exp`` over the last axis; every row has a finite entry."""
    top = np.max(x, axis=-1, keepdims=True)
    return top[..., 0] + np.log(np.sum(np.exp(x - top), axis=-1))


def _combos(k, m):
    return list(itertools.combinations(range(k), m))


def plackett_luce(logits, m):
    """Brute force: the log-probability of every m-set (in the order of
    ``itertools.combinations``) as the log of the sum, over its m! orders, of
    the probability of drawing it in that order one item at a time, each
    with probability proportional to ``exp(logits)`` among those left."""
    logits = np.asarray(logits, dtype=np.float64)
    k = len(logits)
    lp = logits - _logsumexp_rows(logits)
    orders = np.array(list(itertools.permutations(range(k), m))).reshape(-1, m)
    taken = np.zeros((len(orders), m, k), dtype=bool)  # items drawn before step j
    for j in range(1, m):
        taken[:, j] = taken[:, j - 1]
        taken[np.arange(len(orders)), j, orders[:, j - 1]] = True
    left = _logsumexp_rows(np.where(taken, -np.inf, lp))  # (orders, m), finite
    terms = np.sum(lp[orders] - left, axis=-1)
    index = {c: i for i, c in enumerate(_combos(k, m))}
    out = np.full(len(index), -np.inf)
    np.logaddexp.at(out, [index[tuple(sorted(o))] for o in orders], terms)
    return out


def _masks(k, m):
    out = np.zeros((math.comb(k, m), k))
    for i, c in enumerate(_combos(k, m)):
        out[i, list(c)] = 1.0
    return out


def _set_index(values):
    """Row i of ``values`` (m-hot) -> its position in ``_combos(k, m)``."""
    values = np.asarray(values)
    k, m = values.shape[-1], int(round(values[0].sum()))
    index = {c: i for i, c in enumerate(_combos(k, m))}
    return np.array([index[tuple(np.flatnonzero(v))] for v in values])


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _t(x, dtype=torch.float64):
    return torch.tensor(np.array(x), dtype=dtype)  # a copy: JAX and broadcast arrays are read-only


def _nsubset(logits, m=M):
    """A NumPyro ``Subset`` (float64, validating): one pytree structure, so
    that the jitted helpers below compile once per shape."""
    return rn.Subset(m, logits=jnp.asarray(logits, jnp.float64), validate_args=True)


def _pyro_sample(d, n, seed):
    torch.manual_seed(seed)
    return d.sample((n,))


def _numpyro_sample(d, n, seed):
    return d.sample(jax.random.PRNGKey(seed), (n,))


def _assert_m_hot(x, m):
    x = _np(x)
    assert np.all((x == 0) | (x == 1)), x
    np.testing.assert_array_equal(x.sum(-1), m)


def _torch_lp_and_grads(logits, value, weights, m):
    """``log_prob`` of ``value``, the gradient of ``sum(weights * log_prob)``
    over its finite entries, and the gradient of ``logsumexp(log_prob)``,
    w.r.t. the logits (Pyro)."""
    lg = _t(logits).requires_grad_()
    lp = rp.Subset(m, logits=lg).log_prob(_t(value))
    finite = torch.isfinite(lp).detach()
    weighted = torch.where(finite, _t(weights) * lp, torch.zeros_like(lp)).sum()
    (g_w,) = torch.autograd.grad(weighted, lg, retain_graph=True)
    (g_lse,) = torch.autograd.grad(torch.logsumexp(lp, -1), lg)
    return _np(lp), _np(g_w), _np(g_lse)


def _jax_lp_and_grads_impl(logits, value, weights, m):
    def weighted(lg):
        lp = rn.Subset(m, logits=lg).log_prob(value)
        return jnp.sum(jnp.where(jnp.isfinite(lp), weights * lp, 0.0)), lp

    def lse(lg):
        return jax.scipy.special.logsumexp(rn.Subset(m, logits=lg).log_prob(value))

    (_, lp), g_w = jax.value_and_grad(weighted, has_aux=True)(logits)
    return lp, g_w, jax.grad(lse)(logits)


#: The NumPyro counterpart of ``_torch_lp_and_grads``, jitted once for all
#: the tests that use the shapes (k = 5, m = 2, values (10, 5)).
_jax_lp_and_grads_jit = jax.jit(_jax_lp_and_grads_impl, static_argnums=3)


def _jax_lp_and_grads(logits, value, weights, m):
    logits = jnp.asarray(logits)  # its dtype: float64 unless float32 is asked for
    value, weights = jnp.asarray(value, logits.dtype), jnp.asarray(weights, logits.dtype)
    out = _jax_lp_and_grads_jit(logits, value, weights, m)
    return tuple(np.asarray(o) for o in out)


#: ``log_prob`` of a distribution (a pytree) at a value, jitted: also the
#: test of ``jax.jit`` of ``log_prob``.
_jax_log_prob = jax.jit(lambda d, x: d.log_prob(x))

LP_AND_GRADS = {"pyro": _torch_lp_and_grads, "numpyro": _jax_lp_and_grads}


# ============================================== 1. exact probabilities
def _cases(k, rng):
    """Logit vectors for k categories: moderate, wide (spread 10) and masked
    (-inf at min(2, k - m) entries is done per m by the caller)."""
    moderate = rng.normal(size=k) * 1.5
    wide = rng.uniform(-5, 5, size=k)
    wide[rng.permutation(k)[:2]] = [-5.0, 5.0]  # spread exactly 10
    return {"moderate": moderate, "wide": wide}


def _with_masked(logits, m, rng):
    out = logits.copy()
    out[rng.permutation(len(out))[: min(2, len(out) - m)]] = -np.inf
    return out


def _check_exact(logits, m, log_probs, values, mean):
    """``log_probs`` of the m-hot ``values`` and ``mean`` against brute force."""
    k = len(logits)
    expected = plackett_luce(logits, m)[_set_index(values)]
    assert not np.any(np.isnan(log_probs))
    np.testing.assert_array_equal(np.isneginf(log_probs), np.isneginf(expected))
    live = np.isfinite(expected)
    # log scale: relative accuracy of the probability, even for tiny sets
    np.testing.assert_allclose(log_probs[live], expected[live], rtol=0, atol=1e-10)
    assert abs(np.exp(log_probs).sum() - 1.0) < 1e-12
    inclusion = np.exp(expected) @ values
    np.testing.assert_allclose(mean, inclusion, rtol=0, atol=1e-12)
    assert abs(mean.sum() - m) < 1e-12
    assert mean.shape == (k,)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 7])
def test_pyro_log_prob_and_mean_match_plackett_luce(k, rng):
    for logits in _cases(k, rng).values():
        for m in range(1, k):
            for lg in (logits, _with_masked(logits, m, rng)):
                d = rp.Subset(m, logits=_t(lg), validate_args=True)
                values = d.enumerate_support()
                assert values.shape == (math.comb(k, m), k)
                lp = _np(d.log_prob(values))
                _check_exact(lg, m, lp, _np(values), _np(d.mean))
                # the probs parameterisation (zeros mask) gives the same numbers
                dp = rp.Subset(m, probs=_t(special.softmax(lg)), validate_args=True)
                np.testing.assert_allclose(_np(dp.log_prob(values)), lp, rtol=0, atol=1e-12)


def test_numpyro_log_prob_and_mean_match_plackett_luce(rng):
    """k = 5, m = 2 (the shape the NumPyro checks share); the Pyro test above
    covers every (k, m) on the same family body."""
    mean = jax.jit(lambda d: d.mean)
    for logits in _cases(K, rng).values():
        for lg in (logits, _with_masked(logits, M, rng)):
            d = _nsubset(lg)
            values = d.enumerate_support()
            assert values.shape == (10, K)
            _check_exact(lg, M, np.asarray(_jax_log_prob(d, values)), np.asarray(values),
                         np.asarray(mean(d)))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_no_set_has_probability_above_one(backend):
    """P({0, 1}) = 1 - O(e^-80) here: its log-probability is within rounding
    of 0 but never above it (a probability is at most 1)."""
    lg = np.array([40.0, 40.0, -40.0, -40.0, -40.0])
    values = _masks(K, M)
    if backend == "pyro":
        lp = _np(rp.Subset(M, logits=_t(lg)).log_prob(_t(values)))
    else:
        lp = np.asarray(_jax_log_prob(_nsubset(lg), values))
    np.testing.assert_allclose(lp, plackett_luce(lg, M), rtol=0, atol=1e-10)
    assert np.all(lp <= 0), lp.max()


# ===================================================== 2. sampling
def _chi2_p(counts, probs):
    expected = counts.sum() * probs
    return stats.chi2.sf(np.sum((counts - expected) ** 2 / expected), len(probs) - 1)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_sample_frequencies_match_the_set_probabilities(backend):
    if backend == "pyro":
        x = _pyro_sample(rp.Subset(M, logits=_t(LOGITS)), DRAWS, seed=0)
    else:
        x = _numpyro_sample(_nsubset(LOGITS), DRAWS, seed=0)
    assert x.shape == (DRAWS, K) and _np(x).dtype == np.float64
    _assert_m_hot(x, M)
    counts = np.bincount(_set_index(_np(x)), minlength=10).astype(np.float64)
    exact = np.exp(plackett_luce(LOGITS, M))
    assert _chi2_p(counts, exact) > 1e-3
    # negative controls: probabilities perturbed by 10%, and pairs drawn
    # with replacement and conditioned to be distinct (P ~ p_i p_j)
    perturbed = np.exp(LOGITS) * (1 + 0.1 * np.array([1, -1, 1, -1, 1]))
    assert _chi2_p(counts, np.exp(plackett_luce(np.log(perturbed), M))) < 1e-6
    p = np.exp(LOGITS)
    pairs = np.array([p[i] * p[j] for i, j in _combos(K, M)])
    assert _chi2_p(counts, pairs / pairs.sum()) < 1e-6


# ============================================== 3. masked categories
MASKED = np.array([0.3, -np.inf, 1.2, -np.inf, 0.0])  # three live categories
ONLY_TWO = np.array([-np.inf, 0.7, -np.inf, -np.inf, -1.0])  # two live: {1, 4} is certain


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("param", ["logits", "probs"])
def test_masked_categories_are_never_chosen_and_score_minus_inf(backend, param):
    mod = rp if backend == "pyro" else rn
    arr = _t if backend == "pyro" else jnp.asarray
    draw = _pyro_sample if backend == "pyro" else _numpyro_sample
    for lg in (MASKED, ONLY_TWO):
        given = lg if param == "logits" else special.softmax(lg)
        assert param == "logits" or np.sum(given == 0) == np.sum(np.isinf(lg))
        d = mod.Subset(M, validate_args=True, **{param: arr(given)})
        x = _np(draw(d, DRAWS, seed=1))
        _assert_m_hot(x, M)
        assert not np.any(x[:, np.isinf(lg)])
        values = d.enumerate_support()
        lp = _np(d.log_prob(values)) if backend == "pyro" else np.asarray(_jax_log_prob(d, values))
        assert not np.any(np.isnan(lp))
        holds_masked = np.asarray(values)[:, np.isinf(lg)].any(-1)
        assert np.all(lp[holds_masked] == -np.inf)
        assert np.all(np.isfinite(lp[~holds_masked]))
        assert abs(np.exp(lp).sum() - 1) < 1e-12
        if lg is ONLY_TWO:  # the set of all live categories is certain
            np.testing.assert_array_equal(x, np.broadcast_to([0, 1, 0, 0, 1], x.shape))
            assert lp[_set_index([[0, 1, 0, 0, 1]])[0]] == 0.0
        else:  # the sets of live categories are those of the live logits
            live = np.flatnonzero(np.isfinite(lg))
            sub = plackett_luce(lg[live], M)
            got = [lp[_set_index([np.isin(np.arange(K), live[list(c)])])[0]] for c in _combos(3, M)]
            np.testing.assert_allclose(got, sub, rtol=0, atol=1e-10)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_masked_gradients_are_finite(backend):
    """The gradient of log P(A) of the possible sets w.r.t. the logits is
    finite (0 at a masked logit), and that of the log of the total
    probability of all sets, masked ones included, is 0 (as in
    ``TraceEnum_ELBO``, which sums over every set)."""
    values = _masks(K, M)
    weights = np.linspace(-1, 2, 10)
    for lg in (MASKED, ONLY_TWO):
        lp, g_w, g_lse = LP_AND_GRADS[backend](lg, values, weights, M)
        assert np.all(np.isfinite(g_w)), g_w
        np.testing.assert_array_equal(g_w[np.isinf(lg)], 0.0)
        np.testing.assert_allclose(g_lse, 0.0, rtol=0, atol=1e-12)


# ================================================ 4. the domain
@st.composite
def domain(draw, ks, ms=None, dtypes=("float32", "float64")):
    """(k, m, dtype, logits): moderate logits, spreads 1e2..1e4, and in
    float32 values anywhere up to +-3e38."""
    k = draw(ks)
    m = draw(st.integers(1, k - 1) if ms is None else ms(k))
    dtype = draw(st.sampled_from(dtypes))
    kinds = ["moderate", "spread"] + (["huge"] if dtype == "float32" else [])
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "moderate":
        logits = rng.normal(size=k) * draw(st.sampled_from([1e-3, 1.0, 10.0]))
    elif kind == "spread":
        spread = draw(st.sampled_from([1e2, 1e3, 1e4]))
        logits = rng.uniform(-0.5, 0.5, size=k) * spread
        logits[rng.permutation(k)[:2]] = [-spread / 2, spread / 2]
    else:
        logits = rng.uniform(-1, 1, size=k) * draw(st.sampled_from([1e10, 1e30, 3e38]))
    return k, m, dtype, logits.astype(dtype)


def _check_domain_outputs(k, m, x, lp, grad):
    assert x.shape == (10, k)
    _assert_m_hot(x, m)
    assert not np.any(np.isnan(lp)), lp
    assert np.all(np.isfinite(lp) & (lp <= 0)), lp
    assert np.all(np.isfinite(grad)), grad


@settings(derandomize=True, max_examples=40, deadline=None, database=None)
@given(domain(st.integers(2, 300)))
def test_pyro_own_samples_valid_over_the_domain(case):
    k, m, dtype, logits = case
    lg = torch.tensor(logits).requires_grad_()
    d = rp.Subset(m, logits=lg, validate_args=True)
    torch.manual_seed(0)
    x = d.sample((10,))
    assert x.dtype == lg.dtype
    assert bool(d.support.check(x).all())
    lp = d.log_prob(x)  # validates x
    (grad,) = torch.autograd.grad(lp.sum(), lg)
    _check_domain_outputs(k, m, _np(x), _np(lp), _np(grad))


#: JAX compiles once per (k, m, dtype): the NumPyro test draws values at two
#: corners, k = 5, m = 2 in float64 (the shape the other NumPyro checks
#: share) and k = 300, m = 299 in float32; the Pyro test above draws every k
#: and m in [1, k - 1], on the same family body.
JAX_CORNERS = [(5, 2, "float64"), (300, 299, "float32")]


@st.composite
def jax_domain(draw):
    k, m, dtype = draw(st.sampled_from(JAX_CORNERS))
    return draw(domain(st.just(k), ms=lambda k: st.just(m), dtypes=(dtype,)))


@settings(derandomize=True, max_examples=10, deadline=None, database=None)
@given(jax_domain())
def test_numpyro_own_samples_valid_over_the_domain(case):
    k, m, dtype, logits = case
    lg = jnp.asarray(logits)
    d = rn.Subset(m, logits=lg, validate_args=True)  # validates the logits
    x = d.sample(jax.random.PRNGKey(0), (10,))
    assert x.dtype == lg.dtype
    assert bool(np.all(d.support(x)))  # the check validation runs on a value
    lp, grad, _ = _jax_lp_and_grads(lg, x, np.ones(10), m)
    _check_domain_outputs(k, m, np.asarray(x), lp, grad)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("logits, dtype", [
    ([3e38, -3e38, 0.0, 1.0, 2.0], "float32"),  # log_softmax overflows to -inf
    ([1e30, 0.0, 0.0, 1.0, -1.0], "float32"),  # the Gumbel noise is absorbed
    ([1e30, 0.0, 0.0, 1.0, -1.0], "float64"),
], ids=["f32-overflow", "f32-absorbed", "f64-absorbed"])
def test_extreme_finite_logits_give_m_hot_samples(backend, logits, dtype):
    """Finite logits (accepted by the argument check) far apart: the first
    category is certain; the sample must still hold exactly m ones and
    score a finite log-probability."""
    logits = np.asarray(logits, dtype=dtype)
    if backend == "pyro":
        d = rp.Subset(M, logits=torch.tensor(logits), validate_args=True)
        x = _pyro_sample(d, 10, seed=0)
        _assert_m_hot(x, M)
        lp = _np(d.log_prob(x))
    else:
        d = rn.Subset(M, logits=jnp.asarray(logits), validate_args=True)
        x = _numpyro_sample(d, 10, seed=0)
        _assert_m_hot(x, M)
        assert bool(np.all(d.support(x)))
        lp = np.asarray(_jax_log_prob(d, x))
    assert np.all(_np(x)[:, 0] == 1)
    assert np.all(np.isfinite(lp) & (lp <= 0)), lp


# ================================================= 5. gradients, parity
GRAD_LOGITS = np.array([0.3, -0.2, 1.1, -0.7, 0.05])


def test_gradients_match_central_differences_and_agree_across_backends(rng):
    values = _masks(K, M)
    weights = rng.normal(size=10)

    def objective(lg):
        return float((_t(weights) * rp.Subset(M, logits=_t(lg)).log_prob(_t(values))).sum())

    fd = central_differences(objective, GRAD_LOGITS, h=1e-5)
    lp_t, g_t, _ = _torch_lp_and_grads(GRAD_LOGITS, values, weights, M)
    lp_j, g_j, _ = _jax_lp_and_grads(GRAD_LOGITS, values, weights, M)
    np.testing.assert_allclose(g_t, fd, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(g_j, fd, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(g_j, g_t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lp_j, lp_t, rtol=0, atol=1e-12)
    # the gradient is shift-invariant, like the probabilities
    assert abs(g_t.sum()) < 1e-12


def test_same_uniforms_give_the_same_sets_in_numpy_torch_and_jax(rng):
    u = uniforms(rng, (500, K))
    out = {
        "numpy": hl.sample_subset(LOGITS, M, u),
        "torch": hl.sample_subset(_t(LOGITS), M, _t(u)),
        "jax": hl.sample_subset(jnp.asarray(LOGITS), M, jnp.asarray(u)),
    }
    masks = {name: _np(mask) for name, (mask, _) in out.items()}
    members = {name: np.sort(_np(idx), axis=-1) for name, (_, idx) in out.items()}
    _assert_m_hot(masks["numpy"], M)
    for name in ("torch", "jax"):
        np.testing.assert_array_equal(masks[name], masks["numpy"])
        np.testing.assert_array_equal(members[name], members["numpy"])
    # the members are the ones of the mask
    np.testing.assert_array_equal(members["numpy"], np.sort(hl.set_members(masks["numpy"], M), -1))
    # the same log_prob from the same sets (enumerated: every set once)
    values = _masks(K, M)
    np.testing.assert_allclose(np.asarray(_jax_log_prob(_nsubset(LOGITS), values)),
                               _np(rp.Subset(M, logits=_t(LOGITS)).log_prob(_t(values))), rtol=0, atol=1e-12)


def test_log_prob_from_intermediates_equals_log_prob():
    """``log_prob(value, intermediates)`` equals ``log_prob(value)`` in value
    and gradient (Pyro), and in value (NumPyro, under ``jit``)."""
    lg = _t(GRAD_LOGITS).requires_grad_()
    d = rp.Subset(M, logits=lg)
    assert not d.has_rsample and d.has_enumerate_support
    with pytest.raises(NotImplementedError):
        d.rsample()
    torch.manual_seed(3)
    x, inter = d.sample_with_intermediates((10,))
    assert not x.requires_grad
    _assert_m_hot(x, M)
    a, b = d.log_prob(x, inter), d.log_prob(x)
    np.testing.assert_allclose(_np(a), _np(b), rtol=0, atol=1e-12)
    (ga,) = torch.autograd.grad(a.sum(), lg)
    (gb,) = torch.autograd.grad(b.sum(), lg)
    np.testing.assert_allclose(_np(ga), _np(gb), rtol=0, atol=1e-12)

    nd_ = _nsubset(GRAD_LOGITS)
    assert not nd_.has_rsample and nd_.reparametrized_params == [] and nd_.has_enumerate_support
    x, inter = nd_.sample_with_intermediates(jax.random.PRNGKey(3), (10,))
    _assert_m_hot(x, M)
    fast = np.asarray(jax.jit(lambda d, x, i: d.log_prob(x, i))(nd_, x, inter))
    np.testing.assert_allclose(fast, np.asarray(_jax_log_prob(nd_, x)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, _np(rp.Subset(M, logits=_t(GRAD_LOGITS)).log_prob(_t(np.array(x)))),
                               rtol=0, atol=1e-12)


# ================================================= 6. host conventions
def test_support_is_discrete_k_hot():
    d = rp.Subset(M, logits=_t(LOGITS))
    assert d.support == rp.constraints.Spec("k_hot", m=M)
    assert d.support.is_discrete and d.support.event_dim == 1
    n = rn.Subset(M, logits=jnp.asarray(LOGITS))
    assert (n.support.name, n.support.params) == ("k_hot", {"m": M})
    assert n.support.is_discrete and n.support.event_dim == 1
    values = _masks(K, M)
    assert bool(d.support.check(_t(values)).all()) and bool(np.all(n.support(values)))
    bad = np.array([[1, 1, 1, 0, 0], [0.5, 0.5, 1, 0, 0], [2, 0, 0, 0, 0]], dtype=np.float64)
    assert not bool(d.support.check(_t(bad)).any()) and not bool(np.any(n.support(bad)))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_expand_keeps_m(backend):
    if backend == "pyro":
        d = rp.Subset(M, logits=_t(LOGITS)).expand((3, 2))
        assert type(d) is rp.Subset and d.m == M
        assert d.batch_shape == (3, 2) and d.event_shape == (K,)
        x = _pyro_sample(d, 7, seed=0)
        assert x.shape == (7, 3, 2, K)
        assert d.log_prob(x).shape == (7, 3, 2)
    else:  # NumPyro's ExpandedDistribution around the Subset
        d = rn.Subset(M, logits=jnp.asarray(LOGITS)).expand((10,))
        assert d.base_dist.m == M and d.batch_shape == (10,) and d.event_shape == (K,)
        x = d.sample(jax.random.PRNGKey(0))
        assert x.shape == (10, K)
        big = jax.ShapeDtypeStruct((7, 10, K), x.dtype)
        assert jax.eval_shape(d.log_prob, big).shape == (7, 10)  # shape only: no compile
    _assert_m_hot(np.reshape(_np(x), (-1, K)), M)
    assert d.support.params == {"m": M}


def test_infer_shapes():
    assert rp.Subset.infer_shapes(m=2, logits=(3, 5)) == (torch.Size([3]), torch.Size([5]))
    assert isinstance(rp.Subset.infer_shapes(m=2, logits=(3, 5))[0], torch.Size)
    assert rn.Subset.infer_shapes(m=2, logits=(3, 5)) == ((3,), (5,))
    assert rn.Subset.infer_shapes(m=2, probs=(4, 1, 7)) == ((4, 1), (7,))
    for cls in (rp.Subset, rn.Subset):
        with pytest.raises(ValueError, match="`m`"):
            cls.infer_shapes(m=5, logits=(3, 5))


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads),
                                          (cloudpickle.dumps, cloudpickle.loads)],
                         ids=["pickle", "cloudpickle"])
def test_pickling_before_and_after_sampling(dumps, loads):
    values = _masks(K, M)
    d = rp.Subset(M, logits=_t(LOGITS))
    n = _nsubset(LOGITS)
    expected = _np(d.log_prob(_t(values)))
    for stage in ("before", "after"):
        d2, n2 = loads(dumps(d)), loads(dumps(n))
        assert d2.m == M and n2.m == M, stage
        np.testing.assert_array_equal(_np(d2.log_prob(_t(values))), expected)
        np.testing.assert_allclose(np.asarray(_jax_log_prob(n2, values)), expected, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(_np(_pyro_sample(d2, 10, 9)), _np(_pyro_sample(d, 10, 9)))
        np.testing.assert_array_equal(np.asarray(_numpyro_sample(n2, 10, 9)),
                                      np.asarray(_numpyro_sample(n, 10, 9)))


def test_numpyro_pytree_jit_and_vmap_over():
    d = _nsubset(LOGITS)
    leaves, tree = jax.tree_util.tree_flatten(d)
    assert len(leaves) == 1
    d2 = jax.tree_util.tree_unflatten(tree, leaves)
    assert type(d2) is rn.Subset and d2.m == M and d2.batch_shape == () and d2.event_shape == (K,)
    values = jnp.asarray(_masks(K, M))
    np.testing.assert_array_equal(np.asarray(_jax_log_prob(d2, values)),
                                  np.asarray(_jax_log_prob(d, values)))
    # jit of sampling: the eager draw
    key = jax.random.PRNGKey(4)
    jitted = jax.jit(lambda d, key: d.sample(key, (DRAWS,)))(d, key)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(d.sample(key, (DRAWS,))))

    # vmap over distributions (NumPyro's convention: ``vmap_over`` gives the
    # axes of the distribution built under vmap), each scoring the ten sets
    def single(lg):
        return rn.Subset(M, logits=lg)

    axes = vmap_over(single(jnp.asarray(LOGITS)), logits=0)

    @jax.jit
    def through_vmap(logits):
        ds = jax.vmap(single, out_axes=axes)(logits)
        return jax.vmap(lambda d: d.log_prob(values), in_axes=(axes,))(ds)

    logits = np.stack([LOGITS, GRAD_LOGITS, MASKED])
    out = np.asarray(through_vmap(jnp.asarray(logits)))
    assert out.shape == (3, 10)
    for row, lg in zip(out, logits):
        np.testing.assert_allclose(row, _np(rp.Subset(M, logits=_t(lg)).log_prob(_t(_masks(K, M)))),
                                   rtol=0, atol=1e-12)


#: torch 2.13 deprecates ``torch.jit.trace``: the host's notice, not ours.
TRACE_DEPRECATED = r"`torch.jit.trace` is deprecated"


def test_pyro_jit_trace_of_log_prob_equals_eager():
    def score(logits, value):
        return rp.Subset(M, logits=logits, validate_args=False).log_prob(value)

    values = _t(_masks(K, M))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=TRACE_DEPRECATED, category=DeprecationWarning)
        traced = torch.jit.trace(score, (_t(LOGITS), values), check_trace=False)
        for lg in (LOGITS, GRAD_LOGITS, MASKED, ONLY_TWO):
            got, eager = _np(traced(_t(lg), values)), _np(score(_t(lg), values))
            np.testing.assert_array_equal(np.isneginf(got), np.isneginf(eager))
            np.testing.assert_allclose(got, eager, rtol=0, atol=1e-12)


def test_plates_and_to_event_shapes():
    batched = np.stack([LOGITS] * 10)

    def pmodel():
        with pyro.plate("p", 10):
            pyro.sample("s", rp.Subset(M, logits=_t(LOGITS)))
        pyro.sample("t", rp.Subset(M, logits=_t(batched)).to_event(1))

    pyro.set_rng_seed(0)
    tr = poutine.trace(pmodel).get_trace()
    tr.compute_log_prob()
    assert tr.nodes["s"]["value"].shape == (10, K) and tr.nodes["s"]["log_prob"].shape == (10,)
    assert tr.nodes["t"]["value"].shape == (10, K) and tr.nodes["t"]["log_prob"].shape == ()
    _assert_m_hot(tr.nodes["s"]["value"], M)
    _assert_m_hot(tr.nodes["t"]["value"], M)

    def nmodel():
        with numpyro.plate("p", 10):
            numpyro.sample("s", rn.Subset(M, logits=jnp.asarray(LOGITS)))
        numpyro.sample("t", rn.Subset(M, logits=jnp.asarray(batched)).to_event(1))

    ntr = numpyro.handlers.trace(numpyro.handlers.seed(nmodel, 0)).get_trace()
    for name, lshape in (("s", (10,)), ("t", ())):
        site = ntr[name]
        assert site["value"].shape == (10, K)
        _assert_m_hot(site["value"], M)
        # the shape only: eval_shape traces without compiling
        assert jax.eval_shape(site["fn"].log_prob, site["value"]).shape == lshape


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_enumerate_support_shapes_and_cap(backend):
    mod, arr = (rp, _t) if backend == "pyro" else (rn, jnp.asarray)
    d = mod.Subset(M, logits=arr(np.broadcast_to(LOGITS, (2, 3, K))))
    small = _np(d.enumerate_support(expand=False))
    assert small.shape == (10, 1, 1, K)
    full = _np(d.enumerate_support(expand=True))
    assert full.shape == (10, 2, 3, K)
    np.testing.assert_array_equal(full, np.broadcast_to(small, full.shape))
    _assert_m_hot(small[:, 0, 0], M)
    assert len({tuple(r) for r in small[:, 0, 0]}) == 10
    assert _np(d.enumerate_support()).shape == (10, 2, 3, K)  # expand=True by default
    # at most ENUMERATION_CAP sets: C(18, 9) = 48620 lists, C(20, 10) = 184756 raises
    assert math.comb(18, 9) <= ENUMERATION_CAP < math.comb(20, 10)
    ok = mod.Subset(9, logits=arr(np.zeros(18))).enumerate_support()
    assert ok.shape == (48620, 18)
    with pytest.raises(ValueError, match=f"ENUMERATION_CAP = {ENUMERATION_CAP}"):
        mod.Subset(10, logits=arr(np.zeros(20))).enumerate_support()


# ======================================== 7. enumeration in inference
W = np.array([1.0, -0.5, 2.0, 0.3, -1.2])
SIGMA = 0.7
ENUM_LOGITS = np.stack([LOGITS, GRAD_LOGITS, MASKED])
ENUM_Y = np.array([1.7, -0.4, 2.9])


def _exact_log_evidence(logits, y):
    """log sum_A P(A) Normal(y; w . A, sigma), by brute force."""
    values = _masks(K, M)
    return special.logsumexp(plackett_luce(logits, M) + stats.norm.logpdf(y, values @ W, SIGMA))


@pytest.mark.parametrize("how", ["infer", "config_enumerate"])
def test_pyro_trace_enum_elbo_marginalises_the_subset_exactly(how):
    """A Subset latent per data point (one row has masked categories) and a
    Normal observation of w . S: with an empty guide, ``TraceEnum_ELBO``'s
    loss is minus the exact log evidence."""
    infer = {"enumerate": "parallel"} if how == "infer" else {}

    def model():
        with pyro.plate("data", 3):
            s = pyro.sample("s", rp.Subset(M, logits=_t(ENUM_LOGITS)), infer=infer)
            pyro.sample("y", pd.Normal((s * _t(W)).sum(-1), SIGMA), obs=_t(ENUM_Y))

    def guide():
        pass

    if how == "config_enumerate":
        model = pyro.infer.config_enumerate(model)
    exact = sum(_exact_log_evidence(lg, y) for lg, y in zip(ENUM_LOGITS, ENUM_Y))
    loss = pyro.infer.TraceEnum_ELBO(max_plate_nesting=1).loss(model, guide)
    assert abs(loss + exact) < 1e-10, (loss, -exact)


def test_numpyro_enumerated_evidence():
    """``funsor`` (which NumPyro's enumeration needs) is not a dependency of
    this package, so the NumPyro side sums ``exp(log_prob)`` times the
    likelihood over ``enumerate_support()`` against the same exact evidence."""
    for lg, y in zip(ENUM_LOGITS, ENUM_Y):
        d = _nsubset(lg)
        values = d.enumerate_support()
        lik = nd.Normal(values @ jnp.asarray(W), SIGMA).log_prob(y)
        got = jax.scipy.special.logsumexp(_jax_log_prob(d, values) + lik)
        assert abs(float(got) - _exact_log_evidence(lg, y)) < 1e-10


# ============================================ 8. RLOO gradients
THETA = np.array([0.2, -0.4, 0.6, 0.0, -0.3])
PRIOR = np.array([0.5, 0.0, -0.5, 0.3, -0.2])
Y_OBS = 1.7
COPIES, PARTICLES = 400, 4


def _log_q_pairs(theta):
    """log q({i, j}) for every pair, closed form (torch, differentiable):
    p_i p_j (1/(1 - p_i) + 1/(1 - p_j))."""
    lp = torch.log_softmax(theta, -1)
    idx = torch.tensor(_combos(K, M))
    a, b = lp[idx[:, 0]], lp[idx[:, 1]]
    return a + b + torch.logaddexp(-torch.log1p(-a.exp()), -torch.log1p(-b.exp()))


def _exact_elbo_gradient():
    theta = _t(THETA).requires_grad_()
    log_q = _log_q_pairs(theta)
    values = _t(_masks(K, M))
    log_p = _log_q_pairs(_t(PRIOR)) + torch.distributions.Normal(values @ _t(W), 1.0).log_prob(_t(Y_OBS))
    elbo = (log_q.exp() * (log_p - log_q)).sum()
    (grad,) = torch.autograd.grad(elbo, theta)
    return grad.numpy()


def _z(grads, exact):
    return (grads.mean(0) - exact) / (grads.std(0, ddof=1) / np.sqrt(len(grads)))


def _pyro_copies_gradient(elbo):
    """Each row: one gradient estimate of the ELBO w.r.t. the guide logits
    (``COPIES`` independent copies of the problem in a plate)."""
    def model():
        with pyro.plate("rep", COPIES):
            s = pyro.sample("s", rp.Subset(M, logits=_t(PRIOR)))
            pyro.sample("y", pd.Normal((s * _t(W)).sum(-1), 1.0), obs=_t(np.full(COPIES, Y_OBS)))

    def guide():
        theta = pyro.param("theta", _t(np.broadcast_to(THETA, (COPIES, K)).copy()))
        with pyro.plate("rep", COPIES):
            pyro.sample("s", rp.Subset(M, logits=theta))

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    loss = elbo.differentiable_loss(model, guide)
    (g,) = torch.autograd.grad(loss, pyro.param("theta").unconstrained())
    pyro.clear_param_store()
    return -g.numpy()


def test_pyro_rloo_gradient_is_unbiased_and_beats_the_plain_score_function():
    exact = _exact_elbo_gradient()
    rloo = _pyro_copies_gradient(rp.RLOOTrace_ELBO(num_particles=PARTICLES, max_plate_nesting=1))
    assert np.all(np.abs(_z(rloo, exact)) < 4), _z(rloo, exact)
    # the plain score function: Trace_ELBO on a non-reparameterized site
    plain = _pyro_copies_gradient(pyro.infer.Trace_ELBO(num_particles=PARTICLES, vectorize_particles=True,
                                                        max_plate_nesting=1))
    assert np.all(np.abs(_z(plain, exact)) < 4), _z(plain, exact)
    assert np.any(np.abs(_z(-rloo, exact)) > 4)  # negative control: the wrong sign is caught
    ratio = rloo.var(0) / plain.var(0)
    assert np.all(ratio < 0.8), ratio


def test_numpyro_rloo_gradient_is_unbiased_and_beats_the_plain_score_function():
    exact = _exact_elbo_gradient()

    def model():
        with numpyro.plate("rep", COPIES):
            s = numpyro.sample("s", rn.Subset(M, logits=jnp.asarray(PRIOR)))
            numpyro.sample("y", nd.Normal((s * jnp.asarray(W)).sum(-1), 1.0), obs=Y_OBS)

    def guide():
        theta = numpyro.param("theta", jnp.zeros((COPIES, K)))
        with numpyro.plate("rep", COPIES):
            numpyro.sample("s", rn.Subset(M, logits=theta))

    elbo = rn.RLOOTrace_ELBO(num_particles=PARTICLES)
    grad = jax.jit(jax.grad(lambda th: -elbo.loss(jax.random.PRNGKey(0), {"theta": th}, model, guide)))
    rloo = np.asarray(grad(jnp.asarray(np.broadcast_to(THETA, (COPIES, K)))))
    assert np.all(np.abs(_z(rloo, exact)) < 4), _z(rloo, exact)
    assert np.any(np.abs(_z(-rloo, exact)) > 4)
    # The plain score function by hand, PARTICLES draws per copy: the mean
    # of (log p - log q - 1) grad log q at each draw (Trace_ELBO's surrogate
    # for a site without a reparameterized sampler, no baseline).
    values = _masks(K, M)
    jac = np.stack([_jax_lp_and_grads(THETA, values, np.eye(10)[i], M)[1] for i in range(10)])
    log_q = np.asarray(_jax_log_prob(_nsubset(THETA), values))
    log_p = plackett_luce(PRIOR, M) + stats.norm.logpdf(Y_OBS, values @ W, 1.0)
    draws = _numpyro_sample(_nsubset(THETA), DRAWS, seed=5)
    a = _set_index(np.asarray(draws)[: COPIES * PARTICLES]).reshape(COPIES, PARTICLES)
    plain = ((log_p - log_q - 1)[a][..., None] * jac[a]).mean(1)
    assert np.all(np.abs(_z(plain, exact)) < 4), _z(plain, exact)
    ratio = rloo.var(0) / plain.var(0)
    assert np.all(ratio < 0.8), ratio


# ===================================================== 9. errors
BACKENDS = {"pyro": (rp, _t), "numpyro": (rn, jnp.asarray)}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("m", [2.0, True, "2", None, 0, -1, 5, 6])
def test_bad_m_is_rejected(backend, m):
    mod, arr = BACKENDS[backend]
    with pytest.raises(ValueError, match="`m`"):
        mod.Subset(m, logits=arr(LOGITS))


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_integer_m_of_any_integer_type_is_accepted(backend):
    mod, arr = BACKENDS[backend]
    for m in (2, np.int64(2), np.int32(2)):
        d = mod.Subset(m, logits=arr(LOGITS))
        assert d.m == 2 and type(d.m) is int


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_bad_parameters_are_rejected(backend):
    mod, arr = BACKENDS[backend]
    with pytest.raises(ValueError, match="exactly one of `probs` or `logits`.*neither"):
        mod.Subset(M)
    with pytest.raises(ValueError, match="exactly one of `probs` or `logits`.*both"):
        mod.Subset(M, probs=arr(np.exp(LOGITS)), logits=arr(LOGITS))
    with pytest.raises(ValueError, match="`probs`.*at least m = 3 of them positive"):
        mod.Subset(3, probs=arr([0.5, 0.5, 0.0, 0.0, 0.0]), validate_args=True)
    for bad in ([np.nan, 0, 0, 0, 0], [np.inf, 0, 0, 0, 0], [0, -np.inf, -np.inf, -np.inf, -np.inf]):
        with pytest.raises(ValueError, match="`logits`"):
            mod.Subset(M, logits=arr(np.array(bad, dtype=np.float64)), validate_args=True)
    with pytest.raises(ValueError, match="`probs`"):
        mod.Subset(M, probs=arr([0.5, 0.6, 0.0, 0.0, 0.0]), validate_args=True)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("value", [[0.5, 0.5, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0],
                                   [1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]],
                         ids=["half", "three-ones", "one-one", "wrong-k"])
def test_values_outside_the_support_are_rejected(backend, value):
    mod, arr = BACKENDS[backend]
    d = mod.Subset(M, logits=arr(LOGITS), validate_args=True)
    with pytest.raises(ValueError, match="`value`"):
        d.log_prob(arr(np.asarray(value)))
