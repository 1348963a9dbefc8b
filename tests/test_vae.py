"""The discrete-latent VAE examples (Pyro and NumPyro) learn with small settings."""

import importlib
import pathlib
import sys

import numpy as np
import pytest

# Whole programs (examples, the docs build, training runs): out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
pytestmark = pytest.mark.slow

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

BACKENDS = ["pyro", "numpyro"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(backend, tmp_path, *args):
    module = importlib.import_module(f"vae_{backend}")
    out = tmp_path / f"vae_{backend}.png"
    result = module.main(["--quiet", "--seed", "0", "--out", str(out), *args])
    assert result["out"] == str(out)
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_vae_learns_and_reconstructs(backend, tmp_path):
    # 15 epochs of the 1500 training digits (225 SVI steps), the start of a KL warm-up
    # over 100 epochs (weight <= 0.16): the encoder learns a code while the KL weight is small.
    result = run(backend, tmp_path, "--epochs", "15", "--warmup", "100")
    elbos = np.asarray(result["elbos"])
    assert elbos.shape == (15,) and np.isfinite(elbos).all()
    assert elbos[-1] > elbos[0] + 3.0  # nats per digit
    # A bound on the log-likelihood of binary pixels, so negative; and no worse than
    # 64 pixels at probability 1/2 each (64 log 2 = 44.4 nats) on held-out digits.
    assert -64 * np.log(2) < result["test_elbo"] < 0
    # The latent code carries information: reconstructions from it beat the mean image.
    assert result["recon_nll"] < result["baseline_nll"] - 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_vae_is_finite_at_low_temperature(backend, tmp_path):
    # The log-space latent (ExpGumbelSoftmax) keeps the ELBO finite at temperature 0.05.
    result = run(backend, tmp_path, "--n-train", "200", "--epochs", "1", "--warmup", "1",
                 "--temperature", "0.05", "--latents", "2", "--categories", "10")
    assert np.isfinite(result["elbos"]).all() and np.isfinite(result["test_elbo"])
    assert np.isfinite(result["recon_nll"])
