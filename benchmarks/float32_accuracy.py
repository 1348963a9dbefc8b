"""float32 accuracy of the log-space twins against float64 from the same
noise, and what torch's RelaxedOneHotCategorical does on the same settings.

    python benchmarks/float32_accuracy.py [--samples 200]
    python benchmarks/float32_accuracy.py --cast [--samples 32]

For each number of categories k and temperature: the fraction of own samples
with a finite ExpGumbelSoftmax log_prob (torch and JAX), the largest error in
nats against the float64 value for the same uniforms, that error in float32
spacings (ulp) of |log q|, and, for torch's RelaxedOneHotCategorical on its
own float32 samples, the fraction of NaN log_probs and of samples its default
validation rejects. Also LogitBinaryConcrete on 10 000 logits.

With ``--cast``: the requirement that a float32 sample cast to float64 is
scored alike. For each log-space class (Pyro and NumPyro), float32 own samples
are drawn (logits uniform on ``[-s, s]`` or normal with standard deviation
``s``, for spreads ``s`` in 1, 100, 10 000; ``k`` in 2, 10, 1000; temperatures
0.1, 1, 10); the float32 ``log_prob`` of each, by the general route
(``log_prob(value)``) and by the noise route (``log_prob(value,
intermediates)``), is compared with the float64 ``log_prob`` of the same value
cast to float64 under the same parameters cast to float64. The table gives the
largest relative error ``|lp32 - lp64| / max(|lp64|, 1)`` (an absolute floor
of 1 nat, where ``|log q|`` is below 1) per class, backend, route and spread,
and how many cast samples the float64 distribution's validation rejects.
"""

import argparse
import time

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


#: The log-space classes and the extra arguments for ``k`` categories.
TWINS = {
    "ExpGumbelSoftmax": lambda k: {},
    "LogitBinaryConcrete": lambda k: {},
    "LogitRelaxedSubset": lambda k: {"m": max(1, k // 3)},
    "ExpRelaxedMHot": lambda k: {"m": min(3, k)},
}
SPREADS = (1.0, 100.0, 1e4)
KS = (2, 10, 1000)
TAUS = (0.1, 1.0, 10.0)


def _pyro_case(cls, tau, logits, extra, n):
    """``(value, lp32 general, lp32 noise or None, lp64 of the cast value,
    rejected)`` for Pyro."""
    import relaxed_dists.pyro as rp

    c = getattr(rp, cls)
    d32 = c(torch.tensor(np.float32(tau)), logits=torch.as_tensor(logits), **extra)
    d64 = c(torch.tensor(np.float64(np.float32(tau))), logits=torch.as_tensor(logits, dtype=torch.float64),
            validate_args=False, **extra)
    v, inter = d32.rsample_with_intermediates((n,))
    v64 = v.double()
    rejected = int((~d64.support.check(v64)).sum())
    noise = None if inter is None else d32.log_prob(v, inter).double().numpy()
    return (d32.log_prob(v).double().numpy(), noise, d64.log_prob(v64).numpy(), rejected)


def _numpyro_case(cls, tau, logits, extra, n, key):
    import relaxed_dists.numpyro as rn

    c = getattr(rn, cls)
    d32 = c(jnp.float32(tau), logits=jnp.asarray(logits), **extra)
    d64 = c(jnp.float64(np.float32(tau)), logits=jnp.asarray(logits, dtype=jnp.float64),
            validate_args=False, **extra)
    v, inter = d32.sample_with_intermediates(key, (n,))
    v64 = jnp.asarray(v, dtype=jnp.float64)
    rejected = int(np.sum(~np.asarray(d64.support(v64))))
    noise = None if inter is None else np.asarray(d32.log_prob(v, inter), dtype=np.float64)
    return (np.asarray(d32.log_prob(v), dtype=np.float64), noise, np.asarray(d64.log_prob(v64)), rejected)


def relative_error(lp32, lp64):
    """``max |lp32 - lp64| / max(|lp64|, 1)``; ``inf`` where one is finite
    and the other not, 0 where both are the same infinity."""
    same = lp32 == lp64
    err = np.abs(lp32 - lp64) / np.maximum(np.abs(lp64), 1.0)
    return float(np.max(np.where(same, 0.0, np.nan_to_num(err, nan=np.inf))))


def cast_table(samples, seed):
    """The ``--cast`` table: rows ``(class, backend, route)``, columns the
    spreads; each cell the worst relative error over ``k``, temperatures,
    logit shapes and samples."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    worst, rejected = {}, {}
    for cls, extra_of in TWINS.items():
        for k in KS:
            extra = extra_of(k)
            for spread in SPREADS:
                for shape in ("uniform", "normal"):
                    draw = rng.uniform(-1, 1, size=k) if shape == "uniform" else rng.normal(size=k)
                    logits = (draw * spread).astype(np.float32)
                    for tau in TAUS:
                        key, sub = jax.random.split(key)
                        runs = {"torch": _pyro_case(cls, tau, logits, extra, samples),
                                "jax": _numpyro_case(cls, tau, logits, extra, samples, sub)}
                        for backend, (gen, noise, ref, rej) in runs.items():
                            for route, lp in (("general", gen), ("noise", noise)):
                                if lp is None:
                                    continue
                                cell = (cls, backend, route, spread)
                                worst[cell] = max(worst.get(cell, 0.0), relative_error(lp, ref))
                            row = (cls, backend)
                            rejected[row] = rejected.get(row, 0) + rej
    header = " | ".join(f"s = {s:g}" for s in SPREADS)
    lines = [f"| class | backend | route | {header} | rejected by float64 |",
             "|---|---|---|" + "---|" * len(SPREADS) + "---|"]
    for cls in TWINS:
        for backend in ("torch", "jax"):
            for route in ("general", "noise"):
                if (cls, backend, route, SPREADS[0]) not in worst:
                    continue
                cells = " | ".join(f"{worst[(cls, backend, route, s)]:.1e}" for s in SPREADS)
                lines.append(f"| {cls} | {backend} | {route} | {cells} | {rejected[(cls, backend)]} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=None,
                   help="samples per setting (default 200; 32 with --cast)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cast", action="store_true",
                   help="the float32-vs-float64 table of the log-space classes (see above)")
    args = p.parse_args(argv)
    if args.cast:
        start = time.perf_counter()
        print(cast_table(args.samples or 32, args.seed))
        print(f"\n({time.perf_counter() - start:.0f} s)")
        return
    args.samples = args.samples or 200
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
