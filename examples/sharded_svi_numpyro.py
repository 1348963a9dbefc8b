"""Feature selection on a large data set, with the data plate sharded across
devices (NumPyro).

The model and guide of examples/feature_selection_numpyro.py (a linear
regression whose d coefficients are gated by a hard m-subset mask S ~
Subset(m, uniform); the guide Subset(m, learnt logits), each coefficient's
guide conditional on its feature's inclusion) are fitted by SVI with the
leave-one-out ELBO (relaxed_dists.numpyro.RLOOTrace_ELBO) on a synthetic data
set of ``--n`` rows (default 10^6), ``--d`` standard normal features of which
3 (features 2, 7 and 13) carry the signal.

The fit runs twice from the same seed, the same number of steps each: once
with the data on one device, once with its rows split over ``--devices``
devices (a ``jax.sharding.Mesh`` with one axis, ``data``; the rows of X and
y ``NamedSharding``-ed along it, the parameters replicated). One jitted SVI
step is the same program either way: XLA partitions it so that each device
computes the likelihood of its own rows, and the devices exchange only the
sums over the data plate and the gradients (a few numbers per step; the
collectives of the compiled step are counted and printed). The script
prints the steps per second of both runs, the speed-up, and how far apart
the two fits are (the fitted inclusion probabilities and coefficients:
they agree up to float32 rounding of sums taken in another order).

Without accelerators, ``--devices N`` makes the host CPU appear as N devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``, set before jax is
imported). Simulated devices share the machine's cores, and one device's
program already runs its large operations on several threads, so they
gain only where cores are left idle; with one accelerator per device the
step time falls with the number of devices. On a busy 2-core machine the
speed-up measured at 10^6 rows is about 1 (0.98x).

    python3 examples/sharded_svi_numpyro.py                        # n = 10^6 rows, 4 devices
    python3 examples/sharded_svi_numpyro.py --n 20000 --steps 50   # a quick run
    python3 examples/sharded_svi_numpyro.py --devices 8 --steps 300 --json
"""

import argparse
import json
import os
import pathlib
import re
import sys
import time

EXAMPLES = pathlib.Path(__file__).resolve().parent
PLANTED = (2, 7, 13)
#: The collectives of a compiled step's HLO text.
COLLECTIVES = re.compile(r"\b(all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter)"
                         r"(?:-start)?\(")


def parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000,
                   help="rows of data (rounded down to a multiple of --devices); default 10^6")
    p.add_argument("--d", type=int, default=20, help="features (default 20; 3 planted)")
    p.add_argument("--m", type=int, default=3, help="features in the mask (default 3)")
    p.add_argument("--devices", type=int, default=4,
                   help="devices the rows are split over; without accelerators, simulated on the "
                        "host CPU (default 4)")
    p.add_argument("--steps", type=int, default=200, help="SVI steps of each fit (default 200)")
    p.add_argument("--particles", type=int, default=8, help="ELBO particles per step (default 8)")
    p.add_argument("--lr", type=float, default=0.05,
                   help="Adam step size, decaying to 1%% in the second half (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="of the data and of the fit (default 0)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    return p


def _use_devices(count):
    """Make the host CPU ``count`` devices, before jax is imported (afterwards
    the flag has no effect: then the devices jax already has are used)."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def synthetic(n, d, seed, planted=PLANTED):
    """Standardised float32 ``(X, y)``: ``n`` rows of ``d`` independent
    standard normal features, ``y`` a linear function of the ``planted`` ones
    (coefficients of magnitude 1 to 2, random signs) plus noise of standard
    deviation 0.5, as examples/_data.py makes its synthetic data (in float32
    and in blocks of rows, to keep 10^6 rows small in memory)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    beta = np.zeros(d)
    beta[list(planted)] = rng.choice([-1.0, 1.0], len(planted)) * rng.uniform(1.0, 2.0, len(planted))
    X = np.empty((n, d), dtype=np.float32)
    y = np.empty(n, dtype=np.float32)
    block = 100_000
    for start in range(0, n, block):
        x = rng.normal(size=(min(block, n - start), d))
        X[start:start + len(x)] = x
        y[start:start + len(x)] = x @ beta + 0.5 * rng.normal(size=len(x))
    X -= X.mean(0, dtype=np.float64).astype(np.float32)
    X /= X.std(0, dtype=np.float64).astype(np.float32)
    y = (y - y.mean(dtype=np.float64)) / y.std(dtype=np.float64)
    return X, y.astype(np.float32)


def fit(X, y, m, steps, seed, lr, particles):
    """SVI on data already placed (on one device or sharded), with the
    schedule of examples/feature_selection_numpyro.py. Returns the fitted
    parameters (NumPy), the losses, the steps per second (the first,
    compiling call excluded) and the compiled step's collectives."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    from feature_selection_numpyro import guide, model
    from numpyro.infer import SVI

    from relaxed_dists.numpyro import RLOOTrace_ELBO

    half = steps // 2

    def schedule(i):
        return lr * 0.01 ** jnp.clip((i - half) / max(steps - half, 1), 0.0, 1.0)

    svi = SVI(model, guide, numpyro.optim.Adam(schedule), RLOOTrace_ELBO(num_particles=particles))
    static = (m, "subset", "rloo", 0.5, "gaussian")
    state = svi.init(jax.random.PRNGKey(seed), X, y, *static)
    step = jax.jit(lambda state, X, y: svi.update(state, X, y, *static)).lower(state, X, y).compile()
    found = COLLECTIVES.findall(step.as_text())
    collectives = {name: found.count(name) for name in sorted(set(found))}
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        state, loss = step(state, X, y)
        # One step in flight at a time: simulated CPU devices run on a shared
        # thread pool, and the collectives of two queued steps can wait on
        # each other there (XLA aborts after 40 s).
        losses.append(jax.block_until_ready(loss))
    seconds = time.perf_counter() - start
    params = {k: np.asarray(v) for k, v in svi.get_params(state).items()}
    return params, np.asarray(losses), steps / seconds, collectives


def main(argv=None):
    args = parser().parse_args(argv)
    if args.devices < 1:
        raise SystemExit(f"--devices must be at least 1, got {args.devices}")
    if args.n < args.devices or args.steps < 1:
        raise SystemExit("--n must be at least --devices, and --steps at least 1")
    if "jax" not in sys.modules:
        _use_devices(args.devices)
    sys.path.insert(0, str(EXAMPLES))  # the model and guide of feature_selection_numpyro.py

    import jax
    import numpy as np
    from _exact import guide_inclusion
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    if len(devices) < args.devices:
        raise SystemExit(f"--devices {args.devices}: jax has {len(devices)} devices ({devices}); set "
                         f"XLA_FLAGS before jax is imported, or run this script as a program")
    devices = devices[: args.devices]
    n = args.n - args.n % args.devices
    X, y = synthetic(n, args.d, args.seed)

    runs = {}
    mesh = Mesh(np.array(devices), ("data",))
    placements = {
        "one device": (jax.device_put(X, devices[0]), jax.device_put(y, devices[0])),
        f"{args.devices} devices": (jax.device_put(X, NamedSharding(mesh, PartitionSpec("data", None))),
                                    jax.device_put(y, NamedSharding(mesh, PartitionSpec("data")))),
    }
    for name, (Xd, yd) in placements.items():
        params, losses, rate, collectives = fit(Xd, yd, args.m, args.steps, args.seed, args.lr,
                                                args.particles)
        runs[name] = {"params": params, "losses": losses, "steps_per_second": rate,
                      "collectives": collectives,
                      "inclusion": guide_inclusion(params, args.m, "subset")}
    one, many = runs.values()
    out = {
        "n": n, "d": args.d, "m": args.m, "devices": args.devices, "steps": args.steps,
        "platform": devices[0].platform, "cores": os.cpu_count(),
        "steps_per_second": {k: r["steps_per_second"] for k, r in runs.items()},
        "speedup": many["steps_per_second"] / one["steps_per_second"],
        "collectives": {k: r["collectives"] for k, r in runs.items()},
        "inclusion": {k: r["inclusion"].tolist() for k, r in runs.items()},
        "max_inclusion_difference": float(np.abs(one["inclusion"] - many["inclusion"]).max()),
        "max_beta_loc_difference": float(np.abs(one["params"]["beta_loc"]
                                                - many["params"]["beta_loc"]).max()),
        "final_loss": {k: float(np.median(r["losses"][-10:])) for k, r in runs.items()},
        "selected": {k: sorted(np.argsort(-r["inclusion"])[: args.m].tolist()) for k, r in runs.items()},
        "planted": list(PLANTED),
    }
    if args.json:
        print(json.dumps(out))
        return out
    print(f"{n} rows, {args.d} features ({args.m} planted: {list(PLANTED)}), {args.steps} SVI steps, "
          f"{args.particles} particles; {devices[0].platform} devices, {os.cpu_count()} cores")
    for name, r in runs.items():
        comms = ", ".join(f"{c} {k}" for k, c in r["collectives"].items()) or "none"
        print(f"  {name:>10}: {r['steps_per_second']:7.2f} steps/s   final loss "
              f"{out['final_loss'][name]:.6g}   selected {out['selected'][name]}   "
              f"collectives per step: {comms}")
    print(f"speed-up with {args.devices} devices: {out['speedup']:.2f}x")
    print(f"the fits agree: inclusion probabilities within {out['max_inclusion_difference']:.2g}, "
          f"coefficient means within {out['max_beta_loc_difference']:.2g}")
    return out


if __name__ == "__main__":
    main()
