"""RESULTS.md, the targets of issues 6 and 16 and the plot, from the results of
run.py (the dictionary also written to results.json)."""

import math

VARIANTS = ("sample", "log_prob", "backward")
LABEL = {"sample": "sample", "log_prob": "+ log_prob", "backward": "+ backward"}
FAMILIES = {
    "categorical": "categorical (batch (B,), k categories; value (B, k))",
    "binary": "binary (batch (B, k) independent bits)",
    "subset": "m of k (batch (B,); m-hot and L2X output: the mask (B, k))",
}


def _index(results):
    return {(r["framework"], r["method"], r["source"], r["B"], r["k"], r["m"], r["variant"]): r
            for r in results["rows"]}


def _cases(results, fw, family):
    """The ``(B, k, m)`` cases measured for ``family`` in ``fw``, in order."""
    seen = []
    for r in results["rows"]:
        key = (r["B"], r["k"], r["m"])
        if r["framework"] == fw and r["family"] == family and key not in seen:
            seen.append(key)
    return seen


def _methods(results, fw, family):
    seen = []
    for r in results["rows"]:
        key = (r["method"], r["source"])
        if r["framework"] == fw and r["family"] == family and key not in seen:
            seen.append(key)
    return seen


# ---------------------------------------------------------------- targets
def targets(results):
    """Each target of issues 6 and 16, per framework, class and variant: the worst
    measured value over the cases and whether the target is met. ``value``
    is a ratio (to the proxy, to torch's class, or to L2X at the same m)."""
    idx = _index(results)
    out = []

    def check(text, fw, method, variant, limit, ref=None, family=None):
        worst, where, missing = None, None, 0
        for (f, meth, src, B, k, m, v), r in idx.items():
            if (f, meth, src, v) != (fw, method, "ours", variant):
                continue
            if r["status"] != "ok":
                missing += 1
                continue
            if ref is None:
                value = r["ratio"]
            else:
                other = idx.get((fw, ref[0], ref[1], B, k, m, variant))
                if other is None or other["status"] != "ok":
                    continue
                value = r["ms"] / other["ms"]
            if worst is None or value > worst:
                worst, where = value, {"B": B, "k": k, "m": m}
        if worst is None:
            return
        out.append({"target": text, "framework": fw, "method": method, "variant": variant, "limit": limit,
                    "worst": worst, "where": where, "met": worst <= limit, "cells_not_measured": missing})

    for fw in dict.fromkeys(r["framework"] for r in results["rows"]):
        for cls, host in [("GumbelSoftmax", "categorical"), ("ExpGumbelSoftmax", "categorical"),
                          ("BinaryConcrete", "binary"), ("LogitBinaryConcrete", "binary")]:
            check("sample + log_prob <= 1.3x proxy", fw, cls, "log_prob", 1.3)
            for meth, src in _methods(results, fw, host):
                if src != "ours":
                    check(f"sample + log_prob faster than {meth} ({src})", fw, cls, "log_prob", 1.0,
                          ref=(meth, src))
            check("+ backward <= 2x proxy", fw, cls, "backward", 2.0)
        for cls in ("RelaxedMHot", "ExpRelaxedMHot"):
            for v in VARIANTS:
                check("<= 1.5x L2X max-of-m at the same m", fw, cls, v, 1.5,
                      ref=("L2X max-of-m", "reference"))
        for cls in ("RelaxedSubset", "LogitRelaxedSubset"):
            for v in ("sample", "log_prob"):
                check("<= 4x proxy for every m", fw, cls, v, 4.0)
    return out


# --------------------------------------------------------------- markdown
MEMORY_BY_FW = {
    "torch": "torch: the peak of the bytes held by torch's CPU allocator during one call, above what was "
             "live before it (the output included, the logits not), from the allocation and free events "
             "of `torch.profiler` (`profile_memory=True`) in one more call after the timed ones.",
    "jax": "JAX: temp + output bytes of the compiled function, from XLA's "
           "`jax.jit(f).lower(...).compile().memory_analysis()` (the buffers the executable allocates "
           "beside its arguments; the arguments, already live, are not counted); computed at "
           "compilation, not measured while running.",
}
MEMORY_TEXT = ("the peak memory of one call, per variant, in a table per framework beside the time table, "
               "which says what its figure counts. Neither counts memory outside these (Python objects; in "
               "torch, oneDNN/MKL scratch), and the two are not the same quantity: XLA plans its buffers at "
               "compilation (reusing them where it can), torch allocates as it goes.")


