"""Gradient quality of the discrete estimators: each estimator's gradient of
``E[f(z)]`` w.r.t. the logits against the exact gradient by enumeration, in
both backends.

    python3 benchmarks/gradient_quality.py [--samples 2000] [--backends pyro numpyro]
        [--out-dir docs] [--json benchmarks/gradient_quality.json]

Problems (logits and the downstream function fixed by a seeded NumPy RNG,
shared by both backends): a one-hot categorical with k = 5 and k = 50
categories, a vector of d = 8 Bernoulli bits (256 configurations) and a
subset of m = 3 of k = 8 categories (56 sets). The downstream function is
``f(z) = sum_j sin((z @ W)_j + b_j)`` with ``W`` of shape ``(k, 4)``: nonlinear
in the category, in every bit and in the whole mask, and defined off the
vertices too, as the straight-through and relaxed gradients need.

Estimators (the package's public classes):

* the straight-through classes ``OneHotCategoricalStraightThrough``,
  ``BernoulliStraightThrough`` (``"st"``, ``"gumbel"``, ``"gumbel_rao"`` with
  R = 10 and 100, ``"reinmax"``) and ``SubsetStraightThrough``
  (``"relaxed"``, ``"marginals"``);
* the relaxation's pathwise gradient (``GumbelSoftmax`` / ``BinaryConcrete``
  / ``RelaxedSubset`` samples fed to ``f``): the gradient of the *relaxed*
  objective, biased for the discrete one;
* the score function ``f(z) grad log p(z)`` (the host's ``OneHotCategorical``
  / ``Bernoulli``, the package's ``Subset``), and its leave-one-out version
  with n = 2 and 8 samples (RLOO; Kool, van Hoof & Welling 2019), which costs
  n evaluations of ``f`` per estimate.

Each estimator gives N independent single estimates (per-sample gradients:
a batch of N independent copies of the logits, one draw each, so the
gradient w.r.t. copy i is estimate i). With ``g`` the exact gradient:

* rel. bias ``||mean - g|| / ||g||`` and its noise floor ``s.e. =
  sqrt(tr Cov / N) / ||g||`` (the RMS size of the rel. bias of an unbiased
  estimator: a bias of the size of its s.e. is zero within noise);
* rel. variance ``E||g_hat - mean||^2 / ||g||^2``;
* ``E[cos(g_hat, g)]`` (a zero estimate, as RLOO gives when its samples
  agree, counts as cosine 0; so does one below ``1e-9 ||g||``, rounding
  left of a zero) and ``cos(mean, g)``.

The two backends draw different noise, so they agree up to Monte Carlo
error; the script checks it (chi-squared test of the difference of the mean
gradients, z-score of the difference of the variances) and stores it in the
JSON.
"""

import argparse
import itertools
import json
import math
import pathlib
import platform
import re
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from array_api_compat import array_namespace
from scipy import stats

SEED = 20260412
TEMPERATURES = (1.0, 0.5)
RLOO_SIZES = (2, 8)
RAO_SAMPLES = (10, 100)
HIDDEN = 4          # columns of W
CHUNK = 500         # estimates per vectorised call (bounds memory at gumbel_rao, R = 100)
ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("pyro", "numpyro")


# ------------------------------------------------------------------ problems
@dataclass(frozen=True)
class Problem:
    name: str
    kind: str                  # "categorical", "bernoulli" or "subset"
    k: int
    m: Optional[int] = None

    @property
    def seed(self):
        return [SEED, ("categorical", "bernoulli", "subset").index(self.kind), self.k]

    def arrays(self):
        """``(logits, W, b)`` in float64 NumPy: logits ~ N(0, 1), W ~ N(0, 1),
        b ~ U(0, 2 pi), from a seeded RNG."""
        rng = np.random.default_rng(self.seed)
        logits = rng.standard_normal(self.k)
        W = rng.standard_normal((self.k, HIDDEN))
        b = rng.uniform(0.0, 2 * math.pi, HIDDEN)
        return logits, W, b


