"""RelaxReparam in Pyro and NumPyro: models written once with discrete sites
(a one-hot categorical, Bernoulli gates, a subset), fitted through the
relaxation or a straight-through gradient with AutoGuides; the fitted
discrete posterior of a toy model against exact enumeration; the host
machinery (plates, ``.to_event``, ``.expand``, ``.mask``, ``Predictive``,
``JitTrace_ELBO``, ``jax.jit``); the error messages; pickling."""

import functools
import itertools
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as ndist
import pyro
import pyro.distributions as pdist
import pytest
import torch
from numpyro.handlers import reparam as nreparam
from numpyro.handlers import seed as nseed
from numpyro.handlers import trace as ntrace
from numpyro.infer import SVI as NSVI
from numpyro.infer import Predictive as NPredictive
from numpyro.infer import Trace_ELBO as NTrace_ELBO
from numpyro.infer import autoguide as nauto
from numpyro.infer.initialization import init_to_feasible as ninit_to_feasible
from numpyro.infer.util import log_density
from pyro import poutine
from pyro.infer import SVI, JitTrace_ELBO, Predictive, Trace_ELBO
from pyro.infer import autoguide as pauto
from pyro.infer.autoguide import init_to_feasible
from pyro.infer.importance import vectorized_importance_weights

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp
from relaxed_dists.families.reparam import model_value

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VARIANTS = [None, "gumbel", "reinmax"]


def _ids(v):
    return "relaxed" if v is None else str(v)


def _innermost(fn):
    while hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return fn


# ----------------------------------------------------------------- the data
# A toy model whose discrete posterior is enumerated exactly: three Bernoulli
# gates (prior 0.4) switch known coefficients of a 6-point regression.
GATE_P = 0.4
XG = np.array([[1., 0.2, -0.3], [0.5, 1., 0.1], [-0.4, 0.3, 1.], [1.2, -0.8, 0.4], [0.1, 0.9, -1.],
               [-1., 0.4, 0.6]])
WG = np.array([1., -1., 0.5])
YG = np.array([1.3, -0.2, 0.9, 2.1, -1.4, -0.6])
# A one-hot categorical with 4 categories and 5 observations.
CAT_P = np.array([0.4, 0.3, 0.2, 0.1])
CAT_MU = np.array([-2., 0., 1., 3.])
CAT_Y = np.array([0.6, 0.2, 1.1, -0.3, 0.9])


def _normal_logpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


def _softmax(a):
    a = np.asarray(a) - np.max(a)
    return np.exp(a) / np.exp(a).sum()


def exact_gates():
    """P(gate_j = 1 | data), enumerating the 8 configurations."""
    cfg = np.array(list(itertools.product([0., 1.], repeat=3)))
    log_prior = (cfg * np.log(GATE_P) + (1 - cfg) * np.log1p(-GATE_P)).sum(-1)
    log_lik = _normal_logpdf(YG, (cfg * WG) @ XG.T, 1.0).sum(-1)
    return _softmax(log_prior + log_lik) @ cfg


def exact_category():
    """P(z = i | data) over the 4 categories."""
    return _softmax(np.log(CAT_P) + _normal_logpdf(CAT_Y[None], CAT_MU[:, None], 1.5).sum(-1))


# A two-component mixture: 40 points, cluster means -2 and 2, sd 0.5.
_rng = np.random.default_rng(20261124)
MIX_Z = np.arange(40) % 2
MIX_X = np.array([-2., 2.])[MIX_Z] + 0.5 * _rng.standard_normal(40)
# Sparse regression: 6 features, 3 active, 80 points, noise sd 0.5.
REG_W = np.array([2., 0., -1.5, 0., 1., 0.])
REG_X = _rng.standard_normal((80, 6))
REG_Y = REG_X @ REG_W + 0.5 * _rng.standard_normal(80)


TOY_PRIOR = np.concatenate([CAT_P, np.full(3, GATE_P)])


def exact_toy():
    """The exact marginals of the toy model: P(z = i | data) for the 4
    categories, then P(gate_j = 1 | data) (the two parts are independent)."""
    return np.concatenate([exact_category(), exact_gates()])


def _check_toy(fit, weighted, ess):
    """The fitted guide's implied discrete posterior and its importance-weighted
    version against the exact one. Tolerances: the weighted estimate is
    consistent for the exact posterior, with standard error
    sqrt(p (1 - p) / ESS) (self-normalised weights): 4 of them, plus 0.01 for
    its bias of order 1/ESS. The guide alone is a Gaussian on the relaxed (or
    auxiliary) latent, which cannot put a jump at the hard boundary: even its
    best fit pulls the posterior toward the prior (one gate, exact 0.79: the
    KL-optimal Gaussian gives 0.70), and the gradient adds its bias; 0.25
    leaves room for both while excluding the prior itself (0.40 from the
    exact answer: the negative control)."""
    exact = exact_toy()
    fit, weighted = np.asarray(fit), np.asarray(weighted)
    tol = 4 * np.sqrt(exact * (1 - exact) / ess) + 0.01
    assert np.abs(TOY_PRIOR - exact).max() > 0.25  # the prior fails the guide's tolerance
    assert np.abs(fit - exact).max() < 0.25, (fit, exact)
    assert np.all(np.abs(weighted - exact) < tol), (weighted, exact, ess)
    # the guide alone fails the weighted tolerance: weighting is what makes it exact
    assert np.any(np.abs(fit - exact) > tol), (fit, exact, ess)


