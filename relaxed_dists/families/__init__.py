"""Backend-neutral bodies of the distribution classes, one module per family.

Each class here holds a family's constructor, shapes, sampler and density
(calling only :mod:`relaxed_dists.core`) and its docstring; the Pyro and
NumPyro classes are built from it in one line each. The hooks between a body
and a host adapter are declared in :class:`~relaxed_dists.families.base.Family`.
"""

from .base import Family
from .binary import BinaryConcrete, LogitBinaryConcrete
from .concrete import ExpGumbelSoftmax, GumbelSoftmax
from .discrete import (
    BernoulliStraightThrough,
    OneHotCategoricalStraightThrough,
    Subset,
    SubsetStraightThrough,
)
from .mhot import ExpRelaxedMHot, RelaxedMHot
from .subset import LogitRelaxedSubset, RelaxedSubset

__all__ = [
    "Family",
    "GumbelSoftmax",
    "ExpGumbelSoftmax",
    "BinaryConcrete",
    "LogitBinaryConcrete",
    "RelaxedMHot",
    "ExpRelaxedMHot",
    "RelaxedSubset",
    "LogitRelaxedSubset",
    "Subset",
    "OneHotCategoricalStraightThrough",
    "BernoulliStraightThrough",
    "SubsetStraightThrough",
]
