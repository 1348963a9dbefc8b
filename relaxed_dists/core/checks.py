"""Support and parameter checks, shared by both adapters.

Each returns a boolean array over the batch (event dimensions reduced).

**Tolerance by meaning, not by dtype.** A point of the simplex made in
float32 and cast to float64 is still a point of the simplex: its sum is off
by float32 rounding, far more than float64 rounding allows. So the simplex
tolerance always allows the rounding of float32 (the least precise dtype the
adapters sample in), or of the value's own dtype where that is coarser:
``16 * max(eps, eps_float32) * sqrt(k)``, ten times the largest rounding
error measured on own float32 samples (1.9e-6 at k = 10 000). This costs
float64 users nothing real: the densities are exactly invariant to the
offset of a log-simplex value (a shift of all entries) and change by
``k * offset`` on the simplex, below float32 resolution of the density. The
fixed ``1e-6`` of torch and NumPyro rejects 1-7% of float32 samples at large
``k``.

**Masked categories.** A logit of ``-inf`` (a probability of 0) masks a
category: the parameter checks accept it (at least one category must be
left), and the supports accept the exact 0 (``-inf`` in log space) that the
samplers return there.
"""

import math

import numpy as np

from ._namespace import array_namespace, finfo
from .special import logsumexp

__all__ = [
    "simplex_tolerance",
    "is_finite",
    "is_positive_finite",
    "is_open_unit",
    "is_unit",
    "not_nan",
    "on_simplex",
    "on_open_simplex",
    "on_log_simplex",
    "all_finite",
    "category_logits",
    "category_probs",
    "SPECS",
]

#: float32 machine epsilon: the rounding the simplex checks always allow.
_EPS_FLOAT32 = float(np.finfo(np.float32).eps)


def simplex_tolerance(x, floor=0.0):
    """Allowed ``|sum(x) - 1|`` (or ``|logsumexp(x)|``) for float points of
    the simplex like ``x``, made in float32 or in ``x``'s own dtype."""
    eps = max(float(finfo(x).eps), _EPS_FLOAT32)
    return max(floor, 16 * eps * math.sqrt(x.shape[-1]))


def is_finite(x):
    return array_namespace(x).isfinite(x)


def is_positive_finite(x):
    xp = array_namespace(x)
    return (x > 0) & xp.isfinite(x)


def is_open_unit(x):
    return (x > 0) & (x < 1)


def is_unit(x):
    """In the closed interval [0, 1]."""
    return (x >= 0) & (x <= 1)


def not_nan(x):
    """A real number or +-inf."""
    return x == x


def on_simplex(x, floor=0.0):
    """``x >= 0`` (float underflow reaches 0) with ``sum(x) == 1`` to rounding."""
    xp = array_namespace(x)
    tol = simplex_tolerance(x, floor)
    return xp.all(x >= 0, axis=-1) & (xp.abs(xp.sum(x, axis=-1) - 1) <= tol)


def on_open_simplex(x, floor=1e-6):
    """Strictly positive probabilities summing to 1 (the host libraries'
    ``1e-6`` is the floor of the tolerance)."""
    xp = array_namespace(x)
    return xp.all(x > 0, axis=-1) & on_simplex(x, floor)


def on_log_simplex(v):
    """``v`` in ``[-inf, inf)`` (``-inf`` at masked categories), no NaN,
    with ``logsumexp(v) == 0`` to rounding (so at least one entry is finite)."""
    xp = array_namespace(v)
    tol = simplex_tolerance(v)
    ok = xp.all((v == v) & (v < math.inf), axis=-1)
    return ok & (xp.abs(logsumexp(v, axis=-1)) <= tol)


def all_finite(x):
    """Every entry of the last axis finite."""
    return array_namespace(x).all(is_finite(x), axis=-1)


def category_logits(x, m=1):
    """Logit vectors: entries in ``[-inf, inf)`` (``-inf`` masks a category),
    no NaN, at least ``m`` of them finite."""
    xp = array_namespace(x)
    ok = xp.all((x == x) & (x < math.inf), axis=-1)
    return ok & (xp.sum(xp.astype(xp.isfinite(x), xp.int32), axis=-1) >= m)


def category_probs(x, m=1):
    """Probability vectors: entries ``>= 0`` (0 masks a category) summing to
    1 (within ``1e-6`` or :func:`simplex_tolerance`), at least ``m`` of them
    positive."""
    xp = array_namespace(x)
    return on_simplex(x, 1e-6) & (xp.sum(xp.astype(x > 0, xp.int32), axis=-1) >= m)


#: name -> (check, event_dim, what is expected); each adapter turns these
#: into constraints of its host library. The parameter checks are looked up
#: by the names ``temperature``, ``category_*`` and ``binary_*`` (the
#: arguments of the categorical and binary classes).
SPECS = {
    "positive_finite": (is_positive_finite, 0, "finite numbers > 0"),
    "simplex": (on_simplex, 1,
                "points of the simplex (entries >= 0 summing to 1 within 16 eps sqrt(k), eps "
                "that of float32 or coarser)"),
    "log_simplex": (on_log_simplex, 1,
                    "points of the log-simplex (entries real or -inf, logsumexp 0 within "
                    "16 eps sqrt(k), eps that of float32 or coarser)"),
    "unit_interval": (is_unit, 0, "numbers in the closed interval [0, 1]"),
    "real": (not_nan, 0, "real numbers (not NaN; +-inf allowed)"),
    "temperature": (is_positive_finite, 0, "finite numbers > 0"),
    "category_probs": (category_probs, 1,
                       "probability vectors (entries >= 0 summing to 1 within max(1e-6, 16 eps "
                       "sqrt(k)), at least one > 0; a 0 masks its category)"),
    "category_logits": (category_logits, 1,
                        "vectors of real numbers or -inf (no NaN, no +inf; -inf masks a category), "
                        "at least one finite"),
    "binary_probs": (is_unit, 0, "numbers in the closed interval [0, 1] (0 and 1 force the value)"),
    "binary_logits": (not_nan, 0, "real numbers or +-inf (not NaN; +-inf force the value)"),
}