#: torch 2.13 deprecates ``torch.jit.trace`` (which Pyro's JitTrace_ELBO
#: uses) in favour of ``torch.compile``: the host's notice, not ours.
TRACE_DEPRECATED = pytest.mark.filterwarnings(r"ignore:`torch.jit.trace` is deprecated:DeprecationWarning")


# ============================================================== Pyro side
def p_toy():
    """A one-hot categorical seen through 5 noisy points, and three Bernoulli
    gates switching the known coefficients of a 6-point regression."""
    z = pyro.sample("z", pdist.OneHotCategorical(torch.as_tensor(CAT_P)))
    g = pyro.sample("g", pdist.Bernoulli(GATE_P * torch.ones(3, dtype=torch.float64)).to_event(1))
    mean = (z @ torch.as_tensor(CAT_MU))[..., None].expand(z.shape[:-1] + (5,))
    pyro.sample("yz", pdist.Normal(mean, 1.5).to_event(1), obs=torch.as_tensor(CAT_Y))
    mean = (g * torch.as_tensor(WG)) @ torch.as_tensor(XG).T
    pyro.sample("yg", pdist.Normal(mean, 1.0).to_event(1), obs=torch.as_tensor(YG))


def p_mixture(x):
    locs = pyro.sample("locs", pdist.Normal(torch.zeros(2, dtype=x.dtype), 5.).to_event(1))
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", pdist.OneHotCategorical(torch.ones(2, dtype=x.dtype) / 2))
        pyro.sample("x", pdist.Normal((z * locs).sum(-1), 0.5), obs=x)


def p_regression(X, y):
    half, zero = torch.tensor(0.5, dtype=X.dtype), torch.tensor(0.0, dtype=X.dtype)
    with pyro.plate("features", X.shape[-1]):
        gate = pyro.sample("gate", pdist.Bernoulli(half))
        w = pyro.sample("w", pdist.Normal(zero, 2.))
    with pyro.plate("data", len(y)):
        pyro.sample("y", pdist.Normal(X @ (gate * w), 0.5), obs=y)


def p_relaxed(model, temperature=0.5, estimator=None, **kw):
    return poutine.reparam(model, config=rp.relax_discrete_sites(rp.RelaxReparam(temperature, estimator),
                                                                 **kw))


def p_fit(model, args, steps, lr, guide=None, elbo=None):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    guide = guide or pauto.AutoNormal(model, init_scale=0.5)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), elbo or Trace_ELBO())
    losses = [svi.step(*args) for _ in range(steps)]
    return guide, losses


def p_weighted(model, guide, num_samples=20000):
    """(implied, weighted, ESS): the guide's mean of the hard values of the
    toy (``z_hard``, ``g_hard``) and their self-normalised importance-weighted
    mean under ``model``."""
    pyro.set_rng_seed(1)
    with torch.no_grad():
        log_w, tr, _ = vectorized_importance_weights(model, guide, num_samples=num_samples,
                                                     max_plate_nesting=0)
    w = torch.softmax(log_w, 0)
    hard = torch.cat([tr.nodes["z_hard"]["value"], tr.nodes["g_hard"]["value"]], -1)
    return hard.mean(0).numpy(), (w @ hard).numpy(), float(1 / (w ** 2).sum())


def p_toy_fit(estimator, guide_cls=pauto.AutoNormal, steps=600):
    model = p_relaxed(p_toy, 0.5, estimator)
    return p_fit(model, (), steps, 0.03, guide=guide_cls(model),
                 elbo=Trace_ELBO(num_particles=8, vectorize_particles=True, max_plate_nesting=0))


@pytest.mark.parametrize("estimator", VARIANTS, ids=_ids)
def test_pyro_toy_against_enumeration(estimator):
    guide, _ = p_toy_fit(estimator)
    # The discrete model, exactly: the straight-through rewrite with the same twin.
    _check_toy(*p_weighted(p_relaxed(p_toy, 0.5, "st"), guide))


@TRACE_DEPRECATED
@pytest.mark.parametrize("estimator", [None, "gumbel"], ids=_ids)
def test_pyro_mixture_recovers_the_truth(estimator):
    # The relaxed model at a lower temperature: its bias shrinks with it.
    model = p_relaxed(p_mixture, 0.2 if estimator is None else 0.5, estimator)
    x = torch.as_tensor(MIX_X)
    guide, _ = p_fit(model, (x,), 400, 0.05, guide=pauto.AutoNormal(model, init_scale=0.3),
                     elbo=JitTrace_ELBO(ignore_jit_warnings=True))
    with torch.no_grad():
        post = Predictive(model, guide=guide, num_samples=200, return_sites=["locs", "z_hard", "z"])(x)
    _check_mixture(post["locs"].numpy(), post["z_hard"].numpy())
    if estimator is not None:  # the model saw hard one-hots
        assert torch.equal(post["z"], post["z_hard"])