PROBLEMS = (
    Problem("categorical, k = 5", "categorical", 5),
    Problem("categorical, k = 50", "categorical", 50),
    Problem("Bernoulli, d = 8", "bernoulli", 8),
    Problem("subset, k = 8, m = 3", "subset", 8, 3),
)


def downstream(z, W, b):
    """The fixed nonlinear ``f``: ``sum_j sin((z @ W)_j + b_j)`` over the last
    axis of ``z`` (any backend)."""
    xp = array_namespace(z, W, b)
    return xp.sum(xp.sin(z @ W + b), axis=-1)


# ---------------------------------------------------------------- estimators
@dataclass(frozen=True)
class Estimator:
    kind: str                  # "straight_through", "relaxation", "score"
    estimator: str = ""        # the straight-through class's estimator
    rao: int = 10              # its rao_samples
    n: int = 1                 # score function: samples (1 plain, > 1 leave-one-out)

    @property
    def uses_temperature(self):
        return self.kind == "relaxation" or (self.kind == "straight_through"
                                             and self.estimator != "marginals")

    @property
    def evaluations(self):
        return self.n

    def label(self, problem):
        if self.kind == "straight_through":
            return (f'"gumbel_rao", R = {self.rao}' if self.estimator == "gumbel_rao"
                    else f'"{self.estimator}"')
        if self.kind == "relaxation":
            cls = {"categorical": "GumbelSoftmax", "bernoulli": "BinaryConcrete",
                   "subset": "RelaxedSubset"}[problem.kind]
            return f"{cls} pathwise (relaxed objective)"
        return "score function" if self.n == 1 else f"RLOO, n = {self.n}"


def estimators(problem):
    if problem.kind == "subset":
        st = [Estimator("straight_through", "relaxed"), Estimator("straight_through", "marginals")]
    else:
        st = ([Estimator("straight_through", "st"), Estimator("straight_through", "gumbel")]
              + [Estimator("straight_through", "gumbel_rao", rao=r) for r in RAO_SAMPLES]
              + [Estimator("straight_through", "reinmax")])
    return (st + [Estimator("relaxation"), Estimator("score")]
            + [Estimator("score", n=n) for n in RLOO_SIZES])


def straight_through(bk, problem, spec, tau, logits):
    if problem.kind == "categorical":
        return bk.rd.OneHotCategoricalStraightThrough(tau, logits=logits, estimator=spec.estimator,
                                                      rao_samples=spec.rao)
    if problem.kind == "bernoulli":
        return bk.rd.BernoulliStraightThrough(tau, logits=logits, estimator=spec.estimator,
                                              rao_samples=spec.rao)
    return bk.rd.SubsetStraightThrough(tau, problem.m, logits=logits, estimator=spec.estimator)


def relaxation(bk, problem, tau, logits):
    if problem.kind == "categorical":
        return bk.rd.GumbelSoftmax(tau, logits=logits)
    if problem.kind == "bernoulli":
        return bk.rd.BinaryConcrete(tau, logits=logits)
    return bk.rd.RelaxedSubset(tau, problem.m, logits=logits)


def discrete(bk, problem, logits):
    """The discrete distribution of ``z`` with its exact ``log_prob`` (of the
    whole vector: the bits' log-probabilities are summed)."""
    if problem.kind == "categorical":
        return bk.one_hot_categorical(logits)
    if problem.kind == "bernoulli":
        return bk.bernoulli(logits)
    return bk.rd.Subset(problem.m, logits=logits)


def _log_prob(problem, d, z):
    lp = d.log_prob(z)
    if problem.kind == "bernoulli":
        xp = array_namespace(lp)
        lp = xp.sum(lp, axis=-1)
    return lp


def surrogate(bk, problem, spec, logits, tau, W, b, draw):
    """A scalar whose gradient w.r.t. ``logits`` (shape ``(N, k)``, N
    independent copies) is, in row i, the i-th single estimate."""
    xp = array_namespace(logits)
    if spec.kind == "straight_through":
        return xp.sum(downstream(draw(straight_through(bk, problem, spec, tau, logits), ()), W, b))
    if spec.kind == "relaxation":
        return xp.sum(downstream(draw(relaxation(bk, problem, tau, logits), ()), W, b))
    d = discrete(bk, problem, logits)
    z = bk.stop_gradient(draw(d, (spec.n,)))                  # (n, N, k)
    fz = bk.stop_gradient(downstream(z, W, b))                # (n, N)
    if spec.n == 1:
        weight = fz
    else:  # leave-one-out baseline: the mean of f over the other n - 1 samples
        others = (xp.sum(fz, axis=0, keepdims=True) - fz) / (spec.n - 1)
        weight = (fz - others) / spec.n
    return xp.sum(weight * _log_prob(problem, d, z))


