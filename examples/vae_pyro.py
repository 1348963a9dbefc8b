"""A discrete-latent VAE on scikit-learn's 8x8 digits with relaxed categorical latents (Pyro).

The classic Gumbel-softmax / Concrete experiment (Jang, Gu & Poole 2017;
Maddison, Mnih & Teh 2017) on the 1797 bundled 8x8 digits (no download).
Pixels (0..16) are binarized at 8 (``x >= 8`` is 1) and modelled as
independent Bernoullis given the latent code.

- Latent code: ``--latents`` independent categorical variables with
  ``--categories`` classes each, relaxed. The latent site is an
  ``ExpGumbelSoftmax(temperature, logits)`` (the log-space twin of
  ``GumbelSoftmax``), ``.to_event(1)`` over the latents, and the decoder is fed
  ``exp(value)``, the relaxed one-hot point of the simplex. The log-space value
  and its density stay finite at any temperature, where a float32
  Gumbel-softmax sample underflows to exact zeros and its log-density to
  ``inf``; and the ELBO's ``log q - log p`` is better conditioned in log space
  (Maddison et al., appendix C, recommend exactly this).
- Prior: the same relaxed family with uniform logits at the same temperature,
  so that guide and prior are densities w.r.t. the same base measure and
  ``log q - log p`` is an exact log density ratio (the Maddison et al. setup;
  Jang et al. instead use the discrete KL, which is not the ELBO of the
  relaxed model).
- Decoder (model) and encoder (amortized guide): MLPs with one hidden layer,
  registered with ``pyro.module``.
- SVI with ``Trace_ELBO`` and Adam (``pyro.optim.Adam``) on shuffled
  minibatches of the training digits (each epoch drops the last
  ``n_data % batch`` of its shuffle, a different few each epoch). The plate
  ``pyro.plate("data", n_data, subsample_size=batch)`` scales a minibatch by
  ``n_data / batch``, so each step's loss estimates the negative ELBO of the
  whole training set.
- KL warm-up: over the first ``--warmup`` epochs the weight of the KL term
  (the ``z`` sites of model and guide, under a ``scale`` handler) rises
  linearly from ``1 / (warmup + 1)`` to 1; from then on the objective is the
  ELBO itself. Without it the fit collapses to the mean image (the guide
  equal to the prior, ELBO about -25.2 nats): 64 binary pixels give a small
  reconstruction gain, and the KL of a confident relaxed code is several
  nats per latent (it grows linearly in the logit gap, unlike the discrete
  KL, which stays below log(categories)).
- Printed and returned: the ELBO per digit, in nats, of the whole training
  set after each epoch (always the true ELBO, KL weight 1, one draw of the
  code per digit), the held-out ELBO of the 297 test digits (10 draws), and
  the test reconstruction error (Bernoulli negative log-likelihood of a digit
  given one draw of its code from the guide) next to that of the smoothed
  mean training image.

The PNG shows test digits, their reconstructions (decoder pixel probabilities
at one draw of the latent code from the guide) and samples from the prior,
decoded.

    python3 examples/vae_pyro.py
    python3 examples/vae_pyro.py --latents 4 --categories 10 --temperature 0.3 --epochs 100 --warmup 50

References:

1. E. Jang, S. Gu, B. Poole. Categorical Reparameterization with
   Gumbel-Softmax. ICLR 2017.
2. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete Distribution: A
   Continuous Relaxation of Discrete Random Variables. ICLR 2017.
"""

import argparse
import time
from typing import NamedTuple

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from tqdm import tqdm

from relaxed_dists.pyro import ExpGumbelSoftmax

BACKEND = "pyro"
N_TEST = 297  # 1797 digits = 1500 for training + 297 for testing
PIXELS = 64


def load(seed, n_train=None):
    """Binarized digits (pixel >= 8) as float32 tensors of shape (n, 64): ``(train, test)``.

    The 1797 digits are shuffled with ``seed``; the last 297 are the test set, the first
    1500 (or the first ``n_train`` of them) the training set.
    """
    from sklearn.datasets import load_digits

    x = (load_digits().data >= 8).astype(np.float32)
    x = x[np.random.default_rng(seed).permutation(len(x))]
    train, test = x[:-N_TEST], x[-N_TEST:]
    return torch.as_tensor(train[:n_train]), torch.as_tensor(test)


