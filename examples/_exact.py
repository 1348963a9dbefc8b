r"""The exact posterior of the feature-selection model, by enumeration (NumPy
only; shared by the Pyro and NumPyro examples), and the fitted hard guide's
inclusion probabilities (:func:`guide_inclusion`, relaxed_dists' core on
NumPy).

The model: a set ``S`` of features, ``beta_j ~ Normal(0, prior_scale**2)``
for each feature, ``sigma ~ HalfNormal(noise_scale)`` and
``y ~ Normal(X_S beta_S, sigma**2 I)``, with one of two priors on ``S``:

- ``"subset"``: uniform over the ``C(d, m)`` sets of exactly ``m`` features;
- ``"bernoulli"``: each feature in ``S`` independently with probability
  ``m / d`` (``2**d`` sets, expected size ``m``).

**The collapsed marginal likelihood.** Given ``S`` and ``sigma``, the
coefficients integrate out analytically:
``y | S, sigma ~ Normal(0, sigma**2 I + s**2 X_S X_S^T)`` (``s`` =
``prior_scale``). With the eigendecomposition
``X_S^T X_S = U diag(lam) U^T`` and ``b = U^T X_S^T y`` (Woodbury and the
matrix determinant lemma),

.. math::

    -2 \log p(y \mid S, \sigma) = n \log(2\pi\sigma^2)
        + \sum_k \log\big(1 + s^2 \lambda_k / \sigma^2\big)
        + \sigma^{-2}\Big(y^\top y - \sum_k \frac{b_k^2}{\lambda_k + \sigma^2 / s^2}\Big),

at cost ``O(|S|)`` per value of ``sigma`` once ``X^T X`` and ``X^T y`` are
known. The noise scale is integrated numerically in ``t = log sigma``, where
the integrand ``p(y | S, e^t) HalfNormal(e^t) e^t`` is smooth, unimodal in
practice and decays on both sides: a grid over
``sigma in [1e-5 rms(y), 10 max(rms(y), noise_scale)]`` locates its peak,
a second, finer grid narrows the window to where the integrand exceeds
``e^-50`` of its peak, and Gauss-Legendre quadrature with ``NODES`` nodes
on that window gives ``log p(y | S)`` (relative error below 1e-10 against
adaptive quadrature, tested).

``EXACT_CAP`` bounds the number of sets enumerated; above it,
:func:`exact_posterior` raises ``ValueError``.
"""

import itertools
import math

import numpy as np

from relaxed_dists.core import hard_limit

__all__ = ["EXACT_CAP", "LOGISTIC_CAP", "NODES", "count_sets", "enumerate_masks", "enumeration_blocker",
           "log_prior", "log_marginal", "logistic_log_marginal", "exact_posterior", "guide_inclusion"]

#: The most sets :func:`exact_posterior` enumerates (2**20: the Bernoulli
#: prior on 20 features, about a minute on one core).
EXACT_CAP = 2**20
#: The most sets enumerated for logistic regression (each set's marginal
#: likelihood is an importance-sampling integral: a few ms a set).
LOGISTIC_CAP = 50_000
#: Gauss-Legendre nodes of the final quadrature in log sigma.
NODES = 64
#: The quadrature window keeps the points where the log integrand is within
#: this of its peak (e^-50 = 2e-22 of the peak: far below float64 rounding).
_TAIL = 50.0
_PRIORS = ("subset", "bernoulli")


def _check_prior(prior, m, d):
    if prior not in _PRIORS:
        raise ValueError(f"prior must be 'subset' or 'bernoulli', got {prior!r}")
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m < d:
        raise ValueError(f"m must be an integer with 1 <= m < d = {d}, got {m!r}")


def count_sets(d, prior, m):
    """The number of sets with positive prior probability: ``C(d, m)`` or ``2**d``."""
    _check_prior(prior, m, d)
    return math.comb(d, m) if prior == "subset" else 2**d


def enumerate_masks(d, prior, m):
    """Every set of the prior's support as a boolean mask, shape ``(count, d)``."""
    _check_prior(prior, m, d)
    if prior == "subset":
        rows = np.asarray(list(itertools.combinations(range(d), m)), dtype=np.intp)
        masks = np.zeros((len(rows), d), dtype=bool)
        np.put_along_axis(masks, rows, True, axis=1)
        return masks
    codes = np.arange(2**d, dtype=np.int64)[:, None]
    return ((codes >> np.arange(d, dtype=np.int64)) & 1).astype(bool)


