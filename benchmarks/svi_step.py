"""SVI step time of the feature-selection model: ours (RelaxedMHot,
RelaxedSubset) against the same model written with torch's
RelaxedOneHotCategorical in Pyro; NumPyro with ours for reference.

    python3 benchmarks/svi_step.py [--quick] [--repeats 7]

The model (written here, not imported from examples/): ``d`` features, ``n``
rows, a relaxed m-of-d mask ``S`` at temperature 0.5 with uniform prior
logits, coefficients ``beta ~ Normal(0, 1)``, ``log_sigma ~ Normal(0, 1)``,
``y ~ Normal(X @ (S * beta), exp(log_sigma))``. The guide is mean field: the
same relaxation with learnt logits, Normal guides for ``beta`` and
``log_sigma``. Masks:

* ``RelaxedMHot``: ``S = mhot(V)``, ``V`` the m selector rows (Pyro:
  ``Trace_ELBO``, which adds its score term through ``score_parts``; NumPyro:
  ``MHotTrace_ELBO``);
* ``RelaxedSubset``: ``S`` is the value (``Trace_ELBO`` in both);
* torch's ``RelaxedOneHotCategorical``, L2X style: m i.i.d. rows
  (``.expand((m,)).to_event(1)``), ``S`` the max over rows (``Trace_ELBO``).

Pyro: ``SVI.step`` with Adam, distributions built with
``validate_args=False`` and Pyro's validation off (nothing validated is
timed). NumPyro: ``jax.jit(svi.update)``, timed with ``block_until_ready``.
Each time is the median over ``repeats`` blocks of ``steps`` steps, after
``warmup`` blocks; it is reported per step and as a ratio to the Pyro model
with torch's ``RelaxedOneHotCategorical`` at the same size.
"""

import argparse
import statistics
import time

import numpy as np

TAU = 0.5
FULL = [(20, 200, 3), (100, 1000, 10)]  # (d, n, m)
QUICK = [(10, 50, 3)]
LR = 0.01


