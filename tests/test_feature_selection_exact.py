"""The references of the feature-selection examples against direct numerical
integration: the exact enumeration (examples/_exact.py: the Gaussian model's
collapsed marginal, logistic regression's by importance sampling) and the
long MCMC runs (examples/_mcmc.py); the NumPyro example's importance-weighted
inclusion probabilities against them; the data loaders and their errors."""

import functools
import itertools
import math
import pathlib
import sys

import numpy as np
import pytest
from scipy import integrate, stats

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import _data  # noqa: E402
import _exact  # noqa: E402
import _mcmc  # noqa: E402


def toy(seed=0, n=10, d=4):
    """A small correlated regression problem (the example's scaling)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.7 * rng.normal(size=(n, 1))
    y = X[:, 0] - 0.8 * X[:, 2] + 0.6 * rng.normal(size=n)
    X = (X - X.mean(0)) / X.std(0)
    return X, (y - y.mean()) / y.std()


def all_masks(d):
    return np.array(list(itertools.product([False, True], repeat=d)))


def log_integrand(sigma, X, y, mask, prior_scale=2.0, noise_scale=1.0):
    """log [p(y | S, sigma) HalfNormal(sigma)], the Gaussian marginal written
    directly (its covariance, not the eigendecomposition of _exact)."""
    Xs = X[:, mask]
    cov = sigma**2 * np.eye(len(y)) + prior_scale**2 * Xs @ Xs.T
    _, logdet = np.linalg.slogdet(cov)
    log_normal = -0.5 * (len(y) * math.log(2 * math.pi) + logdet + y @ np.linalg.solve(cov, y))
    return log_normal + math.log(math.sqrt(2 / math.pi) / noise_scale) - 0.5 * (sigma / noise_scale) ** 2


def direct_log_marginal(X, y, mask, reference, **scales):
    """log p(y | S) by adaptive quadrature over sigma (scaled by exp(-reference)
    to stay in range)."""
    value, _ = integrate.quad(lambda s: math.exp(log_integrand(s, X, y, mask, **scales) - reference),
                              0.0, np.inf, epsabs=0.0, epsrel=1e-13, limit=500, points=None)
    return reference + math.log(value)


@pytest.mark.parametrize("seed", [0, 1])
def test_log_marginal_matches_direct_quadrature(seed):
    """Every one of the 16 sets of a d = 4, n = 10 problem (the empty set
    too): the collapsed marginal likelihood to 1e-8 (absolute in the log,
    relative in p(y | S))."""
    X, y = toy(seed)
    masks = all_masks(4)
    ours = _exact.log_marginal(X, y, masks)
    direct = np.array([direct_log_marginal(X, y, mask, ref) for mask, ref in zip(masks, ours)])
    np.testing.assert_allclose(ours, direct, rtol=0, atol=1e-8)


def test_log_marginal_other_scales_and_negative_control():
    """Other prior scales are honoured; a wrong prior scale is told apart."""
    X, y = toy(2)
    masks = all_masks(4)[1:]
    ours = _exact.log_marginal(X, y, masks, prior_scale=0.5, noise_scale=3.0)
    direct = np.array([direct_log_marginal(X, y, mask, ref, prior_scale=0.5, noise_scale=3.0)
                       for mask, ref in zip(masks, ours)])
    np.testing.assert_allclose(ours, direct, rtol=0, atol=1e-8)
    wrong = _exact.log_marginal(X, y, masks, prior_scale=0.6, noise_scale=3.0)
    assert np.abs(wrong - direct).max() > 1e-2


@pytest.mark.parametrize("sigma", [0.4, 1.3])
def test_coefficient_integral_by_brute_force(sigma):
    """The analytic integral over the coefficients: at a fixed sigma, a 2-D
    numerical integral over (beta_1, beta_2) of the unmarginalised joint for
    one set of two features, against the Gaussian marginal that
    _exact's quadrature integrates over sigma (to 1e-7 relative)."""
    X, y = toy(3)
    mask = np.array([True, False, True, False])
    Xs = X[:, mask]
    ref = log_integrand(sigma, X, y, mask) - stats.halfnorm().logpdf(sigma)  # log p(y | S, sigma)

    n = len(y)
    const = -n * math.log(sigma * math.sqrt(2 * math.pi)) - 2 * math.log(2.0 * math.sqrt(2 * math.pi)) - ref

    def joint(b2, b1):  # p(y | beta, sigma) p(beta) / p(y | S, sigma), written out
        resid = y - Xs[:, 0] * b1 - Xs[:, 1] * b2
        return math.exp(const - 0.5 * (resid @ resid) / sigma**2 - (b1 * b1 + b2 * b2) / 8.0)

    # the posterior of beta (standard deviations below 0.5 here) lies well inside these bounds
    value, _ = integrate.dblquad(joint, -8.0, 8.0, -8.0, 8.0, epsabs=1e-10, epsrel=1e-10)
    assert abs(value - 1.0) < 1e-7, value
    # and the eigendecomposition route of _exact agrees with the covariance written out
    t = np.full((1, 1), math.log(sigma))
    G = Xs.T @ Xs
    lam, U = np.linalg.eigh(G)
    b2 = (U.T @ (Xs.T @ y))[None] ** 2
    ours = _exact._log_integrand(t, len(y), float(y @ y), lam[None], b2, 2.0, 1.0)[0, 0]
    assert abs(ours - (log_integrand(sigma, X, y, mask) + math.log(sigma))) < 1e-10