def log_prior(masks, prior, m):
    """``log p(S)`` of boolean masks ``(..., d)`` under the prior (``-inf`` off its support)."""
    masks = np.asarray(masks, dtype=bool)
    d = masks.shape[-1]
    _check_prior(prior, m, d)
    size = masks.sum(-1)
    if prior == "subset":
        return np.where(size == m, -math.log(math.comb(d, m)), -np.inf)
    p = m / d
    return size * math.log(p) + (d - size) * math.log1p(-p)


def _log_integrand(t, n, yy, lam, b2, prior_scale, noise_scale):
    """``log [p(y | S, sigma) HalfNormal(sigma) sigma]`` at ``sigma = e^t``.
    ``t``: ``(N, Q)``; ``lam``, ``b2``: ``(N, k)``; returns ``(N, Q)``."""
    var = np.exp(2.0 * t)[..., None]  # (N, Q, 1)
    lam, b2 = lam[:, None, :], b2[:, None, :]
    logdet = n * 2.0 * t + np.log1p(prior_scale**2 * lam / var).sum(-1)
    quad = (yy - (b2 / (lam + var / prior_scale**2)).sum(-1)) / var[..., 0]
    loglik = -0.5 * (n * math.log(2.0 * math.pi) + logdet + quad)
    sigma = np.exp(t)
    log_half_normal = 0.5 * math.log(2.0 / math.pi) - math.log(noise_scale) - 0.5 * (sigma / noise_scale)**2
    return loglik + log_half_normal + t


def _window(t, f):
    """Per row, the grid interval around every point within ``_TAIL`` of the
    row's maximum, widened by one grid step each side (clipped to the grid)."""
    keep = f >= f.max(-1, keepdims=True) - _TAIL
    q = t.shape[-1]
    first = np.argmax(keep, axis=-1)
    last = q - 1 - np.argmax(keep[:, ::-1], axis=-1)
    rows = np.arange(t.shape[0])
    return t[rows, np.maximum(first - 1, 0)], t[rows, np.minimum(last + 1, q - 1)]


def _log_marginal_block(n, yy, lam, b2, t_lo, t_hi, prior_scale, noise_scale):
    """``log p(y | S)`` for a block of sets of one size (see the module docstring)."""
    args = (n, yy, lam, b2, prior_scale, noise_scale)
    N = lam.shape[0]
    lo, hi = np.full(N, t_lo), np.full(N, t_hi)
    for points in (129, 65):  # locate the peak, then narrow the window
        t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, points)
        f = _log_integrand(t, *args)
        lo, hi = _window(t, f)
    x, w = np.polynomial.legendre.leggauss(NODES)
    half = 0.5 * (hi - lo)[:, None]
    t = 0.5 * (hi + lo)[:, None] + half * x
    f = _log_integrand(t, *args)
    top = f.max(-1, keepdims=True)
    return top[:, 0] + np.log((w * np.exp(f - top)).sum(-1) * half[:, 0])


