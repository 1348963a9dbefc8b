"""Speed of every relaxed_dists class in both backends, as ratios to a proxy
measured in the same run, beside torch's, NumPyro's (and TFP's, where it
imports) relaxed distributions and plain reimplementations of L2X and of the
Xie & Ermon relaxed top-k; then the SVI-step benchmark (svi_step.py).

    python3 benchmarks/run.py [--quick] [--repeats 7] [--out-dir benchmarks]

Writes RESULTS.md, results.json and results.png into ``--out-dir``.

What is timed (float32, temperature 0.5, ``logits`` of shape ``(B, k)``
drawn once from N(0, 1)), for each batch size ``B``, number of categories
``k`` and, for the m-of-k classes, ``m``:

* **sample**: construct the distribution from ``(temperature, logits)`` and
  draw one value (``rsample()`` / ``sample(key)``). For the m-hot classes and
  L2X the output is the relaxed mask (``mhot(value)`` / the max over rows).
* **+ log_prob**: the same, then ``log_prob`` of the value (for L2X: the
  product of the rows' Concrete densities; Xie & Ermon's top-k has none).
* **+ backward**: the gradient w.r.t. ``logits`` and ``temperature`` of
  ``sum(c * y) + sum(log_prob(x))``, ``y`` the output above and ``c`` a fixed
  N(0, 1) weight per category (torch: ``torch.autograd.grad``; JAX:
  ``jax.jit(jax.grad(...))``).

Batch shapes: categorical and m-of-k classes ``(B,)`` with ``k`` categories;
binary classes ``(B, k)`` independent bits. The **proxy** of each framework is
drawing the uniforms, the Gumbel transform and one softmax,
``softmax((logits - log(-log u)) / tau)`` on ``(B, k)`` (JAX: under
``jax.jit``, with ``jax.random.uniform``); every time is reported as a ratio
to it, measured in the same run for the same ``(B, k)`` (the median over
repeats taken before and after that configuration's methods). JAX functions
are jitted as a whole (the key is an argument; the distribution is built
inside) and timed with ``block_until_ready``. Each time is the median of
``--repeats`` calls after ``--warmup`` calls (for JAX the first includes
compilation). torch classes (ours and torch's) get ``validate_args=False``, so
no validation is timed; torch's thread count is left at its default.
"""

import argparse
import datetime
import gc
import json
import os
import pathlib
import platform
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import references  # noqa: E402

TAU = 0.5
VARIANTS = ("sample", "log_prob", "backward")
VARIANT_LABELS = {"sample": "sample", "log_prob": "+ log_prob", "backward": "+ backward"}
FULL = {"batches": (1024, 16384), "ks": (10, 1000), "ms": {10: (5,), 1000: (5, 50)}}
QUICK = {"batches": (64,), "ks": (10,), "ms": {10: (3,)}}
#: Cells whose work grows as B * k * m (m-hot rows, L2X rows, top-k rounds)
#: are skipped above this many elements: at k = 1000, B = 1024 with m = 50
#: (5.1e7), and B = 16384 with m = 5 (8.2e7) and m = 50 (8.2e8 floats per
#: array, several GiB with the backward pass). On 2 cores the B = 1024,
#: m = 50 cells alone take about 5.5 minutes (measured: 323 s), and the
#: whole command must stay under 10 minutes; ``--max-elements 6e7`` adds
#: them, ``--max-elements inf`` runs all.
MAX_ELEMENTS = 4e7


class Method:
    """One timed distribution: ``run(logits, tau, m, key, with_lp)`` returns
    ``(y, log_prob or None)``; ``family`` is ``categorical``, ``binary`` or
    ``subset`` (m-of-k); ``per_row`` when its work grows with ``m``."""

    def __init__(self, name, source, family, run, has_lp=True, per_row=False):
        self.name, self.source, self.family, self.run = name, source, family, run
        self.has_lp, self.per_row = has_lp, per_row

    @property
    def label(self):
        return f"{self.name} ({self.source})"


