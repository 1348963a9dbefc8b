"""RLOOTrace_ELBO in both backends: its loss is Trace_ELBO's, its gradient is
unbiased (against the exact gradient by enumeration, within 4 standard
errors), and its variance is below the plain score function's.

The toy problem: three Bernoulli bits (or one categorical of 4) with a
prior, a Gaussian observation of their sum, and a guide with free logits; the
exact ELBO and its gradient come from enumerating every value.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pyro
import pyro.distributions as pd
import pytest
import torch

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp

THETA = np.array([0.3, -0.5, 1.0])
PRIOR, Y = 0.3, 2.0
DRAWS = 1000


def exact_bits(theta):
    """Exact ELBO of the bits problem and its gradient w.r.t. the logits."""
    th = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    q = torch.sigmoid(th)
    total = 0.0
    for z in itertools.product([0.0, 1.0], repeat=len(theta)):
        z = torch.tensor(z, dtype=torch.float64)
        log_q = (z * torch.log(q) + (1 - z) * torch.log1p(-q)).sum()
        log_p = (z * np.log(PRIOR) + (1 - z) * np.log(1 - PRIOR)).sum()
        y = torch.tensor(Y, dtype=torch.float64)
        log_p = log_p + torch.distributions.Normal(z.sum(), 1.0).log_prob(y)
        total = total + log_q.exp() * (log_p - log_q)
    (grad,) = torch.autograd.grad(total, th)
    return total.item(), grad.numpy()


def _pyro_problem():
    def model():
        with pyro.plate("bits", 3):
            z = pyro.sample("z", pd.Bernoulli(torch.tensor(PRIOR, dtype=torch.float64)))
        pyro.sample("y", pd.Normal(z.sum(-1, keepdim=True), 1.0), obs=torch.tensor(Y, dtype=torch.float64))

    def guide():
        th = pyro.param("th", torch.tensor(THETA))
        with pyro.plate("bits", 3):
            pyro.sample("z", pd.Bernoulli(logits=th))

    return model, guide


def _pyro_grads(elbo, draws=DRAWS):
    model, guide = _pyro_problem()
    out = []
    for seed in range(draws):
        pyro.clear_param_store()
        pyro.set_rng_seed(seed)
        loss = elbo.differentiable_loss(model, guide)
        (g,) = torch.autograd.grad(loss, pyro.param("th").unconstrained())
        out.append(-g.numpy())
    return np.array(out)


def _numpyro_problem():
    def model():
        with numpyro.plate("bits", 3):
            z = numpyro.sample("z", nd.Bernoulli(PRIOR))
        numpyro.sample("y", nd.Normal(z.sum(-1), 1.0), obs=Y)

    def guide():
        th = numpyro.param("th", jnp.asarray(THETA))
        with numpyro.plate("bits", 3):
            numpyro.sample("z", nd.Bernoulli(logits=th))

    return model, guide


def _numpyro_grads(elbo, draws=DRAWS):
    model, guide = _numpyro_problem()
    grad = jax.grad(lambda th, key: -elbo.loss(key, {"th": th}, model, guide))
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    return np.asarray(jax.jit(jax.vmap(grad, in_axes=(None, 0)))(jnp.asarray(THETA), keys))


def _z_scores(grads, exact):
    se = grads.std(0, ddof=1) / np.sqrt(len(grads))
    return (grads.mean(0) - exact) / se


def test_pyro_rloo_gradient_is_unbiased_and_beats_the_plain_score():
    _, exact = exact_bits(THETA)
    rloo = _pyro_grads(rp.RLOOTrace_ELBO(4, max_plate_nesting=1))
    assert np.all(np.abs(_z_scores(rloo, exact)) < 4), _z_scores(rloo, exact)
    plain = _pyro_grads(pyro.infer.Trace_ELBO(4, vectorize_particles=True, max_plate_nesting=1))
    assert np.all(np.abs(_z_scores(plain, exact)) < 4)
    # Negative control: a gradient with the wrong sign of the score term is rejected.
    assert np.any(np.abs(_z_scores(-rloo, exact)) > 4)
    ratio = rloo.var(0) / plain.var(0)
    assert np.all(ratio < 0.8), ratio


def test_numpyro_rloo_gradient_is_unbiased_and_beats_the_plain_score():
    _, exact = exact_bits(THETA)
    rloo = _numpyro_grads(rn.RLOOTrace_ELBO(4), draws=4000)
    assert np.all(np.abs(_z_scores(rloo, exact)) < 4), _z_scores(rloo, exact)
    plain = _numpyro_grads(rn.MHotTrace_ELBO(1), draws=16000)  # one particle: no baseline
    assert np.all(np.abs(_z_scores(plain, exact)) < 4)
    assert np.any(np.abs(_z_scores(-rloo, exact)) > 4)
    # Per model evaluation: four one-particle gradients average to variance / 4.
    ratio = rloo.var(0) / (plain.var(0) / 4)
    assert np.all(ratio < 0.8), ratio


def test_losses_equal_trace_elbo():
    model, guide = _pyro_problem()
    pyro.clear_param_store()
    pyro.set_rng_seed(3)
    ours = rp.RLOOTrace_ELBO(4, max_plate_nesting=1).loss(model, guide)
    pyro.set_rng_seed(3)
    theirs = pyro.infer.Trace_ELBO(4, vectorize_particles=True, max_plate_nesting=1).loss(model, guide)
    assert ours == pytest.approx(theirs, rel=1e-12)
    nmodel, nguide = _numpyro_problem()
    key, params = jax.random.PRNGKey(3), {"th": jnp.asarray(THETA)}
    ours = rn.RLOOTrace_ELBO(4).loss(key, params, nmodel, nguide)
    theirs = numpyro.infer.Trace_ELBO(4).loss(key, params, nmodel, nguide)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-12)


def test_categorical_site_is_unbiased_in_both_backends():
    """A categorical of 4 (one-hot in Pyro, integer in NumPyro) under both
    ELBOs, against enumeration."""
    logits0 = np.array([0.5, -0.2, 0.1, -1.0])
    target = np.array([0.0, 1.0, 2.0, 3.0])

    def exact():
        th = torch.tensor(logits0, requires_grad=True)
        log_q = torch.log_softmax(th, -1)
        f = torch.tensor([-0.5 * (t - 1.2) ** 2 for t in target]) - np.log(4.0)
        total = (log_q.exp() * (f - log_q)).sum()
        return torch.autograd.grad(total, th)[0].numpy()

    def pmodel():
        z = pyro.sample("z", pd.OneHotCategorical(logits=torch.zeros(4, dtype=torch.float64)))
        pyro.factor("f", -0.5 * ((z * torch.tensor(target)).sum(-1) - 1.2) ** 2)

    def pguide():
        pyro.sample("z", pd.OneHotCategorical(logits=pyro.param("th", torch.tensor(logits0))))

    grads = []
    elbo = rp.RLOOTrace_ELBO(3, max_plate_nesting=0)
    for seed in range(DRAWS):
        pyro.clear_param_store()
        pyro.set_rng_seed(seed)
        loss = elbo.differentiable_loss(pmodel, pguide)
        grads.append(-torch.autograd.grad(loss, pyro.param("th").unconstrained())[0].numpy())
    z = _z_scores(np.array(grads), exact())
    assert np.all(np.abs(z) < 4), z

    def nmodel():  # NumPyro has no one-hot categorical: the integer one
        z = numpyro.sample("z", nd.Categorical(logits=jnp.zeros(4)))
        numpyro.factor("f", -0.5 * (jnp.asarray(target)[z] - 1.2) ** 2)

    def nguide():
        numpyro.sample("z", nd.Categorical(logits=numpyro.param("th", jnp.asarray(logits0))))

    nelbo = rn.RLOOTrace_ELBO(3)
    grad = jax.grad(lambda th, key: -nelbo.loss(key, {"th": th}, nmodel, nguide))
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    ngrads = np.asarray(jax.jit(jax.vmap(grad, in_axes=(None, 0)))(jnp.asarray(logits0), keys))
    z = _z_scores(ngrads, exact())
    assert np.all(np.abs(z) < 4), z


@pytest.mark.parametrize("bad", [1, 0, 2.0, True])
def test_num_particles_must_be_an_integer_of_at_least_two(bad):
    for cls in (rp.RLOOTrace_ELBO, rn.RLOOTrace_ELBO):
        with pytest.raises(ValueError, match="num_particles"):
            cls(bad)


# ----------------------------------- a latent outside every plate, data in one
XS = np.random.default_rng(7).normal(size=(12, 4))
YS = XS[:, 0] + XS[:, 2] + 0.5 * np.random.default_rng(8).normal(size=12)
SUBSET_LOGITS = np.array([0.2, -0.3, 0.4, 0.0])


def exact_subset_grad(logits):
    """Exact ELBO gradient of the Subset(2 of 4) problem, by enumeration of
    the 6 sets."""
    th = torch.tensor(logits, requires_grad=True)
    sets = rp.Subset(2, logits=torch.zeros(4, dtype=torch.float64)).enumerate_support()
    x, y = torch.tensor(XS), torch.tensor(YS)
    log_p = (pd.Normal((x * sets.unsqueeze(-2)).sum(-1), 0.5).log_prob(y).sum(-1)
             + rp.Subset(2, logits=torch.zeros(4, dtype=torch.float64)).log_prob(sets))
    log_q = rp.Subset(2, logits=th).log_prob(sets)
    (grad,) = torch.autograd.grad((log_q.exp() * (log_p - log_q)).sum(), th)
    return grad.numpy()


def test_a_latent_outside_every_plate_with_data_in_a_plate_is_unbiased_in_both_backends():
    """The cost of a site outside every plate sums the observations' plate
    away: in NumPyro it must not broadcast against the particles (which gave
    a zero gradient before), in Pyro it must follow the particle dim."""
    exact = -exact_subset_grad(SUBSET_LOGITS)  # the gradient of the loss

    def pmodel():
        mask = pyro.sample("mask", rp.Subset(2, logits=torch.zeros(4, dtype=torch.float64)))
        with pyro.plate("data", 12, dim=-1):
            pyro.sample("y", pd.Normal((torch.tensor(XS) * mask).sum(-1), 0.5), obs=torch.tensor(YS))

    th = torch.tensor(SUBSET_LOGITS, requires_grad=True)

    def pguide():
        pyro.sample("mask", rp.Subset(2, logits=th))

    elbo = rp.RLOOTrace_ELBO(8, max_plate_nesting=2)
    pyro.set_rng_seed(0)
    grads = np.stack([torch.autograd.grad(elbo.differentiable_loss(pmodel, pguide), th)[0].numpy()
                      for _ in range(300)])
    z = (grads.mean(0) - exact) / (grads.std(0, ddof=1) / np.sqrt(len(grads)))
    assert np.all(np.abs(z) < 4), z
    assert np.linalg.norm(grads.mean(0)) > 0.5 * np.linalg.norm(exact)

    def nmodel():
        mask = numpyro.sample("mask", rn.Subset(2, logits=jnp.zeros(4)))
        with numpyro.plate("data", 12):
            numpyro.sample("y", nd.Normal(jnp.asarray(XS) @ mask, 0.5), obs=jnp.asarray(YS))

    def nguide():
        numpyro.sample("mask", rn.Subset(2, logits=numpyro.param("th", jnp.zeros(4))))

    loss = rn.RLOOTrace_ELBO(8)
    grad = jax.jit(jax.vmap(jax.grad(lambda p, key: loss.loss(key, p, nmodel, nguide)), (None, 0)))
    grads = np.asarray(grad({"th": jnp.asarray(SUBSET_LOGITS)},
                            jax.random.split(jax.random.PRNGKey(0), 300))["th"])
    z = (grads.mean(0) - exact) / (grads.std(0, ddof=1) / np.sqrt(len(grads)))
    assert np.all(np.abs(z) < 4), z
    assert np.linalg.norm(grads.mean(0)) > 0.5 * np.linalg.norm(exact)
