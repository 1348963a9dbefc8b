"""Planted-item recovery of a k = 200, m = 10 selection task: the m-hot
relaxation (score term with leave-one-out baselines, ``RLOOTrace_ELBO``)
against the subset relaxation (fully reparameterised, ``Trace_ELBO``), on the
same number of SVI steps and of model evaluations per step, in both
backends.

    python3 benchmarks/mhot_recovery.py [--steps 300] [--seeds 3] [--particles 4]
        [--subset-particles 4] [--temperature 0.1] [--backends pyro numpyro]
        [--kinds subset mhot mhot-plain]

The task: ``n = 100`` rows of ``k = 200`` standard normal features, ``y = X b
+ e`` with ``b_i = 0.5`` on 10 planted features; the model gates
coefficients ``beta ~ Normal(0, 1)`` by a relaxed 10-of-200 mask at
temperature 0.1 (``--temperature``; uniform prior logits), noise scale 1 known. The guide:
the same relaxation with learnt logits, mean-field Normal ``beta``. Reported:
how many planted features are among the guide's 10 largest logits, and the
number of NaN losses. ``--particles`` sets the m-hot runs' particles,
``--subset-particles`` (default: the same) the subset's.
"""

import argparse
import time

import numpy as np

K, M, N, TAU, LR, SIGNAL, NOISE = 200, 10, 100, 0.1, 0.05, 0.5, 1.0


def data(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, K)).astype(np.float32)
    planted = rng.choice(K, M, replace=False)
    b = np.zeros(K, np.float32)
    b[planted] = SIGNAL
    y = (X @ b + NOISE * rng.standard_normal(N)).astype(np.float32)
    return X, y, set(planted.tolist())


def run_pyro(kind, X, y, steps, particles, seed, temperature=TAU):
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO

    import relaxed_dists.pyro as rp

    X, y = torch.as_tensor(X), torch.as_tensor(y)
    tau = torch.tensor(temperature)

    def mask(logits):
        if kind.startswith("mhot"):
            fn = rp.ExpRelaxedMHot(tau, M, logits=logits)
            return fn.mhot(pyro.sample("S", fn))
        return torch.sigmoid(pyro.sample("S", rp.LogitRelaxedSubset(tau, float(M), logits=logits)))

    def model():
        S = mask(torch.zeros(K))
        beta = pyro.sample("beta", dist.Normal(torch.zeros(K), 1.0).to_event(1))
        mean = ((S * beta).unsqueeze(-2) * X).sum(-1)
        pyro.sample("y", dist.Normal(mean, NOISE).to_event(1), obs=y)

    def guide():
        mask(pyro.param("logits", torch.zeros(K)))
        loc = pyro.param("loc", torch.zeros(K))
        scale = pyro.param("scale", torch.full((K,), 0.1), constraint=dist.constraints.positive)
        pyro.sample("beta", dist.Normal(loc, scale).to_event(1))

    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    elbo = (rp.RLOOTrace_ELBO(particles, max_plate_nesting=0) if kind == "mhot"
            else Trace_ELBO(particles, vectorize_particles=True, max_plate_nesting=0))
    if kind == "mhot-plain":  # the score term without a baseline (Pyro's own Trace_ELBO)
        elbo = Trace_ELBO(particles, vectorize_particles=True, max_plate_nesting=0)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": LR}), elbo)
    losses = [svi.step() for _ in range(steps)]
    return pyro.param("logits").detach().numpy(), losses


def run_numpyro(kind, X, y, steps, particles, seed, temperature=TAU):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO

    import relaxed_dists.numpyro as rn

    X, y = jnp.asarray(X), jnp.asarray(y)

    def mask(logits):
        if kind.startswith("mhot"):
            fn = rn.ExpRelaxedMHot(temperature, M, logits=logits)
            return fn.mhot(numpyro.sample("S", fn))
        z = numpyro.sample("S", rn.LogitRelaxedSubset(temperature, float(M), logits=logits))
        return jax.nn.sigmoid(z)

    def model():
        S = mask(jnp.zeros(K))
        beta = numpyro.sample("beta", dist.Normal(jnp.zeros(K), 1.0).to_event(1))
        numpyro.sample("y", dist.Normal(X @ (S * beta), NOISE).to_event(1), obs=y)

    def guide():
        mask(numpyro.param("logits", jnp.zeros(K)))
        loc = numpyro.param("loc", jnp.zeros(K))
        scale = numpyro.param("scale", jnp.full((K,), 0.1), constraint=dist.constraints.positive)
        numpyro.sample("beta", dist.Normal(loc, scale).to_event(1))

    elbo = rn.RLOOTrace_ELBO(particles) if kind == "mhot" else Trace_ELBO(particles)
    if kind == "mhot-plain":  # the score term without a baseline
        elbo = rn.MHotTrace_ELBO(1)
    svi = SVI(model, guide, numpyro.optim.Adam(LR), elbo)
    result = svi.run(jax.random.PRNGKey(seed), steps, progress_bar=False)
    return np.asarray(result.params["logits"]), np.asarray(result.losses)


def main():
    kinds = {"subset": "LogitRelaxedSubset + Trace_ELBO",
             "mhot": "ExpRelaxedMHot + RLOOTrace_ELBO",
             "mhot-plain": "ExpRelaxedMHot, no baseline"}
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--particles", type=int, default=4)
    p.add_argument("--subset-particles", type=int, default=None)
    p.add_argument("--temperature", type=float, default=TAU)
    p.add_argument("--backends", nargs="+", choices=("pyro", "numpyro"), default=["pyro", "numpyro"])
    p.add_argument("--kinds", nargs="+", choices=tuple(kinds), default=list(kinds))
    args = p.parse_args()
    subset_particles = args.particles if args.subset_particles is None else args.subset_particles
    print(f"k = {K}, m = {M}, n = {N}, temperature {args.temperature}, {args.steps} steps, "
          f"{args.particles} particles (subset {subset_particles}), Adam({LR}), float32")
    runs = {"pyro": run_pyro, "numpyro": run_numpyro}
    for backend in args.backends:
        for kind in args.kinds:
            particles = subset_particles if kind == "subset" else args.particles
            found, nans, t0 = [], 0, time.perf_counter()
            for seed in range(args.seeds):
                X, y, planted = data(seed)
                logits, losses = runs[backend](kind, X, y, args.steps, particles, seed,
                                               args.temperature)
                top = set(np.argsort(-logits)[:M].tolist())
                found.append(len(top & planted))
                nans += int(np.sum(~np.isfinite(np.asarray(losses))))
            print(f"{backend:8s} {kinds[kind]:34s} {particles:5d} particles: planted found {found} "
                  f"(of {M}), non-finite losses {nans}, {time.perf_counter() - t0:.0f} s", flush=True)

if __name__ == "__main__":
    main()
