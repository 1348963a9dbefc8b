"""Speed of every relaxed_dists class in both backends, as ratios to a proxy
measured in the same run, beside torch's, NumPyro's (and TFP's, where it
imports) relaxed distributions and plain reimplementations of L2X and of the
Xie & Ermon relaxed top-k, with the peak memory of the m-of-k classes; then
the SVI-step benchmark (svi_step.py).

    python3 benchmarks/run.py [--quick | --full] [--repeats 7] [--out-dir benchmarks]

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
``--repeats`` calls after ``--warmup`` calls; results.json gives each cell's
repeats and warm-up calls, and its first call's time (for JAX with the
compilation, which is done before the warm-up, for the memory analysis;
``compile_ms`` apart). torch classes (ours and torch's) get
``validate_args=False``, so no validation is timed; torch's thread count is
left at its default.

**Memory** of the m-of-k classes (family ``subset``), per variant, in each
row's ``peak_bytes`` and a table per framework in RESULTS.md, never from a
timed call:

* torch: the peak of the bytes held by torch's CPU allocator during one call
  above what was live before it (the output included, the logits not): one
  more call, after the timed ones, under
  ``torch.profiler.profile(profile_memory=True)``, whose allocation and free
  events are summed in time order (``torch_peak_bytes``);
* JAX: ``temp + output`` bytes of XLA's
  ``jax.jit(f).lower(*args).compile().memory_analysis()``: what the compiled
  function allocates beside its (already live) arguments, computed at
  compilation (``jax_peak_bytes``).

Memory outside these (Python objects; torch's oneDNN/MKL scratch) is not
counted.

**Modes.** The default grid skips the cells whose ``B*k*m`` exceeds
``--max-elements`` (``MAX_ELEMENTS``) for the per-row methods (RelaxedMHot,
ExpRelaxedMHot, L2X, relaxed top-m). ``--full`` runs every cell; those above
``--large-elements`` (1e8: B = 16384, k = 1000, m = 50) get
``--repeats-large`` (2) timed calls. ``--quick`` is a smoke run on a tiny
grid. ``--batches``, ``--ks``, ``--ms`` and ``--methods`` replace the grid
and the list of methods (for spot checks).

**Memory guard** (every mode): before a cell runs, its peak memory is
estimated, and the cell is skipped, with a status saying so
("skipped: needs ~X GiB (estimated from B=1024), Y GiB available ..."), when
that exceeds ``--mem-fraction`` (0.6) of the available memory (MemAvailable
of /proc/meminfo, read before each cell; no guard where there is none). The
estimate: JAX, XLA's memory analysis above (exact, before running); torch,
the peak measured for the same method, ``k``, ``m`` and variant at the
nearest smaller ``B``, scaled by the ratio of the batch sizes, or, failing
that (the smallest ``B``; the classes whose memory is not measured), the
conservative ``FORMULA_ARRAYS`` float32 arrays of the cell's elements. On a
24 GiB machine this skips most of the B = 16384, k = 1000, m = 50 cells
(several arrays of 8.2e8 floats, 3.05 GiB each). ``--mem-limit-gib`` (hidden;
for the tests) stands for the available memory.

A ``--full`` run should take about 25 minutes on 2 cores (an estimate from
the default run's times: about 8 minutes for the default grid, 6 for
B = 1024, m = 50, 9 for B = 16384, m = 5 and 1-2 for what fits of
B = 16384, m = 50).
"""

import argparse
import contextlib
import datetime
import gc
import json
import math
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
import report  # noqa: E402
from report import fmt_bytes  # noqa: E402

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
#: them, ``--full`` runs all (with the memory guard and --repeats-large).
MAX_ELEMENTS = 4e7
#: --full: cells above this many elements (at k = 1000, B = 16384 with
#: m = 50: 8.2e8) get --repeats-large timed calls instead of --repeats.
LARGE_ELEMENTS = 1e8
REPEATS_LARGE = 2
#: A cell is skipped when its estimated peak memory exceeds this fraction of
#: the available memory.
MEM_FRACTION = 0.6
#: torch cells without a measured smaller batch: their peak is taken to be at
#: most this many float32 arrays of the cell's elements (B*k, times m for the
#: per-row methods); see estimate_peak. The most measured, over every method
#: at B = 64 and 512, k = 10 and 1000, m = 5 and 50: 17.7, 17.7 and 19.2
#: (RelaxedSubset, LogitRelaxedSubset), the per-row methods at most 6.3, 10.2
#: and 14.9.
FORMULA_ARRAYS = {"sample": 24, "log_prob": 24, "backward": 32}


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


