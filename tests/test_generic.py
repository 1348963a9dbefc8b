"""Generic tests of every distribution class in both backends, driven by the
table of ``cases.py`` (one row per class, ``k = 4``, batch ``(2,)``): shapes,
``expand``, broadcasting, ``infer_shapes``, pytrees and ``jax.jit``,
``vmap_over``, pickling, ``torch.jit.trace`` and ``JitTrace_ELBO``, NumPy
inputs, shape and argument errors, the explicit ``log_prob(value,
intermediates)`` route, saving fitted guides, gradients against central
differences, and parity of both backends with the NumPy core under the same
uniforms (float64, 1e-12).

Speed: eager JAX compiles each operation once per shape and reuses it in
every later call, while each ``jax.jit`` compiles its whole function anew.
So the NumPyro tests run eagerly on arrays of one shape, ``(3,) + batch +
event`` (a draw of ``sample_shape=(3,)``, or of an expanded batch ``(3, 2)``),
and jit only where jit is what they test."""

import copy
import functools
import inspect
import io
import pathlib
import pickle
import warnings

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as nd
import pyro
import pyro.distributions as pd
import pytest
import torch
from backends import BACKENDS, NumPyro, Pyro
from cases import BATCH, CASES, IDS, OWN_FILES, TEMPERATURE, K, make
from conftest import central_differences
from numpyro.distributions.batch_util import vmap_over

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp

CASE = pytest.mark.parametrize("case", CASES, ids=IDS)
BACKEND = pytest.mark.parametrize("B", BACKENDS, ids=lambda B: B.name)
CASE_BY_NAME = {c.name: c for c in CASES}
#: The sample shape of every draw whose values are compared.
N = (3,)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sample(B, d, shape=N, seed=0):
    if B is Pyro:
        torch.manual_seed(seed)
        return d.rsample(torch.Size(shape))
    return d.sample(jax.random.PRNGKey(seed), tuple(shape))


def event_sum(x, case):
    """Sum of a value over its event dimensions (both backends)."""
    return x.sum(tuple(range(-case.event_ndim, 0))) if case.event_ndim else x


def base_of(d):
    """The distribution under NumPyro's ``ExpandedDistribution`` wrapper."""
    return getattr(d, "base_dist", d)


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def assert_close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol)


def relaxed_classes(module, base):
    return {name for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, base) and getattr(obj, "support_name", "")
            and obj.__module__.startswith("relaxed_dists")}


# ---------------------------------------------------------------- the table
def test_table_covers_every_class():
    """Every public class of both adapters has a row, so every generic test
    runs for it, or (a discrete class) a test file of its own."""
    names = {c.name for c in CASES}
    assert relaxed_classes(rp, pd.TorchDistribution) == names | set(OWN_FILES)
    assert relaxed_classes(rn, nd.Distribution) == names | set(OWN_FILES)
    assert len(names) == len(CASES)
    assert not names & set(OWN_FILES)
    here = pathlib.Path(__file__).parent
    assert all((here / f).exists() for f in OWN_FILES.values())


@BACKEND
@CASE
def test_class_attributes(B, case):
    """The row matches the class's declared static arguments and shapes."""
    cls = getattr(B.module, case.name)
    assert tuple(cls.static_args) == tuple(case.static)
    assert cls.category_dim == case.category_dim
    d = make(B, case)
    assert isinstance(d.support_name, str) and d.support_name  # may depend on static args
    assert tuple(d.batch_shape) == BATCH and tuple(d.event_shape) == case.event_shape
    for key, value in case.static.items():
        assert getattr(d, key) == value
    if B is Pyro:
        assert d.has_rsample
    assert d.support.event_dim == case.event_ndim


@BACKEND
@CASE
def test_probs_and_logits_give_the_same_distribution(B, case):
    p = case.probs
    d_p = make(B, case, probs=p)
    logits = np.log(p) if case.category_dim else np.log(p) - np.log1p(-p)
    d_l = make(B, case, logits=logits)
    assert_close(d_p.logits, logits)
    assert_close(d_l.probs, p)
    x = sample(B, d_p, seed=5)
    assert_close(x, sample(B, d_l, seed=5), atol=1e-13)
    assert_close(d_p.log_prob(x), d_l.log_prob(x), rtol=1e-11)