# ------------------------------------------------------------------ torch
def torch_methods():
    import torch
    from torch import distributions as td

    import relaxed_dists.pyro as rp

    refs = references.torch_refs()

    def uniforms(shape, dtype):
        # As the package draws them: torch.rand with its rare exact 0 raised.
        return torch.rand(shape, dtype=dtype).clamp_(min=torch.finfo(dtype).tiny)

    def dist(make, out=None):
        def run(logits, tau, m, key, with_lp):
            d = make(logits, tau, m)
            x = d.rsample()
            y = x if out is None else out(d, x)
            return y, (d.log_prob(x) if with_lp else None)

        return run

    def ours(cls, with_m=False):
        if with_m:
            return lambda logits, tau, m: cls(tau, m, logits=logits, validate_args=False)
        return lambda logits, tau, m: cls(tau, logits=logits, validate_args=False)

    def l2x(logits, tau, m, key, with_lp):
        rows = refs.l2x_rows(logits, tau, uniforms(logits.shape[:-1] + (m, logits.shape[-1]), logits.dtype))
        lp = refs.concrete_log_prob(logits[..., None, :], tau[..., None], rows).sum(-1) if with_lp else None
        return refs.l2x_mask(rows), lp

    def topk(logits, tau, m, key, with_lp):
        return refs.relaxed_topk(logits, tau, uniforms(logits.shape, logits.dtype), m), None

    mask = lambda d, x: d.mhot(x)  # noqa: E731
    return [
        Method("GumbelSoftmax", "ours", "categorical", dist(ours(rp.GumbelSoftmax))),
        Method("ExpGumbelSoftmax", "ours", "categorical", dist(ours(rp.ExpGumbelSoftmax))),
        Method("RelaxedOneHotCategorical", "torch", "categorical", dist(
            lambda logits, tau, m: td.RelaxedOneHotCategorical(tau, logits=logits, validate_args=False))),
        Method("BinaryConcrete", "ours", "binary", dist(ours(rp.BinaryConcrete))),
        Method("LogitBinaryConcrete", "ours", "binary", dist(ours(rp.LogitBinaryConcrete))),
        Method("RelaxedBernoulli", "torch", "binary", dist(
            lambda logits, tau, m: td.RelaxedBernoulli(tau, logits=logits, validate_args=False))),
        Method("RelaxedMHot", "ours", "subset", dist(ours(rp.RelaxedMHot, True), mask), per_row=True),
        Method("ExpRelaxedMHot", "ours", "subset", dist(ours(rp.ExpRelaxedMHot, True), mask), per_row=True),
        Method("RelaxedSubset", "ours", "subset", dist(ours(rp.RelaxedSubset, True))),
        Method("LogitRelaxedSubset", "ours", "subset", dist(ours(rp.LogitRelaxedSubset, True))),
        Method("L2X max-of-m", "reference", "subset", l2x, per_row=True),
        Method("relaxed top-m (Xie & Ermon)", "reference", "subset", topk, has_lp=False, per_row=True),
    ]


def torch_callables(method, logits, tau, m, weight):
    """The three timed calls (each taking the call index) and their outputs'
    grads for the backward variant."""
    import torch

    def sample(i):
        return method.run(logits, tau, m, None, False)[0]

    def log_prob(i):
        return method.run(logits, tau, m, None, True)

    lg, tg = logits.detach().requires_grad_(), tau.detach().requires_grad_()

    def backward(i):
        y, lp = method.run(lg, tg, m, None, method.has_lp)
        loss = (weight * y).sum()
        if lp is not None:
            loss = loss + lp.sum()
        return torch.autograd.grad(loss, (lg, tg))

    calls = {"sample": sample, "backward": backward}
    if method.has_lp:
        calls["log_prob"] = log_prob
    return calls


def torch_proxy(logits, tau, weight):
    import torch

    def forward(lg, tg):
        u = torch.rand(lg.shape, dtype=lg.dtype)
        return torch.softmax((lg - torch.log(-torch.log(u))) / tg, -1)

    lg, tg = logits.detach().requires_grad_(), tau.detach().requires_grad_()

    def backward(i):
        return torch.autograd.grad((weight * forward(lg, tg)).sum(), (lg, tg))

    return (lambda i: forward(logits, tau)), backward


