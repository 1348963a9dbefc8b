"""The table of cases that drives the generic tests (``test_generic.py``):
one row per distribution class, with the static arguments of a small batched
case (``k = 4`` categories, batch ``(2,)``), the core functions that define
its sampler and density (the reference of the parity tests), and a value on
the boundary of its support where it has one.

Adding a distribution class adds one row here; every generic test then runs
for it in both backends (``test_table_covers_every_class`` fails until it
has one)."""

from dataclasses import dataclass, field

import numpy as np

from relaxed_dists.core import binary_concrete as bc
from relaxed_dists.core import concrete as cc
from relaxed_dists.core import mhot as mh
from relaxed_dists.core import subset as cs

#: Number of categories and batch shape of every case.
K = 4
BATCH = (2,)
#: The temperature of the batch: one below 1 and one above (the boundary
#: limits of the densities differ there).
TEMPERATURE = np.array([0.6, 1.3])


@dataclass(frozen=True)
class Case:
    """One distribution class of the table.

    ``core_sample(logits, temperature, u, **static)`` and
    ``core_log_prob(logits, temperature, value, **static)`` are the NumPy
    core functions that the class's sampler and density must equal;
    ``noise_event(**static)`` is the trailing shape of the uniforms one draw
    consumes (after ``sample_shape + batch_shape``); ``boundary`` is a value
    of batch ``(2,)`` on the closure of the support, where ``log_prob`` is
    its documented limit (``None`` where every value is interior);
    ``bijection`` says whether the support has a bijection from
    unconstrained space (AutoGuides, NUTS): the m-hot rows with distinct
    argmaxes have none, and ``biject_to`` raises ``ValueError`` saying so."""

    name: str
    category_dim: bool
    event_shape: tuple
    core_sample: object
    core_log_prob: object
    noise_event: object
    static: dict = field(default_factory=dict)
    boundary: object = None
    bijection: bool = True

    @property
    def id(self):
        args = ",".join(f"{k}={v}" for k, v in self.static.items())
        return f"{self.name}({args})" if args else self.name

    @property
    def event_ndim(self):
        return len(self.event_shape)

    @property
    def logits(self):
        """The logits of the batch, shape ``BATCH + (K,)`` or ``BATCH``."""
        return LOGITS if self.category_dim else LOGITS[:, 0]

    @property
    def probs(self):
        l = self.logits
        if self.category_dim:
            e = np.exp(l - l.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
        return 1 / (1 + np.exp(-l))

    def core(self, logits, temperature, u):
        return self.core_sample(logits, temperature, u, **self.static)

    def core_density(self, logits, temperature, value):
        return self.core_log_prob(logits, temperature, value, **self.static)

    def noise_shape(self, sample_shape=()):
        return tuple(sample_shape) + BATCH + tuple(self.noise_event(**self.static))


LOGITS = np.random.default_rng(20261124).normal(size=BATCH + (K,))


def _one_hot(*rows):
    return np.eye(K)[list(rows)]


CASES = [
    Case(
        "GumbelSoftmax", True, (K,),
        lambda l, t, u: cc.rsample(l, t, u),
        lambda l, t, x: cc.log_prob(l, t, x),
        lambda: (K,),
        boundary=_one_hot(0, 2),
    ),
    Case(
        "ExpGumbelSoftmax", True, (K,),
        lambda l, t, u: cc.rsample_log(l, t, u),
        lambda l, t, x: cc.exp_log_prob(l, t, x),
        lambda: (K,),
    ),
    Case(
        "BinaryConcrete", False, (),
        lambda l, t, u: bc.rsample(l, t, u),
        lambda l, t, x: bc.log_prob(l, t, x),
        lambda: (),
        boundary=np.array([0.0, 1.0]),
    ),
    Case(
        "LogitBinaryConcrete", False, (),
        lambda l, t, u: bc.rsample_logit(l, t, u),
        lambda l, t, x: bc.logit_log_prob(l, t, x),
        lambda: (),
    ),
    Case(
        "RelaxedMHot", True, (2, K),
        lambda l, t, u, m, distinct: mh.rsample(l, t, u, distinct),
        lambda l, t, x, m, distinct: mh.log_prob(l, t, x, distinct),
        lambda m, distinct: (mh.noise_rows(m, distinct), K),
        static={"m": 2, "distinct": True},
        boundary=np.stack([_one_hot(0, 1), _one_hot(3, 0)]),
        bijection=False,
    ),
    Case(
        "ExpRelaxedMHot", True, (2, K),
        lambda l, t, u, m, distinct: mh.rsample_log(l, t, u, distinct),
        lambda l, t, x, m, distinct: mh.exp_log_prob(l, t, x, distinct),
        lambda m, distinct: (mh.noise_rows(m, distinct), K),
        static={"m": 2, "distinct": False},
    ),
    Case(
        "RelaxedSubset", True, (K,),
        lambda l, t, u, m: cs.rsample(l, t, m, u),
        lambda l, t, x, m: cs.log_prob(l, t, x),
        lambda m: (K,),
        static={"m": 1.5},
        boundary=np.array([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 1.0]]),
    ),
    Case(
        "LogitRelaxedSubset", True, (K,),
        lambda l, t, u, m: cs.rsample_logit(l, t, m, u),
        lambda l, t, x, m: cs.logit_log_prob(l, t, x),
        lambda m: (K,),
        static={"m": 2.0},
    ),
]

#: The discrete classes, which this table (built on the relaxations'
#: temperature, density and bijections) does not drive: each has its own
#: test file, which covers the same host conventions.
OWN_FILES = {
    "Subset": "test_subset_hard.py",
    "OneHotCategoricalStraightThrough": "test_straight_through.py",
    "BernoulliStraightThrough": "test_straight_through.py",
    "SubsetStraightThrough": "test_straight_through.py",
}

#: ``pytest.mark.parametrize`` ids of the rows.
IDS = [c.id for c in CASES]


def make(B, case, temperature=None, logits=None, probs=None, validate_args=None, **static):
    """The distribution of ``case`` in the backend face ``B`` (``backends.Pyro``
    or ``backends.NumPyro``): the row's temperature and logits (float64) unless
    given, the row's static arguments unless overridden. Arrays of the
    backend pass through unchanged (so a leaf tensor that requires grad stays
    that leaf); anything else is converted with ``B.asarray``."""

    def conv(x):
        return x if x is None else B.asarray(x)

    if probs is None and logits is None:
        logits = case.logits
    temperature = TEMPERATURE if temperature is None else temperature
    kwargs = dict(case.static, **static)
    cls = getattr(B.module, case.name)
    return cls(conv(temperature), logits=conv(logits), probs=conv(probs),
               validate_args=validate_args, **kwargs)
