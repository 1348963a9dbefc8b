"""The categorical and binary classes (GumbelSoftmax, ExpGumbelSoftmax,
BinaryConcrete, LogitBinaryConcrete) in both adapters: argument and value
validation, float32 own samples at low temperature, agreement with torch's
and NumPyro's relaxed classes, and own float32 samples rounded to the
boundary. What every class shares (shapes, expand, jit, pytrees, pickling,
tracing, gradients, parity with the core) is in ``test_generic.py``."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from backends import BACKENDS, NumPyro, Pyro
from numpyro import distributions as ndist
from torch import distributions as tdist

# name -> categorical?
CLASSES = {
    "GumbelSoftmax": True,
    "ExpGumbelSoftmax": True,
    "BinaryConcrete": False,
    "LogitBinaryConcrete": False,
}
K = 4


def _params(name, batch, rng, kind="logits"):
    categorical = CLASSES[name]
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


# ---------------------------------------------------------------- validation
# (parameter, bad entry, which parameter is given); a probability 0 or 1 and
# a logit -inf (+-inf for the binary classes) are valid: they mask a
# category or force the value (tests/test_domain.py).
BAD_ARGS = [
    ("temperature", 0.0, "logits"),
    ("temperature", -1.0, "logits"),
    ("temperature", np.inf, "logits"),
    ("temperature", np.nan, "logits"),
    ("logits", np.nan, "logits"),
    ("logits", np.inf, "logits"),  # categorical only
    ("probs", 1.2, "probs"),
    ("probs", -0.1, "probs"),
    ("probs", np.nan, "probs"),
]


BAD_CASES = [
    pytest.param(name, param, bad, kind, id=f"{name}-{param}-{bad}")
    for name in CLASSES
    for param, bad, kind in BAD_ARGS
    if CLASSES[name] or (param, bad) != ("logits", np.inf)  # +inf: a binary value forced to 1
]


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name,param,bad,kind", BAD_CASES)
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
    if CLASSES[name]:
        with pytest.raises(ValueError, match="value|event_shape"):
            d.log_prob(B.asarray(np.full(K + 1, 1 / (K + 1))))


@pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
@pytest.mark.parametrize("name", CLASSES)
def test_own_float32_samples_pass_validation(B, name, rng):
    """Temperature 0.01, 10 000 categories, float32: no own sample fails."""
    logits = B.asarray(rng.normal(size=10_000) * 3, np.float32)
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


# ------------------------------------------- Pyro: float32 own samples on the boundary
@pytest.mark.parametrize("name", ["GumbelSoftmax", "BinaryConcrete"])
def test_pyro_own_sample_rounded_to_the_boundary_gets_the_limit(name):
    """float32 at temperature 0.05: some own samples round to exact 0 (or 1);
    scored with their intermediates, their log_prob is the documented limit,
    as for any equal tensor, and the others' the density from the noise."""
    logits = torch.randn(3 if name == "GumbelSoftmax" else (), generator=torch.Generator().manual_seed(0))
    d = getattr(Pyro.module, name)(torch.tensor(0.05), logits=logits.requires_grad_())
    torch.manual_seed(0)
    x, intermediates = d.rsample_with_intermediates((200,))
    assert bool(((x == 0) | (x == 1)).any())
    lp = d.log_prob(x, intermediates).detach()
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
