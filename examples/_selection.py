"""The backend-free half of the feature-selection examples: the command
line, the importance-weighted correction of the fitted guide, the reference
posterior (exact enumeration or a long MCMC run) and the printed report.

A backend module (feature_selection_numpyro.py, feature_selection_pyro.py)
supplies ``BACKEND``, ``__doc__`` (the ``--help`` text), ``load(X, y)``
(NumPy arrays to its own), ``prior_logits``, ``fit(...)`` and
``joint_log_weight(...)`` (``log p(y, S, beta, ...) - log q(beta, ... | S)``
of draws of the guide given each mask); :func:`main` does the rest.
"""

import argparse
import time

import numpy as np
from _data import DATASETS, load_csv, load_data, plot
from _exact import (
    EXACT_CAP,
    enumeration_blocker,
    exact_posterior,
    guide_inclusion,
    log_marginal,
    log_prior,
    logistic_log_marginal,
)
from _mcmc import collapsed_mcmc, logistic_mcmc

from relaxed_dists.core import hard_limit

__all__ = ["DEFENSIVE", "ESTIMATORS", "PRIOR_SCALE", "NOISE_SCALE", "importance", "main", "parser",
           "reference"]

ESTIMATORS = ("rloo", "straight-through", "relaxed")
#: beta_j ~ Normal(0, 2^2) (and the logistic intercept), sigma ~ HalfNormal(1)
PRIOR_SCALE, NOISE_SCALE = 2.0, 1.0
#: The prior's weight in the importance proposal.
DEFENSIVE = 0.1
#: Rounds of importance sampling, each proposing from the previous round's estimate.
ROUNDS = 3
#: The weight of the flattened guide (its logits divided by ``FLATTEN``) in the proposal.
BROAD, FLATTEN = 0.3, 4.0


def importance(X, y, logits, base, m, prior, draws, seed, weights, joint_log_weight, likelihood="gaussian"):
    """Self-normalised importance sampling of the discrete posterior: the
    inclusion probabilities, their Monte Carlo standard errors and the
    effective sample size.

    ``logits``: the fitted guide's; ``base``: the prior's. The proposal, in
    float64 NumPy (relaxed_dists' core functions are backend-free), is a
    mixture of the fitted hard guide ``q`` (weight ``1 - BROAD -
    DEFENSIVE``), the guide flattened (logits divided by ``FLATTEN``: the
    sets a mode-seeking guide nearly excludes, such as a correlated
    feature's stand-in, get drawn) and the prior ``p`` (``DEFENSIVE``, which
    bounds the weights). ``weights``: ``"collapsed"`` (``p(y | S)`` with the
    coefficients integrated out: exactly for the Gaussian model, with sigma
    by quadrature; for logistic regression by an unbiased importance-sampling
    estimate per set, which keeps the estimate consistent) or ``"joint"``
    (``joint_log_weight(masks)``: one draw of the other latents from the
    guide given each set).
    """
    d = len(logits)
    rng = np.random.default_rng(seed + 1)
    logits, base = np.asarray(logits, dtype=np.float64), np.asarray(base, dtype=np.float64)
    if prior == "subset":
        # ROUNDS rounds of Gumbel-top-m draws, weighed with the exact set probability of Subset.log_prob:
        # each after the first proposes from logits whose inclusion probabilities are the previous
        # round's estimate (adaptive importance sampling: each proposal is fixed given the rounds before).
        for _ in range(ROUNDS):
            parts = ((1.0 - BROAD - DEFENSIVE, logits), (BROAD, logits / FLATTEN), (DEFENSIVE, base))
            which = rng.choice(len(parts), size=(draws, 1), p=[w for w, _ in parts])
            masks = sum(np.where(which == i, hard_limit.sample_subset(lg, m, rng.uniform(size=(draws, d)))[0],
                                 0.0) for i, (_, lg) in enumerate(parts))
            def log_proposal(s, parts=parts):  # the exact set probabilities, O(k + nodes m) each
                members = hard_limit.set_members(s, m)
                terms = [np.log(w) + hard_limit.subset_log_prob_members(lg, s, members) for w, lg in parts]
                return np.logaddexp.reduce(terms, axis=0)
            probs, stderr, ess = _weigh(X, y, m, prior, masks, weights, joint_log_weight, likelihood,
                                        log_proposal)
            floor = min(0.5 / d, 0.5 * m / d)  # every feature keeps a share of the next proposal
            estimate = np.clip(probs, floor, 1.0 - 1e-3)
            logits = _subset_logits(np.clip(estimate * m / estimate.sum(), floor, 1.0 - 1e-3), m)
        return probs, stderr, ess
    # Independent inclusion: mixed per feature, in ROUNDS rounds likewise.
    parts = ((1.0 - BROAD - DEFENSIVE, logits), (BROAD, logits / FLATTEN), (DEFENSIVE, base))
    pi = sum(w / (1.0 + np.exp(-lg)) for w, lg in parts)
    for _ in range(ROUNDS):
        masks = (rng.uniform(size=(draws, d)) < pi) * 1.0
        probs, stderr, ess = _weigh(X, y, m, prior, masks, weights, joint_log_weight, likelihood,
                                    lambda s, pi=pi: (s * np.log(pi) + (1.0 - s) * np.log1p(-pi)).sum(-1))
        pi = (1.0 - DEFENSIVE) * probs + DEFENSIVE * m / d
    return probs, stderr, ess