def jax_jitted(method, m, weight):
    """The jitted functions of ``(logits, tau, key)`` behind the three
    variants (``log_prob`` only where the method has a density)."""
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
    return fns


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


# ----------------------------------------------------------------- memory
def mem_available_bytes():
    """``MemAvailable`` of /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null: the profiler prints a start and a stop
    line from C++ per use."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def torch_peak_bytes(call, i=0):
    """Peak bytes held by torch's CPU allocator during ``call(i)`` above what
    was live before it (the output included, the inputs not): the running sum
    of the signed sizes of the allocations and frees that
    ``torch.profiler.profile(profile_memory=True)`` records, in time order.
    The profiler records no free of memory allocated before it started, so
    this is the peak of what the call itself allocated and still held (a
    call that frees its inputs would not be credited for it; the benchmark's
    calls free none). Memory allocated outside torch's allocator (oneDNN/MKL
    scratch, Python objects) is not counted."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            call(i)  # the result is dropped inside the profile: its free is recorded too
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    total = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):  # stable: ties keep the recorded order
        total += e.nbytes()
        peak = max(peak, total)
    return peak


def jax_peak_bytes(fn, *args):
    """``temp + output`` bytes of the jitted ``fn`` compiled for ``args``,
    from XLA's ``memory_analysis()`` (the buffers the executable allocates
    beside its arguments; the arguments, already live, are not counted). The
    compilation is cached, so a later ``fn(*args)`` does not compile again.
    None where the backend gives no analysis."""
    stats = fn.lower(*args).compile().memory_analysis()
    if stats is None:
        return None
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes)


def estimate_peak(measured, key, B, elements, variant):
    """``(bytes, how)``: the peak memory expected of a torch cell before it
    runs. ``measured[key]`` maps batch sizes to the peaks measured for the
    same method, ``k``, ``m`` and variant; the one at the nearest smaller
    ``B`` is scaled by the ratio of the batch sizes (every array of a cell
    has the batch dimension). Failing that, the conservative formula
    ``FORMULA_ARRAYS[variant]`` float32 arrays of the cell's ``elements``."""
    done = {b: p for b, p in measured.get(key, {}).items() if b < B and p is not None}
    if done:
        b = max(done)
        return done[b] * B / b, f"estimated from B={b}"
    n = FORMULA_ARRAYS[variant]
    return n * 4 * elements, f"formula: {n} float32 arrays of {elements:.3g} elements"


def memory_skip(estimate, how, available, fraction, source="MemAvailable"):
    """The status of a cell that would use more than ``fraction`` of the
    ``available`` bytes, or None if it fits (or nothing is known)."""
    if available is None or estimate is None or estimate <= fraction * available:
        return None
    return (f"skipped: needs ~{fmt_bytes(estimate)} ({how}), {fmt_bytes(available)} available "
            f"({source}; the limit is {fraction:g} of it)")


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