def _check_mixture(locs, z_hard):
    """The component means (up to their order) within 0.4 (the data's sd is
    0.5, the means 3.75 apart) and the assignments. Neither fit is exact:
    the relaxed model is not the discrete one (a point's mean is a relaxed
    mixture of the component means, which pushes them apart: by 0.39 at
    temperature 0.2), and the straight-through fit's Gaussian guide leaves a
    few percent of each point's mass in the other cluster (see
    ``_check_toy``), which pulls them together (by 0.2)."""
    locs = locs.reshape(-1, 2).mean(0)
    order = np.argsort(locs)
    means = np.array([MIX_X[MIX_Z == 0].mean(), MIX_X[MIX_Z == 1].mean()])
    np.testing.assert_allclose(locs[order], means, atol=0.4)
    upper = z_hard.reshape(-1, 40, 2).mean(0)[:, order[1]]  # P(point in the upper cluster)
    assert ((upper > 0.5) == MIX_Z).mean() >= 0.95


@TRACE_DEPRECATED
@pytest.mark.parametrize("estimator", [None, "gumbel"], ids=_ids)
def test_pyro_sparse_regression_recovers_the_truth(estimator):
    model = p_relaxed(p_regression, 0.5, estimator)
    X, y = torch.as_tensor(REG_X), torch.as_tensor(REG_Y)
    guide = pauto.AutoNormal(model, init_loc_fn=init_to_feasible)
    guide, _ = p_fit(model, (X, y), 500, 0.05, guide=guide, elbo=JitTrace_ELBO(ignore_jit_warnings=True))
    with torch.no_grad():
        post = Predictive(model, guide=guide, num_samples=500, return_sites=["w", "gate", "gate_hard"])(X, y)
    _check_regression(post["gate_hard"].numpy(), (post["gate"] * post["w"]).numpy())


def _check_regression(gate_hard, coef):
    """The active set and the coefficients the model predicts with. A
    mean-field guide does not see the Occam factor that switches off a null
    feature whose coefficient is near 0 (its gate barely changes the fit), so
    null gates are only required not to be confidently on."""
    inclusion = gate_hard.reshape(-1, 6).mean(0)
    active = REG_W != 0
    assert inclusion[active].min() > 0.95, inclusion
    assert inclusion[~active].max() < 0.8, inclusion
    np.testing.assert_allclose(coef.reshape(-1, 6).mean(0), REG_W, atol=0.25)


@pytest.mark.parametrize("guide_cls", [pauto.AutoDelta, pauto.AutoLowRankMultivariateNormal])
def test_pyro_other_autoguides(guide_cls):
    guide, losses = p_toy_fit("gumbel", guide_cls, steps=200)
    assert np.isfinite(losses).all() and np.mean(losses[-20:]) < np.mean(losses[:20])
    with torch.no_grad():
        post = Predictive(p_relaxed(p_toy, 0.5, "gumbel"), guide=guide, num_samples=50,
                          return_sites=["z_hard", "g_hard"])()
    assert set(torch.cat([post["z_hard"], post["g_hard"]], -1).unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(post["z_hard"].sum(-1), torch.ones(50, dtype=torch.float64))
    if guide_cls is pauto.AutoLowRankMultivariateNormal:  # a joint Gaussian: weight it too
        _, weighted, ess = p_weighted(p_relaxed(p_toy, 0.5, "st"), guide)
        exact = exact_toy()
        assert np.all(np.abs(weighted - exact) < 4 * np.sqrt(exact * (1 - exact) / ess) + 0.01)


def _per_site(module, estimator):
    """A config function giving the subset site "s" its own estimator (the
    subset estimators are "relaxed" and "marginals")."""
    main = module.relax_discrete_sites(module.RelaxReparam(0.5, estimator))
    sub = module.relax_discrete_sites(module.RelaxReparam(0.5, estimator and "marginals"))
    return lambda msg: (sub if msg["name"] == "s" else main)(msg)


def p_site_model():
    """Every relaxable kind, under a plate, ``.to_event``, ``.expand`` and ``.mask``."""
    with pyro.plate("p", 3):
        c = pyro.sample("c", pdist.OneHotCategorical(logits=torch.zeros(4)))
        b = pyro.sample("b", pdist.Bernoulli(0.3).expand([2]).to_event(1))
        s = pyro.sample("s", rp.Subset(2, logits=torch.zeros(5)))
        m = pyro.sample("m", pdist.Bernoulli(0.5).mask(torch.tensor([True, False, True])))
    return c, b, s, m


@pytest.mark.parametrize("estimator", [None, "gumbel", "reinmax", "gumbel_rao"], ids=_ids)
def test_pyro_shapes_and_values(estimator):
    pyro.set_rng_seed(0)
    model = poutine.reparam(p_site_model, config=_per_site(rp, estimator))
    orig = poutine.trace(p_site_model).get_trace()
    tr = poutine.trace(model).get_trace()
    for name in "cbsm":
        fn, twin = orig.nodes[name]["fn"], tr.nodes[f"{name}_relaxed"]["fn"]
        assert (twin.batch_shape, twin.event_shape) == (fn.batch_shape, fn.event_shape), name
        value, hard = tr.nodes[name]["value"], tr.nodes[f"{name}_hard"]["value"]
        assert value.shape == hard.shape == orig.nodes[name]["value"].shape
        assert tr.nodes[name]["is_observed"] and not tr.nodes[f"{name}_relaxed"]["is_observed"]
        assert bool(fn.support.check(hard).all()), name  # the hard value is on the original support
        if estimator is None:  # relaxed values
            assert not torch.equal(value, hard), name
        else:
            assert torch.equal(value, hard), name
    # the relaxed value and its hard value agree
    c_relaxed = tr.nodes["c_relaxed"]["value"]
    assert torch.equal(tr.nodes["c_hard"]["value"].argmax(-1), c_relaxed.argmax(-1))
    assert torch.equal(tr.nodes["b_hard"]["value"], (tr.nodes["b_relaxed"]["value"] > 0).double())
    if estimator is None:
        torch.testing.assert_close(tr.nodes["s"]["value"].sum(-1), torch.full((3,), 2.0))
    # the mask is kept: masked entries score 0
    tr.compute_log_prob()
    assert tr.nodes["m_relaxed"]["log_prob"][1] == 0 and tr.nodes["m_relaxed"]["log_prob"][0] != 0


@TRACE_DEPRECATED
def test_pyro_jit_trace_elbo_equals_trace_elbo():
    """Both ELBOs give the same loss on the same noise: the relaxed sites
    trace cleanly (a Gumbel-Rao site draws its conditional noise in the
    graph)."""
    model = poutine.reparam(p_site_model, config=_per_site(rp, "gumbel_rao"))
    guide = pauto.AutoNormal(model)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    guide()
    jit = JitTrace_ELBO(ignore_jit_warnings=True)
    losses = []
    for elbo in (jit, Trace_ELBO(), jit):
        pyro.set_rng_seed(3)
        losses.append(elbo.loss(model, guide))
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses[1], losses[2], rtol=1e-10)


