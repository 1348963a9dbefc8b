"""The classes as latent variables in the host libraries: plates, to_event,
SVI with Trace_ELBO, Predictive and AutoGuides, in Pyro and NumPyro."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pyro
import pyro.distributions as pdist
import pytest
import torch
from numpyro import distributions as ndist
from numpyro.infer import SVI as NSVI
from numpyro.infer import Predictive as NPredictive
from numpyro.infer import Trace_ELBO as NTrace_ELBO
from numpyro.infer.autoguide import AutoNormal as NAutoNormal
from pyro.infer import SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoNormal

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp

CENTRES = np.array([-3.0, -1.0, 1.0, 3.0])
TRUE = 2  # the data come from centre 1.0


def _data(rng, n=30):
    return rng.normal(CENTRES[TRUE], 0.5, size=n)


def test_pyro_svi_recovers_peaked_posterior(rng):
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    y = torch.as_tensor(_data(rng), dtype=torch.float32)
    centres = torch.as_tensor(CENTRES, dtype=torch.float32)
    tau = torch.tensor(0.5)

    def model(y):
        z = pyro.sample("z", rp.GumbelSoftmax(tau, probs=torch.full((4,), 0.25)))
        with pyro.plate("data", len(y)):
            pyro.sample("y", pdist.Normal(z @ centres, 0.5), obs=y)

    def guide(y):
        logits = pyro.param("q_logits", torch.zeros(4))
        pyro.sample("z", rp.GumbelSoftmax(tau, logits=logits))

    svi = SVI(
        model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO(num_particles=4, vectorize_particles=True)
    )
    losses = [svi.step(y) for _ in range(400)]
    q = torch.softmax(pyro.param("q_logits").detach(), -1)
    assert q[TRUE] > 0.9, q
    assert np.isfinite(losses).all() and np.mean(losses[-50:]) < np.mean(losses[:50])
    post = Predictive(model, guide=guide, num_samples=200, return_sites=["z"])(y)["z"]
    post = post.reshape(200, 4)  # Predictive keeps a singleton dim for the data plate
    assert (post.argmax(-1) == TRUE).float().mean() > 0.85


def test_numpyro_svi_recovers_peaked_posterior(rng):
    y = jnp.asarray(_data(rng))
    tau = 0.5

    def model(y):
        z = numpyro.sample("z", rn.GumbelSoftmax(tau, probs=jnp.full((4,), 0.25)))
        with numpyro.plate("data", y.shape[0]):
            numpyro.sample("y", ndist.Normal(z @ CENTRES, 0.5), obs=y)

    def guide(y):
        logits = numpyro.param("q_logits", jnp.zeros(4))
        numpyro.sample("z", rn.GumbelSoftmax(tau, logits=logits))

    svi = NSVI(model, guide, numpyro.optim.Adam(0.05), NTrace_ELBO(num_particles=4))
    result = svi.run(jax.random.PRNGKey(0), 400, y, progress_bar=False)
    q = jax.nn.softmax(result.params["q_logits"])
    assert q[TRUE] > 0.9, q
    losses = np.asarray(result.losses)
    assert np.isfinite(losses).all() and losses[-50:].mean() < losses[:50].mean()
    post = NPredictive(model, guide=guide, params=result.params, num_samples=200, return_sites=["z"])(
        jax.random.PRNGKey(1), y
    )["z"]
    assert post.shape == (200, 4)
    assert (post.argmax(-1) == TRUE).mean() > 0.85


PYRO_LATENTS = {
    "GumbelSoftmax": lambda: rp.GumbelSoftmax(torch.tensor(0.7), logits=torch.zeros(3)),
    "ExpGumbelSoftmax": lambda: rp.ExpGumbelSoftmax(torch.tensor(0.7), logits=torch.zeros(3)),
    "BinaryConcrete": lambda: rp.BinaryConcrete(torch.tensor(0.7), probs=torch.tensor(0.3)),
    "LogitBinaryConcrete": lambda: rp.LogitBinaryConcrete(torch.tensor(0.7), probs=torch.tensor(0.3)),
}


@pytest.mark.parametrize("name", PYRO_LATENTS)
def test_pyro_autoguide_plate_and_to_event(name):
    """An AutoNormal guide over the latent (through biject_to of its support),
    inside a plate and with to_event; the ELBO is finite and SVI runs."""
    pyro.set_rng_seed(1)
    pyro.clear_param_store()

    def model():
        with pyro.plate("groups", 5):
            z = pyro.sample("z", PYRO_LATENTS[name]())
        w = pyro.sample("w", PYRO_LATENTS[name]().expand([2]).to_event(1))
        pyro.sample("obs", pdist.Normal(z.sum() + w.sum(), 1.0), obs=torch.tensor(1.0))

    guide = AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    losses = [svi.step() for _ in range(20)]
    assert np.isfinite(losses).all()
    tr = pyro.poutine.trace(guide).get_trace()
    event = () if "Binary" in name else (3,)
    assert tr.nodes["z"]["value"].shape == (5,) + event
    d = PYRO_LATENTS[name]()
    assert d.support.check(tr.nodes["z"]["value"]).all()
    # the registered bijection round-trips (its log-det for the log-simplex is
    # checked in test_log_simplex_transform_has_unit_jacobian_in_log_ratios)
    t = torch.distributions.biject_to(d.support)
    w_ = torch.randn(4, *((2,) if event else ()), dtype=torch.float64)
    assert torch.allclose(t.inv(t(w_)), w_, atol=1e-10)


NUMPYRO_LATENTS = {
    "GumbelSoftmax": lambda: rn.GumbelSoftmax(0.7, logits=jnp.zeros(3)),
    "ExpGumbelSoftmax": lambda: rn.ExpGumbelSoftmax(0.7, logits=jnp.zeros(3)),
    "BinaryConcrete": lambda: rn.BinaryConcrete(0.7, probs=0.3),
    "LogitBinaryConcrete": lambda: rn.LogitBinaryConcrete(0.7, probs=0.3),
}


@pytest.mark.parametrize("name", NUMPYRO_LATENTS)
def test_numpyro_autoguide_plate_and_to_event(name):
    def model():
        with numpyro.plate("groups", 5):
            z = numpyro.sample("z", NUMPYRO_LATENTS[name]())
        w = numpyro.sample("w", NUMPYRO_LATENTS[name]().expand([2]).to_event(1))
        numpyro.sample("obs", ndist.Normal(z.sum() + w.sum(), 1.0), obs=1.0)

    guide = NAutoNormal(model)
    svi = NSVI(model, guide, numpyro.optim.Adam(0.01), NTrace_ELBO())
    result = svi.run(jax.random.PRNGKey(0), 20, progress_bar=False)
    assert np.isfinite(np.asarray(result.losses)).all()
    post = NPredictive(guide, params=result.params, num_samples=3)(jax.random.PRNGKey(1))
    event = () if "Binary" in name else (3,)
    assert post["z"].shape == (3, 5) + event
    assert np.all(NUMPYRO_LATENTS[name]().support(post["z"]))


def test_log_simplex_transform_has_unit_jacobian_in_log_ratios():
    """biject_to(log_simplex) maps w to log_softmax([w, 0]), whose log-ratios
    v_i - v_k are w itself: log-det 0 w.r.t. ExpGumbelSoftmax's base measure."""
    t = torch.distributions.biject_to(rp.constraints.log_simplex)
    w = torch.randn(6, 3, dtype=torch.float64)
    v = t(w)
    assert torch.allclose(v[..., :-1] - v[..., -1:], w)
    assert torch.allclose(v.logsumexp(-1), torch.zeros(6, dtype=torch.float64))
    assert (t.log_abs_det_jacobian(w, v) == 0).all()
    tn = numpyro.distributions.transforms.biject_to(rn.constraints.log_simplex)
    np.testing.assert_allclose(tn(jnp.asarray(w.numpy())), v.numpy(), rtol=1e-12)