# ---------------------------------------------------------------- shapes
def _shapes(B, d, sample_shape):
    """Shapes of a draw and of its log_prob (NumPyro: traced, not compiled)."""
    if B is Pyro:
        x = sample(B, d, sample_shape)
        return tuple(x.shape), tuple(d.log_prob(x).shape)
    x = jax.eval_shape(lambda: d.sample(jax.random.PRNGKey(0), sample_shape))
    return tuple(x.shape), tuple(jax.eval_shape(d.log_prob, x).shape)


@BACKEND
@CASE
@pytest.mark.parametrize("sample_shape", [(), (2,), (2, 3)], ids=str)
def test_shapes(B, case, sample_shape):
    event = case.event_shape
    d = make(B, case)
    assert _shapes(B, d, sample_shape) == (sample_shape + BATCH + event, sample_shape + BATCH)
    e = d.expand((3,) + BATCH)
    assert tuple(e.batch_shape) == (3,) + BATCH and tuple(e.event_shape) == event
    assert _shapes(B, e, sample_shape) == (sample_shape + (3,) + BATCH + event,
                                           sample_shape + (3,) + BATCH)


@BACKEND
@CASE
def test_temperature_and_logits_broadcast(B, case):
    """Temperature of shape (1, 2) and logits of batch (3, 1): batch (3, 2),
    each element with its own temperature and logits. Pyro: the draw and
    log_prob against the core with the parameters broadcast by hand (the
    broadcasting is the backend-neutral body's); NumPyro: the shapes, traced
    (eagerly, JAX would compile every operation again for these shapes)."""
    temps = TEMPERATURE[None, :]
    logits = case.logits[:, None][[0, 1, 0]]  # batch (3, 1), rows differ
    d = make(B, case, temperature=temps, logits=logits)
    assert tuple(d.batch_shape) == (3,) + BATCH
    assert _shapes(B, d, (2,)) == ((2, 3) + BATCH + case.event_shape, (2, 3) + BATCH)
    if B is Pyro:
        full_t = np.broadcast_to(temps, (3,) + BATCH)
        full_l = np.broadcast_to(logits, (3,) + BATCH + logits.shape[2:])
        x = _np(sample(B, d, (), seed=6))
        u = _np(B.uniforms((3,) + case.noise_shape(), B.asarray(0.0).dtype, seed=6))
        assert_close(x, case.core(full_l, full_t, u), atol=1e-13)
        assert_close(d.log_prob(B.asarray(x)), case.core_density(full_l, full_t, x))


@BACKEND
@CASE
def test_expand_keeps_static_args_and_values(B, case):
    d = make(B, case, validate_args=True)
    e = d.expand((3,) + BATCH)
    for key, value in case.static.items():
        assert getattr(base_of(e), key) == value
    if B is NumPyro:  # and through a pytree round trip (NumPyro wraps the base)
        leaves, tree = jax.tree_util.tree_flatten(e)
        f = jax.tree_util.tree_unflatten(tree, leaves)
        for key, value in case.static.items():
            assert getattr(base_of(f), key) == value
    x = sample(B, d)  # batch (3, 2) as a draw of sample shape (3,)
    assert_close(e.log_prob(x), d.log_prob(x))
    y = sample(B, e, ())
    assert tuple(y.shape) == (3,) + BATCH + case.event_shape
    assert np.all(np.isfinite(_np(e.log_prob(y))))  # validated: in the support


def _shape_cases(case):
    """(argument shapes, expected batch shape) for ``infer_shapes``."""
    p = (K,) if case.category_dim else ()
    return [
        ({"temperature": (), "logits": (3,) + p}, (3,)),
        ({"temperature": (2, 1), "logits": (3,) + p}, (2, 3)),
        ({"temperature": (2,), "probs": p}, (2,)),
        ({"temperature": (), "probs": (5, 1) + p}, (5, 1)),
    ]