def test_pyro_relaxed_sites_keep_their_own_temperature():
    def model():
        a = pyro.sample("a", pdist.RelaxedOneHotCategorical(torch.tensor(0.7), logits=torch.zeros(3)))
        b = pyro.sample("b", pdist.RelaxedBernoulli(torch.tensor(0.3), logits=torch.zeros(2)).to_event(1))
        c = pyro.sample("c", rp.GumbelSoftmax(0.9, logits=torch.zeros(3)))
        d = pyro.sample("d", rp.RelaxedSubset(0.4, 2, logits=torch.zeros(4)))
        return a, b, c, d

    tr = poutine.trace(p_relaxed(model, 2.0, "reinmax")).get_trace()
    for name, tau, twin in (("a", 0.7, rp.ExpGumbelSoftmax), ("b", 0.3, rp.LogitBinaryConcrete),
                            ("c", 0.9, rp.ExpGumbelSoftmax), ("d", 0.4, rp.LogitRelaxedSubset)):
        base = _innermost(tr.nodes[f"{name}_relaxed"]["fn"])
        assert isinstance(base, twin) and np.allclose(base.temperature.numpy(), tau)
        value = tr.nodes[name]["value"]
        assert ((value > 0) & (value < 1)).all()  # relaxed, whatever the estimator
    torch.testing.assert_close(tr.nodes["d"]["value"].sum(), torch.tensor(2.0))


def test_pyro_leaves_observed_and_continuous_sites_alone():
    def model():
        w = pyro.sample("w", pdist.Normal(0., 1.))
        z = pyro.sample("z", pdist.Bernoulli(0.5))
        pyro.sample("y", pdist.Bernoulli(0.5), obs=torch.tensor(1.0))
        return w, z

    tr = poutine.trace(p_relaxed(model)).get_trace()
    assert set(tr.stochastic_nodes) == {"w", "z_relaxed"}
    tr = poutine.trace(poutine.reparam(model, config={"y": rp.RelaxReparam()})).get_trace()
    assert tr.nodes["y"]["value"] == 1.0 and isinstance(tr.nodes["y"]["fn"], pdist.Bernoulli)


def test_pyro_dict_config_through_relax_discrete_sites():
    """Pyro's reparam handler initialises the original site first, which
    AutoNormal's default strategy cannot do for a discrete site: a plain dict
    config meets the host's error; passed through relax_discrete_sites, the
    same dict fits."""
    def model():
        z = pyro.sample("z", pdist.OneHotCategorical(torch.ones(3, dtype=torch.float64) / 3))
        pyro.sample("y", pdist.Normal(z @ torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 1.0),
                    obs=torch.tensor(1.5, dtype=torch.float64))

    pyro.clear_param_store()
    plain = poutine.reparam(model, config={"z": rp.RelaxReparam(0.5, "reinmax")})
    with pytest.raises(ValueError, match="Continuous inference cannot handle discrete sample site 'z'"):
        SVI(plain, pauto.AutoNormal(plain), pyro.optim.Adam({"lr": 0.01}), Trace_ELBO()).step()
    pyro.clear_param_store()
    config = rp.relax_discrete_sites({"z": rp.RelaxReparam(0.5, "reinmax")})
    wrapped = poutine.reparam(model, config=config)
    loss = SVI(wrapped, pauto.AutoNormal(wrapped), pyro.optim.Adam({"lr": 0.01}), Trace_ELBO()).step()
    assert np.isfinite(loss) and set(pyro.get_param_store()) == {"AutoNormal.locs.z_relaxed",
                                                                "AutoNormal.scales.z_relaxed"}


