"""The straight-through classes ``OneHotCategoricalStraightThrough``,
``BernoulliStraightThrough`` and ``SubsetStraightThrough`` in both adapters
(the core functions have their own tests in ``test_straight_through_core.py``;
here: what the classes promise).

1. The value is a plain array: ``.clone()``, ``* 1``, pickling and
   ``jax.jit`` change nothing, and own samples pass validation (unlike
   Pyro's ``RelaxedOneHotCategoricalStraightThrough``, whose ``log_prob``
   reads a hidden attribute of the value).
2. ``log_prob`` is exact (log softmax, log sigmoid, brute-force Plackett-Luce
   set probabilities), sums to 1 over the support; masked categories and
   infinite Bernoulli logits.
3. Sampling frequencies (chi-squared, with negative controls); the estimator
   does not change the sample.
4. Gradients: the estimators' formulas from the adapter's own uniforms,
   torch and JAX equal, finite over a domain of parameters (hypothesis).
5. Host conventions: expand, infer_shapes, pickling, pytrees, ``jax.jit``,
   ``jax.vmap``, ``vmap_over``, ``torch.jit.trace``, plates, ``to_event``,
   ``Predictive``.
6. SVI with a straight-through guide moves it towards the exact posterior.
7. Argument and value errors.

Speed: JAX compiles (each operation once per shape when eager, each jitted
function as a whole) for longer than these tests compute. So every NumPyro
array has one shape per class, a draw of sample shape ``N`` from batch
``(2,)`` (plates, ``expand`` and ``Predictive`` are set up to give that
shape too), the eager calls use one estimator per class (``EAGER``), and
the gradient tests, the chi-squared test, the estimator comparison and the
domain test share one jitted function per class and estimator
(``_numpyro_grads_fn``). Pyro has no compilation: its checks use whatever
shapes are cheapest.
"""

import copy
import functools
import io
import itertools
import math
import pickle
import warnings

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pyro
import pyro.distributions as pd
import pyro.poutine as poutine
import pytest
import torch
from backends import NumPyro, Pyro
from hypothesis import given, settings
from hypothesis import strategies as st
from numpyro.distributions.batch_util import vmap_over
from scipy import stats

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp
from relaxed_dists.core import binary_concrete, concrete, hard_limit
from relaxed_dists.core import straight_through as core_st
from relaxed_dists.core import subset as core_subset
from relaxed_dists.pyro._base import draw_uniforms

with warnings.catch_warnings():
    # hypothesis imports libcst when it reports a failing example, and libcst
    # warns about a deprecated mypy_extensions name (an error under this
    # suite's warning filter): import it once here, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass

BACKENDS = [Pyro, NumPyro]
BACKEND = pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
#: The sample shape of the draws whose gradients are compared.
N = (1000,)
TAU = np.array([0.7, 1.3])
TRACE_DEPRECATED = r"`torch.jit.trace` is deprecated"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ================================================================== helpers
def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _log_softmax(x):
    top = np.max(x, axis=-1, keepdims=True)
    return x - top - np.log(np.sum(np.exp(x - top), axis=-1, keepdims=True))


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _plackett_luce_probs(logits, m):
    """Brute force: the probability of each m-set of ``itertools.combinations
    (range(k), m)``, summing over its m! orders the probability of drawing
    it item by item without replacement."""
    p = np.exp(_log_softmax(np.asarray(logits, dtype=np.float64)))
    k = len(p)
    sets = {c: 0.0 for c in itertools.combinations(range(k), m)}
    for order in itertools.permutations(range(k), m):
        prob, left = 1.0, 1.0
        for i in order:
            prob *= p[i] / left if left > 0 else 0.0
            left -= p[i]
        sets[tuple(sorted(order))] += prob
    return np.array(list(sets.values()))


class Family:
    """The test's view of one class: its parameters (batch ``(2,)``, the
    second row with a masked category for the vector classes), the list of
    all its values and their exact probabilities."""

    def __init__(self, name, kind, logits, estimators, values, static=None):
        self.name, self.kind, self.logits = name, kind, np.asarray(logits, dtype=np.float64)
        self.estimators, self.values, self.static = estimators, values, static or {}
        self.event_shape = values.shape[1:]

    def __repr__(self):
        return self.name

    def cls(self, B):
        """The class in a backend of ``backends.py`` or an adapter module."""
        return getattr(getattr(B, "module", B), self.name)

    def make(self, B, temperature=TAU, logits=None, probs=None, estimator=None, **kw):
        """An instance in backend ``B`` (NumPy inputs converted to float64)."""
        args = {"probs": probs} if probs is not None else {
            "logits": self.logits if logits is None else logits}
        args = {k: B.asarray(v) for k, v in args.items()}
        kw = {**self.static, **kw}
        if estimator is not None:
            kw["estimator"] = estimator
        return self.cls(B)(B.asarray(temperature), **args, **kw)

    def probs_of_values(self, logits=None):
        """Exact probability of each value, shape ``batch + (len(values),)``."""
        logits = self.logits if logits is None else logits
        if self.kind == "categorical":
            return np.exp(_log_softmax(logits))
        if self.kind == "bernoulli":
            return np.exp(np.stack([_log_sigmoid(-logits), _log_sigmoid(logits)], axis=-1))
        rows = np.reshape(logits, (-1, logits.shape[-1]))
        out = np.stack([_plackett_luce_probs(row, self.static["m"]) for row in rows])
        return out.reshape(logits.shape[:-1] + out.shape[-1:])

    def index(self, x):
        """Position of each value of ``x`` in ``self.values``."""
        x = _np(x)
        if self.kind == "bernoulli":
            return x.astype(int)
        table = {tuple(v): i for i, v in enumerate(self.values)}
        flat = x.reshape(-1, x.shape[-1])
        return np.array([table[tuple(v)] for v in flat]).reshape(x.shape[:-1])

    def exact_log_prob(self, x, logits=None):
        """The exact log-probability of each value of ``x`` (NumPy)."""
        logits = self.logits if logits is None else logits
        with np.errstate(divide="ignore"):
            lp = np.log(self.probs_of_values(logits))
        idx = self.index(x)
        lp = np.broadcast_to(lp, idx.shape + lp.shape[-1:])
        return np.take_along_axis(lp, idx[..., None], axis=-1)[..., 0]

    def check_hard(self, x):
        """``x`` is made of exact 0s and 1s with the class's structure."""
        x = _np(x)
        assert np.all((x == 0) | (x == 1)), x
        if self.kind == "categorical":
            np.testing.assert_array_equal(x.sum(-1), 1)
        elif self.kind == "subset":
            np.testing.assert_array_equal(x.sum(-1), self.static["m"])

    def core_value(self, logits, temperature, u, estimator):
        if self.kind == "categorical":
            return core_st.categorical(logits, temperature, u, estimator)
        if self.kind == "bernoulli":
            return core_st.bernoulli(logits, temperature, u, estimator)
        return core_st.subset(logits, temperature, self.static["m"], u, estimator)


K, M = 4, 2
_SUBSET_VALUES = np.zeros((math.comb(5, M), 5))
for _i, _c in enumerate(itertools.combinations(range(5), M)):
    _SUBSET_VALUES[_i, list(_c)] = 1.0

CAT = Family("OneHotCategoricalStraightThrough", "categorical",
             [np.log([0.1, 0.2, 0.3, 0.4]), [*np.log([0.5, 0.3, 0.2]), -np.inf]],
             ("gumbel", "st", "gumbel_rao", "reinmax"), np.eye(K))
BER = Family("BernoulliStraightThrough", "bernoulli", [-0.8, 1.1],
             ("gumbel", "st", "gumbel_rao", "reinmax"), np.array([0.0, 1.0]))
