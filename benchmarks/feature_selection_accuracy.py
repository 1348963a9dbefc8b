"""How close the feature-selection examples get to the reference posterior,
over designs, seeds and backends (the accuracy table of the README).

For each case (a command line of examples/feature_selection_*.py) and seed,
the reference posterior inclusion probabilities are computed once (exact
enumeration, or a long MCMC run above the cap: examples/_selection.py's
``reference``) and cached in the JSON output; the example then runs with
``--no-exact`` in each backend, and the largest absolute difference from the
reference is recorded for its importance-weighted answer and for the fitted
guide's own probabilities, with the effective sample size and the wall
times of the fit and of the reference.

    python3 benchmarks/feature_selection_accuracy.py                    # every case, seeds 0-4, NumPyro
    python3 benchmarks/feature_selection_accuracy.py --backends numpyro pyro --cases diabetes-m4
    python3 benchmarks/feature_selection_accuracy.py --report           # the Markdown table from the JSON

Writes ``benchmarks/feature_selection_accuracy.json`` (merged with what is
there) and ``benchmarks/FEATURE_SELECTION.md``.
"""

import argparse
import contextlib
import datetime
import io
import json
import os
import pathlib
import platform
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import _data  # noqa: E402
import _selection  # noqa: E402

#: name -> (the example's arguments, a description)
CASES = {
    "diabetes-m3": (["--dataset", "diabetes", "--m", "3"], "diabetes, subset prior, m = 3"),
    "diabetes-m4": (["--dataset", "diabetes", "--m", "4"], "diabetes, subset prior, m = 4"),
    "diabetes-m5": (["--dataset", "diabetes", "--m", "5"], "diabetes, subset prior, m = 5"),
    "diabetes-bernoulli": (["--dataset", "diabetes", "--prior", "bernoulli", "--m", "3"],
                           "diabetes, Bernoulli prior, expected size 3"),
    "correlated": (["--dataset", "correlated"], "d = 20, n = 100, equicorrelation 0.5, 3 planted"),
    "correlated-bernoulli": (["--dataset", "correlated", "--prior", "bernoulli"],
                             "the same, Bernoulli prior of expected size 3 (2^20 sets)"),
    "weak-0.9-0.2": (["--dataset", "correlated", "--rho", "0.9", "--signal", "0.2"],
                     "equicorrelation 0.9, planted coefficients 0.2-0.4"),
    "weak-0.9-0.3": (["--dataset", "correlated", "--rho", "0.9", "--signal", "0.3"],
                     "equicorrelation 0.9, planted coefficients 0.3-0.6"),
    "weak-0.95-0.3": (["--dataset", "correlated", "--rho", "0.95", "--signal", "0.3"],
                      "equicorrelation 0.95, planted coefficients 0.3-0.6"),
    "weak-0.7-0.15": (["--dataset", "correlated", "--rho", "0.7", "--signal", "0.15"],
                      "equicorrelation 0.7, planted coefficients 0.15-0.3"),
    "d200": (["--d", "200"], "d = 200, n = 200, independent, 3 planted (MCMC reference)"),
    "d200-spread": (["--d", "200", "--rho", "0.9", "--signal", "0.15"],
                    "d = 200, equicorrelation 0.9, planted 0.15-0.3 (MCMC reference)"),
    "breast-cancer": (["--dataset", "breast-cancer"],
                      "breast cancer, logistic regression, subset prior, m = 3"),
}
OUT = ROOT / "benchmarks" / "feature_selection_accuracy.json"
TABLE = ROOT / "benchmarks" / "FEATURE_SELECTION.md"


def backend_module(name):
    if name == "numpyro":
        import feature_selection_numpyro as module
    else:
        import feature_selection_pyro as module
    return module


def reference_for(case, seed, results):
    """The cached reference of (case, seed), computed if absent."""
    key = f"{case}/{seed}"
    if key in results["references"]:
        return results["references"][key]
    args = _selection.parser(backend_module("numpyro")).parse_args(CASES[case][0] + ["--seed", str(seed)])
    X, y, _, _ = _data.load_data(args.dataset, seed, n=args.n, d=args.d, rho=args.rho, signal=args.signal)
    likelihood = "logistic" if args.dataset == "breast-cancer" else "gaussian"
    # the data as the fits see it (float32)
    X, y = X.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = _selection.reference(X, y, args.prior, args.m, likelihood, args.mcmc_steps, seed)
    out = {"inclusion": ref["inclusion"].tolist(), "stderr": ref["stderr"].tolist(), "method": ref["method"],
           "wall": ref["wall"]}
    results["references"][key] = out
    return out


