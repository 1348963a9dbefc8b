"""Support and parameter checks, shared by both adapters.

Each returns a boolean array over the batch (event dimensions reduced). The
simplex tolerance scales with the dtype and the number of categories:
``16 * eps * sqrt(k)``, ten times the largest rounding error measured on own
float32 samples (1.9e-6 at k = 10 000). The fixed ``1e-6`` of torch and
NumPyro rejects 1-7% of float32 samples at large ``k``.
"""

import math

from ._namespace import array_namespace, finfo
from .special import logsumexp

__all__ = [
    "simplex_tolerance",
    "is_finite",
    "is_positive_finite",
    "is_open_unit",
    "on_simplex",
    "on_open_simplex",
    "on_log_simplex",
    "all_finite",
    "is_unit",
    "not_nan",
    "SPECS",
]


def simplex_tolerance(x, floor=0.0):
    """Allowed ``|sum(x) - 1|`` for float points of the simplex like ``x``."""
    return max(floor, 16 * float(finfo(x).eps) * math.sqrt(x.shape[-1]))


def is_finite(x):
    return array_namespace(x).isfinite(x)


def is_positive_finite(x):
    xp = array_namespace(x)
    return (x > 0) & xp.isfinite(x)


def is_open_unit(x):
    return (x > 0) & (x < 1)


def on_simplex(x, floor=0.0):
    """``x >= 0`` (float underflow reaches 0) with ``sum(x) == 1`` to rounding."""
    xp = array_namespace(x)
    tol = simplex_tolerance(x, floor)
    return xp.all(x >= 0, axis=-1) & (xp.abs(xp.sum(x, axis=-1) - 1) <= tol)


def on_open_simplex(x, floor=1e-6):
    """Strictly positive probabilities summing to 1 (a probability argument:
    the host libraries' ``1e-6`` is the floor of the tolerance)."""
    xp = array_namespace(x)
    return xp.all(x > 0, axis=-1) & on_simplex(x, floor)


def on_log_simplex(v):
    """Finite ``v`` with ``logsumexp(v) == 0`` to rounding."""
    xp = array_namespace(v)
    tol = simplex_tolerance(v)
    return xp.all(xp.isfinite(v), axis=-1) & (xp.abs(logsumexp(v, axis=-1)) <= tol)


def all_finite(x):
    """Every entry of the last axis finite."""
    return array_namespace(x).all(is_finite(x), axis=-1)


def is_unit(x):
    return (x >= 0) & (x <= 1)


def not_nan(x):
    return x == x


#: name -> (check, event_dim, what is expected); each adapter turns these
#: into constraints of its host library. The parameter checks are looked up
#: by the names ``temperature``, ``category_*`` and ``binary_*`` (the
#: arguments of the categorical and binary classes).
SPECS = {
    "finite": (is_finite, 0, "finite real numbers"),
    "positive_finite": (is_positive_finite, 0, "finite numbers > 0"),
    "open_unit_interval": (is_open_unit, 0, "numbers in the open interval (0, 1)"),
    "simplex": (on_simplex, 1,
                "points of the simplex (entries >= 0 summing to 1 within 16 eps sqrt(k))"),
    "open_simplex": (on_open_simplex, 1, "probability vectors (entries > 0 summing to 1)"),
    "log_simplex": (on_log_simplex, 1,
                    "points of the log-simplex (finite entries, logsumexp 0 within "
                    "16 eps sqrt(k))"),
    "unit_interval": (is_unit, 0, "numbers in the closed interval [0, 1]"),
    "real": (not_nan, 0, "real numbers (not NaN; +-inf allowed)"),
    "temperature": (is_positive_finite, 0, "finite numbers > 0"),
    "category_probs": (on_open_simplex, 1, "probability vectors (entries > 0 summing to 1)"),
    "category_logits": (all_finite, 1, "vectors of finite real numbers"),
    "binary_probs": (is_open_unit, 0, "numbers in the open interval (0, 1)"),
    "binary_logits": (is_finite, 0, "finite real numbers"),
}