# ============================================================ NumPyro side

def n_toy():
    """The toy of ``p_toy``; NumPyro has no OneHotCategorical: a Multinomial
    with total_count=1 is one."""
    z = numpyro.sample("z", ndist.Multinomial(1, CAT_P))
    g = numpyro.sample("g", ndist.Bernoulli(GATE_P).expand([3]).to_event(1))
    mean = jnp.broadcast_to((z @ CAT_MU)[..., None], z.shape[:-1] + (5,))
    numpyro.sample("yz", ndist.Normal(mean, 1.5).to_event(1), obs=CAT_Y)
    numpyro.sample("yg", ndist.Normal((g * WG) @ XG.T, 1.0).to_event(1), obs=YG)


def n_mixture(x):
    locs = numpyro.sample("locs", ndist.Normal(0., 5.).expand([2]).to_event(1))
    with numpyro.plate("data", len(x)):
        z = numpyro.sample("z", rn.OneHotCategoricalStraightThrough(probs=jnp.ones(2) / 2))
        numpyro.sample("x", ndist.Normal((z * locs).sum(-1), 0.5), obs=x)


def n_regression(X, y):
    with numpyro.plate("features", X.shape[-1]):
        gate = numpyro.sample("gate", ndist.Bernoulli(0.5))
        w = numpyro.sample("w", ndist.Normal(0., 2.))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", ndist.Normal(X @ (gate * w), 0.5), obs=y)


def n_relaxed(model, temperature=0.5, estimator=None, **kw):
    return nreparam(model, config=rn.relax_discrete_sites(rn.RelaxReparam(temperature, estimator), **kw))


def n_fit(model, args, steps, lr, guide=None, num_particles=1):
    guide = guide or nauto.AutoNormal(model, init_scale=0.5)
    svi = NSVI(model, guide, numpyro.optim.Adam(lr), NTrace_ELBO(num_particles=num_particles))
    result = svi.run(jax.random.PRNGKey(0), steps, *args, progress_bar=False)
    return guide, result.params, np.asarray(result.losses)


def n_predict(model, guide, params, num_samples, sites, *args):
    """``Predictive`` under one ``jax.jit`` (one compilation, not one per
    operation)."""
    predictive = NPredictive(model, guide=guide, params=params, num_samples=num_samples,
                             return_sites=sites)
    return jax.jit(lambda key: predictive(key, *args))(jax.random.PRNGKey(1))


def n_weighted(model, guide, params, num_samples=20000):
    """As ``p_weighted``."""
    draws = jax.jit(NPredictive(guide, params=params, num_samples=num_samples))(jax.random.PRNGKey(1))
    draws = {k: v for k, v in draws.items() if k.endswith("_relaxed")}

    @jax.jit
    @jax.vmap
    def one(draw):
        log_p, tr = log_density(model, (), {}, draw)
        log_q, _ = log_density(guide, (), {}, {**params, **draw})
        return log_p - log_q, jnp.concatenate([tr["z_hard"]["value"], tr["g_hard"]["value"]], -1)

    log_w, hard = one(draws)
    w = jax.nn.softmax(log_w)
    return np.asarray(hard.mean(0)), np.asarray(w @ hard), float(1 / (w ** 2).sum())


def n_toy_fit(estimator, guide_cls=nauto.AutoNormal, steps=600):
    model = n_relaxed(n_toy, 0.5, estimator)
    return n_fit(model, (), steps, 0.03, guide=guide_cls(model), num_particles=8)


@pytest.mark.parametrize("estimator", [None, "gumbel"], ids=_ids)
def test_numpyro_toy_against_enumeration(estimator):
    guide, params, _ = n_toy_fit(estimator)
    _check_toy(*n_weighted(n_relaxed(n_toy, 0.5, "st"), guide, params))


@pytest.mark.parametrize("estimator", ["gumbel"], ids=_ids)  # relaxed: in Pyro (time)
def test_numpyro_mixture_recovers_the_truth(estimator):
    model = n_relaxed(n_mixture, 0.2 if estimator is None else 0.5, estimator)
    guide, params, _ = n_fit(model, (MIX_X,), 400, 0.05, guide=nauto.AutoNormal(model, init_scale=0.3))
    post = n_predict(model, guide, params, 200, ["locs", "z_hard", "z"], MIX_X)
    _check_mixture(np.asarray(post["locs"]), np.asarray(post["z_hard"]))
    if estimator is not None:
        assert np.array_equal(post["z"], post["z_hard"])