class Nets(NamedTuple):
    """The decoder (model) and encoder (guide) networks and the shape of the latent code."""

    encoder: nn.Module  # digit (64,) -> logits (latents * categories,)
    decoder: nn.Module  # relaxed one-hot code (latents * categories,) -> pixel logits (64,)
    latents: int
    categories: int


def networks(latents, categories, hidden=128):
    """Fresh encoder and decoder MLPs (one hidden ReLU layer each), initialised from torch's global RNG."""
    code = latents * categories
    encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, code))
    decoder = nn.Sequential(nn.Linear(code, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS))
    return Nets(encoder, decoder, latents, categories)


def model(x, n_data, nets, temperature, kl_weight=1.0):
    """p(z) p(x | z): relaxed uniform categoricals z, Bernoulli pixels with logits decoder(exp z)."""
    decoder = pyro.module("decoder", nets.decoder)
    with pyro.plate("data", n_data, subsample_size=x.shape[0]):
        logits = x.new_zeros(x.shape[0], nets.latents, nets.categories)  # uniform prior
        with pyro.poutine.scale(scale=kl_weight):  # log p(z) - log q(z) is the KL term: warm-up
            z = pyro.sample("z", ExpGumbelSoftmax(temperature, logits=logits).to_event(1))
        pyro.sample("x", dist.Bernoulli(logits=decoder(z.exp().flatten(-2))).to_event(1), obs=x)


def guide(x, n_data, nets, temperature, kl_weight=1.0):
    """q(z | x): relaxed categoricals at the same temperature, logits encoder(x)."""
    encoder = pyro.module("encoder", nets.encoder)
    with pyro.plate("data", n_data, subsample_size=x.shape[0]):
        logits = encoder(x).unflatten(-1, (nets.latents, nets.categories))
        with pyro.poutine.scale(scale=kl_weight):
            pyro.sample("z", ExpGumbelSoftmax(temperature, logits=logits).to_event(1))


def fit(x, nets, temperature, epochs, batch_size, seed, warmup=100, lr=3e-3, progress_bar=True,
        verbose=True):
    """Fit decoder and encoder by SVI on minibatches of ``x``, the KL term's weight rising
    linearly from ``1 / (warmup + 1)`` to 1 over the first ``warmup`` epochs.

    :return: ``(elbos, params)``: the ELBO of ``x`` per digit in nats after each epoch (one
        draw of the latent code per digit) and the fitted parameters (name -> tensor).
    """
    pyro.clear_param_store()  # Pyro's parameters live in a global store
    pyro.set_rng_seed(seed)
    # Networks this small run many times faster on one thread (two threads contend for the
    # tiny kernels, worse on a busy machine); restored on the way out.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    n = x.shape[0]
    batch_size = min(batch_size, n)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    rng = np.random.default_rng(seed)
    elbos = []
    try:
        with tqdm(range(epochs), desc=f"SVI ({BACKEND})", disable=not progress_bar) as bar:
            for epoch in bar:
                kl_weight = min(1.0, (epoch + 1) / (warmup + 1))
                order = torch.as_tensor(rng.permutation(n))
                for i in range(0, n - batch_size + 1, batch_size):
                    svi.step(x[order[i : i + batch_size]], n, nets, temperature, kl_weight)
                with torch.no_grad():
                    elbos.append(-Trace_ELBO().loss(model, guide, x, n, nets, temperature) / n)
                bar.set_postfix(elbo=f"{elbos[-1]:.2f}")
                if verbose:
                    bar.write(f"epoch {epoch + 1:4d}  ELBO {elbos[-1]:8.3f} nats per digit"
                              f"  (KL weight {kl_weight:.2f})")
    finally:
        torch.set_num_threads(threads)
    params = {name: value.detach().clone() for name, value in pyro.get_param_store().named_parameters()}
    return elbos, params


def network(nets, params, name):
    """The network ``name`` ("encoder" or "decoder") with the fitted ``params`` of ``fit``."""
    prefix = name + "$$$"  # pyro.module's naming of the parameters in the param store
    weights = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    return lambda inputs: torch.func.functional_call(getattr(nets, name), weights, (inputs,))


