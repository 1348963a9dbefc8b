"""Every named support and parameter check of the package, and the kind of
bijection from unconstrained space onto each: the one table both adapters
build their constraints and their ``biject_to`` registrations from.

A new support is one entry in its core module's ``SPECS`` (check, event
dim, what is expected) and one here, in :data:`BIJECTIONS`, naming one of
the kinds that each adapter knows how to build.
"""

from . import checks, hard_limit, mhot, subset

__all__ = ["SPECS", "BIJECTIONS", "NO_BIJECTION", "DISCRETE"]

#: name -> (check(value, ``**params``), event_dim, what is expected).
SPECS = {**checks.SPECS, **mhot.SPECS, **subset.SPECS, **hard_limit.SPECS}
#: The discrete supports (the constraints' ``is_discrete``): no bijection,
#: and AutoGuides leave such sites to enumeration or refuse them.
DISCRETE = frozenset({"binary", "one_hot", "k_hot"})
# The same values as the support of a straight-through class: hard, but the
# sample is reparameterized (its gradient is the estimator's), so the site
# is not a discrete latent for the host (no enumeration, no "discrete latent"
# warning from NumPyro's SVI), as Pyro's own straight-through classes are not.
for _name in sorted(DISCRETE):
    SPECS["straight_through_" + _name] = SPECS[_name]
# The m-hot rows with distinct argmaxes (``distinct=True``): checked as rows
# of the simplex (the density is 0 where argmaxes repeat), but with no
# bijection from unconstrained space (see NO_BIJECTION).
for _rows in ("simplex_rows", "log_simplex_rows"):
    _check, _dim, _text = SPECS[_rows]
    SPECS["distinct_" + _rows] = (_check, _dim, _text + ", with distinct row argmaxes")

_NO_MHOT_GUIDE = (
    "the m-hot rows with distinct argmaxes have no bijection from unconstrained space (the "
    "support falls apart into one piece per ordered choice of argmaxes, and a continuous map "
    "from unconstrained space covers at most one), so an AutoGuide (or NUTS) cannot fit "
    "RelaxedMHot(distinct=True) / ExpRelaxedMHot(distinct=True). "
    "Use LogitRelaxedSubset or RelaxedSubset (a relaxed m-subset mask with an exact density, "
    "fully reparameterized, with bijections), distinct=False, or a hand-written guide with the "
    "same class (with RLOOTrace_ELBO)"
)
_NO_ST_GUIDE = (
    "a straight-through value is hard (exact 0s and 1s), so no bijection from unconstrained "
    "space covers it and an AutoGuide cannot fit a straight-through site; write the guide with "
    "the straight-through class itself (learnt logits), or relax the site"
)
#: name -> why it has no bijection (``biject_to`` raises ``ValueError`` with it).
NO_BIJECTION = {"distinct_simplex_rows": _NO_MHOT_GUIDE, "distinct_log_simplex_rows": _NO_MHOT_GUIDE,
                **{"straight_through_" + n: _NO_ST_GUIDE for n in DISCRETE}}

#: name -> kind of bijection onto it from unconstrained space (AutoGuides):
#: ``"identity"`` (and ``"identity_vector"`` over one event dim), ``"exp"``,
#: ``"sigmoid"``, ``"stick_breaking"`` (onto the simplex), ``"log_simplex"``
#: (``w -> log_softmax([w, 0])``), ``"rows:<kind>"`` (the kind row by row),
#: ``"subset"`` and ``"logit_subset"`` (with the spec's ``m``). A name
#: missing here has no bijection (``biject_to`` raises, with the reason from
#: :data:`NO_BIJECTION` where there is one).
BIJECTIONS = {
    "real": "identity",
    "binary_logits": "identity",
    "category_logits": "identity_vector",
    "positive_finite": "exp",
    "temperature": "exp",
    "unit_interval": "sigmoid",
    "binary_probs": "sigmoid",
    "simplex": "stick_breaking",
    "category_probs": "stick_breaking",
    "log_simplex": "log_simplex",
    "simplex_rows": "rows:stick_breaking",
    "log_simplex_rows": "rows:log_simplex",
    "subset": "subset",
    "logit_subset": "logit_subset",
}