SUB = Family("SubsetStraightThrough", "subset",
             [np.log([0.4, 0.25, 0.15, 0.12, 0.08]), [*np.log([0.3, 0.3, 0.2, 0.2]), -np.inf]],
             ("relaxed", "marginals"), _SUBSET_VALUES, static={"m": M})
FAMILIES = [CAT, BER, SUB]
FAMILY = pytest.mark.parametrize("fam", FAMILIES, ids=repr)
PAIRS = [(f, e) for f in FAMILIES for e in f.estimators]
PAIR = pytest.mark.parametrize("fam,estimator", PAIRS, ids=[f"{f!r}-{e}" for f, e in PAIRS])


#: The estimator of the eager NumPyro calls (eager JAX compiles each
#: operation once per shape and code path: one path per class), with
#: ``rao_samples=3`` where it applies (a static argument that differs from
#: its default).
EAGER = {CAT.name: "st", BER.name: "st", SUB.name: "marginals"}


def _static(fam, estimator=None):
    out = dict(fam.static, estimator=EAGER[fam.name] if estimator is None else estimator)
    if fam is not SUB:
        out["rao_samples"] = 3
    return out


def sample(B, d, shape=N, seed=0):
    """A draw (Pyro: ``rsample`` after ``torch.manual_seed``)."""
    if B is Pyro:
        torch.manual_seed(seed)
        return d.rsample(torch.Size(shape))
    return d.sample(jax.random.PRNGKey(seed), tuple(shape))


def _weights(fam, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=N + fam.logits.shape[:1] + fam.event_shape).astype(dtype)


def _padded_values(fam):
    """Every value of the class, repeated to ``N[0]`` rows and broadcast over
    the batch: an array of the shape of a draw (one compiled shape)."""
    rows = np.resize(fam.values, N + fam.event_shape)
    return np.array(np.broadcast_to(rows[:, None], N + fam.logits.shape[:1] + fam.event_shape))


_JITTED = {}


def _numpyro_grads_fn(fam, estimator, dtype="float64"):
    """``{estimator: (grads w.r.t. (logits, temperature), (x, log_prob(x)))}``
    of ``sum(w * x) + sum(log_prob(x))`` for the NumPyro draw ``x`` of
    sample shape ``N`` from ``key``, jitted once and shared by every test
    that needs it: one function for all the estimators of the one-hot and
    binary classes in float64 (one compilation is about half as long as
    four), one per estimator otherwise."""
    group = (estimator,) if fam is SUB or dtype != "float64" else fam.estimators
    cache_key = (fam.name, group, dtype)
    if cache_key not in _JITTED:
        def objective(lg, t, key, w, est):
            d = fam.cls(rn)(t, logits=lg, estimator=est, **fam.static)
            x = d.sample(key, N)
            lp = d.log_prob(x)
            return jnp.sum(x * w) + jnp.sum(lp), (x, lp)

        def all_estimators(lg, t, key, w):
            return {est: jax.grad(objective, argnums=(0, 1), has_aux=True)(lg, t, key, w, est)
                    for est in group}

        _JITTED[cache_key] = jax.jit(all_estimators)
    return lambda *args: _JITTED[cache_key](*args)[estimator]


def adapter_grads(B, fam, estimator, w, seed=0, logits=None, temperature=TAU, dtype="float64"):
    """``(x, log_prob(x), d/dlogits, d/dtemperature)`` of ``sum(w * x) +
    sum(log_prob(x))`` for the adapter's draw ``x`` of sample shape ``N``
    (NumPy arrays)."""
    logits = fam.logits if logits is None else logits
    if B is Pyro:
        dt = getattr(torch, dtype)
        lt = torch.tensor(logits, dtype=dt, requires_grad=True)
        tt = torch.tensor(temperature, dtype=dt, requires_grad=True)
        torch.manual_seed(seed)
        d = fam.cls(rp)(tt, logits=lt, estimator=estimator, **fam.static)
        x = d.rsample(torch.Size(N))
        lp = d.log_prob(x)
        grads = torch.autograd.grad((x * torch.as_tensor(w, dtype=dt)).sum() + lp.sum(), [lt, tt],
                                    allow_unused=True)
        grads = [np.zeros(np.shape(a)) if g is None else g.numpy()
                 for g, a in zip(grads, (logits, temperature))]
        return (_np(x), _np(lp), *grads)
    dt = getattr(jnp, dtype)
    (gl, gt), (x, lp) = _numpyro_grads_fn(fam, estimator, dtype)(
        jnp.asarray(logits, dt), jnp.asarray(temperature, dt), jax.random.PRNGKey(seed), jnp.asarray(w, dt))
    return np.asarray(x), np.asarray(lp), np.asarray(gl), np.asarray(gt)


def adapter_uniforms(B, fam, estimator, seed, rao_samples=10):
    """The uniforms the adapter draws for a sample of shape ``N`` from
    ``seed``, in the core's layout (NumPy, float64): the hard draw's block
    ``N + batch + event`` (``backends.*.uniforms``), and for ``gumbel_rao``
    the block of conditional rows drawn after it (torch: the generator's
    next draw; JAX: the key folded with 1), stacked with the first as its
    row 0 (:func:`relaxed_dists.core.straight_through.noise_shape`)."""
    main = N + fam.logits.shape[:1] + fam.event_shape
    dtype = torch.float64 if B is Pyro else jnp.float64
    u0 = _np(B.uniforms(main, dtype, seed=seed))
    if estimator != "gumbel_rao":
        return np.array(u0)
    extra = N + fam.logits.shape[:1] + (rao_samples,) + fam.event_shape
    if B is Pyro:
        torch.manual_seed(seed)
        draw_uniforms(main, dtype)
        rows = _np(draw_uniforms(extra, dtype))
    else:
        rows = np.asarray(jax.random.uniform(jax.random.fold_in(jax.random.PRNGKey(seed), 1), extra,
                                             dtype=dtype, minval=float(jnp.finfo(dtype).smallest_normal),
                                             maxval=1.0))
    axis = -2 if fam.event_shape else -1
    u = np.concatenate([np.expand_dims(u0, axis), rows], axis=axis)
    k = fam.logits.shape[-1] if fam.event_shape else None
    assert u.shape[len(N) + 1:] == core_st.noise_shape(fam.kind, estimator, k, rao_samples)
    return u


# ======================================== 1. no hidden state on the value
@FAMILY
def test_pyro_value_is_a_plain_tensor_whatever_copies_it(fam):
    """Copies of a draw (``.clone()``, ``* 1``, ``detach``, pickling, a
    tensor rebuilt from its numbers) score exactly as the draw: the exact
    discrete log-probability; they pass validation. The draw carries no
    Python attribute."""
    d = fam.make(Pyro, validate_args=True)
    torch.manual_seed(3)
    x = d.rsample((50,))
    assert vars(x) == {}
    expected = fam.exact_log_prob(x)
    copies = {"original": x, "clone": x.clone(), "times one": x * 1, "detach": x.detach(),
              "pickle": pickle.loads(pickle.dumps(x)), "cloudpickle": cloudpickle.loads(cloudpickle.dumps(x)),
              "rebuilt": torch.tensor(x.tolist(), dtype=torch.float64)}
    for how, value in copies.items():
        np.testing.assert_allclose(_np(d.log_prob(value)), expected, rtol=1e-11, atol=1e-12, err_msg=how)
        np.testing.assert_array_equal(_np(value), _np(x), err_msg=how)
        assert bool(d.support.check(value).all()), how