def bench_framework(fw, grid, repeats, warmup, max_elements, seed, log, *, large_elements=math.inf,
                    repeats_large=REPEATS_LARGE, mem_fraction=MEM_FRACTION,
                    mem_limit=None, only=None):
    """Proxy and method timings of one framework (``torch`` or ``jax``).

    Cells with more than ``large_elements`` elements get ``repeats_large``
    timed calls instead of ``repeats``. Before a cell runs, its peak memory
    is estimated (JAX: XLA's memory analysis of the compiled function, exact;
    torch: ``estimate_peak``) and the cell is skipped if that exceeds
    ``mem_fraction`` of ``mem_limit`` bytes, or of /proc/meminfo's
    MemAvailable (read before each cell) when ``mem_limit`` is None. The m-of-k
    rows get ``peak_bytes`` (torch: ``torch_peak_bytes`` in one more, untimed
    call after the timed ones; JAX: ``jax_peak_bytes``). ``only``: the method
    names to run (default all)."""
    proxies, rows = [], []
    if fw == "torch":
        methods = torch_methods()
    elif fw == "jax":
        import jax

        methods = jax_methods()
    else:
        raise ValueError(f"fw must be 'torch' or 'jax', not {fw!r}")
    if only is not None:
        methods = [meth for meth in methods if meth.name in only]
    measured = {}  # torch: (method, source, k, m, variant) -> {B: peak bytes}
    for B, k, ms in configs(grid):
        if fw == "torch":
            logits, tau, weight = torch_setup(B, k, seed)
            mk = lambda n: None  # noqa: E731  (torch draws from its global generator)
            proxy_calls = torch_proxy(logits, tau, weight)
        else:
            logits, tau, weight = jax_setup(B, k, seed)
            mk = lambda n: list(jax.random.split(jax.random.PRNGKey(seed), max(n, 1)))  # noqa: E731
            proxy_calls = jax_proxy(logits, tau, weight, mk(warmup + repeats))
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
                        "family": meth.family, "B": B, "k": k, "m": m, "elements": elements}
                if elements > max_elements:
                    for v in VARIANTS:
                        cell_rows.append({**base, "variant": v, "status":
                                          f"skipped: B*k*m = {elements:.2g} > {max_elements:.2g} elements"})
                    continue
                reps, wu = (repeats_large if elements > large_elements else repeats), warmup
                keys = mk(wu + reps)
                try:
                    if fw == "torch":
                        jitted, calls = None, torch_callables(meth, logits, tau, m, weight)
                    else:
                        jitted = jax_jitted(meth, m, weight)
                        calls = {v: _blocking(f, (logits, tau), keys) for v, f in jitted.items()}
                    err = None
                except Exception as e:  # a class that cannot be built: say so, go on
                    calls, err = {}, f"error: {type(e).__name__}: {e}"
                for v in VARIANTS:
                    row = {**base, "variant": v}
                    cell_rows.append(row)
                    if err is not None or v not in calls:
                        row["status"] = err or "n/a (no density)"
                        continue
                    compile_s = 0.0
                    try:
                        if fw == "jax":  # compiles now (cached for the calls below): exact figures
                            t0 = time.perf_counter()
                            estimate = jax_peak_bytes(jitted[v], logits, tau, keys[0])
                            how = "XLA memory analysis"
                            compile_s = time.perf_counter() - t0
                        else:
                            estimate, how = estimate_peak(measured, (meth.name, meth.source, k, m, v), B,
                                                          elements, v)
                        available = mem_limit if mem_limit is not None else mem_available_bytes()
                        skip = memory_skip(estimate, how, available, mem_fraction,
                                           "MemAvailable" if mem_limit is None else "--mem-limit-gib")
                        if skip is not None:
                            row.update(status=skip, estimated_peak_bytes=estimate, available_bytes=available)
                            log(f"{fw:5} B={B:<6} k={k:<5} m={m!s:<4} {meth.label:42} {v:9} {skip}")
                            continue
                        times, first = measure(calls[v], reps, wu)
                    except Exception as e:
                        row["status"] = f"error: {type(e).__name__}: {e}"
                        continue
                    ms_ = 1e3 * statistics.median(times)
                    row.update(status="ok", ms=ms_, first_call_ms=1e3 * (compile_s + first),
                               times_ms=[1e3 * t for t in times], repeats=reps, warmup=wu)
                    if fw == "jax":
                        row["compile_ms"] = 1e3 * compile_s
                    mem = ""
                    if meth.family == "subset":
                        if fw == "torch":  # one more call, untimed, after the timed ones
                            try:
                                estimate = torch_peak_bytes(calls[v])
                            except Exception as e:
                                estimate = None
                                row["memory_error"] = f"{type(e).__name__}: {e}"
                            measured.setdefault((meth.name, meth.source, k, m, v), {})[B] = estimate
                        row["peak_bytes"] = estimate
                        mem = "" if estimate is None else f"  peak {fmt_bytes(estimate)}"
                    log(f"{fw:5} B={B:<6} k={k:<5} m={m!s:<4} {meth.label:42} {v:9} {ms_:10.3f} ms{mem}")
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