@pytest.mark.parametrize("estimator", [None], ids=_ids)  # straight-through: in Pyro (time)
def test_numpyro_sparse_regression_recovers_the_truth(estimator):
    model = n_relaxed(n_regression, 0.5, estimator)
    guide = nauto.AutoNormal(model, init_loc_fn=ninit_to_feasible)
    guide, params, _ = n_fit(model, (REG_X, REG_Y), 500, 0.05, guide=guide)
    post = n_predict(model, guide, params, 500, ["w", "gate", "gate_hard"], REG_X, REG_Y)
    _check_regression(np.asarray(post["gate_hard"]), np.asarray(post["gate"] * post["w"]))


@pytest.mark.parametrize("guide_cls", [nauto.AutoDelta, nauto.AutoLowRankMultivariateNormal])
def test_numpyro_other_autoguides(guide_cls):
    guide, params, losses = n_toy_fit("gumbel", guide_cls, steps=200)
    assert np.isfinite(losses).all() and losses[-20:].mean() < losses[:20].mean()
    hard = n_predict(n_relaxed(n_toy, 0.5, "gumbel"), guide, params, 50, ["g_hard"])["g_hard"]
    assert set(np.unique(hard).tolist()) <= {0.0, 1.0}


def n_site_model():
    with numpyro.plate("p", 3):
        c = numpyro.sample("c", rn.OneHotCategoricalStraightThrough(logits=jnp.zeros(4)))
        b = numpyro.sample("b", ndist.Bernoulli(0.3).expand([2]).to_event(1))
        s = numpyro.sample("s", rn.Subset(2, logits=jnp.zeros(5)))
        m = numpyro.sample("m", ndist.Bernoulli(0.5).mask(jnp.array([True, False, True])))
        k = numpyro.sample("k", ndist.Multinomial(1, jnp.ones(3) / 3))
    return c, b, s, m, k


#: A dict config with one reparameterizer per site: relaxed and every
#: straight-through estimator in one trace (one compilation).
N_SITE_ESTIMATORS = {"c": "reinmax", "b": "gumbel_rao", "s": "marginals", "m": None, "k": "st"}


def test_numpyro_shapes_and_values():
    """Run under ``jax.jit`` (the shapes and the site types are recorded while
    tracing)."""
    config = {name: rn.RelaxReparam(0.5, est) for name, est in N_SITE_ESTIMATORS.items()}
    model = nreparam(n_site_model, config=config)
    seen = {}

    @jax.jit
    def run(key):
        orig = ntrace(nseed(n_site_model, key)).get_trace()
        tr = ntrace(nseed(model, key)).get_trace()
        for name in N_SITE_ESTIMATORS:
            fn, twin = orig[name]["fn"], tr[f"{name}_relaxed"]["fn"]
            seen[name] = (fn.batch_shape, fn.event_shape, twin.batch_shape, twin.event_shape,
                          tr[name]["type"], fn.support, orig[name]["value"].shape)
        m = tr["m_relaxed"]
        return {name: node["value"] for name, node in tr.items()}, m["fn"].log_prob(m["value"])

    values, lp = run(jax.random.PRNGKey(0))
    for name, estimator in N_SITE_ESTIMATORS.items():
        batch, event, twin_batch, twin_event, kind, support, shape = seen[name]
        assert (twin_batch, twin_event) == (batch, event) and kind == "deterministic", name
        value, hard = values[name], values[f"{name}_hard"]
        assert value.shape == hard.shape == shape
        assert bool(np.all(support(hard))), name
        if estimator is None:  # relaxed values
            assert not np.array_equal(value, hard), name
        else:
            assert np.array_equal(value, hard), name
    assert np.array_equal(np.argmax(values["c_hard"], -1), np.argmax(values["c_relaxed"], -1))
    assert np.array_equal(values["b_hard"], (values["b_relaxed"] > 0).astype(float))
    np.testing.assert_allclose(values["s_hard"].sum(-1), 2.0)
    assert lp[1] == 0 and lp[0] != 0  # the mask is kept


def test_numpyro_jit_and_annealed_temperature():
    """Under ``jax.jit`` the step of the schedule is a traced argument of the
    stepped model: the temperature follows it without retracing."""
    calls = []

    def schedule(step):
        calls.append(step)
        return jnp.maximum(0.1, 2.0 * 0.5 ** step)

    relax = rn.RelaxReparam(schedule)
    model = relax.stepped(nreparam(n_toy, config=rn.relax_discrete_sites(relax)))

    @jax.jit
    def temperature(step):
        return _innermost(ntrace(nseed(model, 0)).get_trace(step)["g_relaxed"]["fn"]).temperature

    taus = [float(temperature(jnp.asarray(s, dtype=float))) for s in (0, 1, 5)]
    np.testing.assert_allclose(taus, [2.0, 1.0, 0.1])
    assert len(calls) == 2 and relax.step == 0  # one trace (two relaxed sites); step restored
    # SVI with the step as an argument of the jitted update
    guide = nauto.AutoNormal(model)
    svi = NSVI(model, guide, numpyro.optim.Adam(0.03), NTrace_ELBO())
    state = svi.init(jax.random.PRNGKey(0), 0.0)
    update = jax.jit(svi.update)
    state, loss = update(state, jnp.asarray(0.0))
    traced = len(calls)
    for step in range(1, 20):
        state, loss = update(state, jnp.asarray(float(step)))
    assert np.isfinite(loss) and len(calls) == traced  # no retracing as the step moves


