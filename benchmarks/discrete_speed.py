"""Speed of the discrete classes (the straight-through estimators and the
hard ``Subset``) in both backends, as ratios to a proxy measured in the same
run, interleaved with them.

    python3 benchmarks/discrete_speed.py [--quick] [--torch-threads N] [--repeats 9] [--out-dir benchmarks]

Writes DISCRETE_SPEED.md and discrete_speed.json into ``--out-dir``.

The **proxy** is the one of run.py: drawing the uniforms, the Gumbel
transform and one softmax, ``softmax((logits - log(-log u)) / tau)`` on
``(B, k)``; **with backward**, the gradient w.r.t. ``logits`` of
``sum(c * y)``, ``c`` a fixed N(0, 1) weight per category. float32,
temperature 0.5, ``logits`` of shape ``(B, k)`` drawn once from N(0, 1).

What is timed:

* **straight-through one-hot and Bernoulli, sample + backward**: construct
  the class from ``(temperature, logits)``, draw one value (``rsample()`` /
  ``sample(key)``) and take the gradient w.r.t. ``logits`` of
  ``sum(c * value)``; against the proxy with backward. One-hot: batch
  ``(B,)``, ``k`` categories; Bernoulli: a ``(B, k)`` batch of bits. Every
  estimator; ``gumbel_rao`` at each ``rao_samples`` of the grid.
* **SubsetStraightThrough, sample + backward**: the same with ``m``;
  ``"marginals"`` only at a small size (its surrogate, the exact inclusion
  probabilities, costs O(200 k^2 m) per batch element, against O(k) for the
  proxy: its ratio grows with ``k m`` and is reported as such, not held to a
  target).
* **Subset, sample + log_prob**: ``sample()`` then ``log_prob`` of that
  value; against the proxy without backward.

Each cell runs its method and the proxy alternately (after warm-up calls,
which for JAX include compilation), ``--repeats`` times each; a short call is
timed as a loop of several calls (at least ``--min-time`` seconds per
timing). The ratio is the median over the repeats of the ratio of each
method timing to the proxy timing just before it (robust to a load that
drifts during the cell). If the proxy's medians over the first and second
half of a cell differ by more than 30% (the load of the machine changed
during the cell), the cell is run again, up to two more times, and the
steadiest attempt is kept. torch: eager, the classes get
``validate_args=False``; its thread count is left at its default unless
``--torch-threads`` sets it (on a shared machine, 1: see ``THREADS_NOTE``).
JAX: each call jitted as a whole (the key is an argument, the distribution
is built inside), timed with ``block_until_ready``; the backward calls
return the sample with the gradient (as torch computes it), so that jit
cannot drop the hard value where the gradient does not need it.
"""

import argparse
import datetime
import gc
import json
import math
import os
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from run import machine, package_versions  # noqa: E402  (the metadata of benchmarks/run.py)

TAU = 0.5
ESTIMATORS = (("st", None), ("gumbel", None), ("reinmax", None), ("gumbel_rao", 1), ("gumbel_rao", 10))
FULL = {
    "st_sizes": ((1024, 10), (1024, 100), (16384, 100)),
    "subset_st": (("relaxed", 1024, 100, 5), ("marginals", 16, 20, 5)),
    "subset": ((1024, 1000, 50), (16384, 100, 10)),
}
QUICK = {
    "st_sizes": ((64, 10),),
    "subset_st": (("relaxed", 64, 20, 3), ("marginals", 4, 8, 2)),
    "subset": ((64, 20, 3),),
}
#: Targets: (what, limit); gumbel_rao and "marginals" are reported only.
ST_LIMIT, SUBSET_LIMIT = 2.0, 4.0
SUBSET_TARGET_CELL = (1024, 1000, 50)
#: Why a run may set torch's thread count (written into the report).
THREADS_NOTE = ("set by --torch-threads; on a machine whose cores are busy with other work, "
                "torch's default pool waits at every parallel region for a thread the system "
                "has descheduled, and the times then measure the scheduler, not the code")
#: Re-run a cell when the proxy's two half-medians differ by more than this.
DRIFT = 1.3


