"""Multi-device JAX: every NumPyro class, jitted with its batch split over a
``jax.sharding.Mesh`` of 4 devices, gives the one-device values, and the
compiled program communicates nothing.

JAX fixes its devices when it starts, so each check runs in a fresh Python
process with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the
host CPU as 4 devices) and ``JAX_PLATFORMS=cpu``; this process (float64,
one device) only reads the results.

1. Sample (``sample_with_intermediates``), ``log_prob`` plain and from the
   intermediates, and the gradient of a scalar of them w.r.t. the logits and
   the temperature, jitted, with the logits and temperatures
   ``NamedSharding``-ed along the batch (16 rows, 4 per device; the
   category axis whole): equal to the one-device run to float32 rounding,
   the results still split along the batch (each device computed its own
   rows), and no collective in the compiled HLO (all-reduce, all-gather,
   collective-permute, all-to-all, reduce-scatter). In particular the subset
   threshold solver's ``while`` loops stop on each device's own rows (a
   batch-wide stopping test would all-reduce in every pass), and ``top_k``
   and the one-hot scatters run per device (XLA would gather their rows).
   A negative control: a batch-wide stopping test does show up as an
   all-reduce.
2. Rows that do not split evenly (6 of the 8 split rows), a sample shape
   before the split batch: the same values.
3. examples/sharded_svi_numpyro.py at 20 000 rows and 50 steps: the sharded
   and one-device fits agree.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from test_compiled import SPECS, _id

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEVICES = 4

#: Run in the child: argv[1] is the JSON list of specs; prints one JSON object.
_CHILD = r"""
import json, re, sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import relaxed_dists.numpyro as rn

COLLECTIVES = re.compile(r"\b(all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter)"
                         r"(?:-start)?\(")
assert len(jax.devices()) == 4, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("batch",))
one = jax.devices()[0]
rng = np.random.default_rng(20261124)
K = 6


def scored(name, static, has_temperature, sample_shape=(), keep=None, grads=True):
    cls = getattr(rn, name)

    def draw(logits, temperature, key):
        logits, temperature = logits[:keep], temperature[:keep]
        d = cls(temperature, logits=logits, **static) if has_temperature else cls(logits=logits, **static)
        x, extra = d.sample_with_intermediates(key, sample_shape)
        return x, d.log_prob(x), d.log_prob(x, extra)

    def loss(logits, temperature, key):
        x, lp, lp_from = draw(logits, temperature, key)
        return lp.sum() + 0.5 * lp_from.sum() + jnp.sin(3.0 * x).sum()

    if not grads:
        return draw
    grad = jax.grad(loss, argnums=(0, 1))
    return lambda l, t, key: (*draw(l, t, key), *grad(l, t, key))


def compare(spec, rows, sample_shape=(), keep=None, grads=True):
    name, static, category_dim, has_temperature = spec
    logits = rng.normal(size=(rows, K) if category_dim else (rows,)).astype(np.float32)
    temperature = rng.uniform(0.3, 1.5, size=rows).astype(np.float32)
    key = jax.random.PRNGKey(3)
    f = scored(name, static, has_temperature, sample_shape, keep, grads)
    ref = jax.jit(f)(jax.device_put(logits, one), jax.device_put(temperature, one), key)
    ls = jax.device_put(logits, NamedSharding(mesh, P("batch", None) if category_dim else P("batch")))
    ts = jax.device_put(temperature, NamedSharding(mesh, P("batch")))
    compiled = jax.jit(f).lower(ls, ts, key).compile()
    out = compiled(ls, ts, key)
    hlo = compiled.as_text()
    err = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
                        / (1.0 + np.abs(np.asarray(a, np.float64))), initial=0.0))
           for a, b in zip(ref, out)]
    batch_axis = len(sample_shape)
    return {
        "error": err,
        "finite": [bool(np.isfinite(np.asarray(a)).all()) for a in ref],
        "collectives": COLLECTIVES.findall(hlo),
        # where each result lies ("batch": split along the batch), or "zero"
        # for a gradient that is identically zero (a constant, replicated)
        "split": ["zero" if not np.asarray(o).any() else
                  o.sharding.spec[batch_axis] if len(o.sharding.spec) > batch_axis else None
                  for o in out],
    }


