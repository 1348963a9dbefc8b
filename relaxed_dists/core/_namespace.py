"""Backend detection for the core: every core function takes its array
namespace from its arguments; there is no global backend."""

import array_api_compat

__all__ = ["array_namespace", "is_torch", "is_jax", "stop_gradient", "finfo"]


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


def finfo(x):
    """Float information for the dtype of the array ``x``."""
    return array_namespace(x).finfo(x.dtype)