# ------------------------------------------------------------------ torch
def torch_cells():
    import torch

    import relaxed_dists.pyro as rp

    def setup(B, k, seed):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn((B, k), generator=g, dtype=torch.float32)
        weight = torch.randn((k,), generator=g, dtype=torch.float32)
        torch.manual_seed(seed)
        return logits, torch.tensor(TAU, dtype=torch.float32), weight

    def grad_call(logits, weight, make):
        def call():
            lg = logits.detach().requires_grad_()
            return torch.autograd.grad((weight * make(lg).rsample()).sum(), lg)

        return call

    def st(cls_name, estimator, rao):
        cls = getattr(rp, cls_name)
        kw = {"estimator": estimator} | ({"rao_samples": rao} if rao else {})

        def build(logits, tau, weight, m):
            return grad_call(logits, weight, lambda lg: cls(tau, logits=lg, validate_args=False, **kw))

        return build

    def subset_st(estimator):
        def build(logits, tau, weight, m):
            return grad_call(logits, weight, lambda lg: rp.SubsetStraightThrough(
                tau, m, logits=lg, estimator=estimator, validate_args=False))

        return build

    def subset(logits, tau, weight, m):
        def call():
            d = rp.Subset(m, logits=logits, validate_args=False)
            x = d.sample()
            return x, d.log_prob(x)

        return call

    def proxy_fn(logits, tau, weight, backward):
        if not backward:
            def fwd():
                u = torch.rand(logits.shape, dtype=logits.dtype)
                return torch.softmax((logits - torch.log(-torch.log(u))) / tau, -1)

            return fwd

        def bwd():
            lg = logits.detach().requires_grad_()
            u = torch.rand(lg.shape, dtype=lg.dtype)
            y = torch.softmax((lg - torch.log(-torch.log(u))) / tau, -1)
            return torch.autograd.grad((weight * y).sum(), lg)

        return bwd

    return setup, proxy_fn, st, subset_st, subset


# -------------------------------------------------------------------- JAX
def jax_cells(seed):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import relaxed_dists.numpyro as rn

    counter = [0]

    def keys():
        counter[0] += 1
        return jax.random.fold_in(jax.random.PRNGKey(seed), counter[0])

    def blocking(fn, logits):
        return lambda: jax.block_until_ready(fn(logits, keys()))

    def setup(B, k, seed):
        rng = np.random.default_rng(seed)
        logits = jnp.asarray(rng.standard_normal((B, k)), dtype=jnp.float32)
        weight = jnp.asarray(rng.standard_normal(k), dtype=jnp.float32)
        return logits, jnp.asarray(TAU, dtype=jnp.float32), weight

    def proxy_fn(logits, tau, weight, backward):
        def forward(lg, key):
            u = jax.random.uniform(key, lg.shape, dtype=lg.dtype)
            return jax.nn.softmax((lg - jnp.log(-jnp.log(u))) / tau, -1)

        if not backward:
            return blocking(jax.jit(forward), logits)
        return blocking(jax.jit(jax.grad(lambda lg, key: with_value(weight, forward(lg, key)),
                                         has_aux=True)), logits)

    def with_value(weight, y):
        # (loss, y): the value comes back with the gradient, as in torch, so
        # that jit cannot drop what the gradient does not need (the hard
        # value of "st", whose gradient does not depend on it)
        return jnp.sum(weight * y), y

    def grad_call(logits, weight, make):
        def loss(lg, key):
            return with_value(weight, make(lg).sample(key))

        return blocking(jax.jit(jax.grad(loss, has_aux=True)), logits)

    def st(cls_name, estimator, rao):
        cls = getattr(rn, cls_name)
        kw = {"estimator": estimator} | ({"rao_samples": rao} if rao else {})

        def build(logits, tau, weight, m):
            return grad_call(logits, weight, lambda lg: cls(tau, logits=lg, validate_args=False, **kw))

        return build

    def subset_st(estimator):
        def build(logits, tau, weight, m):
            return grad_call(logits, weight, lambda lg: rn.SubsetStraightThrough(
                tau, m, logits=lg, estimator=estimator, validate_args=False))

        return build

    def subset(logits, tau, weight, m):
        def run(lg, key):
            d = rn.Subset(m, logits=lg, validate_args=False)
            x = d.sample(key)
            return x, d.log_prob(x)

        return blocking(jax.jit(run), logits)

    return setup, proxy_fn, st, subset_st, subset


