"""Backend detection for the core: every core function takes its array
namespace from its arguments; there is no global backend."""

import contextlib
import math
import sys

import array_api_compat
import numpy as np

__all__ = ["array_namespace", "is_torch", "is_jax", "stop_gradient", "finfo", "host_any",
           "quiet_nonfinite", "errstate", "eager_on_host", "bounded_loop", "on_row_shards",
           "torch_is_tracing", "torch_compiling"]


def array_namespace(*xs):
    """The array-API namespace of ``xs`` (ignoring ``None`` and Python scalars;
    NumPy scalars such as ``np.float64``, a subclass of ``float``, count)."""
    arrays = [x for x in xs if x is not None and type(x) not in (int, float, bool)]
    return array_api_compat.array_namespace(*arrays)


def is_torch(xp):
    return array_api_compat.is_torch_namespace(xp)


def is_jax(xp):
    return array_api_compat.is_jax_namespace(xp)


def stop_gradient(x):
    """``x`` with gradients stopped (identity on backends without autodiff)."""
    xp = array_namespace(x)
    if is_torch(xp):
        return x.detach()
    if is_jax(xp):
        import jax

        return jax.lax.stop_gradient(x)
    return x


def torch_is_tracing():
    """Whether torch is recording a graph (``torch.jit.trace``, ``torch.compile``
    / ``torch.export``): a Python branch on tensor values would be frozen into
    the graph (or break it), so the general, branch-free path must run."""
    import torch

    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def torch_compiling():
    """Whether ``torch.compile`` (or ``torch.export``) is tracing, asked
    without importing torch (nothing compiles while it is not loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.compiler.is_compiling()


def finfo(x):
    """Float information for the dtype of the array ``x``."""
    return array_namespace(x).finfo(x.dtype)


def host_any(flag):
    """``bool(any(flag))`` where that is free to ask: NumPy-like arrays, torch
    CPU tensors and JAX arrays outside a trace; ``None`` elsewhere (inside
    ``jax.jit``/``vmap``/``grad``, or on an accelerator, where asking would
    synchronise), and the caller takes its general path."""
    xp = array_namespace(flag)
    if is_torch(xp):
        if flag.device.type != "cpu" or torch_is_tracing():
            return None
        return bool(flag.any())
    if is_jax(xp):
        import jax

        if isinstance(flag, jax.core.Tracer) or any(d.platform != "cpu" for d in flag.devices()):
            return None
        return bool(xp.any(flag))
    return bool(xp.any(flag))


def errstate(**kwargs):
    """``np.errstate(**kwargs)``: NumPy's (and ``array_api_strict``'s)
    floating-point warnings off where the caller handles the value; a
    no-op context while ``torch.compile`` traces (torch never warns there,
    and the tracer cannot enter NumPy's context)."""
    if torch_compiling():
        return contextlib.nullcontext()
    return np.errstate(**kwargs)


def quiet_nonfinite():
    """A context in which NumPy (and ``array_api_strict``, which runs on it)
    computes ``log 0`` and ``inf - inf`` without warnings, for fast paths
    that detect those values afterwards; other backends never warn."""
    return errstate(divide="ignore", invalid="ignore")


def eager_on_host(x):
    """Whether ``x`` is computed eagerly on the host, where asking its values
    is free and a loop may drop finished rows: a NumPy array, or a torch CPU
    tensor outside a graph recorder."""
    if isinstance(x, np.ndarray):
        return True
    return (is_torch(array_namespace(x)) and x.device.type == "cpu"
            and not torch_is_tracing())


def bounded_loop(body, data, state, max_iter, pending):
    """Apply ``state = body(data, state)`` at most ``max_iter`` times,
    stopping early once ``pending(state)`` (a boolean vector: which rows still
    move) is all False. ``data`` and ``state`` are tuples of arrays whose
    first axis is the row; ``body`` must leave finished rows unchanged, so the
    result is that of exactly ``max_iter`` passes.

    Eager on the host (NumPy, torch on the CPU) the check is a Python ``if``,
    and once at most half the rows still move, the loop goes on with those
    rows alone (the others are written to the result), so its cost follows
    the rows that need it. Inside a JAX trace it is a ``lax.while_loop`` (it
    runs under ``jit`` and ``vmap``; call it on stopped values only, as
    reverse-mode differentiation does not go through it), on each device's
    own rows where the arrays lie on several (:func:`on_row_shards`: its
    stopping test is then that device's, with no all-reduce per pass).
    Elsewhere (an accelerator) all ``max_iter`` passes run."""
    probe = pending(state)
    xp = array_namespace(probe)
    if is_jax(xp):
        import jax

        if isinstance(probe, jax.core.Tracer):
            def cond(carry):
                i, st = carry
                return (i < max_iter) & xp.any(pending(st))

            def loop(data, state):
                return jax.lax.while_loop(cond, lambda c: (c[0] + 1, body(data, c[1])),
                                          (0, state))[1]

            return on_row_shards(loop, data, state)
    if not eager_on_host(probe):
        for _ in range(max_iter):
            if host_any(probe) is False:
                break
            state = body(data, state)
            probe = pending(state)
        return state
    out = tuple(xp.asarray(a, copy=True) for a in state)
    rows = xp.arange(probe.shape[0])
    for _ in range(max_iter):
        moving = int(xp.sum(xp.astype(probe, xp.int64)))
        if moving == 0:
            break
        if 2 * moving <= probe.shape[0]:
            keep, done = xp.nonzero(probe)[0], xp.nonzero(~probe)[0]
            for o, a in zip(out, state):
                o[rows[done]] = a[done]
            rows = rows[keep]
            data = tuple(a[keep] for a in data)
            state = tuple(a[keep] for a in state)
        state = body(data, state)
        probe = pending(state)
    for o, a in zip(out, state):
        o[rows] = a
    return out


def _row_mesh(x):
    """``(mesh, axes)``: the abstract mesh of several devices on which the
    JAX array ``x`` lies and its automatically partitioned axes (those that
    no enclosing ``shard_map`` has mapped already), or ``None`` (one device,
    axes set by hand or explicitly, or a JAX without ``jax.typeof`` and
    ``jax.shard_map``)."""
    import jax

    if not (hasattr(jax, "typeof") and hasattr(jax, "shard_map")):
        return None
    mesh = getattr(getattr(jax.typeof(x), "sharding", None), "mesh", None)
    if mesh is None or getattr(mesh, "empty", True):
        return None
    types = dict(zip(mesh.axis_names, mesh.axis_types))
    axes = tuple(a for a in mesh.axis_names if types[a] == jax.sharding.AxisType.Auto)
    if any(t == jax.sharding.AxisType.Explicit for t in types.values()):
        return None
    if math.prod(mesh.shape[a] for a in axes) < 2:
        return None
    return mesh, axes


def on_row_shards(fn, *args):
    """``fn(*args)``, for a JAX function that treats each row (an index of the
    first axis of every array in ``args`` and in its result) on its own.
    Where the arrays lie on a mesh of several devices (inside ``jax.jit``
    with sharded inputs), ``fn`` runs under ``jax.shard_map`` with the rows
    split over the mesh: each device runs it on its own rows and nothing
    inside communicates. XLA's partitioner would otherwise all-reduce a
    ``while_loop``'s stopping test in every pass, or gather the rows for an
    operation it cannot split (``lax.top_k`` on the CPU). The rows are
    padded to a multiple of the number of devices with copies of the last
    one. Rows laid out otherwise (replicated, or split along a later axis
    of the batch) are moved at the boundary, outside ``fn``."""
    import jax

    leaves = jax.tree_util.tree_leaves(args)
    found = _row_mesh(leaves[0]) if leaves else None
    rows = leaves[0].shape[0] if leaves else 0
    if found is None or rows == 0:
        return fn(*args)
    mesh, axes = found
    pad = -rows % math.prod(mesh.shape[a] for a in axes)

    def padded(a):
        return a if pad == 0 else jax.numpy.concatenate([a] + [a[-1:]] * pad, axis=0)

    spec = jax.sharding.PartitionSpec(axes)
    out = jax.shard_map(fn, mesh=mesh, in_specs=(spec,) * len(args), out_specs=spec,
                        axis_names=frozenset(axes), check_vma=False)(
        *jax.tree_util.tree_map(padded, args))
    return out if pad == 0 else jax.tree_util.tree_map(lambda a: a[:rows], out)