def test_pyros_own_straight_through_reads_a_hidden_attribute_of_the_value():
    """The contrast. Measured with pyro-ppl 1.9.2: Pyro's
    ``RelaxedOneHotCategoricalStraightThrough`` hangs the relaxed sample on
    the value (``_unquantize``); its ``log_prob`` of the original value is
    the density of that *relaxed* sample (not a discrete log-probability),
    pickling keeps the attribute, and on ``.clone()`` or ``* 1`` (attribute
    gone) it is NaN. Ours gives the exact log-probability on every copy,
    and on Pyro's clone too."""
    logits = torch.as_tensor(CAT.logits[0])
    torch.manual_seed(0)
    theirs = pd.RelaxedOneHotCategoricalStraightThrough(torch.tensor(0.5, dtype=torch.float64), logits=logits)
    x = theirs.rsample((50,))
    exact = CAT.exact_log_prob(x, CAT.logits[0])
    assert "_unquantize" in vars(x)
    lp = theirs.log_prob(x)
    assert torch.all(torch.isfinite(lp)) and not np.allclose(_np(lp), exact)
    assert torch.all(torch.isnan(theirs.log_prob(x.clone())))
    assert torch.all(torch.isnan(theirs.log_prob(x * 1)))
    np.testing.assert_array_equal(_np(theirs.log_prob(pickle.loads(pickle.dumps(x)))), _np(lp))

    ours = rp.OneHotCategoricalStraightThrough(0.5, logits=logits)
    torch.manual_seed(0)
    y = ours.rsample((50,))
    for value in (y, y.clone(), y * 1, pickle.loads(pickle.dumps(y))):
        np.testing.assert_allclose(_np(ours.log_prob(value)), CAT.exact_log_prob(value, CAT.logits[0]),
                                   rtol=1e-12)
    np.testing.assert_allclose(_np(ours.log_prob(x.clone())), exact, rtol=1e-12)


@FAMILY
def test_numpyro_value_is_a_plain_array_and_jit_changes_nothing(fam):
    """The jitted draw (sample, log_prob and gradient in one ``jax.jit``) is
    the eager draw bitwise, with the same log_prob; the draw as a NumPy
    array, times one, pickled or rebuilt from its numbers scores exactly
    and passes validation."""
    estimator = EAGER[fam.name]
    d = fam.cls(rn)(jnp.asarray(TAU), logits=jnp.asarray(fam.logits), validate_args=True,
                    **_static(fam))
    x = sample(NumPyro, d, seed=3)
    assert isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
    jx, jlp, _, _ = adapter_grads(NumPyro, fam, estimator, _weights(fam), seed=3)
    np.testing.assert_array_equal(jx, np.asarray(x))
    expected = fam.exact_log_prob(x)
    np.testing.assert_allclose(jlp, expected, rtol=1e-11, atol=1e-12)
    copies = {"original": x, "numpy": np.asarray(x), "times one": x * 1,
              "pickle": pickle.loads(pickle.dumps(x)), "rebuilt": jnp.asarray(np.asarray(x).tolist())}
    for how, value in copies.items():
        np.testing.assert_allclose(np.asarray(d.log_prob(value)), expected, rtol=1e-11, atol=1e-12,
                                   err_msg=how)
        assert bool(jnp.all(d.support(value))), how