def run_case(case, seed, backend, results):
    ref = reference_for(case, seed, results)
    module = backend_module(backend)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        argv = CASES[case][0] + ["--seed", str(seed), "--no-exact", "--out", os.path.join(tmp, "p.png")]
        out = module.main(argv)
    exact = np.asarray(ref["inclusion"])
    return {"weighted": float(np.abs(out["probs"] - exact).max()),
            "guide": float(np.abs(out["fitted"] - exact).max()),
            "ess": float(out["ess"]), "fit_wall": float(out["wall"]), "ref_wall": ref["wall"],
            "method": ref["method"].split(" ")[0], "ref_stderr": float(np.max(ref["stderr"]))}


def report(results):
    date, machine = results.get("date", "?"), results.get("machine", "?")
    intro = (
        f"Generated by `python3 benchmarks/feature_selection_accuracy.py` ({date}; {machine}). "
        "Default settings of the examples (RLOO, 1000 steps, 8 particles, 4000 importance draws in each "
        "of three rounds). Each cell: the largest absolute difference over the features between the "
        "printed inclusion probabilities and the reference, as the maximum over the seeds (and the "
        "seeds' values). *weighted*: the importance-weighted answer the example prints; *guide*: the "
        "fitted guide's own probabilities. The reference is exact enumeration (logistic regression: "
        "each set's coefficients by importance sampling, Monte Carlo error under 0.005) or, above 2^20 "
        "sets, a long MCMC run of 64 chains (its largest Monte Carlo standard error is given). Wall "
        "times (*fit s*: the fit, the importance weighting and JIT compilation, all cases run in one "
        "process so that JAX's compilation cache is warm after the first run; *reference s*: the "
        "enumeration or MCMC) are medians over the seeds on a 2-core machine shared with other jobs.")
    lines = ["# Feature selection: the examples against the reference posterior", "", intro, "",
             "| case | backend | seeds | weighted: max (per seed) | guide: max | ESS (median) | fit s | "
             "reference | reference s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for case, (_, description) in CASES.items():
        for backend in ("numpyro", "pyro"):
            rows = [(int(k.split("/")[2]), v) for k, v in results["runs"].items()
                    if k.startswith(f"{case}/{backend}/")]
            if not rows:
                continue
            rows.sort()
            w = [r["weighted"] for _, r in rows]
            g = [r["guide"] for _, r in rows]
            ref = rows[0][1]["method"]
            err = max(r["ref_stderr"] for _, r in rows)
            ref_text = ref if ref == "exact" else f"MCMC (s.e. up to {err:.3f})"
            lines.append(f"| {description} | {backend} | {', '.join(str(s) for s, _ in rows)} | "
                         f"**{max(w):.3f}** ({', '.join(f'{x:.3f}' for x in w)}) | {max(g):.3f} | "
                         f"{np.median([r['ess'] for _, r in rows]):.0f} | "
                         f"{np.median([r['fit_wall'] for _, r in rows]):.1f} | {ref_text} | "
                         f"{np.median([r['ref_wall'] for _, r in rows]):.1f} |")
    TABLE.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--backends", nargs="+", choices=["numpyro", "pyro"], default=["numpyro"])
    p.add_argument("--report", action="store_true", help="only write the table from the JSON")
    args = p.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.exists() else {"references": {}, "runs": {}}
    if not args.report:
        import torch

        torch.set_num_threads(1)  # as the Pyro example does: tiny tensors, a busy 2-core machine
        results["date"] = datetime.date.today().isoformat()
        results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
        for case in args.cases:
            for seed in args.seeds:
                for backend in args.backends:
                    row = run_case(case, seed, backend, results)
                    results["runs"][f"{case}/{backend}/{seed}"] = row
                    print(f"{case:22s} {backend:8s} seed {seed}: weighted {row['weighted']:.3f}, guide "
                          f"{row['guide']:.3f}, ESS {row['ess']:.0f}, fit {row['fit_wall']:.1f} s, "
                          f"{row['method']} {row['ref_wall']:.1f} s", flush=True)
                    OUT.write_text(json.dumps(results, indent=1))
    report(results)


if __name__ == "__main__":
    main()