@pytest.mark.parametrize("prior,m", [("subset", 2), ("bernoulli", 1), ("bernoulli", 2)])
def test_exact_inclusion_probabilities_by_brute_force(prior, m):
    """The enumerated posterior against a sum over every set with the
    directly integrated marginal likelihoods and the prior written out."""
    X, y = toy(4)
    d = 4
    result = _exact.exact_posterior(X, y, prior, m)
    masks = all_masks(d)
    ref = _exact.log_marginal(X, y, masks)
    log_lik = np.array([direct_log_marginal(X, y, mask, r) for mask, r in zip(masks, ref)])
    size = masks.sum(1)
    if prior == "subset":
        log_p = np.where(size == m, -math.log(math.comb(d, m)), -np.inf)
    else:
        log_p = size * math.log(m / d) + (d - size) * math.log(1 - m / d)
    post = np.exp(log_lik + log_p - np.logaddexp.reduce(log_lik + log_p))
    np.testing.assert_allclose(result["inclusion"], post @ masks, rtol=0, atol=1e-6)
    assert abs(result["inclusion"].sum() - (m if prior == "subset" else post @ size)) < 1e-9
    assert len(result["masks"]) == _exact.count_sets(d, prior, m)


def test_exact_diabetes_reference_values():
    """The numbers quoted for diabetes, m = 4, in the issue this reference was built for."""
    X, y, names, _ = _data.load_data("diabetes", 0)
    incl = dict(zip(names, _exact.exact_posterior(X, y, "subset", 4)["inclusion"]))
    quoted = {"bmi": 1.000, "s5": 1.000, "bp": 0.995, "s1": 0.518, "s3": 0.403, "sex": 0.050}
    for name, value in quoted.items():
        assert abs(incl[name] - value) < 5e-4, (name, incl[name])


def test_exact_errors():
    X, y = toy(0)
    with pytest.raises(ValueError, match="more than the cap"):
        _exact.exact_posterior(X, y, "bernoulli", 2, cap=15)
    with pytest.raises(ValueError, match="prior must be"):
        _exact.exact_posterior(X, y, "poisson", 2)
    with pytest.raises(ValueError, match="m must be"):
        _exact.exact_posterior(X, y, "subset", 4)
    with pytest.raises(ValueError, match="masks must be"):
        _exact.log_marginal(X, y, np.ones((2, 3), dtype=bool))


