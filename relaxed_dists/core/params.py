"""Argument handling shared by the adapters: which of ``probs`` / ``logits``
was given, and the batch shape it broadcasts to with the temperature."""

__all__ = ["given_param", "param_shapes", "broadcast_shapes"]


def given_param(cls_name, probs, logits):
    """``("probs", probs)`` or ``("logits", logits)``; ``ValueError`` unless
    exactly one is given."""
    if (probs is None) == (logits is None):
        raise ValueError(
            f"{cls_name}: pass exactly one of `probs` or `logits`, "
            f"got {'both' if probs is not None else 'neither'}"
        )
    return ("probs", probs) if logits is None else ("logits", logits)


def param_shapes(cls_name, name, temperature_shape, param_shape, categorical):
    """``(batch_shape, param_event_shape)``: a categorical parameter carries a
    trailing category dimension, broadcast with the temperature's shape."""
    param_shape = tuple(param_shape)
    if categorical and not param_shape:
        raise ValueError(
            f"{cls_name}: `{name}` must have a category dimension (shape batch + (k,)), "
            f"got a scalar"
        )
    if categorical and param_shape[-1] < 1:
        raise ValueError(f"{cls_name}: `{name}` must have at least one category (shape batch + (k,), "
                         f"k >= 1), got shape {param_shape}")
    event = param_shape[-1:] if categorical else ()
    batch = _broadcast(cls_name, tuple(temperature_shape), param_shape[: len(param_shape) - len(event)])
    return batch, event


def broadcast_shapes(a, b):
    """The broadcast of the shapes ``a`` and ``b``; ``ValueError`` if they do
    not broadcast."""
    a, b = tuple(a), tuple(b)
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise ValueError(f"shapes {a} and {b} do not broadcast")
    return tuple(max(x, y) if 1 not in (x, y) else x * y for x, y in zip(a, b))


def _broadcast(cls_name, a, b):
    try:
        return broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(
            f"{cls_name}: `temperature` of batch shape {a} does not broadcast with the "
            f"parameters' batch shape {b}"
        ) from None