def log_marginal(X, y, masks, prior_scale=2.0, noise_scale=1.0, block=4096):
    """``log p(y | S)`` for each boolean mask (rows of ``masks``, shape
    ``(N, d)``), with the coefficients and the noise scale integrated out;
    shape ``(N,)``. Float64 throughout."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if masks.ndim != 2 or masks.shape[1] != X.shape[1]:
        raise ValueError(f"masks must be (N, d = {X.shape[1]}), got {masks.shape}")
    if not (prior_scale > 0 and noise_scale > 0):
        raise ValueError(f"prior_scale and noise_scale must be positive, got {prior_scale}, {noise_scale}")
    n = X.shape[0]
    G, c, yy = X.T @ X, X.T @ y, float(y @ y)
    rms = math.sqrt(yy / n)
    t_lo, t_hi = math.log(1e-5 * rms), math.log(10.0 * max(rms, noise_scale))
    out = np.empty(len(masks))
    sizes = masks.sum(1)
    for k in np.unique(sizes):
        where = np.flatnonzero(sizes == k)
        for start in range(0, len(where), block):
            rows = where[start:start + block]
            idx = np.nonzero(masks[rows])[1].reshape(len(rows), k)  # the members, in order
            if k == 0:
                lam = b2 = np.zeros((len(rows), 0))
            else:
                lam, U = np.linalg.eigh(G[idx[:, :, None], idx[:, None, :]])
                lam = np.maximum(lam, 0.0)  # a rank-deficient X_S: eigenvalues of -1e-16 are 0
                b2 = np.einsum("nkj,nk->nj", U, c[idx])**2
            out[rows] = _log_marginal_block(n, yy, lam, b2, t_lo, t_hi, prior_scale, noise_scale)
    return out


def logistic_log_marginal(X, y, masks, prior_scale=2.0, intercept_scale=2.0, draws=1000, seed=0, block=64,
                          refine_within=30.0):
    r"""``log p(y | S)`` of logistic regression ``y ~ Bernoulli(logits = alpha
    + X_S beta_S)``, ``beta_j ~ Normal(0, prior_scale**2)``, ``alpha ~
    Normal(0, intercept_scale**2)``, for each boolean mask ``(N, d)`` (all of
    one size), by importance sampling of the ``|S| + 1`` coefficients: the
    Laplace approximation at the posterior mode (Newton's method), widened
    into a multivariate Student t with 5 degrees of freedom (heavier tails
    than the posterior, so the weights are bounded), ``draws`` draws per set
    (the same standardised draws for every set: common random numbers).
    Sets whose Laplace value is more than ``refine_within`` nats below the
    best set's keep the Laplace value: their posterior weight relative to
    the best is below ``e**-refine_within`` either way.

    :return: ``(log_marginal, relative_stderr)``, each ``(N,)``; the second is
        the Monte Carlo standard error of the marginal likelihood relative to
        its value (that of its log, to first order; 0 for a Laplace value).
    """
    from scipy.special import expit, gammaln

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    sizes = masks.sum(1)
    if len(masks) and not np.all(sizes == sizes[0]):
        raise ValueError("masks must all have the same number of members")
    n, N = len(y), len(masks)
    k = int(sizes[0]) + 1 if N else 1
    precision = np.array([intercept_scale**-2.0] + [prior_scale**-2.0] * (k - 1))
    log_norm_prior = -0.5 * k * math.log(2.0 * math.pi) + 0.5 * np.log(precision).sum()
    members = np.nonzero(masks)[1].reshape(N, k - 1)

    def design(rows):  # (B, n, k): a column of ones, then the members' columns
        return np.concatenate([np.ones((len(rows), n, 1)), np.moveaxis(X[:, members[rows]], 0, 1)], axis=2)

    def log_joint(Z, theta):  # log p(y, theta | S) at theta (B, ..., k)
        eta = np.einsum("bnk,b...k->b...n", Z, theta, optimize=True)
        log_lik = eta @ y - np.logaddexp(0.0, eta).sum(-1)
        return log_lik + log_norm_prior - 0.5 * (precision * theta**2).sum(-1)

    # 1. the mode and the Laplace approximation of every set
    mode, cov_factor, laplace = np.empty((N, k)), np.empty((N, k, k)), np.empty(N)
    for start in range(0, N, block):
        rows = np.arange(start, min(start + block, N))
        Z = design(rows)
        theta = np.zeros((len(rows), k))
        for _ in range(100):  # Newton on the concave log posterior: a few steps
            p = expit(np.einsum("bnk,bk->bn", Z, theta))
            grad = np.einsum("bnk,bn->bk", Z, y - p) - precision * theta
            hess = np.einsum("bnk,bnj->bkj", Z * (p * (1.0 - p))[..., None], Z) + np.diag(precision)
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            theta = theta + step
            if np.abs(step).max() < 1e-10:
                break
        p = expit(np.einsum("bnk,bk->bn", Z, theta))
        hess = np.einsum("bnk,bnj->bkj", Z * (p * (1.0 - p))[..., None], Z) + np.diag(precision)
        mode[rows], cov_factor[rows] = theta, np.linalg.cholesky(np.linalg.inv(hess))
        laplace[rows] = (log_joint(Z, theta) + 0.5 * k * math.log(2.0 * math.pi)
                         - 0.5 * np.linalg.slogdet(hess)[1])
    out, rel = laplace.copy(), np.zeros(N)
    # 2. importance sampling where it matters
    refine = np.flatnonzero(laplace >= laplace.max() - refine_within) if N else np.zeros(0, dtype=np.intp)
    rng = np.random.default_rng(seed)
    df = 5.0
    t = rng.normal(size=(draws, k)) * np.sqrt(df / rng.chisquare(df, size=(draws, 1)))  # multivariate t
    log_t = (gammaln((df + k) / 2) - gammaln(df / 2) - 0.5 * k * math.log(df * math.pi)
             - 0.5 * (df + k) * np.log1p((t**2).sum(1) / df))  # its density, (draws,)
    for start in range(0, len(refine), max(1, block // 4)):
        rows = refine[start:start + max(1, block // 4)]
        L = cov_factor[rows]
        points = mode[rows][:, None, :] + np.einsum("bkj,sj->bsk", L, t)  # (B, draws, k)
        log_q = log_t - np.log(np.diagonal(L, axis1=1, axis2=2)).sum(-1)[:, None]
        log_w = log_joint(design(rows), points) - log_q
        top = log_w.max(1, keepdims=True)
        w = np.exp(log_w - top)
        out[rows] = top[:, 0] + np.log(w.mean(1))
        rel[rows] = w.std(1, ddof=1) / math.sqrt(draws) / w.mean(1)
    return out, rel


def enumeration_blocker(d, prior, m, likelihood="gaussian", cap=EXACT_CAP):
    """Why :func:`exact_posterior` cannot enumerate this problem (a sentence),
    or ``None`` where it can: above ``cap`` sets (``LOGISTIC_CAP`` at most for
    logistic regression), or logistic regression with the Bernoulli prior.

    :raises ValueError: for an unknown ``likelihood`` or a bad ``prior`` or ``m``.
    """
    count = count_sets(d, prior, m)
    if likelihood == "logistic":
        if prior != "subset":
            return f"exact enumeration of logistic regression needs the subset prior, got {prior!r}"
        cap = min(cap, LOGISTIC_CAP)
    elif likelihood != "gaussian":
        raise ValueError(f"likelihood must be 'gaussian' or 'logistic', got {likelihood!r}")
    if count > cap:
        return (f"exact enumeration: the {prior} prior with d = {d}, m = {m} has {count} sets, more than "
                f"the cap of {cap}")
    return None


def exact_posterior(X, y, prior="subset", m=3, prior_scale=2.0, noise_scale=1.0, cap=EXACT_CAP,
                    likelihood="gaussian"):
    """The exact posterior over sets, by enumeration.

    ``likelihood="logistic"`` (with the subset prior only; the intercept's
    prior is that of the coefficients, ``noise_scale`` is unused) integrates each set's coefficients
    by importance sampling (:func:`logistic_log_marginal`): exact up to a
    Monte Carlo error, returned as ``stderr`` (delta method, per feature).

    :return: a dict with ``masks`` (every set, boolean ``(count, d)``),
        ``log_post`` (normalised log posterior of each), ``inclusion`` (the
        posterior inclusion probability of each feature, ``(d,)``) and
        ``log_evidence`` (``log p(y)``).
    :raises ValueError: where :func:`enumeration_blocker` gives a reason
        (above ``cap`` sets, ``C(d, m)`` or ``2**d``).
    """
    d = np.shape(X)[-1]
    why_not = enumeration_blocker(d, prior, m, likelihood, cap)
    if why_not is not None:
        raise ValueError(why_not)
    masks = enumerate_masks(d, prior, m)
    rel = np.zeros(len(masks))
    if likelihood == "logistic":
        log_lik, rel = logistic_log_marginal(X, y, masks, prior_scale, prior_scale)
    else:
        log_lik = log_marginal(X, y, masks, prior_scale, noise_scale)
    log_joint = log_lik + log_prior(masks, prior, m)
    top = log_joint.max()
    log_evidence = top + math.log(np.exp(log_joint - top).sum())
    log_post = log_joint - log_evidence
    post = np.exp(log_post)
    inclusion = post @ masks
    # independent relative errors e_s of the unnormalised weights:
    # d pi_j = sum_s post_s (1[j in s] - pi_j) e_s
    stderr = np.sqrt(((post * rel)[:, None] ** 2 * (masks - inclusion) ** 2).sum(0))
    return {"masks": masks, "log_post": log_post, "inclusion": inclusion, "log_evidence": log_evidence,
            "stderr": stderr}


def guide_inclusion(params, m, prior):
    """The fitted (hard) guide's inclusion probabilities: exact for Subset, sigmoid(logits) for Bernoulli."""
    logits = np.asarray(params["mask_logits"], dtype=np.float64)  # float64 NumPy: the core is backend-free
    return hard_limit.inclusion_probs(logits, m) if prior == "subset" else 1.0 / (1.0 + np.exp(-logits))