# ------------------------------------------------ logistic regression and MCMC
def logistic_toy(seed=1, n=80, d=6):
    """A small logistic problem: features 0 and 3 matter, feature 1 is
    correlated with feature 0 (0.8), so the posterior over pairs is not trivial."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 1] = 0.8 * X[:, 0] + 0.6 * X[:, 1]
    eta = 0.5 + 1.2 * X[:, 0] - 0.8 * X[:, 3]
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))) * 1.0
    return X, y


@functools.lru_cache
def grid_logistic_posterior(seed=1, scale=2.0, points=57):
    """log p(y | S) of every pair of :func:`logistic_toy` by a 3-D grid over
    (intercept, two coefficients) on [-7, 7]^3 (the integrand is negligible
    outside; the posterior's scale is about 0.3, so the rule on this grid of
    spacing 0.25 is accurate far below the tolerances), and the inclusion
    probabilities under the uniform prior on pairs."""
    from scipy.special import log_expit, logsumexp

    X, y = logistic_toy(seed)
    m = 2
    g = np.linspace(-7.0, 7.0, points)
    A, B1, B2 = (v.ravel() for v in np.meshgrid(g, g, g, indexing="ij"))
    log_prior = (-0.5 * (A**2 + B1**2 + B2**2) / scale**2 - 1.5 * math.log(2 * math.pi * scale**2)
                 + 3 * math.log(g[1] - g[0]))
    masks = _exact.enumerate_masks(X.shape[1], "subset", m)
    log_lik = []
    for mask in masks:
        i, j = np.flatnonzero(mask)
        eta = A[:, None] + B1[:, None] * X[:, i] + B2[:, None] * X[:, j]
        log_lik.append(logsumexp((y * eta + log_expit(-eta)).sum(1) + log_prior))
    log_lik = np.array(log_lik)
    post = np.exp(log_lik - logsumexp(log_lik))
    return log_lik, post @ masks


def test_logistic_log_marginal_against_grid_quadrature():
    """Each pair's marginal likelihood within 0.005 (in log) of the 3-D grid
    (which is itself good to about 2e-3), with 20 000 importance draws; the
    reported relative error is small and honest (4 standard errors cover the
    difference at the default 1000 draws); the inclusion probabilities of
    the enumeration agree; a wrong prior scale (0.5) is detectably off."""
    X, y = logistic_toy()
    masks = _exact.enumerate_masks(6, "subset", 2)
    grid, incl = grid_logistic_posterior()
    many, rel = _exact.logistic_log_marginal(X, y, masks, draws=20_000, refine_within=np.inf)
    assert np.abs(many - grid).max() < 5e-3 and rel.max() < 5e-3
    default, rel = _exact.logistic_log_marginal(X, y, masks, refine_within=np.inf)
    assert np.all(np.abs(default - grid) < 4 * rel + 3e-3), (default - grid, rel)
    result = _exact.exact_posterior(X, y, "subset", 2, likelihood="logistic")
    np.testing.assert_allclose(result["inclusion"], incl, atol=2e-3)
    assert result["stderr"].max() < 2e-3
    wrong = _exact.exact_posterior(X, y, "subset", 2, prior_scale=0.5, likelihood="logistic")["inclusion"]
    assert np.abs(wrong - incl).max() > 0.02  # a negative control


def test_logistic_laplace_outside_the_window():
    """Sets far below the best keep the Laplace value (and a zero error);
    the best sets are refined."""
    X, y = logistic_toy()
    masks = _exact.enumerate_masks(6, "subset", 2)
    refined, rel = _exact.logistic_log_marginal(X, y, masks, refine_within=1.0)
    assert (rel == 0.0).any() and (rel > 0.0).any()
    assert refined.argmax() == rel.argmax() or rel[refined.argmax()] > 0.0


@pytest.mark.parametrize("prior,m", [("subset", 2), ("bernoulli", 2)])
def test_collapsed_mcmc_matches_enumeration(prior, m):
    """The Metropolis sampler on the set (64 chains) against the exact
    posterior: every feature within 4 Monte Carlo standard errors (plus
    0.005), and a chi-squared test over the features that the errors are
    calibrated (p > 0.001); a wrong model (prior scale 0.1) is rejected."""
    X, y, _, _ = _data.load_data("correlated", 0, n=60, d=10, rho=0.9, signal=0.3, planted=(1, 4, 6))
    exact = _exact.exact_posterior(X, y, prior, m)["inclusion"]
    assert ((exact > 0.05) & (exact < 0.95)).sum() >= 3  # a posterior spread over several sets
    result = _mcmc.collapsed_mcmc(X, y, prior, m, steps=3000, seed=0)
    err = result["stderr"] + 1e-4
    assert np.all(np.abs(result["inclusion"] - exact) < 4 * err + 5e-3)
    assert stats.chi2.sf((((result["inclusion"] - exact) / err) ** 2).sum(), df=len(exact)) > 1e-3
    wrong = _exact.exact_posterior(X, y, prior, m, prior_scale=0.1)["inclusion"]
    assert stats.chi2.sf((((result["inclusion"] - wrong) / err) ** 2).sum(), df=len(exact)) < 1e-6


def test_logistic_mcmc_matches_quadrature():
    """The Metropolis-within-Gibbs sampler on (set, coefficients) against the
    grid-quadrature posterior of the toy logistic problem: within 4 standard
    errors plus 0.01 (the chains' finite length), and a wrong intercept prior
    (scale 0.3) moves the answer outside that band."""
    X, y = logistic_toy()
    _, incl = grid_logistic_posterior()
    result = _mcmc.logistic_mcmc(X, y, "subset", 2, steps=2500, seed=0)
    assert np.all(np.abs(result["inclusion"] - incl) < 4 * result["stderr"] + 0.01), (result, incl)
    assert 0.0 < result["acceptance"] < 1.0


def test_reference_falls_back_to_mcmc_above_the_cap():
    """examples/_selection.py's reference: enumeration under the cap, MCMC
    above it (named in its method), the two within 0.02."""
    import _selection

    X, y, _, _ = _data.load_data("correlated", 1, n=60, d=8, rho=0.7, signal=0.4, planted=(0, 3, 5))
    exact = _selection.reference(X, y, "subset", 3, "gaussian", 2000, 0)
    mcmc = _selection.reference(X, y, "subset", 3, "gaussian", 2000, 0, cap=10)
    assert exact["method"].startswith("exact") and mcmc["method"].startswith("MCMC")
    assert np.abs(exact["inclusion"] - mcmc["inclusion"]).max() < 0.02
    assert mcmc["wall"] > 0.0 and mcmc["stderr"].max() > 0.0 and mcmc["stderr"].min() >= 0.0


def test_mcmc_errors():
    X, y = logistic_toy()
    with pytest.raises(ValueError, match="prior must be"):
        _mcmc.collapsed_mcmc(X, y, "uniform", 2)
    with pytest.raises(ValueError, match="m must be"):
        _mcmc.logistic_mcmc(X, y, "subset", 6)
    with pytest.raises(ValueError, match="steps must be"):
        _mcmc.collapsed_mcmc(X, y, "subset", 2, steps=1)
    with pytest.raises(ValueError, match="burn must be"):
        _mcmc.collapsed_mcmc(X, y, "subset", 2, burn=1.0)
    with pytest.raises(ValueError, match="0s and 1s"):
        _mcmc.logistic_mcmc(X, X[:, 0], "subset", 2)
    with pytest.raises(ValueError, match="likelihood must be"):
        _exact.exact_posterior(X, y, "subset", 2, likelihood="poisson")
    with pytest.raises(ValueError, match="needs the subset prior"):
        _exact.exact_posterior(X, y, "bernoulli", 2, likelihood="logistic")


def test_synthetic_designs():
    """load_data's designs: the equicorrelation and signal as asked, the
    independent design unchanged by them, and errors for bad values."""
    X, y, names, planted = _data.load_data("correlated", 0, n=2000, d=5, rho=0.9, signal=0.2, planted=(1, 3))
    corr = np.corrcoef(X.T)[np.triu_indices(5, 1)]
    assert np.abs(corr - 0.9).max() < 0.03 and planted == (1, 3) and len(names) == 5
    a = _data.load_data("synthetic", 3)[0]
    assert a.shape == (200, 20)
    np.testing.assert_array_equal(a, _data.load_data("synthetic", 3, rho=0.0)[0])
    X, y, names, planted = _data.load_data("breast-cancer", 0)
    assert X.shape == (569, 30) and set(np.unique(y)) == {0.0, 1.0} and planted is None
    with pytest.raises(ValueError, match="rho must be"):
        _data.load_data("correlated", 0, rho=1.0)
    with pytest.raises(ValueError, match="signal must be"):
        _data.load_data("correlated", 0, signal=0.0)
    with pytest.raises(ValueError, match="planted must be"):
        _data.load_data("synthetic", 0, d=5)
    with pytest.raises(ValueError, match="dataset must be"):
        _data.load_data("iris", 0)


# ------------------------------------------------------------------ CSV
def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")


def test_csv_loads_and_standardises(tmp_path, capsys):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 4))
    path = tmp_path / "data.csv"
    write_csv(path, ["a", "b", "label", "c", "price"],
              [[*v[:2], f"k{i}", *v[2:]] for i, v in enumerate(values)])
    X, y, names, planted = _data.load_csv(path, "price")
    assert names == ["a", "b", "c"] and planted is None
    assert "non-numeric columns left out: label" in capsys.readouterr().out
    np.testing.assert_allclose(X.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1.0)
    np.testing.assert_allclose(y, (values[:, 3] - values[:, 3].mean()) / values[:, 3].std())


def test_csv_errors(tmp_path):
    path = tmp_path / "data.csv"
    write_csv(path, ["a", "b", "c", "y"], [[1, 2, 3, 4], [2, "NA", 1, 5], [3, 1, 2, 7], [4, 5, 0, 1]])
    with pytest.raises(ValueError, match=r"column 'b' .* 1 missing value\(s\) \(lines 3\)"):
        _data.load_csv(path, "y")
    write_csv(path, ["a", "b", "c", "y"], [[1, 2, 3, 4], [2, 3, 1, ""], [3, 1, 2, 7], [4, 5, 0, 1]])
    with pytest.raises(ValueError, match="column 'y' .* missing"):
        _data.load_csv(path, "y")
    with pytest.raises(ValueError, match="'price' is not a column"):
        _data.load_csv(path, "price")
    write_csv(path, ["a", "b", "y"], [[1, 2, "x"], [2, 3, "z"], [3, 1, "x"]])
    with pytest.raises(ValueError, match="target: column 'y' .* not numeric"):
        _data.load_csv(path, "y")
    write_csv(path, ["a", "b", "y"], [[1, 2, 1], [1, 3, 2], [1, 1, 0]])
    with pytest.raises(ValueError, match="column 'a' .* constant"):
        _data.load_csv(path, "y")


# ------------------------------------------------- the NumPyro example
def test_numpyro_importance_weighting_matches_exact(tmp_path, capsys):
    """The example end to end on a small correlated problem read from CSV,
    with m = 4 for 3 planted features (so the posterior of the fourth is
    spread: exact probabilities 0.51, 0.20, 0.14, ...): the
    importance-weighted inclusion probabilities within 0.05 of exact,
    with a standard error that covers the difference; the fitted guide's own
    probabilities sum to m."""
    pytest.importorskip("numpyro", reason="the NumPyro example needs numpyro")
    import feature_selection_numpyro as fs

    X, y, names, planted = _data.load_data("correlated", 0, n=60, d=8, planted=(1, 4, 6))
    path = tmp_path / "small.csv"
    write_csv(path, names + ["target"], np.column_stack([X, y]).round(12).tolist())
    out = tmp_path / "plot.png"
    result = fs.main(["--csv", str(path), "--target", "target", "--m", "4", "--steps", "300",
                      "--draws", "2000", "--exact", "--out", str(out)])
    printed = capsys.readouterr().out
    exact = result["exact"]
    assert abs(result["fitted"].sum() - 4) < 1e-4 and abs(exact.sum() - 4) < 1e-9
    assert ((exact > 0.1) & (exact < 0.9)).sum() >= 3  # not a trivial 0 / 1 posterior
    diff = np.abs(result["probs"] - exact)
    assert diff.max() < 0.05, (result["probs"], exact)
    assert (diff <= 4 * result["stderr"] + 1e-3).all(), (diff, result["stderr"])
    assert "largest difference from exact, importance-weighted" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
