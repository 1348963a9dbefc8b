"""The tau -> 0 probabilities of core.hard_limit against explicit
Plackett-Luce sums over orderings, their identities (inclusion probabilities
sum to m, set probabilities sum to 1), gradients, and cross-backend parity."""

import itertools
import math

import array_api_strict
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import central_differences
from scipy import special

from relaxed_dists.core import hard_limit as hl

BACKENDS = {
    "numpy": np.asarray,
    "array_api_strict": array_api_strict.asarray,
    "torch": torch.as_tensor,
    "jax": jnp.asarray,
}


def plackett_luce(logits, m):
    """Exact inclusion probabilities and log set probabilities by summing the
    probabilities of all ordered draws of m items without replacement."""
    lp = logits - special.logsumexp(logits)
    k = len(lp)
    incl = np.zeros(k)
    log_sets = {}
    for order in itertools.permutations(range(k), m):
        log_pr, left = 0.0, np.ones(k, bool)
        for a in order:
            log_pr += lp[a] - special.logsumexp(lp[left])
            left[a] = False
        incl[list(order)] += math.exp(log_pr)
        key = frozenset(order)
        log_sets[key] = np.logaddexp(log_sets.get(key, -np.inf), log_pr)
    return incl, log_sets


def _masks(sets, k):
    return np.array([[i in s for i in range(k)] for s in sets])


ENUM_CASES = {
    "p=[.5,.3,.15,.05],m=2": (np.log([0.5, 0.3, 0.15, 0.05]), 2),
    "k=6,m=3": (np.log([0.32, 0.25, 0.18, 0.12, 0.08, 0.05]), 3),
    "k=5,m=2,peaked": (np.array([4.0, 0.0, -3.0, -9.0, -25.0]), 2),
}


@pytest.mark.parametrize("case", list(ENUM_CASES))
def test_inclusion_matches_plackett_luce(case):
    logits, m = ENUM_CASES[case]
    expected, _ = plackett_luce(logits, m)
    got = hl.inclusion_probs(logits + 0.7, m)  # unnormalised logits
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", list(ENUM_CASES))
def test_set_probability_matches_plackett_luce(case):
    logits, m = ENUM_CASES[case]
    _, log_sets = plackett_luce(logits, m)
    sets = list(log_sets)
    got = hl.subset_log_prob(logits[None, :] - 1.3, _masks(sets, len(logits)))
    expected = np.array([log_sets[s] for s in sets])
    # log space: relative accuracy also for the sets of probability ~e^-30
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_inclusion_sums_to_m(rng):
    logits = rng.normal(size=(3, 7)) * 2
    for m in range(8):
        got = hl.inclusion_probs(logits, m)
        assert got.shape == (3, 7)
        assert np.all((got >= 0) & (got <= 1 + 1e-14))
        np.testing.assert_allclose(got.sum(-1), m, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(hl.inclusion_probs(logits, 0), 0)
    np.testing.assert_allclose(hl.inclusion_probs(logits, 7), 1, atol=1e-13)


@pytest.mark.parametrize("m", [1, 3, 6])
def test_set_probabilities_sum_to_one(rng, m):
    k = 8
    logits = rng.normal(size=(2, 1, k)) * 2
    sets = list(itertools.combinations(range(k), m))
    log_p = hl.subset_log_prob(logits, _masks(sets, k))  # (2, C) by broadcasting
    assert log_p.shape == (2, len(sets))
    np.testing.assert_allclose(special.logsumexp(log_p, axis=-1), 0, atol=1e-12)
    # the inclusion probabilities are the marginals of the set probabilities
    incl = np.exp(log_p) @ _masks(sets, k)
    np.testing.assert_allclose(incl, hl.inclusion_probs(logits[:, 0], m), atol=1e-12)


def test_trivial_sets():
    logits = np.array([[0.3, -1.0, 2.0]])
    np.testing.assert_allclose(hl.subset_log_prob(logits, np.zeros((1, 3), bool)), 0, atol=1e-13)
    np.testing.assert_array_equal(hl.subset_log_prob(logits, np.ones((1, 3), bool)), 0)
    # 0/1 masks of a float dtype are sets too
    np.testing.assert_allclose(
        hl.subset_log_prob(logits, np.array([[1.0, 0.0, 1.0]])),
        hl.subset_log_prob(logits, np.array([[True, False, True]])),
        rtol=0, atol=0,
    )


@pytest.mark.parametrize("m", [-1, 4, 1.5])
def test_invalid_m(m):
    with pytest.raises(ValueError, match="`m`"):
        hl.inclusion_probs(np.zeros(3), m)


@pytest.mark.slow
def test_set_probability_stays_accurate_at_large_k(rng):
    """The quadrature window follows the integrand's peak: 200 nodes agree
    with 800 for sets of every size and probability (a fixed window in the
    log arrival time is off by 0.01-1 in log P(A) for |A| >= 50 here)."""
    k = 400
    logits = rng.normal(size=k) * 2
    order = np.argsort(-logits)
    masks = []
    for size in (1, 5, 50, 200, 399):
        for chosen in (order[:size], order[k - size:], rng.choice(k, size, replace=False)):
            mask = np.zeros(k, bool)
            mask[chosen] = True
            masks.append(mask)
    masks = np.array(masks)
    got = hl.subset_log_prob(logits, masks)
    ref = hl.subset_log_prob(logits, masks, num_nodes=800)
    assert np.all(got < -0.5) and got.min() < -500
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def test_same_numbers_on_every_backend(backend, rng):
    logits = rng.normal(size=(2, 6))
    masks = rng.uniform(size=(2, 6)) < 0.5
    conv = BACKENDS[backend]
    for m in (1, 4):
        got = np.asarray(hl.inclusion_probs(conv(logits), m))
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, hl.inclusion_probs(logits, m), rtol=1e-12, atol=1e-14)
    got = np.asarray(hl.subset_log_prob(conv(logits), conv(masks)))
    np.testing.assert_allclose(got, hl.subset_log_prob(logits, masks), rtol=1e-12, atol=1e-14)


