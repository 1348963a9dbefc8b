"""Bayesian feature selection with a discrete mask (NumPyro).

A linear regression y ~ Normal(X (S * beta), sigma) whose d coefficients are
gated by a set S of features; beta_j ~ Normal(0, 2^2), sigma ~ HalfNormal(1);
or, with ``--likelihood logistic`` (the default for ``--dataset
breast-cancer``), a logistic regression y ~ Bernoulli(logits = alpha +
X (S * beta)) with an intercept alpha ~ Normal(0, 2^2).
The prior on S (``--prior``):

- ``subset`` (default): uniform over the sets of exactly m features,
  S ~ Subset(m, uniform), a hard m-hot mask;
- ``bernoulli``: each feature in S independently with probability m / d
  (m is then the expected number of features).

The guide can represent the posterior: the mask's own distribution with
learnt logits (Subset(m, logits) or independent Bernoulli(logits)), and each
coefficient's guide conditional on its feature's inclusion: a learnt
Normal(loc_j, scale_j) when feature j is in S, the prior Normal(0, 2^2) when
it is not; sigma a learnt LogNormal (alpha a learnt Normal). The gradient of the mask's parameters
(``--estimator``):

- ``rloo`` (default): the exact discrete guide, scored by
  relaxed_dists.numpyro.RLOOTrace_ELBO (unbiased, leave-one-out baselines
  across the particles); the fastest to the accuracy target of the exact
  check (see ``--exact``);
- ``straight-through``: SubsetStraightThrough / BernoulliStraightThrough
  (hard values, a biased relaxed gradient) with a plain Trace_ELBO;
- ``relaxed``: the model and guide relaxed at ``--temperature``
  (LogitRelaxedSubset / LogitBinaryConcrete, sampled as logits; S =
  sigmoid). This fits a different, relaxed model; its logits are read as the
  hard guide's.

Every guide, however fitted, is read as the hard guide with the learnt
logits. Its inclusion probabilities are printed, and then corrected beyond
the guide by self-normalised importance sampling: ``--draws`` sets S from a
mixture of the guide (weight 0.6), the guide flattened (its logits divided
by 4; weight 0.3: the sets a mode-seeking guide nearly excludes, such as a
correlated feature's stand-in) and the prior (0.1, which bounds the
weights), in three rounds, each later one proposing from the one before's
estimate (every feature kept at an inclusion of at least 0.5 / d); each set
weighted by p(y, S) / q(S) with the *collapsed* marginal
likelihood p(y | S): for the linear model exact (beta integrated
analytically, sigma by quadrature: examples/_exact.py); for logistic
regression an unbiased importance-sampling estimate per set (which keeps
the estimate consistent). ``--weights joint`` uses the general weights
p(y, S, beta, ...) / q(S, beta, ...) of guide draws of all latents instead
(the exact set probability of Subset, its log_prob, and the coefficients'
guide density), which needs no conjugacy but has a far higher variance where
the coefficients' guide is poor for a set. The effective sample size and a
Monte Carlo standard error per feature are printed.

A reference posterior is computed by default (``--no-exact`` skips it) and
printed beside the fitted and corrected probabilities, with the largest
differences and the wall time of both: the exact posterior by enumeration
where there are at most 2^20 sets (C(d, m) or 2^d; for logistic regression
with the subset prior, at most 50 000 sets, each set's coefficients
integrated by importance sampling), else a long MCMC run of 64 chains
(``--mcmc-steps`` each; examples/_mcmc.py): Metropolis on the set with the
coefficients integrated out for the linear model, Metropolis-within-Gibbs on
the set and the coefficients for logistic regression.

The command line, the importance weighting, the reference and the report
are shared by the Pyro and NumPyro versions (examples/_selection.py); this file holds
the model, the guide and the fit.

    python3 examples/feature_selection_numpyro.py                      # synthetic, planted features
    python3 examples/feature_selection_numpyro.py --dataset diabetes --m 4
    python3 examples/feature_selection_numpyro.py --prior bernoulli --dataset correlated
    python3 examples/feature_selection_numpyro.py --dataset correlated --rho 0.9 --signal 0.2
    python3 examples/feature_selection_numpyro.py --d 200                    # MCMC reference
    python3 examples/feature_selection_numpyro.py --dataset breast-cancer    # logistic regression
    python3 examples/feature_selection_numpyro.py --csv data.csv --target price
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from _exact import guide_inclusion  # noqa: F401 (the examples' shared reading of a fitted guide)
from _selection import ESTIMATORS, NOISE_SCALE, PRIOR_SCALE
from _selection import main as run
from numpyro import handlers
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.util import log_density
from tqdm import tqdm

from relaxed_dists.numpyro import (
    BernoulliStraightThrough,
    LogitBinaryConcrete,
    LogitRelaxedSubset,
    RLOOTrace_ELBO,
    Subset,
    SubsetStraightThrough,
)

BACKEND = "numpyro"
__all__ = ["ESTIMATORS", "fit", "guide", "joint_log_weight", "load", "main", "model"]


class StraightThroughELBO(Trace_ELBO):
    """Trace_ELBO for a straight-through guide: its hard mask carries a
    (biased) reparameterised gradient, so the discrete site needs no score
    term and NumPyro's warning about discrete latents does not apply."""

    can_infer_discrete = True