@BACKEND
@CASE
def test_infer_shapes(B, case):
    cls = getattr(B.module, case.name)
    for arg_shapes, batch in _shape_cases(case):
        got = cls.infer_shapes(**arg_shapes, **case.static)
        assert tuple(map(tuple, got)) == (batch, case.event_shape), (arg_shapes, got)
        if B is Pyro:
            assert all(isinstance(s, torch.Size) for s in got)
        # the shapes of an instance built from arrays of those shapes
        given = "logits" if "logits" in arg_shapes else "probs"
        fill = 0.0 if given == "logits" else (1 / K if case.category_dim else 0.5)
        value = np.full(arg_shapes[given], fill)
        build = functools.partial(make, B, case, temperature=np.ones(arg_shapes["temperature"]),
                                  **{given: value})
        d = build() if B is Pyro else jax.eval_shape(build)  # a pytree: traced, not compiled
        assert (tuple(d.batch_shape), tuple(d.event_shape)) == (batch, case.event_shape)


# ---------------------------------------------------------------- NumPyro host conventions
@CASE
def test_numpyro_reparametrized_params_on_the_class(case):
    cls = getattr(rn, case.name)
    names = cls.reparametrized_params  # read from the class, as NumPyro's reparam handlers do
    assert isinstance(names, list) and {"temperature", "logits"} <= set(names)
    assert set(names) <= set(cls.arg_constraints)
    assert make(NumPyro, case).reparametrized_params == names


@CASE
def test_numpyro_pytree_round_trip_and_jit(case):
    """tree_flatten / tree_unflatten keep the class, shapes and static
    arguments; ``log_prob`` under ``jax.jit`` (the distribution an argument,
    so flattened and rebuilt) equals eager. (Sampling is traced, as jit
    does, in ``test_shapes``; the jitted samplers are the subject of the
    family files, whose adapter faces jit them.)"""
    d = make(NumPyro, case)
    leaves, tree = jax.tree_util.tree_flatten(d)
    d2 = jax.tree_util.tree_unflatten(tree, leaves)
    assert type(d2) is type(d) and d2.batch_shape == d.batch_shape and d2.event_shape == d.event_shape
    for key, value in case.static.items():
        assert getattr(d2, key) == value
    x = sample(NumPyro, d)
    assert_close(sample(NumPyro, d2), x, atol=0)
    lp = jax.jit(lambda dd, v: dd.log_prob(v))(d2, x)
    assert_close(lp, d.log_prob(x))
    assert_close(lp, case.core_density(case.logits, TEMPERATURE, np.asarray(x)))


@CASE
def test_numpyro_vmap_over_a_batch_of_distributions(case):
    """``jax.vmap`` over distributions of batch () with the out-axes of
    ``vmap_over`` is the batched distribution: the same log_prob, and (as
    NumPyro's own test asks) the shapes kept by a vmap over an axis of size 1."""
    cls = getattr(rn, case.name)
    logits, temps = jnp.asarray(case.logits), jnp.asarray(TEMPERATURE)

    def single(t, l):
        return cls(t, logits=l, **case.static)

    axes = vmap_over(single(temps[0], logits[0]), temperature=0, logits=0)
    batched = make(NumPyro, case)
    x = sample(NumPyro, batched)

    @jax.jit
    def through_vmap(t, l, x):
        ds = jax.vmap(single, out_axes=axes)(t, l)
        return jax.vmap(lambda d, v: d.log_prob(v), in_axes=(axes, 1), out_axes=1)(ds, x)

    assert_close(through_vmap(temps, logits, x), batched.log_prob(x))
    d1 = jax.vmap(single, out_axes=axes)(temps[:1], logits[:1])
    assert d1.batch_shape == () and d1.event_shape == case.event_shape
    assert d1.temperature.shape == (1,)