def _subset_logits(target, m, iterations=10, tol=1e-3):
    """Logits of a ``Subset(m, logits)`` whose inclusion probabilities are
    ``target`` (in (0, 1), summing to ``m``), by multiplicative fixed-point
    steps (each raises the logits of the items below their target), to
    ``tol`` or for ``iterations`` steps (50 quadrature nodes): a proposal
    needs no more (clipped targets may not be reachable exactly)."""
    logits = np.log(target)
    for _ in range(iterations):
        current = hard_limit.inclusion_probs(logits, m, num_nodes=50)
        if np.abs(current - target).max() < tol:
            break
        logits = logits + np.log(target) - np.log(current)
        logits -= logits.max()
    return logits


def _weigh(X, y, m, prior, masks, weights, joint_log_weight, likelihood, log_proposal):
    """The self-normalised estimate from draws ``masks`` of a proposal of log-probability ``log_proposal``."""
    hard = masks > 0.5
    unique, inverse = np.unique(hard, axis=0, return_inverse=True)  # the densities once per distinct set
    inverse = inverse.ravel()
    log_q = log_proposal(unique * 1.0)[inverse]
    if weights == "collapsed":
        if likelihood == "logistic":
            log_lik = np.empty(len(unique))
            sizes = unique.sum(1)
            for k in np.unique(sizes):  # one size at a time; 200 draws per set (its error averages out)
                rows = sizes == k
                log_lik[rows] = logistic_log_marginal(X, y, unique[rows], PRIOR_SCALE, PRIOR_SCALE, draws=200,
                                                      seed=int(k))[0]
            log_lik = log_lik[inverse]
        else:
            log_lik = log_marginal(X, y, unique, PRIOR_SCALE, NOISE_SCALE)[inverse]
        log_w = log_lik + log_prior(hard, prior, m) - log_q
    else:  # p(y, S, beta, ...) / q(S, beta, ...), beta and the rest drawn from the guide given S
        log_w = np.asarray(joint_log_weight(masks), dtype=np.float64) - log_q
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    probs = w @ hard
    stderr = np.sqrt((w[:, None] ** 2 * (hard - probs) ** 2).sum(0))  # delta method for a ratio estimate
    return probs, stderr, 1.0 / (w**2).sum()