def test_numpyro_relaxed_sites_keep_their_own_temperature():
    def model():
        a = numpyro.sample("a", ndist.RelaxedBernoulli(0.3, logits=jnp.zeros(2)).to_event(1))
        b = numpyro.sample("b", rn.GumbelSoftmax(0.9, logits=jnp.zeros(3)))
        return a, b

    tr = ntrace(nseed(n_relaxed(model, 2.0, "reinmax"), 0)).get_trace()
    for name, tau, twin in (("a", 0.3, rn.LogitBinaryConcrete), ("b", 0.9, rn.ExpGumbelSoftmax)):
        base = _innermost(tr[f"{name}_relaxed"]["fn"])
        assert isinstance(base, twin) and np.allclose(base.temperature, tau)
        value = tr[name]["value"]
        assert np.all((value > 0) & (value < 1))  # relaxed, whatever the estimator


def test_numpyro_leaves_observed_and_continuous_sites_alone():
    def model():
        w = numpyro.sample("w", ndist.Normal(0., 1.))
        z = numpyro.sample("z", ndist.Bernoulli(0.5))
        numpyro.sample("y", ndist.Bernoulli(0.5), obs=1.0)
        return w, z

    tr = ntrace(nseed(n_relaxed(model), 0)).get_trace()
    latent = {k for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    assert latent == {"w", "z_relaxed"}
    tr = ntrace(nseed(nreparam(model, config={"y": rn.RelaxReparam()}), 0)).get_trace()
    assert tr["y"]["type"] == "sample" and tr["y"]["value"] == 1.0


# ====================================================== both: errors etc.
BACKENDS = {
    "pyro": (rp, poutine.reparam, lambda m: poutine.trace(m).get_trace()),
    "numpyro": (rn, lambda m, config: nreparam(m, config=config),
                lambda m: ntrace(nseed(m, 0)).get_trace()),
}


def _cannot_relax_models(backend):
    """Latent sites a RelaxReparam cannot relax, with a word of the reason."""
    if backend == "pyro":
        d, zeros = pdist, torch.zeros
        categorical = d.Categorical(logits=zeros(3))
        poisson = d.Poisson(torch.tensor(2.0))
        multinomial = d.Multinomial(2, logits=zeros(3))
    else:
        d, zeros = ndist, jnp.zeros
        categorical = d.Categorical(logits=zeros(3))
        poisson = d.Poisson(2.0)
        multinomial = d.Multinomial(2, logits=zeros(3))
    return [("k", categorical, "integer category index"), ("n", poisson, "no relaxation"),
            ("t", multinomial, "total_count")]


def _sampler(backend):
    return pyro.sample if backend == "pyro" else numpyro.sample


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_sites_that_cannot_be_relaxed_raise_naming_the_site(backend):
    module, handler, run = BACKENDS[backend]
    sample = _sampler(backend)
    for name, fn, why in _cannot_relax_models(backend):
        def model(name=name, fn=fn):
            return sample(name, fn)

        for config in ({name: module.RelaxReparam()}, module.relax_discrete_sites()):
            with pytest.raises(ValueError, match=f"latent site '{name}'.*{why}"):
                run(handler(model, config=config))
        run(handler(model, config=module.relax_discrete_sites(skip=[name])))  # skipped: no error
    # a continuous site named in a dict config
    normal = pdist.Normal(0., 1.) if backend == "pyro" else ndist.Normal(0., 1.)
    with pytest.raises(ValueError, match="latent site 'w'.*neither discrete nor a relaxation"):
        run(handler(lambda: sample("w", normal), config={"w": module.RelaxReparam()}))


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_bad_arguments_raise_naming_the_parameter(backend):
    module, handler, run = BACKENDS[backend]
    for bad in (0.0, -1.0, float("nan"), float("inf"), "hot", None, [0.5]):
        with pytest.raises(ValueError, match="`temperature`"):
            module.RelaxReparam(bad)
    with pytest.raises(ValueError, match="`temperature`"):
        module.RelaxReparam(np.array([0.5, -0.1]))
    for bad in ("gumble", 1, "Gumbel"):
        with pytest.raises(ValueError, match="`estimator`"):
            module.RelaxReparam(0.5, bad)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="`rao_samples`"):
            module.RelaxReparam(0.5, "gumbel_rao", rao_samples=bad)
    with pytest.raises(ValueError, match="`skip`"):
        module.relax_discrete_sites(skip=[1])
    with pytest.raises(ValueError, match="`reparam`"):
        module.relax_discrete_sites("gumbel")
    with pytest.raises(ValueError, match="`reparam` as a dict"):
        module.relax_discrete_sites({"z": 0.5})
    # a schedule's bad value, when the site is relaxed
    sample = _sampler(backend)
    bern = pdist.Bernoulli(0.5) if backend == "pyro" else ndist.Bernoulli(0.5)
    with pytest.raises(ValueError, match="temperature schedule's value at step 0"):
        run(handler(lambda: sample("z", bern), config=module.relax_discrete_sites(
            module.RelaxReparam(lambda step: -1.0))))
    # an estimator that does not apply to a subset site
    subset = (rp.Subset(2, logits=torch.zeros(4)) if backend == "pyro"
              else rn.Subset(2, logits=jnp.zeros(4)))
    with pytest.raises(ValueError, match="`estimator` 'reinmax' does not apply to the subset site 's'"):
        run(handler(lambda: sample("s", subset), config={"s": module.RelaxReparam(0.5, "reinmax")}))