def _obs_model(name, data):
    """A model observing ``data`` from the class (module level: picklable)."""
    case = CASE_BY_NAME[name]
    numpyro.sample("x", getattr(rn, name)(0.7, logits=case.logits, **case.static).to_event(1),
                   obs=data)


@CASE
def test_numpyro_accepts_numpy_arrays_and_python_scalars(case):
    """Parameters and values as NumPy arrays or Python scalars (as NumPyro's
    own classes accept them), eagerly and as ``obs=`` data of a model."""
    cls = getattr(rn, case.name)
    ref = make(NumPyro, case, temperature=0.7)
    x = np.asarray(sample(NumPyro, ref))
    expected = case.core_density(case.logits, np.full(BATCH, 0.7), x)
    for kwargs in ({"logits": case.logits}, {"probs": case.probs}):
        d = cls(0.7, **kwargs, **case.static)  # Python float temperature, NumPy parameter
        assert_close(d.log_prob(x), expected, rtol=1e-10)  # NumPy value
        assert_close(d.sample(jax.random.PRNGKey(0), N), x, atol=1e-13)
    if not case.category_dim:  # Python scalars for every argument and the value
        s = cls(0.7, logits=float(case.logits[0]))
        v = float(x[0, 0])
        assert_close(s.log_prob(v), case.core_density(case.logits[0], np.asarray(0.7), np.asarray(v)),
                     rtol=1e-10)
    lp, _ = numpyro.infer.util.log_density(functools.partial(_obs_model, case.name, x), (), {}, {})
    assert_close(lp, expected.sum(), rtol=1e-10)


@CASE
def test_numpyro_invalid_parameter_raises_inside_jit(case):
    """A bad concrete argument raises inside ``jax.jit`` as NumPyro's own
    classes do (validation runs on concrete values)."""
    with pytest.raises(ValueError):  # the host's behaviour we match
        jax.jit(lambda: nd.Normal(0.0, -1.0, validate_args=True).log_prob(0.0))()
    cls = getattr(rn, case.name)
    x = np.asarray(sample(NumPyro, make(NumPyro, case)))
    with pytest.raises(ValueError, match="temperature"):
        jax.jit(lambda: cls(-1.0, logits=case.logits, validate_args=True, **case.static).log_prob(x))()
    with pytest.raises(ValueError, match="temperature"):
        jax.jit(lambda v: cls(np.array([0.5, -1.0]), logits=case.logits, validate_args=True,
                              **case.static).log_prob(v))(x)


# ---------------------------------------------------------------- errors
@BACKEND
@CASE
@pytest.mark.parametrize("validate_args", [None, True], ids=["default", "validate"])
def test_value_whose_batch_does_not_broadcast_raises_naming_value(B, case, validate_args):
    d = make(B, case, validate_args=validate_args)
    x = _np(sample(B, d))
    bad = np.concatenate([x[0], x[0][:1]])  # batch (3,) against (2,)
    with pytest.raises(ValueError, match=r"(?i)\bvalue\b"):
        d.log_prob(B.asarray(bad))