def torch_setup(B, k, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((B, k), generator=g, dtype=torch.float32)
    weight = torch.randn((k,), generator=g, dtype=torch.float32)
    torch.manual_seed(seed)
    return logits, torch.tensor(TAU, dtype=torch.float32), weight


# -------------------------------------------------------------------- JAX
def tfp_status():
    """``(module or None, text)`` for TFP's JAX substrate."""
    try:
        from tensorflow_probability.substrates import jax as tfp
    except Exception as e:  # ImportError, or a broken install
        return None, f"not importable ({type(e).__name__}: {e}); TFP rows skipped"
    return tfp, f"tensorflow_probability {tfp.__version__}"


def jax_methods():
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as nd

    import relaxed_dists.numpyro as rn

    refs = references.jax_refs()

    def uniforms(key, shape, dtype):
        return jax.random.uniform(key, shape, dtype=dtype, minval=jnp.finfo(dtype).tiny, maxval=1.0)

    def dist(make, out=None, seed_kw=False):
        def run(logits, tau, m, key, with_lp):
            d = make(logits, tau, m)
            x = d.sample(seed=key) if seed_kw else d.sample(key)
            y = x if out is None else out(d, x)
            return y, (d.log_prob(x) if with_lp else None)

        return run

    def ours(cls, with_m=False):
        if with_m:
            return lambda logits, tau, m: cls(tau, m, logits=logits, validate_args=False)
        return lambda logits, tau, m: cls(tau, logits=logits, validate_args=False)

    def l2x(logits, tau, m, key, with_lp):
        u = uniforms(key, logits.shape[:-1] + (m, logits.shape[-1]), logits.dtype)
        rows = refs.l2x_rows(logits, tau, u)
        lp = refs.concrete_log_prob(logits[..., None, :], tau[..., None], rows).sum(-1) if with_lp else None
        return refs.l2x_mask(rows), lp

    def topk(logits, tau, m, key, with_lp):
        return refs.relaxed_topk(logits, tau, uniforms(key, logits.shape, logits.dtype), m), None

    mask = lambda d, x: d.mhot(x)  # noqa: E731
    methods = [
        Method("GumbelSoftmax", "ours", "categorical", dist(ours(rn.GumbelSoftmax))),
        Method("ExpGumbelSoftmax", "ours", "categorical", dist(ours(rn.ExpGumbelSoftmax))),
        Method("BinaryConcrete", "ours", "binary", dist(ours(rn.BinaryConcrete))),
        Method("LogitBinaryConcrete", "ours", "binary", dist(ours(rn.LogitBinaryConcrete))),
        Method("RelaxedBernoulliLogits", "numpyro", "binary", dist(
            lambda logits, tau, m: nd.RelaxedBernoulliLogits(tau, logits, validate_args=False))),
        Method("RelaxedMHot", "ours", "subset", dist(ours(rn.RelaxedMHot, True), mask), per_row=True),
        Method("ExpRelaxedMHot", "ours", "subset", dist(ours(rn.ExpRelaxedMHot, True), mask), per_row=True),
        Method("RelaxedSubset", "ours", "subset", dist(ours(rn.RelaxedSubset, True))),
        Method("LogitRelaxedSubset", "ours", "subset", dist(ours(rn.LogitRelaxedSubset, True))),
        Method("L2X max-of-m", "reference", "subset", l2x, per_row=True),
        Method("relaxed top-m (Xie & Ermon)", "reference", "subset", topk, has_lp=False, per_row=True),
    ]
    tfp, _ = tfp_status()
    if tfp is not None:
        tfd = tfp.distributions
        methods[2:2] = [
            Method("RelaxedOneHotCategorical", "tfp", "categorical", dist(
                lambda logits, tau, m: tfd.RelaxedOneHotCategorical(tau, logits=logits), seed_kw=True)),
            Method("ExpRelaxedOneHotCategorical", "tfp", "categorical", dist(
                lambda logits, tau, m: tfd.ExpRelaxedOneHotCategorical(tau, logits=logits), seed_kw=True)),
        ]
        methods.append(Method("RelaxedBernoulli", "tfp", "binary", dist(
            lambda logits, tau, m: tfd.RelaxedBernoulli(tau, logits=logits), seed_kw=True)))
    return methods


def _blocking(fn, args, keys):
    import jax

    return lambda i: jax.block_until_ready(fn(*args, keys[i]))


def jax_callables(method, logits, tau, m, weight, keys):
    import jax
    import jax.numpy as jnp

    def loss(lg, tg, key):
        y, lp = method.run(lg, tg, m, key, method.has_lp)
        out = jnp.sum(weight * y)
        return out if lp is None else out + jnp.sum(lp)

    fns = {
        "sample": jax.jit(lambda lg, tg, key: method.run(lg, tg, m, key, False)[0]),
        "backward": jax.jit(jax.grad(loss, argnums=(0, 1))),
    }
    if method.has_lp:
        fns["log_prob"] = jax.jit(lambda lg, tg, key: method.run(lg, tg, m, key, True))
    return {v: _blocking(f, (logits, tau), keys) for v, f in fns.items()}


def jax_proxy(logits, tau, weight, keys):
    import jax
    import jax.numpy as jnp

    def forward(lg, tg, key):
        u = jax.random.uniform(key, lg.shape, dtype=lg.dtype)
        return jax.nn.softmax((lg - jnp.log(-jnp.log(u))) / tg, -1)

    def loss(lg, tg, key):
        return jnp.sum(weight * forward(lg, tg, key))

    return (_blocking(jax.jit(forward), (logits, tau), keys),
            _blocking(jax.jit(jax.grad(loss, argnums=(0, 1))), (logits, tau), keys))


def jax_setup(B, k, seed):
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.standard_normal((B, k)), dtype=jnp.float32)
    weight = jnp.asarray(rng.standard_normal(k), dtype=jnp.float32)
    return logits, jnp.asarray(TAU, dtype=jnp.float32), weight