def test_float32_stays_finite_and_close(rng):
    logits = rng.normal(size=(3, 6)) * 3
    masks = rng.uniform(size=(3, 6)) < 0.5
    for conv in (torch.as_tensor, jnp.asarray):
        f32 = conv(logits.astype(np.float32))
        incl = np.asarray(hl.inclusion_probs(f32, 2))
        assert incl.dtype == np.float32
        np.testing.assert_allclose(incl, hl.inclusion_probs(logits, 2), atol=1e-5)
        lp = np.asarray(hl.subset_log_prob(f32, conv(masks)))
        assert lp.dtype == np.float32
        np.testing.assert_allclose(lp, hl.subset_log_prob(logits, masks), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("what", ["inclusion_probs", "subset_log_prob"])
def test_gradients_match_finite_differences(what, rng):
    logits = rng.normal(size=(2, 5))
    weights = rng.normal(size=(2, 5))
    masks = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0]], bool)

    def fn(xp, lg):
        if what == "inclusion_probs":
            return xp.sum(hl.inclusion_probs(lg, 2) * xp.asarray(weights))
        return xp.sum(hl.subset_log_prob(lg, xp.asarray(masks)) * xp.asarray(weights[:, 0]))

    expected = central_differences(lambda lg: float(fn(np, lg)), logits)
    lt = torch.tensor(logits, requires_grad=True)
    (g_torch,) = torch.autograd.grad(fn(torch, lt), lt)
    g_jax = jax.grad(lambda lg: fn(jnp, lg))(jnp.asarray(logits))
    g_jit = jax.jit(jax.grad(lambda lg: fn(jnp, lg)))(jnp.asarray(logits))
    for g in (g_torch.numpy(), g_jax, g_jit):
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)
    assert np.abs(expected).max() > 1e-2


def test_extreme_logits_give_finite_values_and_gradients():
    """Sets of probability e^-1300 and rate ratios beyond float32's range."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.tensor([0.0, -200.0, 50.0, 3.0, -1000.0], dtype=dtype, requires_grad=True)
        log_p = hl.subset_log_prob(logits, torch.tensor([0, 1, 0, 0, 1]))
        # P({1, 4}) = 2 p_1 p_4 to first order (both orders), p_2 ~ 1
        assert log_p.item() == pytest.approx(-250.0 - 1050.0 + math.log(2), rel=1e-6)
        (g,) = torch.autograd.grad(log_p, logits)
        assert torch.all(torch.isfinite(g))
        np.testing.assert_allclose(g.numpy()[[1, 2, 4]], [1, -2, 1], atol=1e-3)
        incl = hl.inclusion_probs(logits, 2)
        (g,) = torch.autograd.grad(incl[0], logits)
        assert torch.all(torch.isfinite(incl)) and torch.all(torch.isfinite(g))
        assert incl[2].item() == pytest.approx(1.0)