def _half_life(step, start=2.0):
    return start * 0.5 ** step


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_schedule_step_and_pickling(backend):
    module, handler, run = BACKENDS[backend]
    relax = module.RelaxReparam(functools.partial(_half_life, start=2.0), "gumbel")
    config = module.relax_discrete_sites(relax, skip="w")
    relax.step = 2
    relax2, config2 = pickle.loads(pickle.dumps((relax, config)))
    assert config2.reparam is relax2  # the config and its reparameterizer stay one object
    assert relax2.step == 2 and relax2.estimator == "gumbel" and relax2.temperature_at() == 0.5
    assert config2.skip == {"w"}
    sample = _sampler(backend)
    bern = pdist.Bernoulli(0.5) if backend == "pyro" else ndist.Bernoulli(0.5)
    tr = run(handler(lambda: sample("z", bern), config=config2))
    node = tr.nodes["z_relaxed"] if backend == "pyro" else tr["z_relaxed"]
    assert float(node["fn"].temperature) == 0.5
    with relax2.at_step(1):
        assert relax2.temperature_at() == 1.0
    assert relax2.step == 2


@pytest.mark.parametrize("kind, estimator", [
    *[("categorical", e) for e in ("gumbel", "st", "reinmax", "gumbel_rao")],
    *[("binary", e) for e in ("gumbel", "st", "reinmax", "gumbel_rao")],
    ("subset", "relaxed"), ("subset", "marginals"),
])
def test_straight_through_value_is_hard_with_a_gradient(kind, estimator):
    """In both backends, from the same twin value: the value is bitwise the
    hard one; ``"gumbel"`` / ``"st"`` / ``"relaxed"`` give the gradient of the
    relaxed value itself; every estimator gives a finite, nonzero gradient."""
    rng = np.random.default_rng(0)
    shape = (3,) if kind == "binary" else (3, 5)
    v = rng.normal(size=shape)
    m = 2 if kind == "subset" else None
    if kind == "categorical":
        v = v - np.log(np.exp(v).sum(-1, keepdims=True))  # a point of the log-simplex
    if kind == "subset":  # logit S with sum(sigmoid) == 2
        from relaxed_dists.core import subset
        v = np.asarray(subset.rsample_logit(np.zeros(shape), np.ones(3), 2, rng.uniform(size=shape)))
    c = rng.normal(size=shape)
    rao = rng.uniform(0.01, 0.99, size=shape[:-1] + (4, 5) if kind == "categorical" else shape + (4,))
    rao = rao if estimator == "gumbel_rao" else None

    def relaxed(x):  # the surrogate: the twin's relaxed value (as probabilities)
        return torch.softmax(x, -1) if kind == "categorical" else torch.sigmoid(x)

    vt = torch.tensor(v, requires_grad=True)
    value, hard = model_value(kind, vt, m, estimator, None if rao is None else torch.tensor(rao))
    assert torch.equal(value.detach(), hard) and set(hard.unique().tolist()) <= {0.0, 1.0}
    (g_torch,) = torch.autograd.grad((value * torch.tensor(c)).sum(), vt)
    rao_j = None if rao is None else jnp.asarray(rao)

    @jax.jit
    def jax_side(x):  # one compilation (eager JAX compiles every operation)
        def loss(x):
            return (model_value(kind, x, m, estimator, rao_j)[0] * c).sum()

        return model_value(kind, x, m, estimator, rao_j)[1], jax.grad(loss)(x)

    hard_j, g_jax = jax_side(jnp.asarray(v))
    np.testing.assert_array_equal(np.asarray(hard_j), hard.numpy())
    np.testing.assert_allclose(np.asarray(g_jax), g_torch.numpy(), rtol=1e-9, atol=1e-12)
    assert np.isfinite(g_torch.numpy()).all() and np.abs(g_torch.numpy()).max() > 0
    if estimator in ("gumbel", "st", "relaxed"):
        (expected,) = torch.autograd.grad((relaxed(vt) * torch.tensor(c)).sum(), vt)
        if kind == "subset":  # the projection onto sum == m removes the mean direction
            q = torch.sigmoid(vt) * (1 - torch.sigmoid(vt))
            g_s = (torch.tensor(c) * q).detach()
            expected = g_s - q * g_s.sum(-1, keepdim=True) / q.sum(-1, keepdim=True)
        torch.testing.assert_close(g_torch, expected, rtol=1e-9, atol=1e-12)