def skip_list(results):
    """One line per skipped cell (framework, method, case) with the reason,
    the variants that share a reason together."""
    groups = {}
    for r in results["rows"]:
        if r["status"].startswith("skipped"):
            key = (r["framework"], r["method"], r["source"], r["B"], r["k"], r["m"])
            groups.setdefault(key, {}).setdefault(r["status"].removeprefix("skipped: "), []).append(
                r["variant"])
    out = []
    for (fw, meth, src, B, k, m), reasons in groups.items():
        name = meth if src == "ours" else f"{meth} ({src})"
        for reason, variants in reasons.items():
            which = ("all variants" if len(variants) == len(VARIANTS)
                     else ", ".join(LABEL[v] for v in variants))
            out.append(f"{fw} {name} {_case_label(B, k, m)}, {which}: {reason}")
    return out


def _case_label(B, k, m):
    return f"B={B} k={k}" + ("" if m is None else f" m={m}")


def _fmt(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def sig3(x):
    """``x`` to 3 significant digits, without an exponent (1234.5 -> "1230")."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    digits = 2 - math.floor(math.log10(abs(x)))
    return f"{round(x, digits):.{max(digits, 0)}f}"


def fmt_bytes(n):
    """``n`` bytes in GiB, MiB, KiB or B, 3 significant digits."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= size:
            return f"{sig3(n / size)} {unit}"
    return f"{sig3(n)} B"


def _mib(r):
    return "?" if r.get("peak_bytes") is None else sig3(r["peak_bytes"] / 2 ** 20)


def _cell(idx, fw, method, source, B, k, m, value=lambda r: _fmt(r["ratio"])):
    parts = []
    for v in VARIANTS:
        r = idx.get((fw, method, source, B, k, m, v))
        if r is None:
            parts.append("?")
        elif r["status"] == "ok":
            parts.append(value(r))
        elif r["status"].startswith("n/a"):
            parts.append("—")
        elif r["status"].startswith("skipped"):
            parts.append("skip")
        else:
            parts.append("error")
    return " / ".join(parts)


def markdown(results, plot=True):
    meta, idx = results["meta"], _index(results)
    L = ["# Benchmarks", ""]
    L.append("Generated by `benchmarks/run.py` (do not edit by hand; rerun it).")
    L += ["", f"- Command: `{meta['command']}`", f"- Date: {meta['date']}",
          f"- Wall time of the command: {meta.get('wall_s', float('nan')):.0f} s"]
    mach = meta["machine"]
    L.append(f"- Machine: {mach['platform']}, {mach['processor']}, {mach['cpu_count']} CPUs, "
             f"torch threads {mach['torch_threads']}"
             + (f", load average at start {mach['load_average_at_start'][0]:.2f}, at end "
                f"{mach.get('load_average_at_end', [math.nan])[0]:.2f}"
                if "load_average_at_start" in mach else ""))
    L.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()
                                         if not k.startswith("tensorflow")))
    L.append(f"- TFP (JAX substrate): {meta['versions']['tensorflow_probability (JAX substrate)']}")
    mode = meta.get("mode", "quick" if meta["quick"] else "default")
    max_el = meta.get("max_elements")
    L.append("- Mode: " + {
        "quick": "`--quick` (a smoke run on a tiny grid: **not a measurement**)",
        "full": "`--full` (every cell of the grid, none skipped for size; only cells that would not fit "
                "in memory are skipped)",
        "default": "default (cells above " + (f"{max_el:.2g}" if max_el is not None else "no limit of")
                   + " elements of `B*k*m` skipped; `--full` runs them)",
    }[mode])
    large = ""
    if meta.get("large_elements") is not None:
        large = (f"; cells above {meta['large_elements']:.2g} elements: median of {meta['repeats_large']} "
                 "(`--repeats-large`; each row of results.json gives its repeats)")
    L.append(f"- Settings: {meta['dtype']}, temperature {meta['temperature']}, median of "
             f"{meta['repeats']} timed calls after {meta['warmup']} warm-up call(s){large}"
             + (" (**--quick smoke run: not a measurement**)" if meta["quick"] else ""))
    if "mem_fraction" in meta:
        if meta.get("mem_limit_bytes") is not None:
            avail = f"{fmt_bytes(meta['mem_limit_bytes'])} given by `--mem-limit-gib`"
        elif meta.get("mem_available_bytes_at_start") is not None:
            avail = (f"MemAvailable of /proc/meminfo, read before each cell "
                     f"({fmt_bytes(meta['mem_available_bytes_at_start'])} at the start)")
        else:
            avail = "unknown here (no /proc/meminfo): no cell skipped for memory"
        L.append(f"- Memory guard: a cell is skipped when its estimated peak memory exceeds "
                 f"{meta['mem_fraction']:g} of the available memory: {avail}")
    L += ["", "## What is timed", "",
          "Every number below is a time divided by the **proxy** of its framework for the same `(B, k)`, "
          "measured in the same run: draw `u ~ U(0, 1)` of shape `(B, k)`, the Gumbel transform "
          "`-log(-log u)`, and one `softmax((logits + g) / tau)` (JAX: under `jax.jit`). "
          "A cell is `sample / + log_prob / + backward`:",
          "",
          "- **sample**: build the distribution from `(temperature, logits)` (logits `(B, k)`, N(0, 1)) "
          "and draw one value; for the m-hot classes and L2X the output is the relaxed mask "
          "(`mhot(value)`, the max over rows).",
          "- **+ log_prob**: the same and `log_prob` of the value (L2X: the product of its rows' Concrete "
          "densities; Xie & Ermon's relaxed top-k has no density: —).",
          "- **+ backward**: the gradient w.r.t. `logits` and `temperature` of "
          "`sum(c * y) + sum(log_prob(x))` (`y` the output above, `c` a fixed N(0, 1) weight per category), "
          "by `torch.autograd.grad` / `jax.jit(jax.grad(...))`. The ratio is still to the forward proxy.",
          "",
          "Batch shapes: categorical and m-of-k classes `(B,)` over `k` categories; binary classes "
          "`(B, k)` independent bits. JAX: the whole call is one jitted function (key as argument), timed "
          "with `block_until_ready`. torch classes (ours and torch's) are built with "
          "`validate_args=False`, so no validation is timed (torch's default validation would in any "
          "case reject some of its own relaxed samples, see the README). torch's thread count is its "
          "default. References: `L2X max-of-m` (Chen et al. 2018: max over m independent Concrete "
          "samples) and `relaxed top-m` (Xie & Ermon 2019: m softmaxes, `alpha += log(1 - a_j)`), "
          "written from the papers in `benchmarks/references.py`. "
          + (f"Cells marked `skip` exceed {max_el:.2g} elements of `B*k*m` (`--max-elements`) "
             if max_el is not None else "No cell is skipped for its size. Cells marked `skip` ")
          + ("or would not fit in memory: " if max_el is not None else "would not fit in memory: ")
          + "before a cell runs its peak memory is estimated (JAX: XLA's memory analysis of the compiled "
          "function; torch: the peak measured for the same method, `k`, `m` and variant at the nearest "
          "smaller `B`, scaled by the ratio of the batch sizes, or failing that a conservative formula) "
          "and the cell is skipped if that exceeds the memory guard above; "
          "[Skipped cells](#skipped-cells) says why each was.", "",
          "**Memory** (m-of-k classes): " + MEMORY_TEXT, ""]
    L += ["## Proxies", "", "| framework | " + " | ".join(
        _case_label(p["B"], p["k"], None) for p in results["proxies"] if p["framework"] == "torch"
    ) + " |"]
    fws = []
    for p in results["proxies"]:
        if p["framework"] not in fws:
            fws.append(p["framework"])
    ncol = max(sum(p["framework"] == fw for p in results["proxies"]) for fw in fws) if fws else 0
    L.append("|---" * (ncol + 1) + "|")
    for fw in fws:
        cells = [f"{p['ms']:.3g} ms (with backward {p['backward_ms']:.3g} ms)"
                 for p in results["proxies"] if p["framework"] == fw]
        L.append(f"| {fw} | " + " | ".join(cells) + " |")
    L.append("")
    for fw in fws:
        for family, title in FAMILIES.items():
            cases = _cases(results, fw, family)
            if not cases:
                continue
            L += [f"## {fw}: {title}", "", "Ratio to the proxy: sample / + log_prob / + backward.", "",
                  "| method | " + " | ".join(_case_label(*c) for c in cases) + " |",
                  "|---" * (len(cases) + 1) + "|"]
            for meth, src in _methods(results, fw, family):
                name = f"**{meth}**" if src == "ours" else f"{meth} ({src})"
                L.append(f"| {name} | " + " | ".join(_cell(idx, fw, meth, src, *c) for c in cases) + " |")
            L.append("")
            if family == "subset":
                L += [f"## {fw}: {title}, peak memory", "",
                      f"MiB (3 significant digits): sample / + log_prob / + backward. {MEMORY_BY_FW[fw]}", "",
                      "| method | " + " | ".join(_case_label(*c) for c in cases) + " |",
                      "|---" * (len(cases) + 1) + "|"]
                for meth, src in _methods(results, fw, family):
                    name = f"**{meth}**" if src == "ours" else f"{meth} ({src})"
                    L.append(f"| {name} | " + " | ".join(_cell(idx, fw, meth, src, *c, value=_mib)
                                                         for c in cases) + " |")
                L.append("")
    L += ["## Targets (issues 6 and 16)", "",
          "Worst value over the measured cases; ratios to the proxy, to the named class, or to L2X at the "
          "same m.", "", "| target | framework | class | variant | worst | at | met |",
          "|---|---|---|---|---|---|---|"]
    for t in results.get("targets", []):
        w = t["where"]
        L.append(f"| {t['target']} | {t['framework']} | {t['method']} | {LABEL[t['variant']]} | "
                 f"{_fmt(t['worst'])} | {_case_label(w['B'], w['k'], w['m'])} | "
                 f"{'met' if t['met'] else '**missed**'} |")
    L.append("")
    skipped = skip_list(results)
    if skipped:
        L += ["## Skipped cells", ""] + [f"- {line}" for line in skipped] + [""]
    errors = [r for r in results["rows"] if r["status"].startswith("error")]
    if errors:
        L += ["## Errors", ""] + [f"- {r['framework']} {r['method']} {_case_label(r['B'], r['k'], r['m'])} "
                                  f"{r['variant']}: {r['status']}" for r in errors] + [""]
    if results.get("svi"):
        L += ["## SVI step (feature-selection model)", "",
              "Model (inline in `benchmarks/svi_step.py`): `d` features, `n` rows, a relaxed m-of-d mask "
              "at temperature 0.5 gating `beta ~ Normal(0, 1)`, `log_sigma ~ Normal(0, 1)`, Gaussian "
              "likelihood; mean-field guide. Pyro: `SVI.step` (validation off); NumPyro: "
              "`jax.jit(svi.update)`. The ratio is to the Pyro model with torch's "
              "`RelaxedOneHotCategorical` (m i.i.d. rows, mask = max over rows, L2X style) at the same size.",
              "", "| d | n | m | framework | mask | ELBO | ms / step | ratio |",
              "|---|---|---|---|---|---|---|---|"]
        for r in results["svi"]:
            mask = f"**{r['mask']}**" if r["source"] == "ours" else f"{r['mask']} ({r['source']})"
            L.append(f"| {r['d']} | {r['n']} | {r['m']} | {r['framework']} | {mask} | {r['elbo']} | "
                     f"{r['ms_per_step']:.3g} | {_fmt(r['ratio'])} |")
        L.append("")
    if plot:
        L += ["## Plot", "", "![ratios to the proxy](results.png)", ""]
    L += ["Machine-readable: `results.json` (every repeat's time in ms, the repeats and warm-up calls of "
          "each cell, first-call times including JAX compilation (JAX's `compile_ms` apart), the peak "
          "memory `peak_bytes` of the m-of-k rows, the estimate behind each memory skip, the proxies, "
          "the SVI rows and the targets).", ""]
    return "\n".join(L)