def reference(X, y, prior, m, likelihood, mcmc_steps, seed, cap=EXACT_CAP):
    """The reference posterior inclusion probabilities: exact enumeration
    where the sets are at most ``cap`` (the Gaussian model; logistic
    regression with the subset prior, each set's coefficients integrated by
    importance sampling), else a long MCMC run (examples/_mcmc.py).

    :return: a dict with ``inclusion``, ``stderr`` (Monte Carlo; 0 for the
        Gaussian enumeration), ``method`` (a phrase) and ``wall`` (seconds).
    """
    start = time.perf_counter()
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    why_not = enumeration_blocker(X.shape[-1], prior, m, likelihood, cap)
    if why_not is None:
        out = exact_posterior(X, y, prior, m, PRIOR_SCALE, NOISE_SCALE, cap, likelihood)
        method = "exact (enumeration of every set" + (
            ", coefficients by importance sampling)" if likelihood == "logistic" else ")")
    else:
        print(f"\nno exact enumeration: {why_not}; a long MCMC run is the reference instead")
        if likelihood == "logistic":
            out = logistic_mcmc(X, y, prior, m, steps=mcmc_steps, seed=seed, prior_scale=PRIOR_SCALE,
                                intercept_scale=PRIOR_SCALE)
        else:
            out = collapsed_mcmc(X, y, prior, m, steps=mcmc_steps, seed=seed, prior_scale=PRIOR_SCALE,
                                 noise_scale=NOISE_SCALE)
        method = f"MCMC ({out['draws']} draws of 64 chains, set-move acceptance {out['acceptance']:.2g})"
    return {"inclusion": out["inclusion"], "stderr": out["stderr"], "method": method,
            "wall": time.perf_counter() - start}


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help: the module docstring as written, and every default."""


def parser(backend):
    """The command line of ``backend``'s example."""
    p = argparse.ArgumentParser(description=backend.__doc__, formatter_class=Formatter)
    p.add_argument("--dataset", choices=DATASETS, default="synthetic",
                   help="synthetic: 200 rows, --d independent features, 3 planted; correlated: 100 rows, "
                        "features of equicorrelation --rho, 3 planted; diabetes: scikit-learn's (10 "
                        "features); breast-cancer: scikit-learn's (30 features, binary target: logistic "
                        "regression)")
    p.add_argument("--csv", help="read the data from this CSV file instead (with --target)")
    p.add_argument("--target", help="the CSV column to predict; the other numeric columns are the features")
    p.add_argument("--likelihood", choices=["auto", "gaussian", "logistic"], default="auto",
                   help="linear regression with Gaussian noise, or logistic regression for a 0/1 target "
                        "(with an intercept); auto: logistic for breast-cancer, else gaussian")
    p.add_argument("--d", type=int, default=20, help="features of synthetic and correlated")
    p.add_argument("--n", type=int, help="rows of synthetic and correlated (default 200 and 100)")
    p.add_argument("--rho", type=float, help="equicorrelation of the features (default 0 for synthetic, "
                                               "0.5 for correlated)")
    p.add_argument("--signal", type=float, default=1.0,
                   help="planted coefficients' magnitude: signal times 1 to 2 (noise s.d. 0.5)")
    p.add_argument("--prior", choices=["subset", "bernoulli"], default="subset",
                   help="exactly m features, uniform; or each independently with probability m / d")
    p.add_argument("--m", type=int, default=3, help="features selected (subset) or expected (bernoulli)")
    p.add_argument("--estimator", choices=ESTIMATORS, default="rloo", help="the mask's gradient (see above)")
    p.add_argument("--temperature", type=float, default=0.5, help="of straight-through and relaxed")
    p.add_argument("--steps", type=int, default=1000, help="SVI steps")
    p.add_argument("--lr", type=float, default=0.05, help="Adam step size (to 1%% in the 2nd half)")
    p.add_argument("--particles", type=int, default=8, help="ELBO particles per step")
    p.add_argument("--draws", type=int, default=4000, help="importance-sampling draws")
    p.add_argument("--weights", choices=["collapsed", "joint"], default="collapsed",
                   help="importance weights with p(y | S) (the coefficients integrated out: exactly for "
                        "gaussian, by importance sampling per set for logistic) or the joint density")
    p.add_argument("--exact", action=argparse.BooleanOptionalAction, default=True,
                   help=f"compute the reference posterior beside the fit: enumeration up to {EXACT_CAP} "
                        "sets, else MCMC")
    p.add_argument("--mcmc-steps", type=int, default=20000, help="steps of each of the 64 MCMC chains")
    p.add_argument("--seed", type=int, default=0, help="of the data (synthetic, correlated) and the fit")
    p.add_argument("--out", default=f"feature_selection_{backend.BACKEND}.png", help="the plot (PNG)")
    return p