def support(bk, problem, logits):
    """All values of ``z`` (shape ``(count, k)``) and their exact log-probabilities."""
    if problem.kind == "subset":
        d = bk.rd.Subset(problem.m, logits=logits)
        values = d.enumerate_support()
    elif problem.kind == "categorical":
        d, values = bk.one_hot_categorical(logits), bk.asarray(np.eye(problem.k))
    else:
        bits = np.array(list(itertools.product((0.0, 1.0), repeat=problem.k)))
        d, values = bk.bernoulli(logits), bk.asarray(bits)
    return values, _log_prob(problem, d, values)


def exact_objective(bk, problem, logits, W, b):
    """``E[f(z)] = sum_z P(z) f(z)`` by enumeration, differentiable in ``logits``."""
    xp = array_namespace(logits)
    values, lp = support(bk, problem, logits)
    return xp.sum(xp.exp(lp) * downstream(values, W, b))


# ------------------------------------------------------------------ backends
class TorchBackend:
    name = "pyro"

    def __init__(self):
        import torch
        import torch.distributions as td

        import relaxed_dists.pyro as rd
        self.torch, self.td, self.rd = torch, td, rd

    def asarray(self, x):
        return self.torch.as_tensor(np.asarray(x, dtype=np.float64))

    def stop_gradient(self, x):
        return x.detach()

    def one_hot_categorical(self, logits):
        return self.td.OneHotCategorical(logits=logits)

    def bernoulli(self, logits):
        return self.td.Bernoulli(logits=logits)

    def exact_gradient(self, problem, logits=None):
        """``(E[f], its gradient)`` as NumPy float64."""
        base, W, b = problem.arrays()
        x = self.asarray(base if logits is None else logits).requires_grad_()
        value = exact_objective(self, problem, x, self.asarray(W), self.asarray(b))
        return float(value.detach()), self.torch.autograd.grad(value, x)[0].numpy()

    def exact_value(self, problem, logits):
        _, W, b = problem.arrays()
        with self.torch.no_grad():
            return float(exact_objective(self, problem, self.asarray(logits), self.asarray(W),
                                         self.asarray(b)))

    def estimates(self, problem, spec, tau, samples, seed):
        """``(samples, k)`` single estimates."""
        torch = self.torch
        base, W, b = problem.arrays()
        base, W, b = self.asarray(base), self.asarray(W), self.asarray(b)
        tau = torch.tensor(tau, dtype=torch.float64)
        torch.manual_seed(seed)

        def draw(d, shape):
            return d.rsample(shape) if d.has_rsample else d.sample(shape)

        out = []
        for start in range(0, samples, CHUNK):
            x = base.expand(min(CHUNK, samples - start), problem.k).clone().requires_grad_()
            loss = surrogate(self, problem, spec, x, tau, W, b, draw)
            out.append(torch.autograd.grad(loss, x)[0].numpy())
        return np.concatenate(out)