# ================================================ 2. exact probabilities
@BACKEND
@FAMILY
def test_log_prob_is_exact_and_sums_to_one(B, fam):
    """For every draw (validated: own samples pass), ``log_prob`` is the exact
    log-probability (log softmax, log sigmoid, brute-force set probability
    over orders); masked categories are never drawn and nothing is NaN; the
    probabilities of all values sum to 1; ``mean`` is ``probs`` (the
    inclusion probabilities of the subset); ``probs`` and ``logits`` give
    the same distribution."""
    probs = np.exp(fam.logits) / (1 + np.exp(fam.logits)) if fam is BER else np.exp(fam.logits)
    d = fam.make(B, validate_args=True, **_static(fam))
    d_probs = fam.make(B, probs=probs, validate_args=True, **_static(fam))
    draws = np.concatenate([_np(sample(B, d, seed=s)) for s in range(2)])
    fam.check_hard(draws)
    expected = fam.exact_log_prob(draws)
    for dist in (d, d_probs):
        lp = np.concatenate([_np(dist.log_prob(B.asarray(x))) for x in np.split(draws, 2)])
        assert np.all(np.isfinite(lp))
        np.testing.assert_allclose(lp, expected, rtol=1e-11, atol=1e-13)
    if fam is not BER:  # the masked category of row 1
        assert np.all(draws[:, 1, -1] == 0)
    # every value, in every batch row
    n_values = len(fam.values)
    all_lp = _np(d.log_prob(B.asarray(_padded_values(fam))))[:n_values]
    assert not np.any(np.isnan(all_lp))
    np.testing.assert_allclose(np.exp(all_lp).sum(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(all_lp).T, fam.probs_of_values(), rtol=1e-11, atol=1e-15)
    mean = fam.probs_of_values()[:, 1] if fam is BER else fam.probs_of_values() @ fam.values
    np.testing.assert_allclose(_np(d.mean), mean, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(_np(d_probs.mean), mean, rtol=1e-11, atol=1e-15)


def test_subset_log_prob_against_orderings_with_wide_and_masked_rows():
    """k = 5, m = 2: every one of the 10 sets scored against the sum over its
    2 orders, for wide and masked logits (a set holding a masked category:
    ``-inf``), in both backends."""
    rows = np.array([[3.0, -2.0, 0.5, 0.1, -4.0], [0.0, 0.0, -np.inf, 1.0, -np.inf]])
    with np.errstate(divide="ignore"):
        expected = np.log(SUB.probs_of_values(rows))
    values = _padded_values(SUB)
    lps = [_np(SUB.make(Pyro, logits=rows).log_prob(torch.as_tensor(values)))[:10].T,
           np.asarray(SUB.make(NumPyro, logits=rows).log_prob(jnp.asarray(values)))[:10].T]
    for lp in lps:
        np.testing.assert_array_equal(np.isinf(lp), np.isinf(expected))
        np.testing.assert_allclose(lp, expected, rtol=1e-11)
        np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-12)
    torch.manual_seed(2)
    x = _np(SUB.make(Pyro, logits=rows).sample((200,)))
    SUB.check_hard(x)
    assert np.all(x[:, 1, [2, 4]] == 0)


@BACKEND
@pytest.mark.parametrize("estimator", BER.estimators)
def test_infinite_bernoulli_logits_force_the_bit(B, estimator):
    """Logits ``+inf`` / ``-inf`` (and probs 1 / 0) force the bit: the value
    is 1 / 0, its log_prob 0 and the other bit's ``-inf``; gradients w.r.t.
    the logits (0 there) and the temperature are finite."""
    logits = np.array([np.inf, -np.inf])
    x, lp, gl, gt = adapter_grads(B, BER, estimator, _weights(BER), logits=logits)
    assert np.all(x[:, 0] == 1) and np.all(x[:, 1] == 0)
    np.testing.assert_array_equal(lp, 0.0)
    assert np.all(np.isfinite(gl)) and np.all(np.isfinite(gt))
    np.testing.assert_array_equal(gl, 0.0)
    if estimator != EAGER[BER.name]:
        return
    for kwargs in ({"logits": logits}, {"probs": np.array([1.0, 0.0])}):
        d = BER.make(B, validate_args=True, **kwargs, **_static(BER))
        x = _np(sample(B, d, seed=4))
        assert np.all(x[:, 0] == 1) and np.all(x[:, 1] == 0)
        np.testing.assert_array_equal(_np(d.log_prob(B.asarray(x))), 0.0)
        np.testing.assert_array_equal(_np(d.log_prob(B.asarray(1 - x))), -np.inf)


# ================================================== 3. sampling frequencies
DRAWS = 20_000


def _chi2_p(fam, x, probs):
    """p-value of the counts of the values of ``x`` (per batch row) against
    ``probs`` (batch + (values,)); cells of probability 0 must be empty."""
    idx = fam.index(x)
    stat, df = 0.0, 0
    for row in range(probs.shape[0]):
        counts = np.bincount(idx[:, row], minlength=probs.shape[-1])
        live = probs[row] > 0
        assert np.all(counts[~live] == 0)
        expected = len(idx) * probs[row, live]
        stat += np.sum((counts[live] - expected) ** 2 / expected)
        df += int(live.sum()) - 1
    return stats.chi2.sf(stat, df)


@BACKEND
@FAMILY
def test_draws_follow_the_exact_probabilities(B, fam):
    """20 000 draws per batch row against the exact probabilities (p > 1e-3
    with a fixed seed); a negative control (the probabilities mixed 10% with
    uniform over the allowed values) fails (p < 1e-6). (NumPyro: 20 draws of
    ``N`` from the jitted function of the gradient tests; the draw does not
    depend on the estimator, next test.)"""
    if B is Pyro:
        torch.manual_seed(7)
        x = fam.make(B).sample((DRAWS,))
    else:
        w = _weights(fam)
        x = np.concatenate([adapter_grads(B, fam, fam.estimators[0], w, seed=100 + s)[0]
                            for s in range(DRAWS // N[0])])
    probs = fam.probs_of_values()
    assert _chi2_p(fam, x, probs) > 1e-3
    live = probs > 0
    wrong = 0.9 * probs + 0.1 * live / live.sum(-1, keepdims=True)
    assert _chi2_p(fam, x, wrong) < 1e-6


@BACKEND
@FAMILY
def test_the_estimator_does_not_change_the_sample(B, fam):
    """Same seed, another estimator (``gumbel_rao`` included, which draws
    more noise): the same values, bitwise."""
    w = _weights(fam)
    for seed in (0, 1):
        draws = [adapter_grads(B, fam, e, w, seed=seed)[0] for e in fam.estimators]
        for e, x in zip(fam.estimators[1:], draws[1:]):
            np.testing.assert_array_equal(x, draws[0], err_msg=f"{e}, seed {seed}")


# ================================================================ 4. gradients
def _softmax(x):
    return np.exp(_log_softmax(x))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _central(fn, x, h=1e-6):
    """Central differences of the scalar ``fn`` over the finite entries of ``x``."""
    out = np.zeros_like(x)
    for idx in zip(*np.nonzero(np.isfinite(x))):
        e = np.zeros_like(x)
        e[idx] = h
        out[idx] = (fn(x + e) - fn(x - e)) / (2 * h)
    return out


def _reference_grads(fam, estimator, x, w, u, logits=None, tau=TAU):
    """The gradient of ``sum(w * x) + sum(log_prob(x))`` w.r.t. (logits,
    temperature) from the estimator's definition, for the draw ``x`` of the
    uniforms ``u``: ``log_prob`` adds its direct gradient and, through the
    value, its derivative in the value (log softmax, the logit; none for the
    subset) to the weights; "gumbel" / "relaxed" are the gradient of the
    relaxed sample of the core on the same uniforms (torch); "st", "reinmax"
    and "marginals" closed forms (NumPy; the last by central differences of
    the brute-force inclusion probabilities). ``None`` for ``gumbel_rao``
    (no closed form: checked across backends)."""
    logits = fam.logits if logits is None else logits
    finite = np.isfinite(logits)
    if fam is CAT:
        w_eff = w + np.where(finite, _log_softmax(logits), 0.0)
        direct = np.sum(x - _softmax(logits), axis=0)
    elif fam is BER:
        w_eff = w + logits
        direct = np.sum(x - _sigmoid(logits), axis=0)
    else:
        w_eff = w

        def log_probs(lg):
            return np.sum(fam.exact_log_prob(x, lg))

        direct = _central(log_probs, logits)
    direct_t = np.zeros_like(tau)
    if estimator == "gumbel_rao":
        return None
    if estimator in ("gumbel", "relaxed"):
        lt = torch.tensor(logits, requires_grad=True)
        tt = torch.tensor(tau, requires_grad=True)
        ut = torch.tensor(np.array(u))
        if fam is CAT:
            soft = concrete.rsample(lt, tt, ut)
        elif fam is BER:
            soft = binary_concrete.rsample(lt, tt, ut)
        else:
            soft = core_subset.rsample(lt, tt, fam.static["m"], ut)
        # the hard value is what the relaxed sample rounds to
        s = _np(soft)
        if fam is CAT:
            np.testing.assert_array_equal(x, np.eye(s.shape[-1])[s.argmax(-1)])
        elif fam is BER:
            np.testing.assert_array_equal(x, (s > 0.5).astype(float))
        else:
            top = np.argsort(-s, axis=-1, kind="stable")[..., :fam.static["m"]]
            np.testing.assert_array_equal(np.sort(top, -1), np.sort(np.argsort(-x, -1, kind="stable")
                                                                     [..., :fam.static["m"]], -1))
        gl, gt = torch.autograd.grad((soft * torch.as_tensor(w_eff)).sum(), [lt, tt])
        return gl.numpy() + direct, gt.numpy() + direct_t
    wsum = w_eff.sum(0)
    if fam is CAT:
        tau_ = tau[:, None]
        if estimator == "st":
            s = _softmax(logits / tau_)
            inner = s * (wsum - np.sum(s * wsum, -1, keepdims=True))
            gt = -np.sum(inner * np.where(finite, logits, 0.0), -1) / tau ** 2
            return inner / tau_ + direct, gt
        # reinmax: P(2 J(s) g - J(pi) g / 2), s = (softmax(l / tau) + D) / 2,
        # P re-centring over the finite logits; no temperature gradient
        pi, pt = _softmax(logits), _softmax(logits / tau_)
        s = (pt + x) / 2

        def jac(p, g):
            return p * (g - np.sum(p * g, -1, keepdims=True))

        g = 2 * jac(s, w_eff) - jac(pi, w_eff) / 2
        g = np.where(finite, g - np.sum(np.where(finite, g, 0), -1, keepdims=True)
                     / finite.sum(-1, keepdims=True), 0.0)
        return g.sum(0) + direct, direct_t
    if fam is BER:
        if estimator == "st":
            s = _sigmoid(logits / tau)
            return s * (1 - s) / tau * wsum + direct, -s * (1 - s) * logits / tau ** 2 * wsum
        s = (_sigmoid(logits / tau) + x) / 2  # reinmax
        c = 2 * s * (1 - s) - _sigmoid(logits) * _sigmoid(-logits) / 2
        return (c * w_eff).sum(0) + direct, direct_t

    def inclusion(lg):  # "marginals": the brute-force inclusion probabilities
        return np.sum(wsum * (fam.probs_of_values(lg) @ fam.values))

    return _central(inclusion, logits) + direct, direct_t


CLOSED_FORM = [(f, e) for f, e in PAIRS if e != "gumbel_rao"]


@BACKEND
@pytest.mark.parametrize("fam,estimator", CLOSED_FORM, ids=[f"{f!r}-{e}" for f, e in CLOSED_FORM])
def test_gradient_is_the_estimators(B, fam, estimator):
    """The gradient of ``sum(w * value) + sum(log_prob(value))`` w.r.t. the
    logits and the temperature is the estimator's (see
    ``_reference_grads``): "gumbel" / "relaxed" that of the Gumbel-softmax /
    Binary Concrete / RelaxedSubset sample from the adapter's own uniforms
    (``backends.*.uniforms``), "st" the softmax (sigmoid) Jacobian at
    ``logits / temperature``, "reinmax" the published backward,
    "marginals" the Jacobian of the exact inclusion probabilities; plus the
    gradient of the exact log-probability, through the value where it is
    linear in it. ("gumbel_rao", which has no closed form: torch against
    JAX below.)"""
    w = _weights(fam)
    x, _, gl, gt = adapter_grads(B, fam, estimator, w, seed=2)
    u = adapter_uniforms(B, fam, estimator, seed=2)
    ref_l, ref_t = _reference_grads(fam, estimator, x, w, u)
    tol = 1e-6 if fam is SUB else 1e-10  # central differences for the subset
    np.testing.assert_allclose(gl, ref_l, rtol=tol, atol=tol)
    np.testing.assert_allclose(gt, ref_t, rtol=tol, atol=tol)
    assert np.abs(gl).max() > 1e-2
    if estimator not in ("reinmax", "marginals"):
        assert np.abs(gt).max() > 1e-3


def _torch_objective(fam, estimator, u, w):
    """``sum(w * x) + sum(log_prob(x))`` for the core's draw ``x`` on ``u``
    (torch), the log-probability written out: linear in the value for the
    one-hot and binary classes, the core's set probability (no gradient
    through the value) for the subset."""
    def fn(lg, t):
        x = fam.core_value(lg, t, u, estimator)
        if fam is CAT:
            lsm = torch.log_softmax(lg, -1)
            lp = (x * torch.where(torch.isfinite(lsm), lsm, torch.zeros_like(lsm))).sum(-1)
        elif fam is BER:
            lp = x * torch.nn.functional.logsigmoid(lg) + (1 - x) * torch.nn.functional.logsigmoid(-lg)
        else:
            lp = hard_limit.subset_log_prob(lg, x.detach() != 0)
        return (x * w).sum() + lp.sum(), x
    return fn


@PAIR
def test_torch_and_jax_agree(fam, estimator):
    """Each adapter's draw and gradient (of ``sum(w * x) + sum(log_prob(x))``,
    w.r.t. logits and temperature) are those of the core in torch on the
    uniforms the adapter drew (Pyro's and NumPyro's): so torch and JAX agree,
    for every estimator, ``gumbel_rao`` included."""
    w = _weights(fam)
    for B in (Pyro, NumPyro):
        x, _, gl, gt = adapter_grads(B, fam, estimator, w, seed=6)
        u = torch.tensor(adapter_uniforms(B, fam, estimator, seed=6))
        lt, tt = torch.tensor(fam.logits, requires_grad=True), torch.tensor(TAU, requires_grad=True)
        out, tx = _torch_objective(fam, estimator, u, torch.as_tensor(w))(lt, tt)
        grads = torch.autograd.grad(out, [lt, tt], allow_unused=True)
        np.testing.assert_array_equal(tx.detach().numpy(), x, err_msg=B.name)
        np.testing.assert_allclose(gl, grads[0].numpy(), rtol=1e-10, atol=1e-12, err_msg=B.name)
        ref_t = np.zeros_like(TAU) if grads[1] is None else grads[1].numpy()
        np.testing.assert_allclose(gt, ref_t, rtol=1e-10, atol=1e-12, err_msg=B.name)
        assert np.abs(gl).max() > 1e-2


def _masked_logits(rng, fam, shape, spread, masked):
    logits = rng.uniform(-0.5, 0.5, size=shape) * spread
    flat = logits.reshape(-1, shape[-1]) if fam is not BER else logits.reshape(1, -1)
    for row in flat:
        row[rng.permutation(len(row))[:masked]] = (
            -np.inf if fam is not BER else rng.choice([-np.inf, np.inf], size=masked))
    return logits


@st.composite
def _pyro_domain(draw):
    """(family, estimator, m, logits (k,), temperature, dtype, seed):
    temperatures 1e-4..1e3, logits spread up to 1e4, masked entries (``-inf``;
    ``+-inf`` for the Bernoulli), float32 or float64, k from 2 to 9."""
    fam = draw(st.sampled_from(FAMILIES))
    estimator = draw(st.sampled_from(fam.estimators))
    k = draw(st.integers(3 if fam is SUB else 2, 9))
    m = draw(st.integers(1, k - 2)) if fam is SUB else 1
    spread = 10.0 ** draw(st.floats(-2, 4))
    tau = 10.0 ** draw(st.floats(-4, 3))
    masked = draw(st.integers(0, {"categorical": k - 1, "bernoulli": k, "subset": k - m - 1}[fam.kind]))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    seed = draw(st.integers(0, 2**16))
    logits = _masked_logits(np.random.default_rng(seed), fam, (k,), spread, masked)
    return fam, estimator, m, logits, tau, dtype, seed


def _check_domain(fam, m, logits, x, lp, gl, gt):
    x = _np(x)
    assert np.all((x == 0) | (x == 1))
    if fam is BER:
        assert np.all(x[..., logits == np.inf] == 1) and np.all(x[..., logits == -np.inf] == 0)
    else:
        np.testing.assert_array_equal(x.sum(-1), 1 if fam is CAT else m)
        assert np.all(np.broadcast_to(np.isinf(logits), x.shape) <= (x == 0))
    assert np.all(np.isfinite(_np(lp)))
    assert np.all(np.isfinite(_np(gl))) and np.all(np.isfinite(_np(gt)))


@settings(derandomize=True, max_examples=60, deadline=None, database=None)
@given(_pyro_domain())
def test_pyro_finite_gradients_over_the_domain(case):
    """Own draws are hard, structured and never masked; ``log_prob`` and the
    gradient of ``sum(w * x) + sum(log_prob(x))`` w.r.t. logits and
    temperature are finite, in float32 and float64."""
    fam, estimator, m, logits, tau, dtype, seed = case
    dt = getattr(torch, dtype)
    lt = torch.tensor(logits, dtype=dt, requires_grad=True)
    tt = torch.tensor(tau, dtype=dt, requires_grad=True)
    static = {"m": m} if fam is SUB else {}
    torch.manual_seed(seed)
    d = fam.cls(rp)(tt, logits=lt, estimator=estimator, validate_args=True, **static)
    x = d.rsample((4,))
    lp = d.log_prob(x)
    w = torch.as_tensor(np.random.default_rng(seed).normal(size=x.shape), dtype=dt)
    grads = torch.autograd.grad((x * w).sum() + lp.sum(), [lt, tt], allow_unused=True)
    gt = torch.zeros(()) if grads[1] is None else grads[1]
    _check_domain(fam, m, logits, x, lp, grads[0], gt)


@st.composite
def _numpyro_domain(draw):
    """As ``_pyro_domain`` on the shapes of ``FAMILIES`` (the jitted
    functions of the other tests); float32 for the default estimator of the
    one-hot and binary classes (each dtype and estimator compiles anew; the
    Pyro test runs every estimator in float32 on the same core code)."""
    fam = draw(st.sampled_from(FAMILIES))
    dtype = "float64" if fam is SUB else draw(st.sampled_from(["float32", "float64"]))
    estimator = "gumbel" if dtype == "float32" else draw(st.sampled_from(fam.estimators))
    spread = 10.0 ** draw(st.floats(-2, 4))
    tau = np.full(2, 10.0 ** draw(st.floats(-4, 3)))
    k = fam.logits.shape[-1] if fam is not BER else 2
    masked = draw(st.integers(0, {"categorical": k - 1, "bernoulli": k, "subset": k - M - 1}[fam.kind]))
    seed = draw(st.integers(0, 2**16))
    logits = _masked_logits(np.random.default_rng(seed), fam, fam.logits.shape, spread, masked)
    return fam, estimator, logits, tau, dtype, seed


@settings(derandomize=True, max_examples=30, deadline=None, database=None)
@given(_numpyro_domain())
def test_numpyro_finite_gradients_over_the_domain(case):
    """As the Pyro test, under ``jax.jit``."""
    fam, estimator, logits, tau, dtype, seed = case
    x, lp, gl, gt = adapter_grads(NumPyro, fam, estimator, _weights(fam, seed, dtype), seed=seed,
                                  logits=logits, temperature=tau, dtype=dtype)
    _check_domain(fam, M, logits, x, lp, gl, gt)


# ========================================================= 5. host conventions
@BACKEND
@FAMILY
def test_expand_keeps_static_args(B, fam):
    static = _static(fam)
    d = fam.cls(B)(B.asarray(TAU), logits=B.asarray(fam.logits), validate_args=True, **static)
    e = d.expand(N + (2,))
    base = getattr(e, "base_dist", e)
    for key, value in static.items():
        assert getattr(base, key) == value
    if B is NumPyro:  # and through a pytree round trip
        leaves, tree = jax.tree_util.tree_flatten(e)
        f = jax.tree_util.tree_unflatten(tree, leaves)
        for key, value in static.items():
            assert getattr(getattr(f, "base_dist", f), key) == value
    assert tuple(e.batch_shape) == N + (2,) and tuple(e.event_shape) == fam.event_shape
    y = sample(B, e, ())
    assert tuple(y.shape) == N + (2,) + fam.event_shape
    fam.check_hard(y)
    x = sample(B, d)
    np.testing.assert_allclose(_np(e.log_prob(x)), _np(d.log_prob(x)), rtol=1e-12)


@BACKEND
@FAMILY
def test_infer_shapes(B, fam):
    cls = fam.cls(B)
    p = fam.logits.shape[1:]
    for shapes, batch in [({"temperature": (), "logits": (3,) + p}, (3,)),
                          ({"temperature": (2, 1), "logits": (3,) + p}, (2, 3)),
                          ({"temperature": (2,), "probs": p}, (2,))]:
        got = cls.infer_shapes(**shapes, **_static(fam))
        assert tuple(map(tuple, got)) == (batch, fam.event_shape), shapes
        if B is Pyro:
            assert all(isinstance(s, torch.Size) for s in got)


def _round_trip(d, how):
    if how == "pickle":
        return pickle.loads(pickle.dumps(d))
    if how == "cloudpickle":
        return cloudpickle.loads(cloudpickle.dumps(d))
    if how == "deepcopy":
        return copy.deepcopy(d)
    buf = io.BytesIO()
    torch.save(d, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


PICKLERS = [(Pyro, h) for h in ("pickle", "cloudpickle", "torch.save", "deepcopy")] + [
    (NumPyro, h) for h in ("pickle", "cloudpickle", "deepcopy")]


@pytest.mark.parametrize("B,how", PICKLERS, ids=[f"{B.name}-{h}" for B, h in PICKLERS])
@FAMILY
def test_pickle_round_trip_before_and_after_sampling(B, how, fam):
    static = _static(fam)
    shape = N if B is NumPyro else (5,)  # NumPyro: the compiled shapes
    value = sample(B, fam.make(B, **static), shape, seed=9)
    for stage in ("fresh", "sampled"):
        d = fam.cls(B)(B.asarray(TAU), logits=B.asarray(fam.logits), **static)
        if stage == "sampled":
            sample(B, d, shape, seed=1)
            if B is Pyro:
                d.rsample_with_intermediates(shape)
        d2 = _round_trip(d, how)
        assert type(d2) is type(d) and d2.batch_shape == d.batch_shape, stage
        for key, v in static.items():
            assert getattr(d2, key) == v, stage
        np.testing.assert_array_equal(_np(d2.log_prob(value)), _np(d.log_prob(value)), stage)
        np.testing.assert_array_equal(_np(sample(B, d2, shape, seed=4)), _np(sample(B, d, shape, seed=4)),
                                      stage)
        assert repr(_round_trip(d.support, how)) == repr(d.support)


def _single(fam, t, lg):
    return fam.cls(rn)(t, logits=lg, **_static(fam))


@jax.jit
def _through_vmap(temperatures, logits, values, keys):
    """For each class: ``jax.vmap`` over the rows of its parameters builds
    distributions of batch () with the out-axes of ``vmap_over``; their
    log_prob of ``values`` and draws (one key per row) under ``jax.vmap``.
    (One jit for the three classes: one compilation.)"""
    out = []
    for fam, t, lg, x in zip(FAMILIES, temperatures, logits, values):
        single = functools.partial(_single, fam)
        axes = vmap_over(single(t[0], lg[0]), temperature=0, logits=0)
        ds = jax.vmap(single, out_axes=axes)(t, lg)
        lp = jax.vmap(lambda d, v: d.log_prob(v), in_axes=(axes, 1), out_axes=1)(ds, x)
        draws = jax.vmap(lambda d, k: d.sample(k, N), in_axes=(axes, 0), out_axes=1)(ds, keys)
        out.append((lp, draws))
    return out


def test_numpyro_pytree_jit_vmap_and_vmap_over():
    """A pytree round trip keeps the class and the static arguments (and the
    draw); ``jax.vmap`` over distributions of batch () with the out-axes of
    ``vmap_over``, under ``jax.jit``, is the batched distribution: the same
    log_prob, and each element draws from its own parameters."""
    values, expected = [], []
    for fam in FAMILIES:
        static = _static(fam)
        d = fam.cls(rn)(jnp.asarray(TAU), logits=jnp.asarray(fam.logits), **static)
        leaves, tree = jax.tree_util.tree_flatten(d)
        d2 = jax.tree_util.tree_unflatten(tree, leaves)
        assert type(d2) is type(d) and d2.batch_shape == d.batch_shape
        for key, value in static.items():
            assert getattr(d2, key) == value
        x = sample(NumPyro, d)
        np.testing.assert_array_equal(np.asarray(sample(NumPyro, d2)), np.asarray(x))
        values.append(x)
        expected.append(np.asarray(d.log_prob(x)))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    out = _through_vmap([jnp.asarray(TAU)] * 3, [jnp.asarray(f.logits) for f in FAMILIES], values, keys)
    for fam, (lp, draws), lp_batched in zip(FAMILIES, out, expected):
        np.testing.assert_allclose(np.asarray(lp), lp_batched, rtol=1e-12, err_msg=fam.name)
        assert draws.shape == N + (2,) + fam.event_shape
        fam.check_hard(draws)
        # each row drew from its own parameters: the masked category of row
        # 1 never, the same category of row 0 sometimes; the bits of row 0
        # (logit -0.8) less often than those of row 1 (logit 1.1)
        draws = np.asarray(draws)
        if fam is BER:
            assert draws[:, 0].mean() < 0.4 < 0.6 < draws[:, 1].mean()
        else:
            assert np.all(draws[:, 1, -1] == 0) and np.any(draws[:, 0, -1] == 1)


@FAMILY
@pytest.mark.filterwarnings(f"ignore:{TRACE_DEPRECATED}:DeprecationWarning")
def test_pyro_jit_trace_of_rsample_equals_eager(fam):
    """``torch.jit.trace`` of ``rsample`` and ``log_prob`` (every warning an
    error but torch's notice that ``torch.jit.trace`` is deprecated) equals
    eager under the same seed: values, log_prob and gradients, for every
    estimator."""
    cls = fam.cls(rp)
    for estimator in fam.estimators:
        def draw(logits, temperature):
            d = cls(temperature, logits=logits, validate_args=False, estimator=estimator, **fam.static)
            x = d.rsample((5,))
            return x, d.log_prob(x)

        # traced with logits that require grad, as JitTrace_ELBO traces
        # parameters (the subset's solver takes another path without them)
        args = (torch.tensor(fam.logits, requires_grad=True), torch.tensor(TAU))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.filterwarnings("ignore", message=TRACE_DEPRECATED, category=DeprecationWarning)
            torch.manual_seed(0)
            traced = torch.jit.trace(draw, args, check_trace=False)
            for seed in (5, 6):
                outs = []
                for fn in (traced, draw):
                    lt = torch.tensor(fam.logits, requires_grad=True)
                    torch.manual_seed(seed)
                    x, lp = fn(lt, args[1])
                    w = x.new_tensor(_weights(fam)[:5])
                    outs.append((x, lp, torch.autograd.grad((x * w).sum() + lp.sum(), lt)[0]))
                (x, lp, g), (xe, lpe, ge) = outs
                np.testing.assert_array_equal(_np(x), _np(xe), err_msg=estimator)
                np.testing.assert_allclose(_np(lp), _np(lpe), rtol=1e-12, err_msg=estimator)
                np.testing.assert_allclose(_np(g), _np(ge), rtol=1e-12, atol=1e-14, err_msg=estimator)
                fam.check_hard(x)


@FAMILY
def test_plates_and_to_event(fam):
    """Under plates ``(N, 2)`` (the distribution of batch (2,) broadcast) and
    with ``.to_event(1)`` under a plate of ``N``, the site values have the
    plate and event shapes, are hard, and score the exact log-probability,
    in both backends. (The shapes of a draw of sample shape ``N``: NumPyro
    reuses the operations compiled for it.)"""
    def model(mod, plate, sample_fn, A):
        d = fam.cls(mod)(A(TAU), logits=A(fam.logits), **_static(fam))
        with plate("r", N[0], dim=-2), plate("p", 2, dim=-1):
            a = sample_fn("a", d)
        with plate("r2", N[0], dim=-1):
            b = sample_fn("b", d.to_event(1))
        return a, b

    torch.manual_seed(0)
    tr = poutine.trace(model).get_trace(rp, pyro.plate, pyro.sample, torch.tensor)
    ntr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(
        rn, numpyro.plate, numpyro.sample, jnp.asarray)
    for sites in (tr.nodes, ntr):
        a, b = sites["a"]["value"], sites["b"]["value"]
        assert tuple(a.shape) == tuple(b.shape) == N + (2,) + fam.event_shape
        fam.check_hard(a)
        fam.check_hard(b)
        lp_a, lp_b = sites["a"]["fn"].log_prob(a), sites["b"]["fn"].log_prob(b)
        assert tuple(lp_a.shape) == N + (2,) and tuple(lp_b.shape) == N
        np.testing.assert_allclose(_np(lp_a), fam.exact_log_prob(a), rtol=1e-11)
        np.testing.assert_allclose(_np(lp_b), fam.exact_log_prob(b).sum(-1), rtol=1e-11)


def _predictive_model(mod, A):
    sample_fn = numpyro.sample if mod is rn else pyro.sample
    for fam, site in ((CAT, "a"), (BER, "b"), (SUB, "c")):
        sample_fn(site, fam.cls(mod)(A(TAU), logits=A(fam.logits), **_static(fam)).to_event(1))


def _predictive_guide(mod, A):
    sample_fn = numpyro.sample if mod is rn else pyro.sample
    sample_fn("a", CAT.cls(mod)(A(TAU), logits=A(CAT.logits[::-1].copy()), **_static(CAT)).to_event(1))


def test_predictive_returns_hard_values():
    """``Predictive`` from the prior and from a guide (Pyro), from a guide
    (NumPyro: the model draws the sites the guide does not, so one call
    covers both; ``lax.map`` over the draws compiles the model once, several
    times faster than the eager ``vmap`` of ``parallel=True``): every sample
    of every site is hard."""
    sites = ["a", "b", "c"]
    pyro.set_rng_seed(0)
    model = functools.partial(_predictive_model, rp, torch.tensor)
    guide = functools.partial(_predictive_guide, rp, torch.tensor)
    outs = [pyro.infer.Predictive(model, num_samples=N[0], return_sites=sites, parallel=True)(),
            pyro.infer.Predictive(model, guide=guide, num_samples=N[0], return_sites=sites,
                                  parallel=True)()]
    model = functools.partial(_predictive_model, rn, jnp.asarray)
    guide = functools.partial(_predictive_guide, rn, jnp.asarray)
    outs.append(numpyro.infer.Predictive(model, guide=guide, num_samples=N[0], return_sites=sites)(
        jax.random.PRNGKey(1)))
    for out in outs:
        for fam, site in ((CAT, "a"), (BER, "b"), (SUB, "c")):
            assert tuple(out[site].shape) == N + (2,) + fam.event_shape
            fam.check_hard(out[site])
    # the guide's site comes from the guide: the masked category (the last)
    # is in its row 0, and never drawn there (the model's row 1)
    for out in outs[1:]:
        assert np.all(_np(out["a"])[:, 0, -1] == 0)
        assert np.any(_np(out["a"])[:, 1, -1] == 1)
    assert np.all(_np(outs[0]["a"])[:, 1, -1] == 0)


# ==================================================================== 6. SVI
#: A categorical latent with a Normal likelihood of three observations,
#: written as sum_i z_i log N(y; mu_i, 1) (the likelihood of the one-hot z).
MUS = np.array([-2.0, 0.0, 2.0, 4.0])
YS = np.array([1.4, 1.7, 1.2])
PRIOR = np.log([0.4, 0.3, 0.2, 0.1])
LOG_LIK = stats.norm(MUS[:, None], 1.0).logpdf(YS).sum(-1)
POSTERIOR = _softmax(PRIOR + LOG_LIK)
#: Three independent bits: prior logit 0, log-likelihood ratios BITS_LLR.
BITS_LLR = np.array([2.5, -2.0, 1.5])
#: m = 2 of k = 4 under a uniform prior, a log-likelihood linear in the set.
SET_W = np.array([3.0, 2.5, -1.0, -1.5])
SET_MASKS = np.array([[float(i in c) for i in range(4)] for c in itertools.combinations(range(4), 2)])
SET_POSTERIOR = _softmax(SET_MASKS @ SET_W)
STEPS, LR = 100, 0.15


def _svi_problems(mod, A, sample_fn, factor_fn, param_fn=None, families=FAMILIES):
    """The model (``param_fn`` None) or the guide: one independent copy of
    each problem per (class, estimator), as sites of one model, so that one
    SVI run (one compilation in NumPyro) fits them all; each guide has its
    own logits, initialised to 0 (uniform)."""
    for fam in families:
        for est in fam.estimators:
            name = f"{fam.kind}_{est}"
            size = {"categorical": K, "bernoulli": 3, "subset": 4}[fam.kind]
            if param_fn is None:
                logits = {"categorical": A(PRIOR), "bernoulli": A(np.zeros(3)), "subset": A(np.zeros(4))}
                lik = {"categorical": LOG_LIK, "bernoulli": BITS_LLR, "subset": SET_W}[fam.kind]
            else:
                logits = {fam.kind: param_fn(f"q_{name}", A(np.zeros(size)))}
            static = {"m": 2} if fam is SUB else {}
            if param_fn is not None:
                static["estimator"] = est
            d = fam.cls(mod)(1.0, logits=logits[fam.kind], **static)
            z = sample_fn(name, d.to_event(1) if fam is BER else d)
            if param_fn is None:
                factor_fn(f"y_{name}", (z * A(lik)).sum(-1))


def _check_fitted(fam, est, q_logits):
    """The guide's distribution over the values moved to the exact
    posterior: its most probable value is the posterior's, its total
    variation distance to it fell by more than 0.3 (for the bits: each
    probability on the posterior's side of 1/2 and closer to the posterior
    than the prior by more than 0.1)."""
    q_logits = np.asarray(q_logits, dtype=np.float64)
    if fam is BER:
        q, post = _sigmoid(q_logits), _sigmoid(BITS_LLR)
        assert np.all(np.sign(q - 0.5) == np.sign(post - 0.5)), (est, q)
        assert np.all(np.abs(q - post) < np.abs(0.5 - post) - 0.1), (est, q, post)
        return
    if fam is CAT:
        q, post = _softmax(q_logits), POSTERIOR
    else:
        q, post = np.exp(_np(rp.SubsetStraightThrough(1.0, m=2, logits=torch.tensor(q_logits))
                             .log_prob(torch.tensor(SET_MASKS)))), SET_POSTERIOR
    initial = np.full(len(post), 1 / len(post))
    assert np.argmax(q) == np.argmax(post), (est, q)
    assert 0.5 * np.abs(q - post).sum() < 0.5 * np.abs(initial - post).sum() - 0.3, (est, q, post)


def test_pyro_svi_moves_straight_through_guides_to_the_posterior():
    """Trace_ELBO, 100 steps of Adam: for each class and each estimator, a
    guide of the class with learnt logits approaches the exact posterior
    (by enumeration) of a one-hot latent with a Normal likelihood, of three
    independent bits, and of a 2-subset of 4."""
    def model():
        _svi_problems(rp, torch.tensor, pyro.sample, pyro.factor)

    def guide():
        _svi_problems(rp, torch.tensor, pyro.sample, None, pyro.param)

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": LR}), pyro.infer.Trace_ELBO())
    for _ in range(STEPS):
        svi.step()
    fitted = {name: value.detach().numpy() for name, value in pyro.get_param_store().items()}
    pyro.clear_param_store()
    for fam in FAMILIES:
        for est in fam.estimators:
            _check_fitted(fam, est, fitted[f"q_{fam.kind}_{est}"])


#: Warnings are errors here: NumPyro's SVI warns for a latent site whose
#: support is discrete unless the loss enumerates; a straight-through site is
#: reparameterized, and its support says so (no warning).
def test_numpyro_svi_moves_straight_through_guides_to_the_posterior():
    """As the Pyro test, for the one-hot class (each site adds to the one
    compilation; the other classes are fitted in Pyro)."""
    families = (CAT,)

    def model():
        _svi_problems(rn, jnp.asarray, numpyro.sample, numpyro.factor, families=families)

    def guide():
        _svi_problems(rn, jnp.asarray, numpyro.sample, None, numpyro.param, families=families)

    svi = numpyro.infer.SVI(model, guide, numpyro.optim.Adam(LR), numpyro.infer.Trace_ELBO())
    result = svi.run(jax.random.PRNGKey(0), STEPS, progress_bar=False)
    assert np.all(np.isfinite(np.asarray(result.losses)))
    for fam in families:
        for est in fam.estimators:
            _check_fitted(fam, est, result.params[f"q_{fam.kind}_{est}"])


# ================================================================= 7. errors
def _bad_cases():
    lg4 = np.log([0.1, 0.2, 0.3, 0.4])
    cases = []
    for fam in (CAT, BER):
        lg = lg4 if fam is CAT else lg4[:2]
        cases += [
            (fam, {"logits": lg, "estimator": "gumbel-softmax"}, "estimator"),
            (fam, {"logits": lg, "estimator": "relaxed"}, "estimator"),
            (fam, {"logits": lg, "estimator": None}, "estimator"),
            (fam, {"logits": lg, "rao_samples": 0}, "rao_samples"),
            (fam, {"logits": lg, "rao_samples": 1.5}, "rao_samples"),
            (fam, {"logits": lg, "rao_samples": True}, "rao_samples"),
            (fam, {"logits": lg, "rao_samples": 0, "estimator": "st"}, "rao_samples"),
        ]
    for fam in FAMILIES:
        lg = lg4 if fam is not BER else lg4[:2]
        m = {"m": 2} if fam is SUB else {}
        cases += [
            (fam, {"logits": lg, "temperature": 0.0, **m}, "temperature"),
            (fam, {"logits": lg, "temperature": -1.0, **m}, "temperature"),
            (fam, {"logits": lg, "temperature": np.nan, **m}, "temperature"),
            (fam, {"logits": lg, "temperature": "hot", **m}, "temperature"),
            (fam, {**m}, "probs"),
            (fam, {"logits": lg, "probs": np.exp(lg), **m}, "probs"),
        ]
    cases += [
        (SUB, {"logits": lg4}, "m"),
        (SUB, {"logits": lg4, "m": 0}, "m"),
        (SUB, {"logits": lg4, "m": 4}, "m"),
        (SUB, {"logits": lg4, "m": 2.0}, "m"),
        (SUB, {"logits": lg4, "m": True}, "m"),
        (SUB, {"logits": lg4, "m": 2, "estimator": "gumbel"}, "estimator"),
    ]
    return cases


BAD = _bad_cases()


@BACKEND
@pytest.mark.parametrize("fam,kwargs,name", BAD, ids=[f"{f!r}-{i}-{n}" for i, (f, _, n) in enumerate(BAD)])
def test_bad_arguments_raise_value_error_naming_them(B, fam, kwargs, name):
    kwargs = dict(kwargs)
    tau = kwargs.pop("temperature", 1.0)
    for key in ("logits", "probs"):
        if key in kwargs:
            kwargs[key] = B.asarray(kwargs[key])
    with pytest.raises(ValueError, match=rf"`{name}`") as info:
        fam.cls(B)(tau if isinstance(tau, str) else B.asarray(tau), validate_args=True, **kwargs)
    if name == "estimator":  # the valid names are listed
        valid = core_st.ESTIMATORS[fam.kind]
        assert all(repr(v) in str(info.value) for v in valid), str(info.value)


@BACKEND
@pytest.mark.parametrize("fam,value", [
    (CAT, [0.5, 0.5, 0.0, 0.0]), (CAT, [1.0, 1.0, 0.0, 0.0]), (CAT, [0.0, 0.0, 0.0, 0.0]),
    (BER, [0.5, 1.0]), (BER, [2.0, 0.0]),
    (SUB, [1.0, 1.0, 1.0, 0.0, 0.0]), (SUB, [1.0, 0.0, 0.0, 0.0, 0.0]), (SUB, [0.5, 0.5, 1.0, 0.0, 0.0]),
], ids=str)
def test_values_outside_the_support_raise_when_validating(B, fam, value):
    d = fam.make(B, validate_args=True)
    value = np.array(np.broadcast_to(value, fam.logits.shape[:1] + fam.event_shape))
    with pytest.raises(ValueError, match=r"`value`"):
        d.log_prob(B.asarray(value))
    assert not bool(np.all(_np(d.support(B.asarray(value)) if B is NumPyro
                               else d.support.check(B.asarray(value)))))


@pytest.mark.parametrize("fam,kwargs,name", BAD, ids=[f"{f!r}-{i}-{n}" for i, (f, _, n) in enumerate(BAD)])
def test_both_backends_word_argument_errors_alike(fam, kwargs, name):
    """The same message in both backends (up to how each prints the
    offending array)."""
    messages = []
    for B in BACKENDS:
        kw = dict(kwargs)
        tau = kw.pop("temperature", 1.0)
        for key in ("logits", "probs"):
            if key in kw:
                kw[key] = B.asarray(kw[key])
        with pytest.raises(ValueError) as info:
            fam.cls(B)(tau if isinstance(tau, str) else B.asarray(tau), validate_args=True, **kw)
        messages.append(str(info.value).split("got invalid values")[0])
    assert messages[0] == messages[1]


def test_supports_are_hard_but_not_discrete_latents_and_have_no_bijection():
    """The value is hard, but the site is reparameterized: not a discrete
    latent for the host (no enumeration, no NumPyro warning), and with no
    bijection from unconstrained space AutoGuides refuse it, saying why."""
    import numpyro.distributions.transforms as ntransforms
    from torch.distributions import biject_to

    for d in (rp.OneHotCategoricalStraightThrough(1.0, logits=torch.zeros(4)),
              rp.BernoulliStraightThrough(1.0, logits=torch.zeros(())),
              rp.SubsetStraightThrough(1.0, 2, logits=torch.zeros(4))):
        assert not d.support.is_discrete
        with pytest.raises(ValueError, match="straight-through value is hard"):
            biject_to(d.support)
    for d in (rn.OneHotCategoricalStraightThrough(1.0, logits=jnp.zeros(4)),
              rn.BernoulliStraightThrough(1.0, logits=jnp.zeros(())),
              rn.SubsetStraightThrough(1.0, 2, logits=jnp.zeros(4))):
        assert not d.support.is_discrete
        with pytest.raises(ValueError, match="straight-through value is hard"):
            ntransforms.biject_to(d.support)
    assert rp.Subset(2, logits=torch.zeros(4)).support.is_discrete
    assert rn.Subset(2, logits=jnp.zeros(4)).support.is_discrete