# ----------------------------------------------------------------- timing
def _loop(call, n):
    def run():
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        return (time.perf_counter() - t0) / n

    return run


def _calibrate(call, min_time):
    """Calls per timing so that one timing lasts at least ``min_time``."""
    t = _loop(call, 1)()
    if t >= min_time:
        return 1
    n = max(1, math.ceil(min_time / max(t, 1e-7)))
    t = _loop(call, n)()  # again, at the loop's own speed
    return max(1, math.ceil(min_time / max(t, 1e-7)))


def interleaved(method, proxy, repeats, warmup, min_time):
    """Seconds per call of ``method`` and of ``proxy``, ``repeats`` timings
    each, alternating; and the first call's time of ``method`` (JAX: with
    compilation)."""
    t0 = time.perf_counter()
    method()
    first = time.perf_counter() - t0
    for _ in range(warmup):
        method()
        proxy()
    fm, fp = _loop(method, _calibrate(method, min_time)), _loop(proxy, _calibrate(proxy, min_time))
    tm, tp = [], []
    for _ in range(repeats):
        tp.append(fp())
        tm.append(fm())
    return tm, tp, first


def drift(tp):
    h = len(tp) // 2
    a, b = statistics.median(tp[:h] or tp), statistics.median(tp[h:])
    return max(a, b) / min(a, b)


def measure_cell(method, proxy, repeats, warmup, min_time):
    """The steadiest of up to three attempts (see the module docstring)."""
    attempts = []
    for attempt in range(3):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        tm, tp, first = interleaved(method, proxy, repeats, warmup if attempt == 0 else 1, min_time)
        attempts.append({"method_s": tm, "proxy_s": tp, "first_call_s": first, "drift": drift(tp),
                         "load_1min": load})
        if attempts[-1]["drift"] <= DRIFT:
            break
    best = min(attempts, key=lambda a: a["drift"])
    best["attempts"] = len(attempts)
    best["ratio"] = statistics.median(a / b for a, b in zip(best["method_s"], best["proxy_s"]))
    return best


# ------------------------------------------------------------------ cells
def cell_list(grid):
    """``(kind, class, estimator, rao_samples, B, k, m, proxy_backward, limit)``."""
    out = []
    for cls in ("OneHotCategoricalStraightThrough", "BernoulliStraightThrough"):
        for B, k in grid["st_sizes"]:
            for est, rao in ESTIMATORS:
                limit = None if est == "gumbel_rao" else ST_LIMIT
                out.append(("st", cls, est, rao, B, k, None, True, limit))
    for est, B, k, m in grid["subset_st"]:
        out.append(("subset_st", "SubsetStraightThrough", est, None, B, k, m, True,
                    ST_LIMIT if est == "relaxed" else None))
    for B, k, m in grid["subset"]:
        out.append(("subset", "Subset", None, None, B, k, m, False,
                    SUBSET_LIMIT if (B, k, m) == SUBSET_TARGET_CELL else None))
    return out