# ---------------------------------------------------------------- pickling
def _round_trip(d, how):
    if how == "pickle":
        return pickle.loads(pickle.dumps(d))
    if how == "cloudpickle":
        return cloudpickle.loads(cloudpickle.dumps(d))
    if how == "deepcopy":
        return copy.deepcopy(d)
    buf = io.BytesIO()  # torch.save
    torch.save(d, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


PICKLERS = [(Pyro, h) for h in ("pickle", "cloudpickle", "torch.save", "deepcopy")] + [
    (NumPyro, h) for h in ("pickle", "cloudpickle", "deepcopy")]


def _stages(B, case):
    """Distributions to copy: fresh, after sampling on the object itself,
    and (Pyro) after an ``rsample`` and the fast ``log_prob`` with
    parameters that require grad, and a backward pass."""
    yield "fresh", make(B, case)
    d = make(B, case)
    if B is Pyro:
        d.rsample(N)
        d.rsample_with_intermediates(N)
    else:
        d.sample(jax.random.PRNGKey(1), N)
        d.sample_with_intermediates(jax.random.PRNGKey(1), N)
    yield "sampled", d
    if B is Pyro:
        d = make(B, case, logits=torch.tensor(case.logits, requires_grad=True),
                 temperature=torch.tensor(TEMPERATURE, requires_grad=True))
        x, inter = d.rsample_with_intermediates(N)
        (x.sum() + d.log_prob(x, inter).sum()).backward()
        yield "sampled with grad", d


@pytest.mark.parametrize("B,how", PICKLERS, ids=[f"{B.name}-{h}" for B, h in PICKLERS])
@CASE
def test_pickle_round_trip(B, how, case):
    """The copy is the same distribution: class, shapes, static arguments,
    log_prob and draws. The support and its registered bijection (what a
    fitted AutoGuide holds) copy too."""
    value = sample(B, make(B, case), seed=9)
    support = make(B, case).support
    copied = _round_trip(support, how)
    assert type(copied) is type(support) and repr(copied) == repr(support)
    if case.bijection:
        t = (torch.distributions.biject_to if B is Pyro else nd.biject_to)(support)
        copied = _round_trip(t, how)
        assert type(copied) is type(t) and repr(copied.codomain) == repr(t.codomain)
        if B is Pyro:  # the copy maps as the original (NumPyro: eager JAX would compile it)
            z = t.inv(value)
            assert_close(copied(z), t(z), atol=0)

    for stage, d in _stages(B, case):
        d2 = _round_trip(d, how)
        assert type(d2) is type(d), stage
        assert d2.batch_shape == d.batch_shape and d2.event_shape == d.event_shape, stage
        for key, v in case.static.items():
            assert getattr(d2, key) == v, stage
        np.testing.assert_array_equal(_np(d2.log_prob(value)), _np(d.log_prob(value)), stage)
        np.testing.assert_array_equal(_np(sample(B, d2, seed=4)), _np(sample(B, d, seed=4)), stage)


# ---------------------------------------------------------------- torch.jit.trace
#: torch 2.13 deprecates ``torch.jit.trace`` (which Pyro's JitTrace_ELBO
#: uses) in favour of ``torch.compile``: the host's notice, not ours.
TRACE_DEPRECATED = r"`torch.jit.trace` is deprecated"


def _pyro_args(case):
    return torch.as_tensor(case.logits), torch.as_tensor(TEMPERATURE)


def _strict_trace(fn, args):
    """``torch.jit.trace`` with every warning (TracerWarning included) an
    error, except torch's deprecation notice of ``torch.jit.trace`` itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=TRACE_DEPRECATED, category=DeprecationWarning)
        return torch.jit.trace(fn, args, check_trace=False)


def _call_strict(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


@CASE
def test_pyro_jit_trace_of_rsample_equals_eager(case):
    """Traced ``rsample``, ``rsample_with_intermediates``, ``log_prob`` by
    both routes (and the score term where a discrete choice is scored) equal
    eager under the same ``torch.manual_seed``."""
    cls = getattr(rp, case.name)

    def draw(logits, temperature):
        d = cls(temperature, logits=logits, validate_args=False, **case.static)
        x, inter = d.rsample_with_intermediates(N)
        out = (d.rsample((2,)), x, d.log_prob(x, inter), d.log_prob(x))
        score = d.score_parts(x).score_function
        return out + (score,) if isinstance(score, torch.Tensor) else out

    args = _pyro_args(case)
    torch.manual_seed(0)
    traced = _strict_trace(draw, args)
    for seed in (5, 6):
        torch.manual_seed(seed)
        eager = draw(*args)
        torch.manual_seed(seed)
        got = _call_strict(traced, *args)
        assert len(got) == len(eager)
        for a, b in zip(got, eager):
            assert_close(a, b)
    assert not torch.equal(got[0][0], got[0][1])  # fresh noise in every call


@CASE
def test_pyro_jit_trace_of_log_prob_equals_eager_including_the_boundary(case):
    """Traced at an interior value and evaluated at the boundary (and the
    other way round), ``log_prob`` equals eager, which is the core's
    documented limit there (``+inf`` or ``-inf``, never NaN)."""
    cls = getattr(rp, case.name)
    args = _pyro_args(case)

    def score(logits, temperature, value):
        return cls(temperature, logits=logits, validate_args=False, **case.static).log_prob(value)

    d = make(Pyro, case)
    values = [sample(Pyro, d, (), seed=2), sample(Pyro, d, (), seed=3)]
    if case.boundary is not None:
        values[1] = torch.as_tensor(case.boundary)
        limit = case.core_density(case.logits, TEMPERATURE, case.boundary)
        assert not np.any(np.isnan(limit)) and np.any(np.isinf(limit))
        np.testing.assert_array_equal(score(*args, values[1]).numpy(), limit)
    for example in values:
        traced = _strict_trace(score, args + (example,))
        for v in values:
            assert_close(_call_strict(traced, *args, v), score(*args, v))


def _pyro_model(case):
    """A model with the class as a latent of batch (2,) and a Normal
    observation of its sum. Every tensor is made outside the model: one made
    inside would be a constant of a trace (a TracerWarning)."""
    cls = getattr(rp, case.name)
    prior = torch.as_tensor(case.logits)
    tau = torch.as_tensor(TEMPERATURE)
    obs = torch.tensor([0.3, -0.2], dtype=torch.float64)
    scale = torch.ones((), dtype=torch.float64)

    def model():
        with pyro.plate("batch", BATCH[0]):
            x = pyro.sample("x", cls(tau, logits=prior, **case.static))
            pyro.sample("y", pd.Normal(event_sum(x, case), scale), obs=obs)

    return model


def _pyro_guide(case):
    """A guide of the same class with its own logits (``q_logits``)."""
    cls = getattr(rp, case.name)
    prior = torch.as_tensor(case.logits)
    tau = torch.as_tensor(TEMPERATURE)

    def guide():
        logits = pyro.param("q_logits", prior.clone())
        with pyro.plate("batch", BATCH[0]):
            pyro.sample("x", cls(tau, logits=logits, **case.static))

    return guide


@CASE
@pytest.mark.filterwarnings(f"ignore:{TRACE_DEPRECATED}:DeprecationWarning")
# Pyro's own ELBO code warns when it sums a score-function term (Pyro's own
# Bernoulli in a guide does too); a warning from our code is still an error.
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning:pyro.infer.util")
def test_pyro_jit_trace_elbo_runs(case):
    """A few SVI steps with ``JitTrace_ELBO`` (traced model and guide) over a
    latent of the class: finite losses, and the guide's logits move."""
    prior = torch.as_tensor(case.logits)
    model, guide = _pyro_model(case), _pyro_guide(case)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}),
                         pyro.infer.JitTrace_ELBO(max_plate_nesting=1))
    losses = [svi.step() for _ in range(3)]
    assert np.all(np.isfinite(losses))
    q = pyro.param("q_logits").detach()
    assert torch.all(torch.isfinite(q)) and not torch.equal(q, prior)
    pyro.clear_param_store()


