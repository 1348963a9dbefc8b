r"""Long-run MCMC references for the feature-selection examples, where the
sets are too many to enumerate (NumPy only; shared by the Pyro and NumPyro
examples, and independent of relaxed_dists and of the variational fit).

Both samplers run many independent chains side by side (vectorised over
chains), each started from a draw of the prior, and estimate the posterior
inclusion probabilities by the mean of the masks after burn-in; the Monte
Carlo standard error is the spread of the per-chain means over the square
root of the number of chains (independent chains: no autocorrelation model
is needed, only chains longer than their mixing time, which the reported
error bars and a second seed check).

- :func:`collapsed_mcmc` (the Gaussian model): a Metropolis sampler on the
  set ``S`` alone, with the coefficients and the noise scale integrated out
  (``log p(y | S)`` of :mod:`_exact`, cached per set). Subset prior: swap one
  member with one non-member (a symmetric proposal that keeps ``|S| = m``).
  Bernoulli prior: with probability 1/2 toggle one feature, else swap a
  member with a non-member. This is the Gibbs-style variable selector of
  the linear-model literature, with exact set probabilities.
- :func:`logistic_mcmc` (logistic regression, no conjugacy): a
  Metropolis-within-Gibbs sampler on ``(S, beta_S, alpha)``. Moves: the set
  moves above, half of them handing the leaving feature's coefficient to the
  joining one (with a sign flip half of those: an involution with unit
  Jacobian under the symmetric prior), which lets correlated features trade
  places, the others a reversible jump that draws the joining coefficient
  from a one-dimensional Laplace approximation of its conditional; and random-walk
  Metropolis on one included coefficient or the intercept at a time, its
  step adapted per chain during burn-in only (to about 40% acceptance).
"""

import math

import numpy as np
from _exact import log_marginal, log_prior

__all__ = ["collapsed_mcmc", "logistic_mcmc"]