class JaxBackend:
    name = "numpyro"

    def __init__(self):
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import numpyro.distributions as nd

        import relaxed_dists.numpyro as rd
        self.jax, self.jnp, self.nd, self.rd = jax, jnp, nd, rd
        self._compiled, self._exact = {}, {}

    def asarray(self, x):
        return self.jnp.asarray(np.asarray(x, dtype=np.float64))

    def stop_gradient(self, x):
        return self.jax.lax.stop_gradient(x)

    def one_hot_categorical(self, logits):
        return _JaxOneHotCategorical(self, logits)

    def bernoulli(self, logits):
        return self.nd.Bernoulli(logits=logits)

    def _objective(self, problem):
        """``(E[f], value_and_grad)`` of ``problem``, jitted once."""
        jax = self.jax
        if problem not in self._exact:
            _, W, b = problem.arrays()
            W, b = self.asarray(W), self.asarray(b)

            def objective(x):
                return exact_objective(self, problem, x, W, b)

            self._exact[problem] = jax.jit(objective), jax.jit(jax.value_and_grad(objective))
        return self._exact[problem]

    def exact_gradient(self, problem, logits=None):
        value, grad = self._objective(problem)[1](self.asarray(problem.arrays()[0] if logits is None
                                                               else logits))
        return float(value), np.asarray(grad)

    def exact_value(self, problem, logits):
        return float(self._objective(problem)[0](self.asarray(logits)))

    def _compile(self, problem, spec):
        jax = self.jax
        key = (problem, spec)
        if key not in self._compiled:
            _, W, b = problem.arrays()
            W, b = self.asarray(W), self.asarray(b)

            def chunk(x, tau, rng_key):
                keys = iter(jax.random.split(rng_key, 4))

                def draw(d, shape):
                    return d.sample(next(keys), shape)

                return jax.grad(lambda y: surrogate(self, problem, spec, y, tau, W, b, draw))(x)

            self._compiled[key] = jax.jit(chunk)
        return self._compiled[key]

    def estimates(self, problem, spec, tau, samples, seed):
        jax, jnp = self.jax, self.jnp
        fn = self._compile(problem, spec)
        base = self.asarray(problem.arrays()[0])
        key = jax.random.PRNGKey(seed)
        out = []
        for i, start in enumerate(range(0, samples, CHUNK)):
            x = jnp.broadcast_to(base, (min(CHUNK, samples - start), problem.k))
            out.append(np.asarray(fn(x, jnp.asarray(tau, dtype=jnp.float64), jax.random.fold_in(key, i))))
        return np.concatenate(out)


class _JaxOneHotCategorical:
    """NumPyro has no one-hot categorical: its ``Categorical`` on one-hot values."""

    def __init__(self, bk, logits):
        self.bk, self.k = bk, logits.shape[-1]
        self.d = bk.nd.Categorical(logits=logits)

    def sample(self, key, sample_shape=()):
        return self.bk.jax.nn.one_hot(self.d.sample(key, sample_shape), self.k, dtype=self.bk.jnp.float64)

    def log_prob(self, value):
        return self.d.log_prob(self.bk.jnp.argmax(value, axis=-1))


def backend(name):
    if name == "pyro":
        return TorchBackend()
    if name == "numpyro":
        return JaxBackend()
    raise ValueError(f"backend must be one of {BACKENDS}; got {name!r}")


# ------------------------------------------------------------------- metrics
def _rank(cov):
    """Numerical rank of a covariance (the logit gradients of a categorical
    or a subset sum to zero: one direction carries no variance)."""
    w = np.linalg.eigvalsh(cov)
    return int(np.sum(w > 1e-9 * max(w.max(), 1e-300)))


def metrics(G, g):
    """The bias, variance and cosine of the single estimates ``G`` (shape
    ``(N, k)``) against the exact gradient ``g``; all relative to ``||g||``."""
    N = len(G)
    gn = float(np.linalg.norm(g))
    mean = G.mean(axis=0)
    dev = G - mean
    sq = np.sum(dev ** 2, axis=1)
    variance = float(sq.sum() / (N - 1)) / gn ** 2
    norms = np.linalg.norm(G, axis=1)
    # RLOO's estimate is 0 when its samples agree; rounding (XLA's matmul
    # blocking) may leave ~1e-16 of it, whose direction is noise: cosine 0
    zero = norms <= 1e-9 * gn
    cos = np.where(zero, 0.0, G @ g / np.where(zero, 1.0, norms) / gn)
    cov = dev.T @ dev / (N - 1)
    diff = mean - g
    rank = _rank(cov)
    stat = float(N * diff @ np.linalg.pinv(cov, rcond=1e-9, hermitian=True) @ diff)
    return {
        "bias": float(np.linalg.norm(diff)) / gn,
        "bias_se": math.sqrt(variance / N),
        "unbiased_p": float(stats.chi2.sf(stat, rank)),
        "variance": variance,
        "variance_se": float(sq.std(ddof=1) / math.sqrt(N)) / gn ** 2,
        "mean_cos": float(cos.mean()),
        "mean_cos_se": float(cos.std(ddof=1) / math.sqrt(N)),
        "cos_of_mean": float(mean @ g / (np.linalg.norm(mean) * gn)),
        "zero_estimates": int(np.sum(zero)),
    }