def bench(fw, grid, repeats, warmup, min_time, seed, log):
    if fw == "torch":
        setup, proxy_fn, st, subset_st, subset = torch_cells()
    else:
        import jax

        setup, proxy_fn, st, subset_st, subset = jax_cells(seed)
    rows, data, proxies = [], {}, {}
    for kind, cls, est, rao, B, k, m, backward, limit in cell_list(grid):
        if (B, k) not in data:
            data[(B, k)] = setup(B, k, seed)
        logits, tau, weight = data[(B, k)]
        if (B, k, backward) not in proxies:
            proxies[(B, k, backward)] = proxy_fn(logits, tau, weight, backward)
        if kind == "st":
            method = st(cls, est, rao)(logits, tau, weight, m)
        elif kind == "subset_st":
            method = subset_st(est)(logits, tau, weight, m)
        else:
            method = subset(logits, tau, weight, m)
        r = measure_cell(method, proxies[(B, k, backward)], repeats, warmup, min_time)
        row = {"framework": fw, "class": cls, "estimator": est, "rao_samples": rao, "B": B, "k": k,
               "m": m, "variant": "sample + backward" if backward else "sample + log_prob",
               "proxy": "proxy with backward" if backward else "proxy", "limit": limit,
               "ratio": r["ratio"], "met": None if limit is None else r["ratio"] <= limit,
               "ms": 1e3 * statistics.median(r["method_s"]),
               "proxy_ms": 1e3 * statistics.median(r["proxy_s"]),
               "first_call_ms": 1e3 * r["first_call_s"], "proxy_drift": r["drift"],
               "attempts": r["attempts"], "load_1min": r["load_1min"],
               "method_ms_all": [1e3 * t for t in r["method_s"]],
               "proxy_ms_all": [1e3 * t for t in r["proxy_s"]]}
        rows.append(row)
        log(f"{fw:5} {label(row):48} B={B:<6} k={k:<5} m={m!s:<4} ratio {r['ratio']:7.2f}"
            f"  ({row['ms']:.3f} ms / {row['proxy_ms']:.3f} ms, drift {r['drift']:.2f},"
            f" {r['attempts']} attempt{'s' if r['attempts'] > 1 else ''})")
        del method
        gc.collect()
    if fw == "jax":
        jax.clear_caches()
    return rows


# ----------------------------------------------------------------- report
def label(row):
    short = {"OneHotCategoricalStraightThrough": "OneHotST", "BernoulliStraightThrough": "BernoulliST",
             "SubsetStraightThrough": "SubsetST", "Subset": "Subset"}[row["class"]]
    if row["estimator"] is None:
        return short
    est = row["estimator"] + (f", R={row['rao_samples']}" if row["rao_samples"] else "")
    return f"{short} ({est})"


def _fmt(row):
    mark = "" if row["met"] is None else (" ✓" if row["met"] else " ✗")
    return f"{row['ratio']:.2f}{mark}"


def markdown(results):
    meta, rows = results["meta"], results["rows"]
    mach = meta["machine"]
    lines = [
        "# Speed of the discrete classes",
        "",
        f"Command: `{meta['command']}` ({meta['date']}, {meta['wall_s']:.0f} s).",
        "",
        f"Machine: {mach['platform']}, {mach['processor']}, {mach['cpu_count']} logical CPUs "
        f"(shared: 1-minute load average {_load(mach)}); torch threads: {mach['torch_threads']} "
        f"({THREADS_NOTE if meta['torch_threads_set'] else 'torch default, left unchanged'}). "
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        "Every number is a **ratio** method / proxy, measured in the same run, interleaved (the "
        "proxy and the method alternate; the median over the repeats of each method timing over "
        "the proxy timing just before it), float32, temperature 0.5. The proxy "
        "(as in `benchmarks/run.py`) draws the uniforms and computes "
        "`softmax((logits - log(-log u)) / tau)` on `(B, k)`; *with backward* it also takes the "
        "gradient w.r.t. `logits` of `sum(c * y)`. torch: eager, `validate_args=False`; JAX: "
        "jitted as a whole, `block_until_ready`. "
        f"{meta['repeats']} timings per cell and per side, each at least {meta['min_time_s'] * 1e3:.0f} ms "
        "of calls; a cell whose proxy drifted by more than 30% between its halves is run again.",
        "",
        f"Targets: straight-through one-hot, Bernoulli and `SubsetStraightThrough(\"relaxed\")` "
        f"sample + backward <= {ST_LIMIT:g}x the proxy with backward (✓/✗); `gumbel_rao` is "
        f"reported per `rao_samples` (its cost grows with them); `Subset` sample + log_prob <= "
        f"{SUBSET_LIMIT:g}x the proxy at B, k, m = {SUBSET_TARGET_CELL}.",
        "",
    ]
    for fw in dict.fromkeys(r["framework"] for r in rows):
        fr = [r for r in rows if r["framework"] == fw]
        lines += [f"## {'torch (Pyro classes)' if fw == 'torch' else 'JAX (NumPyro classes)'}", ""]
        st = [r for r in fr if r["class"] in ("OneHotCategoricalStraightThrough", "BernoulliStraightThrough")]
        sizes = list(dict.fromkeys((r["B"], r["k"]) for r in st))
        if st:
            lines += ["Sample + backward / proxy with backward (one-hot: batch (B,), k categories; "
                      "Bernoulli: a (B, k) batch of bits).", "",
                      "| class (estimator) | " + " | ".join(f"B={B}, k={k}" for B, k in sizes) + " |",
                      "|---|" + "---:|" * len(sizes)]
            for lab in dict.fromkeys(label(r) for r in st):
                cells = {(r["B"], r["k"]): r for r in st if label(r) == lab}
                lines.append(f"| {lab} | " + " | ".join(_fmt(cells[s]) if s in cells else "-"
                                                         for s in sizes) + " |")
            lines.append("")
        other = [r for r in fr if r not in st]
        if other:
            lines += ["| class (estimator) | B, k, m | timed | against | ratio |", "|---|---|---|---|---:|"]
            for r in other:
                note = ""
                if r["estimator"] == "marginals":
                    note = " (O(200 k^2 m) per batch element: reported, no target)"
                lines.append(f"| {label(r)}{note} | {r['B']}, {r['k']}, {r['m']} | {r['variant']} | "
                             f"{r['proxy']} | {_fmt(r)} |")
            lines.append("")
    missed = [r for r in rows if r["met"] is False]
    lines += ["## Targets", ""]
    if not missed:
        lines.append("Every cell with a target meets it.")
    else:
        lines.append("Cells over their target:")
        lines.append("")
        for r in missed:
            lines.append(f"- {r['framework']} {label(r)} at B={r['B']}, k={r['k']}"
                         + (f", m={r['m']}" if r["m"] else "") + f": {r['ratio']:.2f} > {r['limit']:g}")
    lines.append("")
    return "\n".join(lines)