def load(X, y):
    """The data (NumPy) as JAX arrays."""
    return jnp.asarray(X), jnp.asarray(y)


def mask_distribution(prior, m, logits, estimator="rloo", temperature=0.5):
    """The distribution of the mask (the prior with zero logits): hard, straight-through or relaxed."""
    if prior == "subset":
        if estimator == "relaxed":
            return LogitRelaxedSubset(temperature, m, logits=logits)
        if estimator == "straight-through":
            return SubsetStraightThrough(temperature, m, logits=logits)
        return Subset(m, logits=logits)
    if estimator == "relaxed":
        return LogitBinaryConcrete(temperature, logits=logits).to_event(1)
    if estimator == "straight-through":
        return BernoulliStraightThrough(temperature, logits=logits).to_event(1)
    return dist.Bernoulli(logits=logits).to_event(1)


def prior_logits(prior, m, d):
    """Zero logits (uniform m-subsets), or logit(m / d) for each independent inclusion."""
    return jnp.zeros(d) if prior == "subset" else jnp.full(d, np.log(m / (d - m)))


def model(X, y, m, prior="subset", estimator="rloo", temperature=0.5, likelihood="gaussian"):
    """y ~ Normal(X (S * beta), sigma) or Bernoulli(logits = alpha + X (S * beta)), beta gated by S."""
    d = X.shape[-1]
    mask_dist = mask_distribution(prior, m, prior_logits(prior, m, d), estimator, temperature)
    if estimator == "relaxed":  # sampled as logits: finite densities in float32
        mask = jax.nn.sigmoid(numpyro.sample("logit_mask", mask_dist))
    else:
        mask = numpyro.sample("mask", mask_dist)
    beta = numpyro.sample("beta", dist.Normal(0.0, PRIOR_SCALE).expand([d]).to_event(1))
    # a sum over features rather than X @ (...): it broadcasts over vectorized particles too
    if likelihood == "gaussian":
        sigma = numpyro.sample("sigma", dist.HalfNormal(NOISE_SCALE))
        with numpyro.plate("data", X.shape[0]):
            numpyro.sample("y", dist.Normal((X * (mask * beta)).sum(-1), sigma), obs=y)
    else:
        alpha = numpyro.sample("alpha", dist.Normal(0.0, PRIOR_SCALE))
        with numpyro.plate("data", X.shape[0]):
            numpyro.sample("y", dist.Bernoulli(logits=alpha + (X * (mask * beta)).sum(-1)), obs=y)


