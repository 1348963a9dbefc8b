"""``torch.compile(fullgraph=True)`` of every Pyro class: sampling,
``log_prob`` (plain and from the sample's intermediates) and their
gradients give the eager values, with no graph break (``fullgraph=True``
raises on one).

The compiled function builds the distribution from its parameters, draws
``rsample_with_intermediates`` (``sample`` for the discrete ``Subset``)
and scores the draw both ways; the eager run draws from the same seed, so
the two see the same uniforms (the ``aot_eager`` backend runs torch's own
random kernels). Inside a compiled graph no branch may read a tensor's
value, so every class takes its general path there (masked and saturated
entries handled by ``where``) and the subset threshold solver runs as one
opaque operator (``relaxed_dists::subset_threshold``): these tests check
that those paths equal the eager fast paths.

The backend is ``aot_eager``: it runs Dynamo (which raises on a graph break
under ``fullgraph=True``) and AOTAutograd (which traces the backward graph)
but no code generation, so it needs no C++ compiler and compiles in about
a second per class. ``inductor``, the default backend, would add a C++
build per graph (tens of seconds each on a 2-core machine, and a compiler
in CI) while checking nothing more about the package: graph breaks and
the autograd trace are decided before code generation. Every class of the
table is compiled (about 2 minutes for the file on a busy 2-core machine).
"""

import numpy as np
import pytest
import torch
from cases import BATCH, CASES, TEMPERATURE, K

import relaxed_dists.pyro as rp

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # Dynamo notes each call it traces into a ``functools.lru_cache``:
    # array_api_compat's type -> namespace maps and the package's constant
    # tables keyed by k (pure functions of their arguments, so tracing
    # through them is exact): a note, not a fault.
    pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`"),
]

_LOGITS = np.random.default_rng(20261124).normal(size=BATCH + (K,))


def _specs():
    """``(class name, static kwargs, category_dim, has_temperature)`` for
    every Pyro class: the rows of ``cases.CASES`` and the discrete classes,
    each straight-through class with every estimator."""
    out = [(c.name, dict(c.static), c.category_dim, True) for c in CASES]
    out.append(("Subset", {"m": 2}, True, False))
    for est in ("st", "gumbel", "gumbel_rao", "reinmax"):
        extra = {"rao_samples": 3} if est == "gumbel_rao" else {}
        out.append(("OneHotCategoricalStraightThrough", {"estimator": est, **extra}, True, True))
        out.append(("BernoulliStraightThrough", {"estimator": est, **extra}, False, True))
    for est in ("relaxed", "marginals"):
        out.append(("SubsetStraightThrough", {"m": 2, "estimator": est}, True, True))
    return out


SPECS = _specs()


def _id(spec):
    name, static = spec[:2]
    return name + "(" + ",".join(f"{k}={v}" for k, v in static.items()) + ")"


def test_specs_cover_every_class():
    assert {s[0] for s in SPECS} == set(rp.distributions.__all__)


def _draw_and_score(name, static, has_temperature, validate_args=None):
    cls = getattr(rp, name)
    static = dict(static, validate_args=validate_args)

    def fn(logits, temperature):
        if has_temperature:
            d = cls(temperature, logits=logits, **static)
        else:
            d = cls(logits=logits, **static)
        if d.has_rsample:
            x, extra = d.rsample_with_intermediates()
        else:
            x, extra = d.sample_with_intermediates()
        return x, d.log_prob(x), d.log_prob(x, extra)

    return fn


def _run(fn, category_dim, seed=0):
    logits = torch.tensor(_LOGITS if category_dim else _LOGITS[:, 0], requires_grad=True)
    temperature = torch.tensor(TEMPERATURE, requires_grad=True)
    torch.manual_seed(seed)
    return logits, temperature, fn(logits, temperature)


def _grads(logits, temperature, out, weights):
    x, lp, lp_from = out
    loss = lp.sum() + 0.5 * lp_from.sum()
    if x.requires_grad:
        loss = loss + (x * weights).sum()
    inputs = [logits, temperature]
    return torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("spec", SPECS, ids=[_id(s) for s in SPECS])
def test_compiled_equals_eager(spec):
    name, static, category_dim, has_temperature = spec
    fn = _draw_and_score(name, static, has_temperature)
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    logits, temperature, eager = _run(fn, category_dim)
    clogits, ctemperature, comp = _run(compiled, category_dim)
    for e, c in zip(eager, comp):
        assert e.dtype == c.dtype == torch.float64
        np.testing.assert_allclose(c.detach().numpy(), e.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert torch.isfinite(eager[1]).all()
    weights = torch.linspace(-1, 1, eager[0].numel(), dtype=torch.float64).reshape(eager[0].shape)
    for ge, gc in zip(_grads(logits, temperature, eager, weights),
                      _grads(clogits, ctemperature, comp, weights)):
        assert torch.isfinite(ge).all()
        np.testing.assert_allclose(gc.numpy(), ge.numpy(), rtol=1e-9, atol=1e-11)


def _uses_solver(name, static):
    """Whether the class draws through the subset threshold solver."""
    return name in ("RelaxedSubset", "LogitRelaxedSubset") or (
        name == "SubsetStraightThrough" and static["estimator"] == "relaxed")


@pytest.mark.parametrize("spec", SPECS, ids=[_id(s) for s in SPECS])
def test_meta_device_float32(spec):
    """On the ``meta`` device (shapes and dtypes only, like an accelerator
    to the package: no fast path asks a value) every array a draw, its two
    scores and their gradients create is on the parameters' device, in their
    dtype (float32), and nothing reads a value (``.item()`` raises there).
    Argument validation, which reads values by design (as torch's own
    distributions do), is off. The threshold solver's one deliberate read, its convergence check every
    few passes on an accelerator, is inside its operator: those classes run
    compiled, where the operator has a shape-only kernel."""
    name, static, category_dim, has_temperature = spec
    fn = _draw_and_score(name, static, has_temperature, validate_args=False)
    if _uses_solver(name, static):
        torch._dynamo.reset()
        fn = torch.compile(fn, fullgraph=True, backend="aot_eager")
    logits = torch.empty(BATCH + (K,) if category_dim else BATCH, dtype=torch.float32,
                         device="meta", requires_grad=True)
    temperature = torch.empty(BATCH, dtype=torch.float32, device="meta", requires_grad=True)
    out = fn(logits, temperature)
    grads = _grads(logits, temperature, out, torch.ones_like(out[0]))
    for t in (*out, *grads):
        assert t.device.type == "meta" and t.dtype == torch.float32


@pytest.mark.parametrize("order", ["numpyro-first", "pyro-first"])
def test_compile_whichever_adapter_is_imported_first(order):
    """The subset solver's torch operator is registered when the Pyro adapter
    is imported, so a fresh process that imported the NumPyro adapter first
    still compiles RelaxedSubset with no graph break."""
    import subprocess
    import sys

    script = (
        "import warnings\n"
        "warnings.filterwarnings('ignore')\n"
        + ("import relaxed_dists.numpyro\n" if order == "numpyro-first" else "")
        + "import torch\n"
        "import relaxed_dists.pyro as rp\n"
        "def f(l, t):\n"
        "    d = rp.RelaxedSubset(t, 2.0, logits=l)\n"
        "    return d.log_prob(d.rsample())\n"
        "torch.manual_seed(0)\n"
        "out = torch.compile(f, fullgraph=True, backend='aot_eager')(torch.randn(3, 5), torch.ones(3))\n"
        "assert out.shape == (3,) and bool(torch.isfinite(out).all())\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
