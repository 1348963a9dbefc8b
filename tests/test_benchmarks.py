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
            assert len(r["times_ms"]) == results["meta"]["repeats"] == 2
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
                   "## Targets", "## SVI step", "results.png", *OURS]:
        assert needle in text, needle
    assert "## Errors" not in text


def test_missing_tfp_is_reported():
    run = _load("run")
    tfp, text = run.tfp_status()
    assert (tfp is None) == text.startswith("not importable")


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