# ----------------------------------------------------------------- timing
def measure(call, repeats, warmup):
    """Seconds of each of ``repeats`` calls after ``warmup`` calls, and the
    first call's time (JAX: with compilation)."""
    first = None
    for i in range(warmup):
        t0 = time.perf_counter()
        call(i)
        first = time.perf_counter() - t0 if first is None else first
    times = []
    for i in range(warmup, warmup + repeats):
        t0 = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t0)
    return times, times[0] if first is None else first


def configs(grid):
    """``(B, k, m)`` for every case; ``m`` is None for the classes without."""
    for B in grid["batches"]:
        for k in grid["ks"]:
            yield B, k, [m for m in grid["ms"][k] if m < k]


def bench_framework(fw, grid, repeats, warmup, max_elements, seed, log):
    """Proxy and method timings of one framework (``torch`` or ``jax``)."""
    proxies, rows = [], []
    if fw == "torch":
        methods = torch_methods()
    else:
        import jax

        methods = jax_methods()
    n_calls = warmup + repeats
    for B, k, ms in configs(grid):
        if fw == "torch":
            logits, tau, weight = torch_setup(B, k, seed)
            mk = lambda: None  # noqa: E731  (torch draws from its global generator)
            make_calls = lambda meth, m, extra: torch_callables(meth, logits, tau, m, weight)  # noqa: E731
            proxy_calls = torch_proxy(logits, tau, weight)
        else:
            logits, tau, weight = jax_setup(B, k, seed)
            mk = lambda: list(jax.random.split(jax.random.PRNGKey(seed), n_calls))  # noqa: E731
            make_calls = lambda meth, m, keys: jax_callables(meth, logits, tau, m, weight, keys)  # noqa: E731
            proxy_calls = jax_proxy(logits, tau, weight, mk())
        proxy_times = {"forward": [], "backward": []}

        def time_proxy():
            for name, call in zip(("forward", "backward"), proxy_calls):
                proxy_times[name] += measure(call, repeats, warmup)[0]

        time_proxy()
        cell_rows = []
        for meth in methods:
            for m in (ms if meth.family == "subset" else [None]):
                elements = B * k * (m if meth.per_row else 1)
                base = {"framework": fw, "method": meth.name, "source": meth.source,
                        "family": meth.family, "B": B, "k": k, "m": m}
                if elements > max_elements:
                    for v in VARIANTS:
                        cell_rows.append({**base, "variant": v, "status":
                                          f"skipped: B*k*m = {elements:.2g} > {max_elements:.2g} elements"})
                    continue
                try:
                    calls, err = make_calls(meth, m, mk()), None
                except Exception as e:  # a class that cannot be built: say so, go on
                    calls, err = {}, f"error: {type(e).__name__}: {e}"
                for v in VARIANTS:
                    if err is not None or v not in calls:
                        cell_rows.append({**base, "variant": v, "status": err or "n/a (no density)"})
                        continue
                    try:
                        times, first = measure(calls[v], repeats, warmup)
                    except Exception as e:
                        cell_rows.append({**base, "variant": v, "status": f"error: {type(e).__name__}: {e}"})
                        continue
                    ms_ = 1e3 * statistics.median(times)
                    cell_rows.append({**base, "variant": v, "status": "ok", "ms": ms_,
                                      "first_call_ms": 1e3 * first, "times_ms": [1e3 * t for t in times]})
                    log(f"{fw:5} B={B:<6} k={k:<5} m={m!s:<4} {meth.label:42} {v:9} {ms_:10.3f} ms")
                del calls
                gc.collect()
        time_proxy()  # again after the methods: the ratio uses both, against drift
        proxy = {"framework": fw, "B": B, "k": k,
                 "ms": 1e3 * statistics.median(proxy_times["forward"]),
                 "backward_ms": 1e3 * statistics.median(proxy_times["backward"])}
        log(f"{fw:5} B={B:<6} k={k:<5} proxy {proxy['ms']:.3f} ms, "
            f"with backward {proxy['backward_ms']:.3f} ms")
        proxies.append(proxy)
        for r in cell_rows:
            if r["status"] == "ok":
                r["ratio"] = r["ms"] / proxy["ms"]
        rows += cell_rows
        if fw == "jax":
            jax.clear_caches()
    return proxies, rows