def _ints(text, name):
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated integers, not {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{name} must be positive integers, not {text!r}")
    return values


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run, not a measurement: B=64, k=10, m=3, 2 repeats, unoptimised XLA")
    p.add_argument("--full", action="store_true",
                   help="every cell of the grid (no --max-elements), the largest with --repeats-large; "
                        "cells that would not fit in memory are skipped")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per cell (default 7; quick 2)")
    p.add_argument("--repeats-large", type=int, default=REPEATS_LARGE,
                   help="--full: timed calls per cell above --large-elements (default %(default)s)")
    p.add_argument("--large-elements", type=float, default=LARGE_ELEMENTS,
                   help="--full: the cells (B*k, times m for the per-row methods) that get --repeats-large "
                        "(default %(default)g)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before them (default 1)")
    p.add_argument("--out-dir", type=pathlib.Path, default=HERE)
    p.add_argument("--frameworks", default="torch,jax", help="comma-separated subset of torch,jax")
    p.add_argument("--max-elements", type=float, default=None,
                   help=f"skip cells whose B*k*m exceeds this (default {MAX_ELEMENTS:g}; --full: none)")
    p.add_argument("--mem-fraction", type=float, default=MEM_FRACTION,
                   help="skip a cell whose estimated peak memory exceeds this fraction of the available "
                        "memory (default %(default)s)")
    # For the tests: the available memory in GiB instead of /proc/meminfo's.
    p.add_argument("--mem-limit-gib", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--batches", default=None, help="comma-separated batch sizes instead of the grid's")
    p.add_argument("--ks", default=None, help="comma-separated numbers of categories instead of the grid's")
    p.add_argument("--ms", default=None, help="comma-separated m for every k (those below k) instead of "
                                              "the grid's")
    p.add_argument("--methods", default=None, help="comma-separated method names (default all)")
    p.add_argument("--no-svi", action="store_true", help="skip the SVI-step benchmark")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.quick and args.full:
        raise ValueError("--quick and --full: choose one")
    if args.full and args.max_elements is not None:
        raise ValueError("--max-elements: --full runs every cell (it sets no limit); give one or the other")
    for name in ("repeats", "repeats_large"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be at least 0, not {args.warmup}")
    if not 0 < args.mem_fraction <= 1:
        raise ValueError(f"--mem-fraction must be in (0, 1], not {args.mem_fraction}")
    if args.mem_limit_gib is not None and not args.mem_limit_gib >= 0:
        raise ValueError(f"--mem-limit-gib must be at least 0, not {args.mem_limit_gib}")
    frameworks = [fw.strip() for fw in args.frameworks.split(",")]
    if not frameworks or not set(frameworks) <= {"torch", "jax"}:
        raise ValueError(f"--frameworks must name torch and/or jax, not {args.frameworks!r}")
    if args.quick and "jax" not in sys.modules:
        # A smoke run, not a measurement: unoptimised XLA compiles about 7x
        # faster, and compilation is most of a quick run.
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    repeats = args.repeats or (2 if args.quick else 7)
    grid = dict(QUICK if args.quick else FULL)
    if args.batches is not None:
        grid["batches"] = _ints(args.batches, "--batches")
    if args.ks is not None:
        grid["ks"] = _ints(args.ks, "--ks")
    if args.ms is not None or args.ks is not None:
        ms = (_ints(args.ms, "--ms") if args.ms is not None
              else sorted({m for v in grid["ms"].values() for m in v}))
        grid["ms"] = {k: tuple(ms) for k in grid["ks"]}
    only = None
    if args.methods is not None:
        only = {name.strip() for name in args.methods.split(",")}
        known = {meth.name for fw in frameworks for meth in (torch_methods() if fw == "torch"
                                                             else jax_methods())}
        if not only <= known:
            raise ValueError(f"--methods: unknown {sorted(only - known)}; known: {sorted(known)}")
    max_elements = math.inf if args.full else (MAX_ELEMENTS if args.max_elements is None
                                               else args.max_elements)
    large_elements = args.large_elements if args.full else math.inf
    mem_limit = None if args.mem_limit_gib is None else args.mem_limit_gib * 2 ** 30
    start = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731

    available = mem_available_bytes()
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 benchmarks/run.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None
                                                                            else argv)),
        "mode": "quick" if args.quick else "full" if args.full else "default",
        "versions": versions(), "machine": machine(), "dtype": "float32", "temperature": TAU,
        "repeats": repeats, "warmup": args.warmup,
        "max_elements": None if math.isinf(max_elements) else max_elements,
        "large_elements": None if math.isinf(large_elements) else large_elements,
        "repeats_large": args.repeats_large if args.full else None,
        "mem_fraction": args.mem_fraction, "mem_limit_bytes": mem_limit,
        "mem_available_bytes_at_start": available,
        "quick": args.quick, "full": args.full,
        "grid": {"batches": list(grid["batches"]), "ks": list(grid["ks"]),
                 "ms": {str(k): list(v) for k, v in grid["ms"].items()}},
        "methods": None if only is None else sorted(only),
    }
    results = {"meta": meta, "proxies": [], "rows": [], "svi": []}
    for fw in frameworks:
        proxies, rows = bench_framework(fw, grid, repeats, args.warmup, max_elements, args.seed, log,
                                        large_elements=large_elements, repeats_large=args.repeats_large,
                                        mem_fraction=args.mem_fraction, mem_limit=mem_limit, only=only)
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