# ---------------------------------------------------------------- intermediates
@BACKEND
@CASE
def test_log_prob_with_intermediates_equals_log_prob(B, case):
    """``log_prob(value, intermediates)`` of a fresh draw is ``log_prob(value)``.
    Pyro: the same values and the same gradients (through the value too)
    w.r.t. the temperature and the logits or the probs. NumPyro: the same
    values; the gradients of the intermediates route are checked against
    central differences in ``test_gradients_match_central_differences``
    (eager JAX gradients compile each operation: one per class is enough)."""
    w = np.random.default_rng(1).normal(size=N + BATCH + case.event_shape)
    if B is Pyro:
        def run(fast, given):
            param = torch.tensor(getattr(case, given), requires_grad=True)
            tau = torch.tensor(TEMPERATURE, requires_grad=True)
            torch.manual_seed(3)
            d = make(Pyro, case, temperature=tau, **{given: param})
            x, inter = d.rsample_with_intermediates(N)
            lp = d.log_prob(x, inter) if fast else d.log_prob(x)
            grads = torch.autograd.grad((x * torch.as_tensor(w)).sum() + lp.sum(), [param, tau])
            return [lp.detach().numpy()] + [g.numpy() for g in grads]

        pairs = [(run(True, given), run(False, given)) for given in ("logits", "probs")]
    else:
        d = make(NumPyro, case)
        x, inter = d.sample_with_intermediates(jax.random.PRNGKey(3), N)
        assert_close(x, sample(NumPyro, d, seed=3), atol=0)
        pairs = [([d.log_prob(x, inter)], [d.log_prob(x)])]
    for fast, general in pairs:
        assert np.all(np.isfinite(np.asarray(fast[0])))
        for a, b in zip(fast, general):
            assert_close(a, b, rtol=1e-10, atol=1e-10)
        if len(fast) > 1:
            assert max(np.abs(np.asarray(g)).max() for g in fast[1:]) > 1e-3