# ------------------------------------------------------------------- plot
def plot(results, path):
    """Bars of the three ratios per method at the largest ``k`` (smallest
    ``m``), one panel per framework and batch size; log scale, the target
    lines dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = _index(results)
    fws = sorted({r["framework"] for r in results["rows"]}, key=["torch", "jax"].index)
    batches = sorted({r["B"] for r in results["rows"]})
    fig, axes = plt.subplots(len(fws), len(batches), figsize=(6.5 * len(batches), 4.2 * len(fws)),
                             squeeze=False)
    colors = {"sample": "#4c72b0", "log_prob": "#dd8452", "backward": "#55a868"}
    for i, fw in enumerate(fws):
        for j, B in enumerate(batches):
            ax = axes[i][j]
            k = max(r["k"] for r in results["rows"] if r["framework"] == fw and r["B"] == B)
            m = min((r["m"] for r in results["rows"] if r["framework"] == fw and r["B"] == B
                     and r["k"] == k and r["m"] is not None), default=None)
            labels = []
            for family in FAMILIES:
                for meth, src in _methods(results, fw, family):
                    labels.append((meth, src, m if family == "subset" else None))
            for n, v in enumerate(VARIANTS):
                xs, ys = [], []
                for x, (meth, src, mm) in enumerate(labels):
                    r = idx.get((fw, meth, src, B, k, mm, v))
                    if r is not None and r["status"] == "ok":
                        xs.append(x + (n - 1) * 0.27)
                        ys.append(r["ratio"])
                ax.bar(xs, ys, width=0.27, color=colors[v], label=LABEL[v])
            for level in (1.0, 1.3, 2.0, 4.0):
                ax.axhline(level, color="grey", lw=0.8, ls="-" if level == 1 else "--")
            ax.set_yscale("log")
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels([meth + ("" if src == "ours" else f" ({src})") for meth, src, _ in labels],
                               rotation=60, ha="right", fontsize=7)
            ax.set_ylabel("time / proxy")
            ax.set_title(f"{fw}: B={B}, k={k}" + ("" if m is None else f", m={m}"), fontsize=9)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
