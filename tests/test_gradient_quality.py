"""The gradient-quality benchmark (benchmarks/gradient_quality.py): its exact
gradients by enumeration, its metrics, and the claims its tables rest on,
checked on small problems and sample sizes in both backends."""

import importlib.util
import itertools
import math
import pathlib

import docutils.core
import docutils.utils
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("_bench_gradient_quality",
                                                  ROOT / "benchmarks" / "gradient_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gq = _load()
CAT5, CAT50, BERN, SUBSET = gq.PROBLEMS
SMALL = (CAT5, BERN, SUBSET)
NAMES = gq.BACKENDS
SCORE, RLOO2, RLOO8 = gq.Estimator("score"), gq.Estimator("score", n=2), gq.Estimator("score", n=8)
GUMBEL, RAO, ST = (gq.Estimator("straight_through", e) for e in ("gumbel", "gumbel_rao", "st"))


@pytest.fixture(scope="module")
def backends():
    return {name: gq.backend(name) for name in NAMES}


@pytest.fixture(scope="module")
def estimates(backends):
    """Single estimates on the k = 5 categorical, cached across tests."""
    cache = {}

    def get(name, spec, tau, samples, seed=1):
        key = (name, spec, tau, samples, seed)
        if key not in cache:
            cache[key] = backends[name].estimates(CAT5, spec, tau, samples, seed)
        return cache[key]

    return get


def _reference_objective(problem, logits):
    """``E[f(z)]`` in NumPy, by brute force: the subset probability as a sum
    over the m! orders in which the set can be drawn, one item at a time."""
    _, W, b = problem.arrays()
    f = lambda z: float(np.sum(np.sin(np.asarray(z, float) @ W + b)))  # noqa: E731
    if problem.kind == "categorical":
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return sum(p[i] * f(e) for i, e in enumerate(np.eye(problem.k)))
    if problem.kind == "bernoulli":
        q = 1 / (1 + np.exp(-logits))
        return sum(np.prod(np.where(bits, q, 1 - q)) * f(bits)
                   for bits in itertools.product((0, 1), repeat=problem.k))
    p = np.exp(logits - logits.max())
    p /= p.sum()
    total = 0.0
    for members in itertools.combinations(range(problem.k), problem.m):
        prob = 0.0
        for order in itertools.permutations(members):
            left, term = 1.0, 1.0
            for i in order:
                term *= p[i] / left
                left -= p[i]
            prob += term
        total += prob * f(np.isin(np.arange(problem.k), members))
    return total


# -------------------------------------------------------------- exact gradient
@pytest.mark.parametrize("problem", SMALL, ids=lambda p: p.kind)
@pytest.mark.parametrize("name", NAMES)
def test_exact_gradient_is_the_derivative_of_the_exact_objective(backends, name, problem):
    bk = backends[name]
    logits = problem.arrays()[0]
    value, grad = bk.exact_gradient(problem)
    assert value == pytest.approx(_reference_objective(problem, logits), abs=1e-12)
    # central differences along two random directions (cheaper than all k)
    h = 1e-6
    for v in np.random.default_rng(7).standard_normal((2, problem.k)):
        fd = (bk.exact_value(problem, logits + h * v) - bk.exact_value(problem, logits - h * v)) / (2 * h)
        assert abs(grad @ v - fd) < 1e-7, (grad @ v, fd)


def test_backends_agree_on_the_exact_gradient(backends):
    for problem in gq.PROBLEMS:
        value_a, grad_a = backends["pyro"].exact_gradient(problem)
        value_b, grad_b = backends["numpyro"].exact_gradient(problem)
        assert abs(value_a - value_b) < 1e-10, problem.name
        np.testing.assert_allclose(grad_a, grad_b, rtol=0, atol=1e-10, err_msg=problem.name)


# --------------------------------------------------------------------- metrics
def test_metrics_on_known_estimates():
    g = np.array([3.0, -4.0, 0.0])
    m = gq.metrics(np.stack([2 * g, 0 * g]), g)
    assert m["bias"] == pytest.approx(0, abs=1e-15)
    assert m["variance"] == pytest.approx(2.0)           # (25 + 25) / (N - 1) / 25
    assert m["bias_se"] == pytest.approx(1.0)            # sqrt(2 / 2)
    assert m["mean_cos"] == pytest.approx(0.5)           # the zero estimate counts as 0
    assert m["cos_of_mean"] == pytest.approx(1.0)
    assert m["zero_estimates"] == 1
    # rounding left of a zero estimate (XLA) counts as zero too
    assert gq.metrics(np.stack([g, -1e-17 * g]), g)["mean_cos"] == pytest.approx(0.5)
    flipped = gq.metrics(np.stack([-g, -g, -3 * g]), g)
    assert flipped["bias"] == pytest.approx(8 / 3) and flipped["mean_cos"] == pytest.approx(-1)


# ------------------------------------------------------------------ estimators
@pytest.mark.parametrize("spec", [SCORE, RLOO2, RLOO8], ids=lambda s: f"n{s.n}")
@pytest.mark.parametrize("name", NAMES)
def test_score_function_estimators_are_unbiased(backends, estimates, name, spec):
    g = backends[name].exact_gradient(CAT5)[1]
    m = gq.metrics(estimates(name, spec, 1.0, 1000), g)
    assert m["bias"] < 4 * m["bias_se"], m
    assert m["unbiased_p"] > 1e-3, m


@pytest.mark.parametrize("name", NAMES)
def test_straight_through_gumbel_is_biased(backends, estimates, name):
    """The negative control of the unbiasedness test: same test, same N."""
    g = backends[name].exact_gradient(CAT5)[1]
    m = gq.metrics(estimates(name, GUMBEL, 1.0, 1000), g)
    assert m["bias"] > 4 * m["bias_se"] and m["unbiased_p"] < 1e-6, m


@pytest.mark.parametrize("name", NAMES)
def test_gumbel_rao_has_lower_variance_at_low_temperature(backends, estimates, name):
    g = backends[name].exact_gradient(CAT5)[1]
    plain = gq.metrics(estimates(name, GUMBEL, 0.1, 2000), g)
    rao = gq.metrics(estimates(name, RAO, 0.1, 2000), g)
    # the straight-through Gumbel gradient is heavy-tailed at tau = 0.1: 2000 estimates
    gap = plain["variance"] - rao["variance"]
    assert gap > 4 * math.hypot(plain["variance_se"], rao["variance_se"]), (plain, rao)
    assert plain["variance"] > 3 * rao["variance"], (plain, rao)


@pytest.mark.parametrize("spec, tau", [(GUMBEL, 0.5), (RLOO2, 1.0), (ST, 1.0)], ids=["gumbel", "rloo", "st"])
def test_backends_agree_on_bias_variance_and_cosine(backends, estimates, spec, tau):
    a, b = estimates("pyro", spec, tau, 1000), estimates("numpyro", spec, tau, 1000)
    agree = gq.agreement(a, b)
    assert agree["mean_p"] > 1e-3 and abs(agree["variance_z"]) < 4, agree
    g = backends["pyro"].exact_gradient(CAT5)[1]
    ma, mb = gq.metrics(a, g), gq.metrics(b, g)
    assert abs(ma["mean_cos"] - mb["mean_cos"]) < 4 * math.hypot(ma["mean_cos_se"], mb["mean_cos_se"])


def test_agreement_detects_different_estimators(estimates):
    """The negative control: "st" and "gumbel" differ in mean (and variance)."""
    agree = gq.agreement(estimates("pyro", ST, 1.0, 1000), estimates("numpyro", GUMBEL, 1.0, 1000))
    assert agree["mean_p"] < 1e-6, agree


# ---------------------------------------------------------------------- tables
def _parse(text):
    """Parse RST with docutils; any warning or error fails."""
    docutils.core.publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 2})


def test_written_table_and_json(tmp_path):
    results = gq.run(["pyro"], 20, problems=[CAT5], log=lambda line: None)
    paths = gq.write(results, ["pyro"], 20, tmp_path, tmp_path / "out.json", 1.0)
    assert [p.name for p in paths] == ["gradient_quality_pyro.rst.inc", "out.json"]
    text = paths[0].read_text(encoding="utf-8")
    _parse(text)
    assert text.count("\n   * - categorical, k = 5") == len(list(gq.rows(CAT5)))


@pytest.mark.parametrize("name", NAMES)
def test_committed_tables_are_current(name):
    """The tables in docs/ parse and hold every row the script makes now."""
    text = (ROOT / "docs" / f"gradient_quality_{name}.rst.inc").read_text(encoding="utf-8")
    _parse(text)
    for problem in gq.PROBLEMS:
        assert text.count(f"\n   * - {problem.name}\n") == len(list(gq.rows(problem))), problem.name
        for spec, _ in gq.rows(problem):
            assert gq.estimator_cell(spec.label(problem)) in text, (problem.name, spec)