# ---------------------------------------------------------------- fitted guides
@CASE
@pytest.mark.parametrize("guide_cls", ["AutoDelta", "AutoNormal"])
def test_pyro_param_store_saves_and_loads_a_fitted_autoguide(case, guide_cls, tmp_path):
    """After a few SVI steps the param store (parameters and their
    constraints, the supports among them for ``AutoDelta``) saves and loads,
    and the loaded guide draws the same point. A support without a bijection
    makes the AutoGuide raise ``ValueError`` saying so; its model is then
    fitted with a hand-written guide of the same class."""
    model = _pyro_model(case)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    # init_to_sample: a draw of the prior is in the support (a median of
    # m-hot rows may repeat an argmax)
    guide = getattr(pyro.infer.autoguide, guide_cls)(
        model, init_loc_fn=pyro.infer.autoguide.init_to_sample)
    if not case.bijection:
        with pytest.raises(ValueError, match="no bijection"):
            guide()
        guide = _pyro_guide(case)
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}),
                         pyro.infer.Trace_ELBO(max_plate_nesting=1))
    for _ in range(3):
        svi.step()

    def draw():
        pyro.set_rng_seed(5)
        return pyro.poutine.trace(guide).get_trace().nodes["x"]["value"].detach().numpy()

    store = pyro.get_param_store()
    saved = {name: value.detach().clone() for name, value in store.items()}
    point = draw()
    store.save(tmp_path / "params.pt")
    pyro.clear_param_store()
    store.load(tmp_path / "params.pt")
    assert set(store.keys()) == set(saved)
    for name, value in saved.items():
        np.testing.assert_array_equal(store[name].detach().numpy(), value.numpy())
    np.testing.assert_array_equal(draw(), point)
    pyro.clear_param_store()


def _plated_model(name):
    """The class as a latent under plates (3, 2) (draws of the shape of the
    other tests), a Normal observation of its sum (module level: picklable)."""
    case = CASE_BY_NAME[name]
    with numpyro.plate("rep", N[0], dim=-2), numpyro.plate("batch", BATCH[0], dim=-1):
        x = numpyro.sample("x", make(NumPyro, case))
        numpyro.sample("y", nd.Normal(event_sum(x, case), 1.0), obs=jnp.array([0.3, -0.2]))


