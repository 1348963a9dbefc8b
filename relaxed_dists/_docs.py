"""Class docstrings shared by the Pyro and NumPyro adapters (one text, two
classes with the same name, signature and semantics)."""

_REFS = """
    References

    1. C. J. Maddison, A. Mnih, Y. W. Teh. The Concrete distribution: a
       continuous relaxation of discrete random variables. ICLR 2017.
    2. E. Jang, S. Gu, B. Poole. Categorical reparameterization with
       Gumbel-softmax. ICLR 2017.
"""

_OWN = r"""
    In Pyro, ``log_prob`` of the very tensor that ``rsample`` just returned
    (unchanged, with a graph to the parameters) is computed from the noise
    that produced it, as torch's cached transforms do: the same value up to
    rounding and the same gradient w.r.t. the parameters, for a fraction of
    the passes. Its gradient w.r.t. that tensor itself is then not the score
    :math:`\nabla_x \log q(x)`; for that, score a copy (``x.clone()``).
"""

_CAT_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param probs: probabilities, positive and summing to 1 over the last dim.
    :param logits: unnormalised log-probabilities (finite reals), stored as given.
    :param validate_args: check arguments and values (``ValueError`` on failure).
"""

_BIN_PARAMS = """
    :param temperature: positive and finite; broadcast with the batch shape.
    :param probs: ``P(1)``, in the open interval (0, 1).
    :param logits: log-odds of ``P(1)`` (finite reals).
    :param validate_args: check arguments and values (``ValueError`` on failure).
"""

GUMBEL_SOFTMAX = r"""The Gumbel-softmax (Concrete) relaxation of a categorical variable.

    A draw is :math:`x = \mathrm{softmax}((\log p + G)/\tau)` with i.i.d.
    standard Gumbel :math:`G`: a point of the simplex whose argmax is
    distributed exactly as ``Categorical(probs)`` at every temperature. As
    :math:`\tau \to 0` draws approach one-hot vectors; as
    :math:`\tau \to \infty` they approach the centre ``1/k``.

    ``log_prob`` is the exact density w.r.t. Lebesgue measure on the first
    ``k - 1`` coordinates (:func:`relaxed_dists.core.concrete.log_prob`).
    At low temperatures in float32, coordinates of ``x`` underflow to 0 and
    the density is then its limit there (often ``+inf``), never NaN: use
    :class:`ExpGumbelSoftmax` there, whose value ``log x`` stays finite.

    A drop-in for ``RelaxedOneHotCategorical``: the same constructor signature.
""" + _OWN + _CAT_PARAMS + _REFS

EXP_GUMBEL_SOFTMAX = r"""The Gumbel-softmax relaxation in log space (the stable twin of
    :class:`GumbelSoftmax`): the value is
    :math:`v = \log x = \mathrm{log\_softmax}((\log p + G)/\tau)`, finite at
    any temperature in float32.

    ``log_prob`` is the exact density of ``v`` w.r.t. Lebesgue measure on the
    log-ratios :math:`v_i - v_k` (the ExpConcrete density,
    :func:`relaxed_dists.core.concrete.exp_log_prob`; TFP's convention). The
    exponential of ``v`` is distributed as :class:`GumbelSoftmax`; to score
    ``x`` itself subtract ``v.sum(-1)``. Under an AutoGuide its support maps
    from ``R^(k-1)`` by ``w -> log_softmax([w, 0])`` with unit Jacobian.
""" + _OWN + _CAT_PARAMS + _REFS

BINARY_CONCRETE = r"""The Binary Concrete relaxation of a Bernoulli variable.

    A draw is :math:`x = \sigma((\mathrm{logit}\,p + L)/\tau)` with a standard
    logistic :math:`L`, so :math:`P(x > 1/2) = p` at every temperature, and
    :math:`x \to \mathrm{Bernoulli}(p)` as :math:`\tau \to 0`. (The binary-case
    source note writes a leading minus sign that gives :math:`1 - p`; this is
    the corrected formula.)

    ``log_prob`` is the exact density w.r.t. Lebesgue measure on (0, 1)
    (:func:`relaxed_dists.core.binary_concrete.log_prob`). No value is
    clipped: where float rounding gives exactly 0 or 1 the density is its
    limit there (``+inf`` for :math:`\tau < 1`). At low temperatures use
    :class:`LogitBinaryConcrete`, whose value ``logit x`` stays finite.

    A drop-in for ``RelaxedBernoulli``: the same constructor signature.
""" + _OWN + _BIN_PARAMS + _REFS

LOGIT_BINARY_CONCRETE = r"""The Binary Concrete relaxation in logit space (the stable twin of
    :class:`BinaryConcrete`): the value is
    :math:`z = (\mathrm{logit}\,p + L)/\tau`, finite at any temperature;
    ``sigmoid(z)`` is distributed as :class:`BinaryConcrete`.

    ``log_prob`` is the exact density of ``z`` w.r.t. Lebesgue measure on the
    real line: a logistic density with location :math:`\mathrm{logit}\,p/\tau`
    and scale :math:`1/\tau`
    (:func:`relaxed_dists.core.binary_concrete.logit_log_prob`).
""" + _OWN + _BIN_PARAMS + _REFS