def agreement(Ga, Gb):
    """Whether two sets of single estimates share their mean and their
    variance: the chi-squared p-value of the difference of the means and the
    z-score of the difference of the (unnormalised) variances."""
    Na, Nb = len(Ga), len(Gb)
    diff = Ga.mean(axis=0) - Gb.mean(axis=0)
    cov = np.cov(Ga, rowvar=False) / Na + np.cov(Gb, rowvar=False) / Nb
    stat = float(diff @ np.linalg.pinv(cov, rcond=1e-9, hermitian=True) @ diff)
    sa = np.sum((Ga - Ga.mean(axis=0)) ** 2, axis=1)
    sb = np.sum((Gb - Gb.mean(axis=0)) ** 2, axis=1)
    z = (sa.mean() - sb.mean()) / math.sqrt(sa.var(ddof=1) / Na + sb.var(ddof=1) / Nb)
    return {"mean_p": float(stats.chi2.sf(stat, _rank(cov))), "variance_z": float(z)}


# ------------------------------------------------------------------------ run
def rows(problem):
    """``(estimator, temperature or None)`` for every table row of ``problem``."""
    for spec in estimators(problem):
        for tau in (TEMPERATURES if spec.uses_temperature else (None,)):
            yield spec, tau


def row_seed(problem, index):
    return int(np.random.SeedSequence(problem.seed + [index]).generate_state(1)[0])


def evaluate(bk, problem, spec, tau, samples, seed, g):
    """The single estimates and their metrics (against the exact gradient
    ``g``) for one row."""
    G = bk.estimates(problem, spec, 1.0 if tau is None else tau, samples, seed)
    return G, metrics(G, g)


def run(backends, samples, problems=PROBLEMS, log=print):
    results = {"rows": [], "exact": [], "agreement": []}
    estimates = {}
    for name in backends:
        bk = backend(name)
        for problem in problems:
            value, g = bk.exact_gradient(problem)
            results["exact"].append({"backend": name, "problem": problem.name, "value": value,
                                     "gradient": g.tolist()})
            for index, (spec, tau) in enumerate(rows(problem)):
                t0 = time.perf_counter()
                G, met = evaluate(bk, problem, spec, tau, samples, row_seed(problem, index), g)
                estimates[name, problem.name, index] = G
                row = {"backend": name, "problem": problem.name, "estimator": spec.label(problem),
                       "temperature": tau, "evaluations": spec.evaluations, **met,
                       "seconds": round(time.perf_counter() - t0, 3)}
                results["rows"].append(row)
                log(f"{name:8s} {problem.name:22s} {row['estimator']:40s} tau={tau!s:5s} "
                    f"bias {met['bias']:.3f} (s.e. {met['bias_se']:.3f}) var {met['variance']:.3g} "
                    f"cos {met['mean_cos']:.3f}  [{row['seconds']:.1f} s]")
    if len(backends) == 2:
        a, b = backends
        for problem in problems:
            ea = next(e for e in results["exact"] if e["backend"] == a and e["problem"] == problem.name)
            eb = next(e for e in results["exact"] if e["backend"] == b and e["problem"] == problem.name)
            gap = float(np.max(np.abs(np.subtract(ea["gradient"], eb["gradient"]))))
            results["agreement"].append({"problem": problem.name, "exact_gradient_max_diff": gap})
            for index, (spec, tau) in enumerate(rows(problem)):
                results["agreement"].append({
                    "problem": problem.name, "estimator": spec.label(problem), "temperature": tau,
                    **agreement(estimates[a, problem.name, index], estimates[b, problem.name, index])})
    return results