def main(backend, argv=None):
    """Parse ``argv``, fit, correct, compare with the reference, print and plot; return the figures."""
    p = parser(backend)
    args = p.parse_args(argv)
    if (args.csv is None) != (args.target is None):
        p.error("--csv and --target go together")
    start = time.perf_counter()
    likelihood = args.likelihood
    if likelihood == "auto":
        likelihood = "logistic" if args.dataset == "breast-cancer" and args.csv is None else "gaussian"
    if args.csv is not None:  # a 0/1 target of logistic regression is kept as it is
        X, y, names, planted = load_csv(args.csv, args.target, standardise_target=likelihood != "logistic")
    else:
        X, y, names, planted = load_data(args.dataset, args.seed, n=args.n, d=args.d, rho=args.rho,
                                         signal=args.signal)
    if likelihood == "logistic" and not np.all((y == 0.0) | (y == 1.0)):
        p.error("--likelihood logistic needs a target of 0s and 1s")
    weights = args.weights
    d = X.shape[-1]
    if not 1 <= args.m < d:
        p.error(f"--m must be between 1 and d - 1 = {d - 1}, got {args.m}")
    Xb, yb = backend.load(X, y)
    params, losses = backend.fit(Xb, yb, args.m, args.steps, args.seed, args.prior, args.estimator,
                                 args.temperature, args.lr, args.particles, likelihood=likelihood)
    fitted = guide_inclusion(params, args.m, args.prior)
    base = np.asarray(backend.prior_logits(args.prior, args.m, d), dtype=np.float64)

    def joint(masks):
        return backend.joint_log_weight(Xb, yb, params, args.m, args.prior, masks, args.seed, likelihood)

    probs, stderr, ess = importance(np.asarray(X), np.asarray(y), params["mask_logits"], base, args.m,
                                    args.prior, args.draws, args.seed, weights, joint, likelihood)
    wall = time.perf_counter() - start
    columns = {"fitted guide": fitted, f"importance-weighted ({weights})": probs}
    ref = None
    if args.exact:
        # the reference uses the backend's copy of the data (float32), as the fit does
        ref = reference(np.asarray(Xb), np.asarray(yb), args.prior, args.m, likelihood, args.mcmc_steps,
                        args.seed)
        columns[ref["method"].split(" ")[0]] = ref["inclusion"]
    exact = None if ref is None else ref["inclusion"]

    source = args.csv or args.dataset
    title = f"{source}, {args.prior} prior, m = {args.m}, {args.estimator} ({backend.BACKEND})"
    tail = losses[-max(1, len(losses) // 10):]
    print(f"\n{title}: ELBO loss {np.median(tail):.2f} (median of the last 10% of steps); "
          f"importance sampling: {args.draws} draws, effective sample size {ess:.0f}; fit and weights "
          f"{wall:.1f} s" + ("" if ref is None else f"; reference {ref['wall']:.1f} s: {ref['method']}"))
    order = np.argsort(-probs, kind="stable")
    width = max(10, max(len(str(n)) for n in names))
    print(f"  {'feature':>{width}s}  {'guide':>6s}  {'weighted':>16s}" + ("  reference" if ref else ""))
    for i in order:
        flag = "  <- planted" if planted is not None and i in planted else ""
        err = "" if ref is None or ref["stderr"][i] == 0.0 else f" +- {ref['stderr'][i]:.3f}"
        cell = "" if ref is None else f"  {exact[i]:.3f}{err}"
        print(f"  {names[i]:>{width}s}  {fitted[i]:6.3f}  {probs[i]:6.3f} +- {stderr[i]:.3f}{cell}{flag}")
    if ref is not None:
        kind = "exact" if ref["method"].startswith("exact") else "MCMC"
        for label, value in (("fitted guide", fitted), ("importance-weighted", probs)):
            j = int(np.argmax(np.abs(value - exact)))
            print(f"largest difference from {kind}, {label}: {abs(value[j] - exact[j]):.3f} ({names[j]})")
    selected = [names[i] for i in order[: args.m]]
    print("selected:", ", ".join(selected))
    plot(columns, names, planted, args.m, title, args.out, stderr)
    print("plot written to", args.out)
    return {"probs": probs, "stderr": stderr, "ess": ess, "fitted": fitted, "exact": exact, "losses": losses,
            "names": names, "planted": planted, "selected": selected, "wall": wall,
            "reference": ref, "likelihood": likelihood}