# Marked slow where a guide is fitted: AutoNormal's initialisation and first
# step differentiate the model eagerly at unconstrained shapes that no other
# test uses, 3-5 s of compilation per class (10 s for the first). What each
# class contributes to a pickled guide (the distribution, its support and
# the support's bijection) is pickled for every row in test_pickle_round_trip.
@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=pytest.mark.slow if c.bijection else ()) for c in CASES])
def test_numpyro_fitted_autonormal_guide_and_params_pickle(case):
    """A fitted AutoNormal guide and its params pickle; the copy gives the
    same median. A support without a bijection makes it raise ``ValueError``
    saying so."""
    model = functools.partial(_plated_model, case.name)
    guide = numpyro.infer.autoguide.AutoNormal(model, init_loc_fn=numpyro.infer.init_to_sample)
    svi = numpyro.infer.SVI(model, guide, numpyro.optim.Adam(0.05), numpyro.infer.Trace_ELBO())
    if not case.bijection:
        with pytest.raises(ValueError, match="no bijection"):
            svi.init(jax.random.PRNGKey(0))
        return
    state = svi.init(jax.random.PRNGKey(0))
    for _ in range(3):
        state, _ = svi.update(state)
    params = svi.get_params(state)
    guide2, params2 = pickle.loads(pickle.dumps((guide, params)))
    for name, value in params.items():
        np.testing.assert_array_equal(params2[name], value)
    np.testing.assert_array_equal(guide2.median(params2)["x"], guide.median(params)["x"])


# ---------------------------------------------------------------- gradients
@BACKEND
@CASE
def test_gradients_match_central_differences(B, case):
    """d/d(logits, temperature) of sum(w * x) + sum(log_prob(x)) for a draw
    ``x`` of fixed noise (the pathwise ELBO term), plus ``log_prob`` at a
    fixed value, against central differences (float64). NumPyro scores the
    draw by the intermediates route, as its ELBOs do (one eager gradient per
    class); the differences use the general route, the same function."""
    w = np.random.default_rng(2).normal(size=N + BATCH + case.event_shape)
    fixed = B.asarray(_np(sample(B, make(B, case), seed=8)))
    logits, tau = case.logits, TEMPERATURE
    if B is Pyro:
        def objective(l, t):
            torch.manual_seed(11)
            d = make(Pyro, case, temperature=t, logits=l)
            x = d.rsample(N)
            return (x * torch.as_tensor(w)).sum() + d.log_prob(x).sum() + d.log_prob(fixed).sum()

        lt = torch.tensor(logits, requires_grad=True)
        tt = torch.tensor(tau, requires_grad=True)
        grads = torch.autograd.grad(objective(lt, tt), [lt, tt])
    else:
        cls = getattr(rn, case.name)
        key = jax.random.PRNGKey(11)

        def objective(l, t, fast=False):
            d = cls(t, logits=l, **case.static)
            x, inter = d.sample_with_intermediates(key, N)
            lp = d.log_prob(x, inter) if fast else d.log_prob(x)
            return jnp.sum(x * w) + jnp.sum(lp) + jnp.sum(d.log_prob(fixed))

        grads = jax.grad(functools.partial(objective, fast=True), argnums=(0, 1))(
            jnp.asarray(logits), jnp.asarray(tau))

    def f(l, t):
        return float(objective(B.asarray(l), B.asarray(t)))

    numeric = (central_differences(lambda l: f(l, tau), logits),
               central_differences(lambda t: f(logits, t), tau))
    for g, n in zip(grads, numeric):
        np.testing.assert_allclose(_np(g), n, rtol=1e-6, atol=1e-6)
        assert np.abs(n).max() > 1e-2


# ---------------------------------------------------------------- parity
@CASE
def test_both_backends_are_the_core_of_their_uniforms(case):
    """Each backend's draw is the NumPy core function of the uniforms it
    drew, and both backends' log_prob of either draw is the core's density
    (float64, 1e-12): the same uniforms give the same numbers everywhere."""
    draws = []
    for B in BACKENDS:
        x = _np(sample(B, make(B, case), seed=7))
        u = _np(B.uniforms(case.noise_shape(N), B.asarray(0.0).dtype, seed=7))
        assert_close(x, case.core(case.logits, TEMPERATURE, u), atol=1e-13)
        draws.append(np.array(x))  # a writable copy
    for x in draws:
        expected = case.core_density(case.logits, TEMPERATURE, x)
        assert np.all(np.isfinite(expected))
        for B in BACKENDS:
            assert_close(make(B, case).log_prob(B.asarray(x)), expected)