# ---------------------------------------------------------------------- write
_TITLE = {"pyro": "Pyro (torch)", "numpyro": "NumPyro (JAX)"}
_HEADER = ("problem", "estimator", "τ", "evals of f", "rel. bias", "s.e.", "rel. variance",
           "E[cos]", "cos(mean)")


def _num(x):
    return f"{x:.3f}" if 1e-3 <= abs(x) < 1e3 else f"{x:.2e}"


def estimator_cell(label):
    """The table cell of an estimator's label: its ``"name"`` as literal text."""
    return re.sub(r'^("[a-z_]+")', r"``\1``", label)


def _rounded(x):
    """``x`` with every float to 5 significant digits (a short JSON)."""
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def table(results, name, samples):
    """The RST ``list-table`` of one backend's rows."""
    lines = [f".. Generated by benchmarks/gradient_quality.py --samples {samples}; do not edit.", "",
             f".. list-table:: Gradient quality, {_TITLE[name]}: {samples} single estimates per row",
             "   :header-rows: 1", ""]
    cells = [_HEADER] + [
        (r["problem"], estimator_cell(r["estimator"]),
         "—" if r["temperature"] is None else f"{r['temperature']:g}", str(r["evaluations"]),
         _num(r["bias"]), _num(r["bias_se"]), _num(r["variance"]), f"{r['mean_cos']:.3f}",
         f"{r['cos_of_mean']:.3f}")
        for r in results["rows"] if r["backend"] == name]
    for row in cells:
        lines += [f"   * - {row[0]}"] + [f"     - {c}" for c in row[1:]]
    return "\n".join(lines) + "\n"


def write(results, backends, samples, out_dir, json_path, seconds):
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in backends:
        path = out_dir / f"gradient_quality_{name}.rst.inc"
        path.write_text(table(results, name, samples), encoding="utf-8")
        paths.append(path)
    meta = {"samples": samples, "seed": SEED, "temperatures": list(TEMPERATURES), "backends": list(backends),
            "seconds": round(seconds, 1), "python": platform.python_version(),
            "downstream": "f(z) = sum_j sin((z @ W)_j + b_j), W ~ N(0, 1) of shape (k, 4), b ~ U(0, 2 pi)"}
    short = {"meta": meta, "exact": results["exact"], "agreement": results["agreement"],
             "rows": [{k: v for k, v in r.items() if k != "seconds"} for r in results["rows"]]}
    if json_path:
        json_path = pathlib.Path(json_path)
        sections = [f' "meta": {json.dumps(meta)}']
        for key in ("exact", "agreement", "rows"):  # one entry a line; the exact gradients unrounded
            entries = short[key] if key == "exact" else _rounded(short[key])
            sections.append(f' "{key}": [\n  ' + ",\n  ".join(json.dumps(e) for e in entries) + "\n ]")
        json_path.write_text("{\n" + ",\n".join(sections) + "\n}\n", encoding="utf-8")
        paths.append(json_path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000, help="single estimates per row (N)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--out-dir", default=str(ROOT / "docs"),
                        help="where the tables gradient_quality_<backend>.rst.inc go")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "gradient_quality.json"),
                        help="the JSON summary ('' for none)")
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error(f"--samples must be at least 2; got {args.samples}")
    t0, c0 = time.perf_counter(), time.process_time()
    results = run(args.backends, args.samples)
    seconds = time.perf_counter() - t0
    for path in write(results, args.backends, args.samples, args.out_dir, args.json, seconds):
        print("wrote", path)
    for a in results["agreement"]:
        if "exact_gradient_max_diff" in a:
            print(f"{a['problem']}: exact gradients differ by at most {a['exact_gradient_max_diff']:.1e}")
    stat = [a for a in results["agreement"] if "mean_p" in a]
    if stat:
        worst = min(stat, key=lambda a: a["mean_p"])
        print(f"backends agree: smallest p-value of the mean difference {worst['mean_p']:.3g} "
              f"({worst['problem']}, {worst['estimator']}, tau {worst['temperature']}) over {len(stat)} "
              f"rows; largest |z| of the variance difference "
              f"{max(abs(a['variance_z']) for a in stat):.2f}")
    print(f"{seconds:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    return results


if __name__ == "__main__":
    main()