# ---------------------------------------------------------------- metadata
def package_versions(names):
    """The Python version and each named distribution's installed version (shared with discrete_speed.py)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def versions():
    out = package_versions(("relaxed_dists", "torch", "pyro-ppl", "jax", "jaxlib", "numpyro", "numpy",
                            "matplotlib"))
    out["tensorflow_probability (JAX substrate)"] = tfp_status()[1]
    return out


def machine():
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = list(os.getloadavg())
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run, not a measurement: B=64, k=10, m=3, 2 repeats, unoptimised XLA")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per cell (default 7; quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before them (default 1)")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE)
    p.add_argument("--frameworks", default="torch,jax", help="comma-separated subset of torch,jax")
    p.add_argument("--max-elements", type=float, default=MAX_ELEMENTS,
                   help="skip cells whose B*k*m exceeds this (default %(default)g)")
    p.add_argument("--no-svi", action="store_true", help="skip the SVI-step benchmark")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick and "jax" not in sys.modules:
        # A smoke run, not a measurement: unoptimised XLA compiles about 7x
        # faster, and compilation is most of a quick run.
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    repeats = args.repeats or (2 if args.quick else 7)
    grid = QUICK if args.quick else FULL
    start = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731

    import report  # after sys.path is set

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 benchmarks/run.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None
                                                                            else argv)),
        "versions": versions(), "machine": machine(), "dtype": "float32", "temperature": TAU,
        "repeats": repeats, "warmup": args.warmup, "max_elements": args.max_elements,
        "quick": args.quick, "grid": {"batches": list(grid["batches"]), "ks": list(grid["ks"]),
                                      "ms": {str(k): list(v) for k, v in grid["ms"].items()}},
    }
    results = {"meta": meta, "proxies": [], "rows": [], "svi": []}
    for fw in args.frameworks.split(","):
        proxies, rows = bench_framework(fw.strip(), grid, repeats, args.warmup, args.max_elements,
                                        args.seed, log)
        results["proxies"] += proxies
        results["rows"] += rows
    if not args.no_svi:
        import svi_step

        results["svi"] = svi_step.run(quick=args.quick, repeats=repeats, warmup=args.warmup, log=log)
    if hasattr(os, "getloadavg"):
        meta["machine"]["load_average_at_end"] = list(os.getloadavg())
    meta["wall_s"] = time.perf_counter() - start
    results["targets"] = report.targets(results)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    if not args.no_plot:
        report.plot(results, args.out_dir / "results.png")
    (args.out_dir / "RESULTS.md").write_text(report.markdown(results, plot=not args.no_plot))
    log(f"wall time {meta['wall_s']:.0f} s; wrote {args.out_dir / 'RESULTS.md'}")
    return results


if __name__ == "__main__":
    main()
