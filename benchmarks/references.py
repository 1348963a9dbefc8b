r"""Plain reimplementations, written from the papers, of the two relaxed
m-of-k constructions the package is compared with, in torch and in JAX.

Each function is a pure transform of uniform noise ``u`` (as the package's
core functions), so the torch and JAX versions give the same numbers from the
same noise. Shapes: ``logits`` ``batch + (k,)`` (unnormalised log-weights),
``tau`` ``()`` or ``batch``; the Gumbel noise is ``g = -log(-log u)``.

* **L2X** (Chen et al. 2018, section 3.2): ``m`` independent Concrete vectors
  ``c_j = softmax((logits + g_j)/tau)`` (noise ``batch + (m, k)``), and the
  relaxed m-hot mask ``V_i = max_j c_{j,i}``. The rows' density is the product
  of ``m`` Concrete densities (Maddison et al. 2017, eq. 9)::

      log q(c) = log (k-1)! + (k-1) log tau + sum_i (a_i - (tau+1) log c_i)
                 - k logsumexp_i (a_i - tau log c_i).

* **Relaxed top-k** (Xie & Ermon 2019, section 3.3, "Algorithm 2"): keys
  ``alpha = logits + g`` (noise ``batch + (k,)``), then ``m`` rounds of
  ``a_j = softmax(alpha/tau)``, ``alpha <- alpha + log(1 - a_j)``; the value
  is ``y = sum_j a_j`` (sums to ``m``, tends to the indicator of the top-m
  keys as ``tau -> 0``). No density is known for ``y``.

References:
  1. J. Chen, L. Song, M. Wainwright, M. Jordan. Learning to Explain: An
     Information-Theoretic Perspective on Model Interpretation. ICML 2018.
  2. S. M. Xie, S. Ermon. Reparameterizable Subset Sampling via Continuous
     Relaxations. IJCAI 2019.
  3. C. Maddison, A. Mnih, Y. W. Teh. The Concrete Distribution. ICLR 2017.
"""

import math

__all__ = ["torch_refs", "jax_refs"]


class _Refs:
    """The reference functions for one array library (``torch`` or ``jax``),
    as methods so that both share one text; ``self._x`` is the library's
    array module, ``self._softmax`` / ``self._logsumexp`` its kernels over
    the last axis, ``self._max(a, axis)`` its maximum."""

    def gumbel(self, u):
        return -self._x.log(-self._x.log(u))

    def l2x_rows(self, logits, tau, u):
        """The ``m`` independent Concrete rows, ``batch + (m, k)``, from
        uniforms ``u`` of that shape."""
        return self._softmax((logits[..., None, :] + self.gumbel(u)) / self._expand(tau, 2))

    def l2x_mask(self, rows):
        """The L2X relaxed m-hot mask ``max_j c_j``, ``batch + (k,)``."""
        return self._max(rows, -2)

    def concrete_log_prob(self, logits, tau, x):
        """Log-density of Concrete(logits, tau) at points ``x`` of the simplex
        (w.r.t. Lebesgue measure on the first ``k - 1`` coordinates), shape
        ``x.shape[:-1]``; ``logits`` broadcasts against ``x`` and ``tau``
        against ``x[..., 0]`` (for L2X rows: ``logits[..., None, :]`` and
        ``tau[..., None]``)."""
        xp, k = self._x, x.shape[-1]
        t, log_x = self._expand(tau, 1), xp.log(x)
        return (math.lgamma(k) + (k - 1) * xp.log(tau)
                + xp.sum(logits - (t + 1) * log_x, -1)
                - k * self._logsumexp(logits - t * log_x))

    def _expand(self, tau, n):
        """``tau`` with ``n`` trailing unit axes."""
        return tau[(...,) + (None,) * n]


class _TorchRefs(_Refs):
    def __init__(self):
        import torch

        self._x = torch
        self._softmax = lambda a: torch.softmax(a, -1)
        self._logsumexp = lambda a: torch.logsumexp(a, -1)
        self._max = lambda a, axis: torch.amax(a, axis)

    def relaxed_topk(self, logits, tau, u, m):
        """Xie & Ermon's relaxed top-m vector, ``batch + (k,)``."""
        torch = self._x
        alpha, t = logits + self.gumbel(u), self._expand(tau, 1)
        tiny = torch.finfo(alpha.dtype).tiny
        y = torch.zeros_like(alpha)
        for j in range(m):
            a = torch.softmax(alpha / t, -1)
            y = y + a
            if j + 1 < m:
                # 1 - a can round to 0 in float32; clamped to the smallest
                # normal so that the next keys stay finite (log 0 = -inf would
                # give NaN gradients).
                alpha = alpha + torch.log((1 - a).clamp_min(tiny))
        return y


class _JaxRefs(_Refs):
    def __init__(self):
        import jax
        import jax.numpy as jnp

        self._x, self._jax = jnp, jax
        self._softmax = lambda a: jax.nn.softmax(a, -1)
        self._logsumexp = lambda a: jax.scipy.special.logsumexp(a, -1)
        self._max = lambda a, axis: jnp.max(a, axis)

    def relaxed_topk(self, logits, tau, u, m):
        """Xie & Ermon's relaxed top-m vector, ``batch + (k,)`` (the rounds
        in a ``fori_loop``: one compiled body for any ``m``)."""
        jax, jnp = self._jax, self._x
        alpha, t = logits + self.gumbel(u), self._expand(tau, 1)
        tiny = jnp.finfo(alpha.dtype).tiny

        def round_(_, carry):
            alpha, y = carry
            a = jax.nn.softmax(alpha / t, -1)
            # As in the torch version: 1 - a clamped away from 0.
            return alpha + jnp.log(jnp.maximum(1 - a, tiny)), y + a

        alpha, y = jax.lax.fori_loop(0, m - 1, round_, (alpha, jnp.zeros_like(alpha)))
        return y + jax.nn.softmax(alpha / t, -1)


def torch_refs():
    """The reference functions on torch tensors."""
    return _TorchRefs()


def jax_refs():
    """The reference functions on JAX arrays (jit- and grad-compatible)."""
    return _JaxRefs()