def _check(prior, m, d, steps, chains, burn):
    if prior not in ("subset", "bernoulli"):
        raise ValueError(f"prior must be 'subset' or 'bernoulli', got {prior!r}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m < d:
        raise ValueError(f"m must be an integer with 1 <= m < d = {d}, got {m!r}")
    for name, value in (("steps", steps), ("chains", chains)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"{name} must be an integer of at least 2, got {value!r}")
    if not 0.0 <= burn < 1.0:
        raise ValueError(f"burn must be a fraction in [0, 1), got {burn!r}")


def _initial(rng, prior, m, d, chains):
    """Prior draws of the mask, boolean ``(chains, d)``."""
    if prior == "subset":
        order = np.argsort(rng.uniform(size=(chains, d)), axis=1)[:, :m]
        mask = np.zeros((chains, d), dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        return mask
    return rng.uniform(size=(chains, d)) < m / d


def _pick(rng, mask, value):
    """Per chain, a uniformly random index where ``mask == value`` (-1 where there is none)."""
    score = np.where(mask == value, rng.uniform(size=mask.shape), -1.0)
    index = score.argmax(1)
    return np.where(score[np.arange(len(mask)), index] >= 0.0, index, -1)


def _propose_set(rng, mask, prior):
    """A symmetric proposal: ``(new mask, out, in)`` with ``out`` / ``in`` the
    features leaving / joining (-1 for none; a chain with no valid move keeps
    its mask)."""
    chains, d = mask.shape
    rows = np.arange(chains)
    out, inn = _pick(rng, mask, True), _pick(rng, mask, False)
    swap = (out >= 0) & (inn >= 0)
    if prior == "bernoulli":  # half of the moves toggle one feature instead
        toggle = rng.uniform(size=chains) < 0.5
        j = rng.integers(d, size=chains)
        swap &= ~toggle
        out = np.where(toggle, np.where(mask[rows, j], j, -1), np.where(swap, out, -1))
        inn = np.where(toggle, np.where(mask[rows, j], -1, j), np.where(swap, inn, -1))
    else:
        out, inn = np.where(swap, out, -1), np.where(swap, inn, -1)
    new = mask.copy()
    new[rows[out >= 0], out[out >= 0]] = False
    new[rows[inn >= 0], inn[inn >= 0]] = True
    return new, out, inn


def _summary(trace, accepted, total):
    per_chain = trace.mean(0)  # (chains, d)
    chains = per_chain.shape[0]
    return {"inclusion": per_chain.mean(0),
            "stderr": per_chain.std(0, ddof=1) / math.sqrt(chains),
            "acceptance": accepted / total,
            "draws": trace.shape[0] * chains}


def collapsed_mcmc(X, y, prior="subset", m=3, steps=4000, chains=64, burn=0.25, seed=0,
                   prior_scale=2.0, noise_scale=1.0):
    """Posterior inclusion probabilities of the Gaussian model by Metropolis
    on the set, the coefficients and noise integrated out.

    :return: a dict with ``inclusion`` ``(d,)``, ``stderr`` ``(d,)`` (Monte
        Carlo, across chains), ``acceptance`` (of set moves), ``draws`` (kept,
        all chains) and ``distinct`` (sets whose likelihood was computed).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = X.shape[1]
    _check(prior, m, d, steps, chains, burn)
    rng = np.random.default_rng(seed)
    cache = {}

    def log_target(masks):
        keys = [row.tobytes() for row in np.packbits(masks, axis=1)]
        missing = [i for i, k in enumerate(keys) if k not in cache]
        if missing:
            unique = {keys[i]: i for i in missing}
            values = log_marginal(X, y, masks[list(unique.values())], prior_scale, noise_scale)
            cache.update(zip(unique, values))
        return np.array([cache[k] for k in keys]) + log_prior(masks, prior, m)

    mask = _initial(rng, prior, m, d, chains)
    current = log_target(mask)
    keep = steps - int(burn * steps)
    trace = np.empty((keep, chains, d), dtype=bool)
    accepted = total = 0
    for step in range(steps):
        new, out, inn = _propose_set(rng, mask, prior)
        moved = (out >= 0) | (inn >= 0)
        proposed = log_target(new)
        accept = moved & (np.log(rng.uniform(size=chains)) < proposed - current)
        mask = np.where(accept[:, None], new, mask)
        current = np.where(accept, proposed, current)
        if step >= steps - keep:
            trace[step - (steps - keep)] = mask
            accepted += int(accept.sum())
            total += int(moved.sum())
    result = _summary(trace, accepted, max(total, 1))
    result["distinct"] = len(cache)
    return result


def _log_normal(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2.0 * math.pi)


def _laplace_1d(base, x, y, prior_scale, inflate=1.5):
    """Per chain, a Normal approximation of the conditional of one coefficient
    ``b`` given the predictor ``base`` of the rest: two Newton steps from 0
    on ``log p(y | base + b x) + log Normal(b; 0, prior_scale)``, its
    standard deviation widened by ``inflate``. Returns ``(loc, scale)``."""
    b = np.zeros(len(base))
    for _ in range(3):
        p = 1.0 / (1.0 + np.exp(-(base + b[:, None] * x)))
        grad = ((y - p) * x).sum(1) - b / prior_scale**2
        hess = (p * (1.0 - p) * x * x).sum(1) + 1.0 / prior_scale**2
        if _ < 2:
            b = b + grad / hess
    return b, inflate / np.sqrt(hess)


def logistic_mcmc(X, y, prior="subset", m=3, steps=20000, chains=64, burn=0.25, seed=0, prior_scale=2.0,
                  intercept_scale=2.0):
    """Posterior inclusion probabilities of logistic regression
    ``y ~ Bernoulli(logits = alpha + X (S * beta))``, ``beta_j ~ Normal(0,
    prior_scale**2)``, ``alpha ~ Normal(0, intercept_scale**2)``, by
    Metropolis-within-Gibbs on ``(S, beta, alpha)`` (module docstring). Each
    move changes at most two coordinates, so the linear predictor is updated
    in ``O(n)`` per chain (and recomputed exactly every 500 sweeps).

    :return: a dict with ``inclusion``, ``stderr``, ``acceptance`` (of set
        moves) and ``draws``, as :func:`collapsed_mcmc`.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    _check(prior, m, d, steps, chains, burn)
    if not np.all((y == 0.0) | (y == 1.0)):
        raise ValueError("y must hold 0s and 1s for logistic regression")
    rng = np.random.default_rng(seed)
    rows = np.arange(chains)
    XT = np.ascontiguousarray(X.T)  # (d, n): a feature's column is a row

    def log_lik(eta):  # (chains, n) -> (chains,)
        return eta @ y - np.logaddexp(0.0, eta).sum(1)

    def column(j):  # X[:, j] of each chain's feature j (0 where j < 0), (chains, n)
        return np.where((j >= 0)[:, None], XT[np.maximum(j, 0)], 0.0)

    mask = _initial(rng, prior, m, d, chains)
    beta = prior_scale * rng.normal(size=(chains, d))
    alpha = np.zeros(chains)
    step_size = np.full(chains, 0.3)
    keep = steps - int(burn * steps)
    trace = np.empty((keep, chains, d), dtype=bool)
    accepted = total = 0
    for step in range(steps):
        if step % 500 == 0:
            eta = alpha[:, None] + np.einsum("cd,dn->cn", mask * beta, XT)
            current = log_lik(eta)
        # a set move: half of them exchange the coefficients of the two features (a sign flip half of
        # those: a symmetric involution, so only the likelihood and the set's prior enter the ratio);
        # the others draw the joining coefficient from a 1-D Laplace approximation of its conditional
        # given the rest (a reversible jump: the leaving coefficient's density under the reverse
        # move's approximation enters the ratio)
        new, out, inn = _propose_set(rng, mask, prior)
        moved = (out >= 0) | (inn >= 0)
        exchange = (out >= 0) & (inn >= 0) & (rng.uniform(size=chains) < 0.5)
        sign = np.where(rng.uniform(size=chains) < 0.5, -1.0, 1.0)
        b_out = np.where(out >= 0, beta[rows, np.maximum(out, 0)], 0.0)
        x_out, x_in = column(out), column(inn)
        base = eta - b_out[:, None] * x_out  # the predictor without either feature
        loc_in, sd_in = _laplace_1d(base, x_in, y, prior_scale)
        loc_out, sd_out = _laplace_1d(base, x_out, y, prior_scale)
        b_in = np.where(exchange, sign * b_out, loc_in + sd_in * rng.normal(size=chains))
        b_in = np.where(inn >= 0, b_in, 0.0)
        new_eta = base + b_in[:, None] * x_in
        proposed = log_lik(new_eta)
        log_ratio = proposed - current + log_prior(new, prior, m) - log_prior(mask, prior, m)
        jump = ~exchange  # the reversible jump's densities (absent where no feature joins or leaves)
        log_ratio += np.where(jump & (inn >= 0), _log_normal(b_in, 0.0, prior_scale)
                              - _log_normal(b_in, loc_in, sd_in), 0.0)
        log_ratio += np.where(jump & (out >= 0), _log_normal(b_out, loc_out, sd_out)
                              - _log_normal(b_out, 0.0, prior_scale), 0.0)
        accept = moved & (np.log(rng.uniform(size=chains)) < log_ratio)
        mask = np.where(accept[:, None], new, mask)
        take = accept & (inn >= 0)
        beta[rows[take], inn[take]] = b_in[take]
        eta = np.where(accept[:, None], new_eta, eta)
        current = np.where(accept, proposed, current)
        # random-walk Metropolis on one included coefficient or the intercept, three times a sweep
        for _ in range(3):
            size = mask.sum(1)
            k = _pick(rng, mask, True)
            k = np.where(rng.uniform(size=chains) * (size + 1) < 1.0, -1, k)  # -1: the intercept
            delta = step_size * rng.normal(size=chains)
            old = np.where(k >= 0, beta[rows, np.maximum(k, 0)], alpha)
            new_value = old + delta
            scale = np.where(k >= 0, prior_scale, intercept_scale)
            new_eta = eta + delta[:, None] * np.where((k >= 0)[:, None], XT[np.maximum(k, 0)], 1.0)
            proposed = log_lik(new_eta)
            log_ratio = proposed - current - 0.5 * (new_value**2 - old**2) / scale**2
            ok = np.log(rng.uniform(size=chains)) < log_ratio
            beta[rows[ok & (k >= 0)], k[ok & (k >= 0)]] = new_value[ok & (k >= 0)]
            alpha = np.where(ok & (k < 0), new_value, alpha)
            eta = np.where(ok[:, None], new_eta, eta)
            current = np.where(ok, proposed, current)
            if step < steps - keep:  # adapt during burn-in only: the kept chain is a fixed kernel
                step_size *= np.exp(0.05 * (ok - 0.4))
        if step >= steps - keep:
            trace[step - (steps - keep)] = mask
            accepted += int(accept.sum())
            total += int(moved.sum())
    return _summary(trace, accepted, max(total, 1))
