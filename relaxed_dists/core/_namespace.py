"""Backend detection for the core: every core function takes its array
namespace from its arguments; there is no global backend."""

import array_api_compat
import numpy as np

__all__ = ["array_namespace", "is_torch", "is_jax", "stop_gradient", "finfo", "host_any",
           "quiet_nonfinite", "bounded_loop", "torch_is_tracing"]


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


def quiet_nonfinite():
    """A context in which NumPy (and ``array_api_strict``, which runs on it)
    computes ``log 0`` and ``inf - inf`` without warnings, for fast paths
    that detect those values afterwards; other backends never warn."""
    return np.errstate(divide="ignore", invalid="ignore")


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
    reverse-mode differentiation does not go through it). Elsewhere (an
    accelerator) all ``max_iter`` passes run."""
    probe = pending(state)
    xp = array_namespace(probe)
    if is_jax(xp):
        import jax

        if isinstance(probe, jax.core.Tracer):
            def cond(carry):
                i, st = carry
                return (i < max_iter) & xp.any(pending(st))

            return jax.lax.while_loop(cond, lambda c: (c[0] + 1, body(data, c[1])), (0, state))[1]
    compact = isinstance(probe, np.ndarray) or (
        is_torch(xp) and probe.device.type == "cpu" and not torch_is_tracing())
    if not compact:
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
