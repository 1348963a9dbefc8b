"""The RelaxReparam toy against exact enumeration, per backend and estimator.

A 4-category one-hot site and 3 Bernoulli gates (7 marginals, enumerated
exactly: ``tests/test_relax_reparam.py``'s toy), fitted through
``RelaxReparam`` with an AutoNormal guide (600 steps, 8 particles,
temperature 0.5). Printed per row: the largest absolute difference from the
exact marginals of the guide alone, of the guide's draws weighted under the
straight-through (discrete) model (20 000 draws), and the effective sample
size.

    python3 benchmarks/relax_reparam_toy.py
"""

import pathlib
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
import test_relax_reparam as T  # noqa: E402


def main():
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)  # tiny tensors: threads only wait on each other
    exact = T.exact_toy()
    print(f"{'backend':8s} {'estimator':10s} {'guide':>7s} {'weighted':>9s} {'ESS':>6s}")
    for estimator in (None, "gumbel", "reinmax", "gumbel_rao"):
        guide, _ = T.p_toy_fit(estimator)
        fitted, weighted, ess = T.p_weighted(T.p_relaxed(T.p_toy, 0.5, "st"), guide)
        name = estimator or "relaxed"
        print(f"{'pyro':8s} {name:10s} {np.abs(fitted - exact).max():7.3f} "
              f"{np.abs(weighted - exact).max():9.3f} {ess:6.0f}")
        guide, params, _ = T.n_toy_fit(estimator)
        fitted, weighted, ess = T.n_weighted(T.n_relaxed(T.n_toy, 0.5, "st"), guide, params)
        print(f"{'numpyro':8s} {name:10s} {np.abs(fitted - exact).max():7.3f} "
              f"{np.abs(weighted - exact).max():9.3f} {ess:6.0f}")


if __name__ == "__main__":
    main()