def _load(mach):
    a, b = mach.get("load_average_at_start"), mach.get("load_average_at_end")
    if a is None:
        return "not available"
    return f"{a[0]:.1f} at the start, {b[0]:.1f} at the end" if b else f"{a[0]:.1f}"


def versions():
    return package_versions(("relaxed_dists", "torch", "pyro-ppl", "jax", "jaxlib", "numpyro"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run, not a measurement: tiny sizes, 2 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timings per cell and side (default 9; quick 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls of each side first (default 2)")
    p.add_argument("--min-time", type=float, default=None,
                   help="seconds of calls per timing (default 0.02; quick 0.001)")
    p.add_argument("--frameworks", default="torch,jax", help="comma-separated subset of torch,jax")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE)
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch.set_num_threads(N) first; 0 (default) leaves torch's default. On a "
                        "shared machine, 1: see THREADS_NOTE")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.quick and "jax" not in sys.modules:
        # A smoke run: unoptimised XLA compiles several times faster.
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    repeats = args.repeats or (2 if args.quick else 9)
    min_time = args.min_time if args.min_time is not None else (0.001 if args.quick else 0.02)
    grid = QUICK if args.quick else FULL
    start = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 benchmarks/discrete_speed.py" + "".join(
            f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
        "versions": versions(), "machine": machine(), "dtype": "float32", "temperature": TAU,
        "repeats": repeats, "warmup": args.warmup, "torch_threads_set": bool(args.torch_threads),
        "min_time_s": min_time, "quick": args.quick,
        "grid": {k: [list(c) for c in v] for k, v in grid.items()},
        "targets": {"straight_through_backward": ST_LIMIT, "subset_log_prob": SUBSET_LIMIT,
                    "subset_cell": list(SUBSET_TARGET_CELL)},
    }
    rows = []
    for fw in args.frameworks.split(","):
        rows += bench(fw.strip(), grid, repeats, args.warmup, min_time, args.seed, log)
    if hasattr(os, "getloadavg"):
        meta["machine"]["load_average_at_end"] = list(os.getloadavg())
    meta["wall_s"] = time.perf_counter() - start
    results = {"meta": meta, "rows": rows}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "discrete_speed.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out_dir / "DISCRETE_SPEED.md").write_text(markdown(results))
    log(f"wall time {meta['wall_s']:.0f} s; wrote {args.out_dir / 'DISCRETE_SPEED.md'}")
    return results


if __name__ == "__main__":
    main()
