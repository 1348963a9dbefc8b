"""The Pyro distributions: each is a family body of
:mod:`relaxed_dists.families` on the Pyro adapter
(:class:`~relaxed_dists.pyro.RelaxedDistribution`); the docstring, signature
and behaviour come from the family."""

from .. import families
from ._base import RelaxedDistribution

__all__ = ["GumbelSoftmax", "ExpGumbelSoftmax", "BinaryConcrete", "LogitBinaryConcrete",
           "RelaxedMHot", "ExpRelaxedMHot", "RelaxedSubset", "LogitRelaxedSubset",
           "Subset", "OneHotCategoricalStraightThrough", "BernoulliStraightThrough",
           "SubsetStraightThrough"]


class GumbelSoftmax(families.GumbelSoftmax, RelaxedDistribution):
    __doc__ = families.GumbelSoftmax.__doc__


class ExpGumbelSoftmax(families.ExpGumbelSoftmax, RelaxedDistribution):
    __doc__ = families.ExpGumbelSoftmax.__doc__


class BinaryConcrete(families.BinaryConcrete, RelaxedDistribution):
    __doc__ = families.BinaryConcrete.__doc__


class LogitBinaryConcrete(families.LogitBinaryConcrete, RelaxedDistribution):
    __doc__ = families.LogitBinaryConcrete.__doc__


class RelaxedMHot(families.RelaxedMHot, RelaxedDistribution):
    __doc__ = families.RelaxedMHot.__doc__


class ExpRelaxedMHot(families.ExpRelaxedMHot, RelaxedDistribution):
    __doc__ = families.ExpRelaxedMHot.__doc__


class RelaxedSubset(families.RelaxedSubset, RelaxedDistribution):
    __doc__ = families.RelaxedSubset.__doc__


class LogitRelaxedSubset(families.LogitRelaxedSubset, RelaxedDistribution):
    __doc__ = families.LogitRelaxedSubset.__doc__


class Subset(families.Subset, RelaxedDistribution):
    __doc__ = families.Subset.__doc__


class OneHotCategoricalStraightThrough(families.OneHotCategoricalStraightThrough, RelaxedDistribution):
    __doc__ = families.OneHotCategoricalStraightThrough.__doc__


class BernoulliStraightThrough(families.BernoulliStraightThrough, RelaxedDistribution):
    __doc__ = families.BernoulliStraightThrough.__doc__


class SubsetStraightThrough(families.SubsetStraightThrough, RelaxedDistribution):
    __doc__ = families.SubsetStraightThrough.__doc__