def guide(X, y, m, prior="subset", estimator="rloo", temperature=0.5, likelihood="gaussian"):
    """The mask's distribution, learnt logits; beta_j | S: a learnt Normal if j is in S, else the prior."""
    d = X.shape[-1]
    logits = numpyro.param("mask_logits", prior_logits(prior, m, d))
    mask_dist = mask_distribution(prior, m, logits, estimator, temperature)
    if estimator == "relaxed":
        mask = jax.nn.sigmoid(numpyro.sample("logit_mask", mask_dist))
    else:
        mask = numpyro.sample("mask", mask_dist)
    loc = numpyro.param("beta_loc", jnp.zeros(d))
    scale = numpyro.param("beta_scale", jnp.full(d, 0.1), constraint=dist.constraints.positive)
    # exact for a hard mask; a relaxed mask interpolates (in log scale)
    log_scale = mask * jnp.log(scale) + (1.0 - mask) * np.log(PRIOR_SCALE)
    numpyro.sample("beta", dist.Normal(mask * loc, jnp.exp(log_scale)).to_event(1))
    name, init = ("sigma", -1.0) if likelihood == "gaussian" else ("alpha", 0.0)
    s_loc = numpyro.param(f"{name}_loc", jnp.asarray(init))
    s_scale = numpyro.param(f"{name}_scale", jnp.asarray(0.1), constraint=dist.constraints.positive)
    numpyro.sample(name, (dist.LogNormal if name == "sigma" else dist.Normal)(s_loc, s_scale))


def fit(X, y, m, steps, seed, prior="subset", estimator="rloo", temperature=0.5, lr=0.05,
        particles=8, progress_bar=True, likelihood="gaussian"):
    """Fit the guide by SVI: Adam at ``lr`` for half the steps, then decaying
    geometrically to lr / 100. Return the fitted parameters and the losses (NumPy)."""
    if estimator == "rloo":
        elbo = RLOOTrace_ELBO(num_particles=particles)
    elif estimator == "straight-through":
        elbo = StraightThroughELBO(num_particles=particles, vectorize_particles=True)
    else:
        elbo = Trace_ELBO(num_particles=particles, vectorize_particles=True)
    half = steps // 2
    schedule = lambda i: lr * 0.01 ** jnp.clip((i - half) / max(steps - half, 1), 0.0, 1.0)  # noqa: E731
    svi = SVI(model, guide, numpyro.optim.Adam(schedule), elbo)
    args = (X, y, m, prior, estimator, temperature, likelihood)
    state = svi.init(jax.random.PRNGKey(seed), *args)
    update = jax.jit(lambda state: svi.update(state, *args))
    state, loss = update(state)  # the first step compiles: outside the bar (its ETA)
    losses = [loss]
    with tqdm(range(1, steps), desc=f"SVI ({BACKEND}, {estimator})", disable=not progress_bar) as bar:
        for step in bar:
            state, loss = update(state)
            losses.append(loss)
            if (step + 1) % 100 == 0:
                bar.set_postfix(loss=f"{np.median(losses[-100:]):.2f}")
    params = {k: np.asarray(v) for k, v in svi.get_params(state).items()}
    return params, np.asarray(losses)


def joint_log_weight(X, y, params, m, prior, masks, seed, likelihood="gaussian"):
    """log p(y, S, beta, ...) - log q(beta, ... | S) of one draw of the fitted
    guide given each mask (rows of ``masks``), as a NumPy array."""
    args = (X, y, m, prior, "rloo", 0.5, likelihood)

    def one(key, mask):
        conditioned = handlers.seed(handlers.condition(guide, {"mask": mask}), key)
        log_q_all, trace = log_density(conditioned, args, {}, params)
        values = {name: site["value"] for name, site in trace.items() if site["type"] == "sample"}
        log_p_all, _ = log_density(model, args, {}, values)
        return log_p_all - (log_q_all - trace["mask"]["fn"].log_prob(mask))
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), len(masks))
    return np.asarray(jax.jit(jax.vmap(one))(keys, jnp.asarray(masks, dtype=X.dtype)), dtype=np.float64)


def main(argv=None):
    """The command line (examples/_selection.py): fit, correct, compare, print and plot."""
    return run(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
