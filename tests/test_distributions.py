"""Generic tests of the Pyro and NumPyro classes, driven by one table of
cases: shapes, expand, broadcasting, gradients against central finite
differences, jit, pytrees, validation, agreement with the host libraries."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from backends import BACKENDS, NumPyro, Pyro
from conftest import central_differences
from numpyro import distributions as ndist
from torch import distributions as tdist

from relaxed_dists.core import binary_concrete as bc
from relaxed_dists.core import concrete as cc

# name -> (categorical?, core sampler, core log_prob)
CLASSES = {
    "GumbelSoftmax": (True, cc.rsample, cc.log_prob),
    "ExpGumbelSoftmax": (True, cc.rsample_log, cc.exp_log_prob),
    "BinaryConcrete": (False, bc.rsample, bc.log_prob),
    "LogitBinaryConcrete": (False, bc.rsample_logit, bc.logit_log_prob),
}
K = 4


def _params(name, batch, rng, kind="logits"):
    categorical = CLASSES[name][0]
    shape = batch + ((K,) if categorical else ())
    logits = rng.normal(size=shape)
    if kind == "logits":
        return {"logits": logits}
    if categorical:
        e = np.exp(logits)
        return {"probs": e / e.sum(-1, keepdims=True)}
    return {"probs": 1 / (1 + np.exp(-logits))}


def _make(B, name, temperature, params, **kw):
    return getattr(B.module, name)(
        B.asarray(temperature), **{k: B.asarray(v) for k, v in params.items()}, **kw
    )


CASES = [
    pytest.param(B, name, kind, id=f"{B.name}-{name}-{kind}")
    for B in BACKENDS
    for name in CLASSES
    for kind in ("logits", "probs")
]


@pytest.mark.parametrize("B,name,kind", CASES)
@pytest.mark.parametrize("sample_shape", [(), (2,), (2, 3)], ids=str)
def test_shapes(B, name, kind, sample_shape, rng):
    d = _make(B, name, 0.7, _params(name, (5,), rng, kind))
    event = (K,) if CLASSES[name][0] else ()
    assert d.batch_shape == (5,) and d.event_shape == event and d.has_rsample
    x = B.sample(d, sample_shape)
    assert tuple(x.shape) == sample_shape + (5,) + event
    assert tuple(d.log_prob(x).shape) == sample_shape + (5,)
    e = d.expand((3, 5))
    y = B.sample(e, sample_shape)
    assert tuple(y.shape) == sample_shape + (3, 5) + event
    assert tuple(e.log_prob(y).shape) == sample_shape + (3, 5)


@pytest.mark.parametrize("B,name,kind", CASES)
def test_batched_temperature_broadcasts(B, name, kind, rng):
    params = _params(name, (3,), rng, kind)
    temps = np.array([[0.3], [1.7]])
    d = _make(B, name, temps, params)
    assert d.batch_shape == (2, 3)
    x = B.sample(d, (4,))
    lp = B.numpy(d.log_prob(x))
    for i in range(2):
        for j in range(3):
            single = _make(B, name, temps[i, 0], {k: v[j] for k, v in params.items()})
            np.testing.assert_allclose(B.numpy(single.log_prob(x[:, i, j])), lp[:, i, j], rtol=1e-12)


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_adapter_sample_is_core_of_its_uniforms(B, name, rng):
    """The adapters only draw uniforms; the value is the core function of them,
    so the two backends agree given the same uniforms."""
    categorical, sample_fn, _ = CLASSES[name]
    params = _params(name, (3,), rng)
    d = _make(B, name, 0.6, params)
    x = B.sample(d, (5,), seed=7)
    u = B.uniforms((5, 3) + ((K,) if categorical else ()), B.asarray(0.0).dtype, seed=7)
    expected = sample_fn(params["logits"], np.full(3, 0.6), np.asarray(u))
    np.testing.assert_allclose(B.numpy(x), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_gradients_match_finite_differences(B, name, rng):
    categorical = CLASSES[name][0]
    logits = rng.normal(size=(2, K) if categorical else (2,))
    tau = np.array([0.6, 1.3])
    w = rng.normal(size=(3, 2) + ((K,) if categorical else ()))
    value = B.numpy(B.sample(_make(B, name, tau, {"logits": logits}), (3,), seed=3))

    def sample_obj(l, t):  # pathwise: the same noise (seed) at every evaluation
        x = B.sample(_make(B, name, t, {"logits": l}), (3,), seed=11)
        return (x * B.asarray(w)).sum() if B is Pyro else jnp.sum(x * w)

    def logp_obj(l, t):
        return _make(B, name, t, {"logits": l}).log_prob(B.asarray(value)).sum()

    for obj in (sample_obj, logp_obj):
        g_l, g_t = B.grad(obj, logits, tau)
        num = lambda f: float(B.numpy(f))
        np.testing.assert_allclose(
            g_l,
            central_differences(lambda l: num(obj(B.asarray(l), B.asarray(tau))), logits),
            rtol=1e-6,
            atol=1e-7,
        )
        np.testing.assert_allclose(
            g_t,
            central_differences(lambda t: num(obj(B.asarray(logits), B.asarray(t))), tau),
            rtol=1e-6,
            atol=1e-7,
        )


@pytest.mark.parametrize("name", CLASSES)
def test_numpyro_jit_vmap_and_pytree(name, rng):
    params = _params(name, (3,), rng)
    d = _make(NumPyro, name, 0.8, params)
    key = jax.random.PRNGKey(1)
    x = d.sample(key, (4,))
    np.testing.assert_allclose(jax.jit(lambda k: d.sample(k, (4,)))(key), x, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(lambda dd, v: dd.log_prob(v))(d, x), d.log_prob(x), rtol=1e-12)
    leaves, tree = jax.tree_util.tree_flatten(d)
    d2 = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_allclose(d2.log_prob(x), d.log_prob(x), rtol=1e-14)
    # vmap over temperatures, and grad of the log-density under jit
    temps = jnp.array([0.3, 0.9])
    lp = jax.vmap(lambda t: _make(NumPyro, name, t, params).log_prob(x))(temps)
    assert lp.shape == (2, 4, 3)
    np.testing.assert_allclose(lp[1], _make(NumPyro, name, 0.9, params).log_prob(x), rtol=1e-12)
    g = jax.jit(jax.grad(lambda t: _make(NumPyro, name, t, params).log_prob(x).sum()))(0.8)
    assert np.isfinite(g)


# ---------------------------------------------------------------- validation
BAD_ARGS = [
    ("temperature", 0.0, "logits"),
    ("temperature", -1.0, "logits"),
    ("temperature", np.inf, "logits"),
    ("temperature", np.nan, "logits"),
    ("logits", np.nan, "logits"),
    ("logits", np.inf, "logits"),
    ("probs", 1.2, "probs"),
    ("probs", -0.1, "probs"),
    ("probs", 0.0, "probs"),
]


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("param,bad,kind", BAD_ARGS, ids=lambda v: str(v))
def test_bad_arguments_raise_value_error_naming_them(B, name, param, bad, kind, rng):
    params = _params(name, (2,), rng, kind)
    temperature = 0.5
    if param == "temperature":
        temperature = bad
    else:
        params[param] = params[param].copy()
        params[param].flat[0] = bad
    with pytest.raises(ValueError, match=param):
        _make(B, name, temperature, params, validate_args=True)


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", ["GumbelSoftmax", "ExpGumbelSoftmax"])
def test_probs_must_sum_to_one(B, name):
    with pytest.raises(ValueError, match="probs"):
        _make(B, name, 0.5, {"probs": [0.2, 0.3, 0.4]}, validate_args=True)


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_both_or_neither_probs_logits(B, name):
    cls = getattr(B.module, name)
    with pytest.raises(ValueError, match="probs.*logits"):
        cls(B.asarray(0.5))
    with pytest.raises(ValueError, match="probs.*logits"):
        cls(B.asarray(0.5), probs=B.asarray([0.5, 0.5]), logits=B.asarray([0.0, 0.0]))


OUTSIDE = {
    "GumbelSoftmax": [[0.5, 0.6, 0.1, 0.1], [-0.1, 0.6, 0.4, 0.1]],
    "ExpGumbelSoftmax": [[0.0, -1.0, -1.0, -1.0], [-np.inf, -1.0, -1.0, -0.5]],
    "BinaryConcrete": [1.5, -0.2],
    "LogitBinaryConcrete": [np.nan],
}


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_values_outside_support_or_of_wrong_shape_raise(B, name, rng):
    d = _make(B, name, 0.5, _params(name, (), rng), validate_args=True)
    for bad in OUTSIDE[name]:
        with pytest.raises(ValueError, match="value|support"):
            d.log_prob(B.asarray(bad))
    if CLASSES[name][0]:
        with pytest.raises(ValueError, match="value|event_shape"):
            d.log_prob(B.asarray(np.full(K + 1, 1 / (K + 1))))


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_own_float32_samples_pass_validation(B, name, rng):
    """Temperature 0.01, 10 000 categories, float32: no own sample fails."""
    categorical = CLASSES[name][0]
    shape = (10_000,) if categorical else (10_000,)
    logits = B.asarray(rng.normal(size=shape) * 3, np.float32)
    cls = getattr(B.module, name)
    for tau in (0.01, 0.5, 10.0):
        d = cls(B.asarray(tau, np.float32), logits=logits, validate_args=True)
        x = B.sample(d, (20,))
        assert x.dtype == B.float32()
        lp = B.numpy(d.log_prob(x))  # raises if any sample is outside the support
        assert not np.isnan(lp).any()


# ---------------------------------------------------------------- host libraries
def test_agrees_with_torch_relaxed_one_hot_categorical(rng):
    logits = torch.as_tensor(rng.normal(size=(3, 5)))
    tau = torch.tensor(0.5, dtype=torch.float64)
    theirs = tdist.RelaxedOneHotCategorical(tau, logits=logits)
    x = theirs.sample((50,))
    ours = Pyro.module.GumbelSoftmax(tau, logits=logits)
    np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(x), rtol=1e-10)
    v = x.log()
    exp_theirs = tdist.relaxed_categorical.ExpRelaxedCategorical(tau, logits=logits)
    np.testing.assert_allclose(
        Pyro.module.ExpGumbelSoftmax(tau, logits=logits).log_prob(v), exp_theirs.log_prob(v), rtol=1e-10
    )


def test_agrees_with_relaxed_bernoulli_of_torch_and_numpyro(rng):
    logits = rng.normal(size=6)
    tau = 0.5
    x = tdist.RelaxedBernoulli(torch.tensor(tau, dtype=torch.float64), logits=torch.as_tensor(logits)).sample(
        (40,)
    )
    theirs = tdist.RelaxedBernoulli(
        torch.tensor(tau, dtype=torch.float64), logits=torch.as_tensor(logits)
    ).log_prob(x)
    ours = Pyro.module.BinaryConcrete(
        torch.tensor(tau, dtype=torch.float64), logits=torch.as_tensor(logits)
    ).log_prob(x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    theirs_n = ndist.RelaxedBernoulliLogits(tau, jnp.asarray(logits)).log_prob(jnp.asarray(x.numpy()))
    ours_n = NumPyro.module.BinaryConcrete(tau, logits=jnp.asarray(logits)).log_prob(jnp.asarray(x.numpy()))
    np.testing.assert_allclose(ours_n, theirs_n, rtol=1e-9)
    z = torch.logit(x)
    np.testing.assert_allclose(
        Pyro.module.LogitBinaryConcrete(
            torch.tensor(tau, dtype=torch.float64), logits=torch.as_tensor(logits)
        ).log_prob(z),
        tdist.relaxed_bernoulli.LogitRelaxedBernoulli(
            torch.tensor(tau, dtype=torch.float64), logits=torch.as_tensor(logits)
        ).log_prob(z),
        rtol=1e-9,
    )


def test_where_torch_fails_we_do_not(rng):
    """float32, temperature 0.05, 1000 categories: torch's log_prob is NaN on
    its own samples; ExpGumbelSoftmax is finite on the same noise."""
    logits = torch.as_tensor(rng.normal(size=1000), dtype=torch.float32)
    tau = torch.tensor(0.05)
    x = tdist.RelaxedOneHotCategorical(tau, logits=logits, validate_args=False).rsample((200,))
    assert torch.isnan(
        tdist.RelaxedOneHotCategorical(tau, logits=logits, validate_args=False).log_prob(x)
    ).all()
    d = Pyro.module.ExpGumbelSoftmax(tau, logits=logits, validate_args=True)
    assert torch.isfinite(d.log_prob(d.rsample((200,)))).all()


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
def test_temperature_that_does_not_broadcast_raises(B, rng):
    with pytest.raises(ValueError, match="temperature"):
        _make(B, "GumbelSoftmax", np.ones(2), {"logits": rng.normal(size=(3, K))})


# ------------------------------------------- Pyro: log_prob of its own rsample
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_pyro_log_prob_of_own_rsample_from_its_noise(name, kind, rng):
    """The tensor just returned by ``rsample`` is scored from the noise kept
    with it: the same value (float64, 1e-12) and the same gradients w.r.t.
    the parameters as scoring an equal tensor (a clone, same graph) by the
    general formula; a tensor from ``sample()`` (no graph), a copy, or the
    sample after an in-place change are scored by the general formula."""
    params = {k: torch.tensor(v, requires_grad=True) for k, v in _params(name, (3,), rng, kind).items()}
    tau = torch.tensor([0.4, 0.7, 1.6], dtype=torch.float64, requires_grad=True)
    def make():  # afresh for each graph (lazy logits from probs carry one)
        return getattr(Pyro.module, name)(tau, **params)

    general = CLASSES[name][2]
    w = torch.tensor(rng.normal(size=(5, 3) + ((K,) if CLASSES[name][0] else ())))

    def objective(score_clone):
        torch.manual_seed(3)
        d = make()
        x = d.rsample((5,))
        assert d._parts_of(x) is not None
        lp = d.log_prob(x.clone() if score_clone else x)
        grads = torch.autograd.grad((x * w).sum() + lp.sum(), [tau, *params.values()])
        return lp.detach(), grads, x

    lp_own, g_own, x = objective(False)
    lp_clone, g_clone, _ = objective(True)
    d = make()
    logits = d.logits.detach()
    np.testing.assert_allclose(lp_own, general(logits, tau.detach(), x.detach()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lp_own, lp_clone, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_own, g_clone):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert max(float(g.abs().max()) for g in g_own) > 1e-3

    # no graph (sample() runs under no_grad): nothing kept, the partial
    # derivative w.r.t. the parameters at a fixed value is the general one
    torch.manual_seed(3)
    y = d.sample((5,))
    assert d._parts_of(y) is None
    (g_fixed,) = torch.autograd.grad(d.log_prob(y).sum(), [tau])
    (g_leaf,) = torch.autograd.grad(make().log_prob(y.clone()).sum(), [tau])
    np.testing.assert_allclose(g_fixed, g_leaf, rtol=1e-12)
    d = make()
    x = d.rsample((5,))
    x.mul_(1.0)  # in place: the kept noise no longer vouches for the value
    assert d._parts_of(x) is None


@pytest.mark.parametrize("name", ["GumbelSoftmax", "BinaryConcrete"])
def test_pyro_own_sample_rounded_to_the_boundary_gets_the_limit(name):
    """float32 at temperature 0.05: some own samples round to exact 0 (or 1);
    their log_prob is the documented limit, as for any equal tensor, and the
    others' the density from the noise."""
    logits = torch.randn(3 if name == "GumbelSoftmax" else (), generator=torch.Generator().manual_seed(0))
    d = getattr(Pyro.module, name)(torch.tensor(0.05), logits=logits.requires_grad_())
    torch.manual_seed(0)
    x = d.rsample((200,))
    assert bool(((x == 0) | (x == 1)).any())
    lp = d.log_prob(x).detach()
    expected = d.log_prob(x.detach().clone()).detach()
    assert torch.equal(torch.isinf(lp), torch.isinf(expected))
    assert 0 < int(torch.isinf(lp).sum()) < 200
    # The value's own float32 rounding moves log q by up to about
    # eps (tau + 1) / (x (1 - x)) (near 1, 1 - x carries few digits); the
    # density from the noise does not see it, the formula at x does.
    fin = torch.isfinite(lp)
    xs = x.detach()[fin].double() if name == "BinaryConcrete" else x.detach()[fin].double().min(-1).values
    bound = 1e-5 + 8 * float(torch.finfo(torch.float32).eps) * 1.05 / (xs * (1 - xs)).numpy()
    assert np.all(np.abs((lp[fin] - expected[fin]).numpy()) <= bound * np.maximum(1, np.abs(lp[fin].numpy())))
