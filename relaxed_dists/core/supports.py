"""Every named support and parameter check of the package, and the kind of
bijection from unconstrained space onto each: the one table both adapters
build their constraints and their ``biject_to`` registrations from.

A new support is one entry in its core module's ``SPECS`` (check, event
dim, what is expected) and one here, in :data:`BIJECTIONS`, naming one of
the kinds that each adapter knows how to build.
"""

from . import checks, mhot, subset

__all__ = ["SPECS", "BIJECTIONS"]

#: name -> (check(value, **params), event_dim, what is expected).
SPECS = {**checks.SPECS, **mhot.SPECS, **subset.SPECS}

#: name -> kind of bijection onto it from unconstrained space (AutoGuides):
#: ``"identity"`` (and ``"identity_vector"`` over one event dim), ``"exp"``,
#: ``"sigmoid"``, ``"stick_breaking"`` (onto the simplex), ``"log_simplex"``
#: (``w -> log_softmax([w, 0])``), ``"rows:<kind>"`` (the kind row by row),
#: ``"subset"`` and ``"logit_subset"`` (with the spec's ``m``). A name
#: missing here has no bijection (``biject_to`` raises).
BIJECTIONS = {
    "finite": "identity",
    "real": "identity",
    "binary_logits": "identity",
    "category_logits": "identity_vector",
    "positive_finite": "exp",
    "temperature": "exp",
    "open_unit_interval": "sigmoid",
    "unit_interval": "sigmoid",
    "binary_probs": "sigmoid",
    "simplex": "stick_breaking",
    "open_simplex": "stick_breaking",
    "category_probs": "stick_breaking",
    "log_simplex": "log_simplex",
    "simplex_rows": "rows:stick_breaking",
    "log_simplex_rows": "rows:log_simplex",
    "subset": "subset",
    "logit_subset": "logit_subset",
}