def reconstruct(nets, params, x, temperature):
    """Pixel logits of the digits ``x`` decoded from one draw of their latent code from the guide."""
    with torch.no_grad():
        logits = network(nets, params, "encoder")(x).unflatten(-1, (nets.latents, nets.categories))
        z = ExpGumbelSoftmax(temperature, logits=logits).rsample()
        return network(nets, params, "decoder")(z.exp().flatten(-2))


def sample_prior(nets, params, n, temperature):
    """Pixel logits of ``n`` latent codes drawn from the prior, decoded."""
    with torch.no_grad():
        logits = torch.zeros(n, nets.latents, nets.categories)
        z = ExpGumbelSoftmax(temperature, logits=logits).rsample()
        return network(nets, params, "decoder")(z.exp().flatten(-2))


def plot(x, recon_logits, prior_logits, title, out):
    """Three rows of digits: test digits, their reconstructions, prior samples; saved as a PNG."""
    rows = [("test digit", x), ("reconstruction", torch.sigmoid(recon_logits)),
            ("prior sample", torch.sigmoid(prior_logits))]
    n = x.shape[0]
    fig = Figure(figsize=(0.8 * n + 0.8, 2.9), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(images[c]).reshape(8, 8), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(out, dpi=100)


def bernoulli_nll(logits, x):
    """Negative log-likelihood of the binary digits ``x`` under pixel ``logits``, nats per digit."""
    return float((nn.functional.softplus(logits) - x * logits).sum(-1).mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--latents", type=int, default=8, help="number of categorical latent variables")
    p.add_argument("--categories", type=int, default=10, help="number of classes of each latent")
    p.add_argument("--temperature", type=float, default=0.5, help="of the guide and of the prior")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--warmup", type=int, default=100, help="epochs over which the KL weight rises to 1")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    p.add_argument("--n-train", type=int, default=None, help="use only this many training digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar, no per-epoch lines")
    p.add_argument("--out", default=f"vae_{BACKEND}.png", help="where to write the plot (PNG)")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)  # the networks' initial weights
    x_train, x_test = load(args.seed, args.n_train)
    nets = networks(args.latents, args.categories)
    start = time.perf_counter()
    elbos, params = fit(x_train, nets, args.temperature, args.epochs, args.batch_size, args.seed,
                        args.warmup, args.lr, progress_bar=not args.quiet, verbose=not args.quiet)
    seconds = time.perf_counter() - start

    # Held-out ELBO per digit (the whole test set as one minibatch of a plate of its size).
    elbo = Trace_ELBO(num_particles=10, vectorize_particles=True, max_plate_nesting=1)
    with torch.no_grad():
        test_elbo = -elbo.loss(model, guide, x_test, len(x_test), nets, args.temperature) / len(x_test)
    recon = reconstruct(nets, params, x_test, args.temperature)
    mean_image = (x_train.sum(0) + 0.5) / (x_train.shape[0] + 1.0)  # smoothed: no pixel is exactly 0 or 1
    recon_nll = bernoulli_nll(recon, x_test)
    baseline_nll = bernoulli_nll(torch.logit(mean_image).expand_as(x_test), x_test)
    print(f"\n{BACKEND}: {args.epochs} epochs in {seconds:.1f} s; final training ELBO {elbos[-1]:.3f}, "
          f"test ELBO {test_elbo:.3f} nats per digit")
    print(f"test reconstruction error {recon_nll:.3f} nats per digit (mean image: {baseline_nll:.3f})")

    n_show = 10
    title = (f"{args.latents} latents x {args.categories} categories, temperature {args.temperature}, "
             f"test ELBO {test_elbo:.2f} nats ({BACKEND})")
    prior = sample_prior(nets, params, n_show, args.temperature)
    plot(x_test[:n_show], recon[:n_show], prior, title, args.out)
    print("plot written to", args.out)
    return {"elbos": elbos, "test_elbo": test_elbo, "recon_nll": recon_nll, "baseline_nll": baseline_nll,
            "seconds": seconds, "out": args.out}


if __name__ == "__main__":
    main()
