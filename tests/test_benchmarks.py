"""The benchmark harness: a --quick run writes well-formed results, and the
reference implementations it compares with (benchmarks/references.py) are
right. No timing is asserted."""

import importlib.util
import json
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from conftest import uniforms

# Whole programs (examples, the docs build, training runs): out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
pytestmark = pytest.mark.slow

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


references = _load("references")
TORCH, JAX = references.torch_refs(), references.jax_refs()

OURS = ["GumbelSoftmax", "ExpGumbelSoftmax", "BinaryConcrete", "LogitBinaryConcrete", "RelaxedMHot",
        "ExpRelaxedMHot", "RelaxedSubset", "LogitRelaxedSubset"]
OTHERS = {"torch": ["RelaxedOneHotCategorical", "RelaxedBernoulli", "L2X max-of-m",
                    "relaxed top-m (Xie & Ermon)"],
          "jax": ["RelaxedBernoulliLogits", "L2X max-of-m", "relaxed top-m (Xie & Ermon)"]}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``run.py --quick`` in a fresh process (its own JAX settings:
    float32, no x64), into a temporary directory."""
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_quick_run_writes_every_class_with_finite_ratios(quick_run):
    out, proc = quick_run
    assert {p.name for p in out.iterdir()} >= {"RESULTS.md", "results.json", "results.png"}
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    for fw in ("torch", "jax"):
        names = {r["method"] for r in rows if r["framework"] == fw}
        assert names == set(OURS) | set(OTHERS[fw]), (fw, names)
        proxies = [p for p in results["proxies"] if p["framework"] == fw]
        assert len(proxies) == 1 and all(0 < p[key] < math.inf for p in proxies
                                         for key in ("ms", "backward_ms"))
    for r in rows:
        no_density = r["method"].startswith("relaxed top-m") and r["variant"] == "log_prob"
        assert r["status"] == ("n/a (no density)" if no_density else "ok"), r
        if r["status"] == "ok":
            assert 0 < r["ratio"] < math.inf and 0 < r["ms"] < math.inf, r
            assert len(r["times_ms"]) == results["meta"]["repeats"] == r["repeats"] == 2
            assert r["warmup"] == 1
            # Peak memory beside the time for the m-of-k classes (only): at
            # least the output (for the mask, B * k float32), and finite.
            if r["family"] == "subset":
                assert 4 * r["B"] * r["k"] <= r["peak_bytes"] < 2 ** 30, r
            else:
                assert "peak_bytes" not in r, r
    assert results["meta"]["mode"] == "quick" and results["meta"]["max_elements"] is not None
    assert {(r["framework"], r["mask"]) for r in results["svi"]} == {
        ("pyro", "RelaxedOneHotCategorical"), ("pyro", "RelaxedMHot"), ("pyro", "RelaxedSubset"),
        ("numpyro", "RelaxedMHot"), ("numpyro", "RelaxedSubset")}
    for r in results["svi"]:
        assert 0 < r["ms_per_step"] < math.inf and r["losses_finite"], r
    # The targets are evaluated for every class they name, in both frameworks.
    named = {(t["framework"], t["method"]) for t in results["targets"]}
    assert named == {(fw, c) for fw in ("torch", "jax") for c in OURS}
    assert all(isinstance(t["met"], bool) and t["worst"] > 0 for t in results["targets"])
    text = (out / "RESULTS.md").read_text()
    for needle in ["python3 benchmarks/run.py --quick", "torch 2.", "numpyro", "TFP (JAX substrate): not",
                   "## Targets", "## SVI step", "results.png", "Mode: `--quick`", "Memory guard:",
                   "## torch: m of k (batch (B,); m-hot and L2X output: the mask (B, k)), peak memory",
                   "## jax: m of k (batch (B,); m-hot and L2X output: the mask (B, k)), peak memory",
                   "torch.profiler", "memory_analysis()", *OURS]:
        assert needle in text, needle
    assert "## Errors" not in text and "## Skipped cells" not in text
    # The memory table's cell for RelaxedMHot is its three peaks in MiB.
    peaks = [next(r["peak_bytes"] for r in rows if (r["framework"], r["method"], r["variant"])
                  == ("torch", "RelaxedMHot", v)) for v in ("sample", "log_prob", "backward")]
    assert " / ".join(load_report().sig3(p / 2 ** 20) for p in peaks) in text


def test_missing_tfp_is_reported():
    run = _load("run")
    tfp, text = run.tfp_status()
    assert (tfp is None) == text.startswith("not importable")


def load_report():
    _load("run")  # puts benchmarks/ on sys.path
    return _load("report")


# ---------------------------------------------------------------- memory
def test_torch_peak_bytes_is_the_peak_of_the_running_total():
    run = _load("run")

    def overlapping(i):
        a = torch.empty(1000, 1000)  # 4 MB
        b = torch.empty(1000, 1000)  # 8 MB live: the peak
        del a
        c = torch.empty(500, 1000)  # 6 MB
        return b, c

    def sequential(i):
        a = torch.empty(1000, 1000)
        del a
        return torch.empty(500, 1000)  # never more than 4 MB at once

    keep = [torch.empty(1000, 1000)]

    def frees_first(i):
        keep.pop()  # memory live before the call: the profiler records no free of it
        return torch.empty(1000, 1000)

    assert run.torch_peak_bytes(overlapping) == 8_000_000
    assert run.torch_peak_bytes(sequential) == 4_000_000
    # So the figure is the peak of what the call itself allocated and still
    # holds, never lowered by freeing its inputs (the benchmark's calls free none).
    assert run.torch_peak_bytes(frees_first) == 4_000_000
    # An intermediate and the output (torch.ones, then the product), and a few
    # bytes for the scalar 2 that torch wraps in a tensor.
    assert 8_000_000 <= run.torch_peak_bytes(lambda i: torch.ones(1000, 1000) * 2) < 8_000_064


def test_jax_peak_bytes_counts_temp_and_output():
    run = _load("run")
    x = jnp.ones((1000, 1000), dtype=jnp.float32)
    assert run.jax_peak_bytes(jax.jit(lambda x: 2 * x), x) == 4_000_000  # the argument is not counted
    two = run.jax_peak_bytes(jax.jit(lambda x: (2 * x, x + 1)), x)
    assert 8_000_000 <= two < 8_000_000 + 1024  # two outputs and the tuple's table


def test_estimate_peak_scales_the_nearest_smaller_batch_or_uses_the_formula():
    run = _load("run")
    key = ("RelaxedMHot", "ours", 1000, 50, "backward")
    measured = {key: {64: 1_000, 256: 3_000, 4096: 10 ** 9}}
    assert run.estimate_peak(measured, key, 1024, 1024 * 1000 * 50, "backward") == (
        12_000, "estimated from B=256")
    est, how = run.estimate_peak(measured, key, 32, 32 * 1000 * 50, "backward")
    assert est == run.FORMULA_ARRAYS["backward"] * 4 * 32 * 1000 * 50 and how.startswith("formula")
    assert run.memory_skip(100, "x", 1000, 0.6) is None
    status = run.memory_skip(700, "estimated from B=8", 1000, 0.6)
    assert status == ("skipped: needs ~700 B (estimated from B=8), 1000 B available "
                      "(MemAvailable; the limit is 0.6 of it)")
    assert run.memory_skip(10 ** 12, "x", None, 0.6) is None  # nothing known: no guard
    assert run.fmt_bytes(3.3e9) == "3.07 GiB"


def test_full_mode_repeats_large_and_a_cell_skipped_for_memory(tmp_path):
    """``--full`` on a tiny torch grid, with an artificial memory limit
    (``--mem-limit-gib``) between what B = 8 needs and what B2 would: B2 is
    skipped, with its estimate scaled from B = 8, and RESULTS.md says why."""
    run = _load("run")
    grid = {"batches": (8,), "ks": (6,), "ms": {6: (2,)}}
    _, rows = run.bench_framework("torch", grid, 1, 0, math.inf, 0, lambda s: None, only={"RelaxedMHot"})
    peaks = {r["variant"]: r["peak_bytes"] for r in rows}
    assert set(peaks) == set(run.VARIANTS) and min(peaks.values()) > 0
    formula = max(run.estimate_peak({}, None, 8, 8 * 6 * 2, v)[0] for v in run.VARIANTS)
    limit = 2 * max(formula, *peaks.values())  # B = 8 fits (the formula, then its measured peak) ...
    B2 = 8 * 2 ** math.ceil(math.log2(2 * limit / min(peaks.values())))  # ... B2 needs twice the limit
    results = run.main(["--full", "--frameworks", "torch", "--batches", f"8,{B2}", "--ks", "6", "--ms", "2",
                        "--methods", "RelaxedMHot,RelaxedSubset", "--repeats", "2", "--repeats-large", "1",
                        "--large-elements", "60", "--mem-limit-gib", repr(limit / 0.6 / 2 ** 30),
                        "--no-svi", "--no-plot", "--out-dir", str(tmp_path)])
    meta = results["meta"]
    assert meta["mode"] == "full" and " --full" in meta["command"] and meta["max_elements"] is None
    rows = {(r["method"], r["B"], r["variant"]): r for r in results["rows"]}
    for v in run.VARIANTS:
        small = rows["RelaxedMHot", 8, v]  # B*k*m = 96 > 60: repeats-large; RelaxedSubset's B*k = 48
        assert small["status"] == "ok" and small["repeats"] == 1 and small["peak_bytes"] > 0, small
        assert rows["RelaxedSubset", 8, v]["repeats"] == 2
        big = rows["RelaxedMHot", B2, v]
        assert big["status"].startswith("skipped: needs ~") and "(estimated from B=8)" in big["status"], big
        assert "available (--mem-limit-gib; the limit is 0.6 of it)" in big["status"]
        assert big["estimated_peak_bytes"] == small["peak_bytes"] * B2 / 8 > limit
    text = (tmp_path / "RESULTS.md").read_text()
    for needle in ["Mode: `--full`", "## Skipped cells",
                   f"- torch RelaxedMHot B={B2} k=6 m=2, + backward: needs ~",
                   "cells above 60 elements: median of 1", "No cell is skipped for its size"]:
        assert needle in text, needle


@pytest.mark.parametrize("argv, name", [
    (["--quick", "--full"], "--full"), (["--full", "--max-elements", "1e9"], "--max-elements"),
    (["--mem-fraction", "0"], "--mem-fraction"), (["--repeats-large", "0"], "--repeats-large"),
    (["--methods", "NoSuchClass"], "--methods"), (["--batches", "8,x"], "--batches"),
    (["--frameworks", "numpy"], "--frameworks")])
def test_bad_arguments_raise(argv, name, tmp_path):
    run = _load("run")
    with pytest.raises(ValueError, match=name):
        run.main([*argv, "--no-svi", "--no-plot", "--out-dir", str(tmp_path)])


# ------------------------------------------------------------ references
def _pair(*arrays):
    return [torch.as_tensor(a) for a in arrays], [jnp.asarray(a) for a in arrays]


def test_l2x_rows_and_mask(rng):
    logits, tau = rng.normal(size=(5, 7)), np.float64(0.4)
    u = uniforms(rng, (5, 3, 7))
    (lt, tt, ut), (lj, tj, uj) = _pair(logits, tau, u)
    rows = TORCH.l2x_rows(lt, tt, ut)
    assert rows.shape == (5, 3, 7)
    np.testing.assert_allclose(rows.sum(-1), 1, atol=1e-12)
    # Each row is Concrete: softmax((logits + Gumbel)/tau) from its own uniforms.
    g = -np.log(-np.log(u))
    z = (logits[:, None, :] + g) / tau
    expect = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(rows, expect / expect.sum(-1, keepdims=True), rtol=1e-12)
    mask = TORCH.l2x_mask(rows)
    assert mask.shape == (5, 7) and ((mask >= 0) & (mask <= 1)).all()
    np.testing.assert_allclose(mask, rows.numpy().max(1))
    # Same noise, same numbers in JAX.
    np.testing.assert_allclose(np.asarray(JAX.l2x_rows(lj, tj, uj)), rows, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(JAX.l2x_mask(JAX.l2x_rows(lj, tj, uj))), mask, rtol=1e-12)


def test_concrete_log_prob_matches_torch_and_normalises(rng):
    logits, tau = rng.normal(size=(4, 6)), np.float64(0.7)
    (lt, tt, ut), (lj, tj, uj) = _pair(logits, tau, uniforms(rng, (4, 2, 6)))
    rows = TORCH.l2x_rows(lt, tt, ut)
    lp = TORCH.concrete_log_prob(lt[..., None, :], tt[..., None], rows)
    expect = torch.distributions.RelaxedOneHotCategorical(tt, logits=lt[:, None, :]).log_prob(rows)
    np.testing.assert_allclose(lp, expect, rtol=1e-10)
    lpj = JAX.concrete_log_prob(lj[..., None, :], tj[..., None], JAX.l2x_rows(lj, tj, uj))
    np.testing.assert_allclose(np.asarray(lpj), lp, rtol=1e-10)
    # k = 2: the density of x_1 on (0, 1) integrates to 1 (midpoint rule).
    x1 = (np.arange(200_000) + 0.5) / 200_000
    x = torch.as_tensor(np.stack([x1, 1 - x1], -1))
    dens = TORCH.concrete_log_prob(torch.tensor([0.3, -0.5], dtype=torch.float64),
                                   torch.tensor(0.6, dtype=torch.float64), x).exp()
    assert abs(dens.mean().item() - 1) < 1e-3


@pytest.mark.parametrize("m", [1, 3, 6])
def test_relaxed_topk_sums_to_m_and_agrees_across_backends(rng, m):
    logits, tau = rng.normal(size=(50, 7)), np.float64(0.5)
    u = uniforms(rng, (50, 7))
    (lt, tt, ut), (lj, tj, uj) = _pair(logits, tau, u)
    y = TORCH.relaxed_topk(lt, tt, ut, m)
    # Entries may exceed 1 at a moderate temperature (k = m = 2, tau = 1 gives
    # a_2 = (1/2, 1/2)): only the sum is pinned.
    assert y.shape == (50, 7) and (y >= 0).all()
    np.testing.assert_allclose(y.sum(-1), m, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(JAX.relaxed_topk(lj, tj, uj, m)), y, rtol=1e-10, atol=1e-14)
    # m = 1 is one Concrete sample from the same noise.
    if m == 1:
        np.testing.assert_allclose(y, TORCH.l2x_rows(lt, tt, ut[:, None, :])[:, 0], rtol=1e-12)


def test_relaxed_topk_tends_to_the_top_m_indicator(rng):
    logits, m = rng.normal(size=(200, 9)), 4
    u = uniforms(rng, (200, 9))
    keys = logits - np.log(-np.log(u))
    top = np.zeros_like(keys)
    np.put_along_axis(top, np.argsort(-keys, -1)[:, :m], 1.0, -1)
    errs = []
    for tau in (1.0, 0.1, 0.003):
        (lt, tt, ut), _ = _pair(logits, np.float64(tau), u)
        errs.append(np.abs(TORCH.relaxed_topk(lt, tt, ut, m).numpy() - top).mean())
    assert errs[0] > errs[1] > errs[2] and errs[2] < 0.01, errs
    assert errs[0] > 0.1  # a real test: at tau = 1 the vector is far from the indicator


def test_relaxed_topk_float32_gradients_are_finite():
    # Low temperature, float32: 1 - a rounds to 0; the clamp keeps the keys
    # and the gradients finite in both versions.
    logits = np.array([[8.0, 0.0, -8.0, 1.0]], dtype=np.float32)
    u = np.full((1, 4), 0.5, dtype=np.float32)
    tau = np.float32(0.05)
    grads = jax.grad(lambda l, t: (JAX.relaxed_topk(l, t, jnp.asarray(u), 2) ** 2).sum(),
                     argnums=(0, 1))(jnp.asarray(logits), jnp.asarray(tau))
    assert all(np.isfinite(np.asarray(g)).all() for g in grads)
    lt, tt = torch.tensor(logits, requires_grad=True), torch.tensor(tau, requires_grad=True)
    (TORCH.relaxed_topk(lt, tt, torch.tensor(u), 2) ** 2).sum().backward()
    assert torch.isfinite(lt.grad).all() and torch.isfinite(tt.grad)
    # Without the clamp the first key's log(1 - a) is -inf here.
    a = torch.softmax((torch.tensor(logits) - torch.log(-torch.log(torch.tensor(u)))) / tau, -1)
    assert (1 - a).min() == 0