def data(d, n, m, seed=0):
    """Synthetic regression with ``m`` planted features (float32)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    beta = np.zeros(d, np.float32)
    beta[:m] = 2.0
    y = (X @ beta + 0.5 * rng.standard_normal(n)).astype(np.float32)
    return X, y


# ------------------------------------------------------------------- Pyro
def pyro_step(mask_kind, X, y, m):
    """A callable doing one ``SVI.step`` (and its SVI, for the record)."""
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam

    import relaxed_dists.pyro as rp

    X, y = torch.as_tensor(X), torch.as_tensor(y)
    d = X.shape[1]
    tau = torch.tensor(TAU)

    def mask(logits):
        if mask_kind == "RelaxedMHot":
            fn = rp.RelaxedMHot(tau, m, logits=logits, validate_args=False)
            return fn.mhot(pyro.sample("S", fn))
        if mask_kind == "RelaxedSubset":
            return pyro.sample("S", rp.RelaxedSubset(tau, m, logits=logits, validate_args=False))
        fn = dist.RelaxedOneHotCategorical(tau, logits=logits, validate_args=False)
        return pyro.sample("S", fn.expand((m,)).to_event(1)).amax(-2)

    def model(X, y):
        S = mask(torch.zeros(d))
        beta = pyro.sample("beta", dist.Normal(torch.zeros(d), 1.0).to_event(1))
        log_sigma = pyro.sample("log_sigma", dist.Normal(0.0, 1.0))
        with pyro.plate("data", X.shape[0]):
            pyro.sample("y", dist.Normal(X @ (S * beta), log_sigma.exp()), obs=y)

    def guide(X, y):
        mask(pyro.param("S_logits", torch.zeros(d)))
        loc = pyro.param("beta_loc", torch.zeros(d))
        scale = pyro.param("beta_scale", torch.full((d,), 0.1), constraint=dist.constraints.positive)
        pyro.sample("beta", dist.Normal(loc, scale).to_event(1))
        s_loc = pyro.param("log_sigma_loc", torch.tensor(0.0))
        s_scale = pyro.param("log_sigma_scale", torch.tensor(0.1), constraint=dist.constraints.positive)
        pyro.sample("log_sigma", dist.Normal(s_loc, s_scale))

    pyro.clear_param_store()
    svi = SVI(model, guide, Adam({"lr": LR}), Trace_ELBO())
    return lambda: svi.step(X, y)


# ---------------------------------------------------------------- NumPyro
def numpyro_step(mask_kind, X, y, m, seed=0):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.optim import Adam

    import relaxed_dists.numpyro as rn

    X, y = jnp.asarray(X), jnp.asarray(y)
    d = X.shape[1]

    def mask(logits):
        if mask_kind == "RelaxedMHot":
            fn = rn.RelaxedMHot(TAU, m, logits=logits)
            return fn.mhot(numpyro.sample("S", fn))
        return numpyro.sample("S", rn.RelaxedSubset(TAU, m, logits=logits))

    def model(X, y):
        S = mask(jnp.zeros(d))
        beta = numpyro.sample("beta", dist.Normal(jnp.zeros(d), 1.0).to_event(1))
        log_sigma = numpyro.sample("log_sigma", dist.Normal(0.0, 1.0))
        with numpyro.plate("data", X.shape[0]):
            numpyro.sample("y", dist.Normal(X @ (S * beta), jnp.exp(log_sigma)), obs=y)

    def guide(X, y):
        mask(numpyro.param("S_logits", jnp.zeros(d)))
        loc = numpyro.param("beta_loc", jnp.zeros(d))
        scale = numpyro.param("beta_scale", jnp.full((d,), 0.1), constraint=dist.constraints.positive)
        numpyro.sample("beta", dist.Normal(loc, scale).to_event(1))
        s_loc = numpyro.param("log_sigma_loc", 0.0)
        s_scale = numpyro.param("log_sigma_scale", 0.1, constraint=dist.constraints.positive)
        numpyro.sample("log_sigma", dist.Normal(s_loc, s_scale))

    elbo = rn.MHotTrace_ELBO() if mask_kind == "RelaxedMHot" else Trace_ELBO()
    svi = SVI(model, guide, Adam(LR), elbo)
    update = jax.jit(svi.update)
    state = [svi.init(jax.random.PRNGKey(seed), X, y)]

    def step():
        state[0], loss = update(state[0], X, y)
        return float(loss)  # blocks until the step is done

    return step


CASES = [  # (framework, mask, source, ELBO)
    ("pyro", "RelaxedOneHotCategorical", "torch", "Trace_ELBO"),
    ("pyro", "RelaxedMHot", "ours", "Trace_ELBO"),
    ("pyro", "RelaxedSubset", "ours", "Trace_ELBO"),
    ("numpyro", "RelaxedMHot", "ours", "MHotTrace_ELBO"),
    ("numpyro", "RelaxedSubset", "ours", "Trace_ELBO"),
]


def run(quick=False, repeats=7, warmup=1, steps=None, log=print):
    """Rows ``{framework, mask, source, elbo, d, n, m, ms_per_step, ratio,
    losses_finite}``; ``ratio`` is against the Pyro model with torch's
    ``RelaxedOneHotCategorical`` of the same size."""
    import pyro

    steps = steps or (2 if quick else 10)
    rows = []
    for d, n, m in QUICK if quick else FULL:
        X, y = data(d, n, m)
        base = None
        for fw, mask_kind, source, elbo in CASES:
            with pyro.validation_enabled(False):
                step = (pyro_step if fw == "pyro" else numpyro_step)(mask_kind, X, y, m)
                losses, times = [], []
                for i in range(warmup + repeats):
                    t0 = time.perf_counter()
                    losses += [step() for _ in range(steps)]
                    if i >= warmup:
                        times.append((time.perf_counter() - t0) / steps)
            ms = 1e3 * statistics.median(times)
            base = ms if base is None else base
            rows.append({"framework": fw, "mask": mask_kind, "source": source, "elbo": elbo, "d": d, "n": n,
                         "m": m, "ms_per_step": ms, "ratio": ms / base, "steps_per_repeat": steps,
                         "losses_finite": bool(np.isfinite(losses).all())})
            log(f"svi   d={d:<4} n={n:<5} m={m:<3} {fw:8} {mask_kind:25} {ms:8.3f} ms/step "
                f"({ms / base:.2f}x)")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=None, help="SVI steps per timed repeat")
    args = p.parse_args(argv)
    return run(quick=args.quick, repeats=args.repeats, steps=args.steps)


if __name__ == "__main__":
    main()
