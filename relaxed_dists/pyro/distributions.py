"""Pyro distributions for the categorical and binary relaxations."""

import torch
from torch.distributions import constraints as _host

from .. import _docs, _family
from . import constraints
from ._base import RelaxedBase

__all__ = ["GumbelSoftmax", "ExpGumbelSoftmax", "BinaryConcrete", "LogitBinaryConcrete"]


class _Categorical(RelaxedBase):
    _categorical = True
    arg_constraints = {
        "temperature": constraints.positive_finite,
        "probs": constraints.open_simplex,
        "logits": constraints.finite_vector,
    }
    _probs_to_logits = staticmethod(torch.log)
    _logits_to_probs = staticmethod(lambda logits: torch.softmax(logits, dim=-1))


class _Binary(RelaxedBase):
    _categorical = False
    arg_constraints = {
        "temperature": constraints.positive_finite,
        "probs": constraints.open_unit_interval,
        "logits": constraints.finite,
    }
    _probs_to_logits = staticmethod(lambda p: torch.log(p) - torch.log1p(-p))
    _logits_to_probs = staticmethod(torch.sigmoid)


class GumbelSoftmax(_family.GumbelSoftmax, _Categorical):
    __doc__ = _docs.GUMBEL_SOFTMAX
    support = constraints.simplex


class ExpGumbelSoftmax(_family.ExpGumbelSoftmax, _Categorical):
    __doc__ = _docs.EXP_GUMBEL_SOFTMAX
    support = constraints.log_simplex


class BinaryConcrete(_family.BinaryConcrete, _Binary):
    __doc__ = _docs.BINARY_CONCRETE
    support = _host.unit_interval


class LogitBinaryConcrete(_family.LogitBinaryConcrete, _Binary):
    __doc__ = _docs.LOGIT_BINARY_CONCRETE
    support = _host.real