def negative_control():
    # a batch-wide stopping test in a while loop over rows split across devices
    def f(x):
        def cond(c):
            return (c[0] < 50) & jnp.any(c[1] < 10.0)
        return jax.lax.while_loop(cond, lambda c: (c[0] + 1, c[1] + 1.0), (0, x))[1]
    xs = jax.device_put(jnp.zeros((16, K)), NamedSharding(mesh, P("batch", None)))
    return COLLECTIVES.findall(jax.jit(f).lower(xs).compile().as_text())


specs = json.loads(sys.argv[1])
mode = sys.argv[2]
if mode == "split":
    out = {"control": negative_control(),
           "cases": {json.dumps(s): compare(s, 16) for s in specs}}
else:
    out = {"cases": {json.dumps(s): {"uneven": compare(s, 8, keep=6, grads=False),
                                     "sampled": compare(s, 8, (3,), grads=False)}
                     for s in specs}}
print(json.dumps(out))
"""


def _child_env():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={DEVICES}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("JAX_ENABLE_X64", None)  # float32, the dtype sharded runs use
    return env


def _run_child(specs, mode):
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(specs), mode], cwd=ROOT,
                          env=_child_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_specs_cover_every_numpyro_class():
    import relaxed_dists.numpyro as rn

    assert {s[0] for s in SPECS} == set(rn.distributions.__all__)


@pytest.fixture(scope="module")
def split():
    return _run_child(SPECS, "split")


def test_the_hlo_check_sees_a_batch_wide_stopping_test(split):
    assert split["control"] and set(split["control"]) <= {"all-reduce"}, split["control"]


@pytest.mark.parametrize("spec", SPECS, ids=[_id(s) for s in SPECS])
def test_batch_split_over_devices(split, spec):
    case = split["cases"][json.dumps(spec)]
    names = ["value", "log_prob", "log_prob from intermediates", "grad logits", "grad temperature"]
    assert all(case["finite"]), dict(zip(names, case["finite"]))
    worst = dict(zip(names, case["error"]))
    # float32 rounding (sums in another order); gradients cancel more
    assert max(case["error"][:3]) < 2e-5 and max(case["error"][3:]) < 1e-4, worst
    assert case["collectives"] == [], case["collectives"]
    # each device computed its own rows: every result is still split
    assert set(case["split"]) <= {"batch", "zero"} and case["split"][:4] == ["batch"] * 4, \
        dict(zip(names, case["split"]))


SOLVER_AND_TOP_K = [s for s in SPECS if s[0] in ("RelaxedSubset", "Subset")]


@pytest.fixture(scope="module")
def layouts():
    return _run_child(SOLVER_AND_TOP_K, "layouts")


@pytest.mark.parametrize("spec", SOLVER_AND_TOP_K, ids=[_id(s) for s in SOLVER_AND_TOP_K])
@pytest.mark.parametrize("layout", ["uneven", "sampled"])
def test_other_layouts(layouts, spec, layout):
    """6 of 8 split rows (padded to 8 again inside the solver and ``top_k``),
    and a sample shape before the split batch (rows regrouped at the
    boundary): the values of one device (sample and both scores)."""
    case = layouts["cases"][json.dumps(spec)][layout]
    assert len(case["error"]) == 3 and all(case["finite"]), case
    assert max(case["error"]) < 2e-5, case


@pytest.mark.slow
def test_sharded_svi_example():
    """examples/sharded_svi_numpyro.py, small: both fits take the same steps
    and agree; the one-device step communicates nothing, the sharded one
    only sums (all-reduce) over the data plate and the gradients."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sharded_svi_numpyro.py"), "--n", "20000",
         "--steps", "50", "--devices", str(DEVICES), "--json"],
        cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["n"] == 20000 and out["devices"] == DEVICES and out["steps"] == 50
    one, many = "one device", f"{DEVICES} devices"
    assert out["collectives"][one] == {}
    assert set(out["collectives"][many]) == {"all-reduce"}, out["collectives"]
    assert all(r > 0 for r in out["steps_per_second"].values())
    assert out["max_inclusion_difference"] < 1e-3, out
    assert out["max_beta_loc_difference"] < 1e-3, out
    assert np.isfinite(list(out["final_loss"].values())).all()
    inclusion = np.array(out["inclusion"][many])
    assert abs(inclusion.sum() - 3) < 1e-3
