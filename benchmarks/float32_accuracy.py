"""float32 accuracy of the log-space twins against float64 from the same
noise, and what torch's RelaxedOneHotCategorical does on the same settings.

    python benchmarks/float32_accuracy.py [--samples 200]

For each number of categories k and temperature: the fraction of own samples
with a finite ExpGumbelSoftmax log_prob (torch and JAX), the largest error in
nats against the float64 value for the same uniforms, that error in float32
spacings (ulp) of |log q|, and, for torch's RelaxedOneHotCategorical on its
own float32 samples, the fraction of NaN log_probs and of samples its default
validation rejects. Also LogitBinaryConcrete on 10 000 logits.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import distributions as td

from relaxed_dists.core import binary_concrete as bc
from relaxed_dists.core import concrete as cc

jax.config.update("jax_enable_x64", True)
BACKENDS = {"torch": torch.as_tensor, "jax": jnp.asarray}


def torch_baseline(logits, tau, n, seed):
    torch.manual_seed(seed)
    d = td.RelaxedOneHotCategorical(torch.tensor(tau), logits=torch.as_tensor(logits), validate_args=False)
    x = d.rsample((n,))
    nan = torch.isnan(d.log_prob(x)).float().mean().item()
    rejected = 1 - td.constraints.simplex.check(x).float().mean().item()
    return nan, rejected


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    low = float(np.finfo(np.float32).smallest_normal)
    print(
        "| k | tau | backend | finite | max err (nats) | max err (ulp of log q) | max abs log q "
        "| torch NaN | torch rejected |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k in (10, 1000, 10_000):
        logits = (rng.normal(size=k) * 2).astype(np.float32)
        u32 = rng.uniform(low, 1.0, size=(args.samples, k)).astype(np.float32)
        for tau in (0.5, 0.1, 0.05, 0.01):
            t64 = np.asarray(tau)
            l64 = logits.astype(np.float64)
            ref = cc.exp_log_prob(l64, t64, cc.rsample_log(l64, t64, u32.astype(np.float64)))
            nan, rejected = torch_baseline(logits, tau, args.samples, args.seed)
            for name, conv in BACKENDS.items():
                l, t = conv(logits), conv(np.float32(tau))
                lp = np.asarray(cc.exp_log_prob(l, t, cc.rsample_log(l, t, conv(u32)))).astype(np.float64)
                err = np.abs(lp - ref)
                ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
                print(
                    f"| {k} | {tau} | {name} | {np.isfinite(lp).mean():.0%} | {err.max():.1e} "
                    f"| {np.max(err / ulp):.1f} | {np.abs(ref).max():.3g} | {nan:.0%} | {rejected:.1%} |"
                )
    print("\nLogitBinaryConcrete, 10 000 logits ~ N(0, 4):")
    logits = (rng.normal(size=10_000) * 2).astype(np.float32)
    u32 = rng.uniform(low, 1.0, size=10_000).astype(np.float32)
    for tau in (0.5, 0.1, 0.05, 0.01):
        t64, l64 = np.asarray(tau), logits.astype(np.float64)
        ref = bc.logit_log_prob(l64, t64, bc.rsample_logit(l64, t64, u32.astype(np.float64)))
        for name, conv in BACKENDS.items():
            l, t = conv(logits), conv(np.float32(tau))
            lp = np.asarray(bc.logit_log_prob(l, t, bc.rsample_logit(l, t, conv(u32))))
            err = np.abs(lp - ref).max()
            print(f"  tau={tau} {name}: finite {np.isfinite(lp).mean():.0%}, max err {err:.1e} nats")


if __name__ == "__main__":
    main()
