"""AutoGuides and RelaxedMHot: with distinct=True the support has no
bijection from unconstrained space, and every AutoGuide refuses it with a
ValueError that names the alternatives; with distinct=False they fit it
with finite losses."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.infer.autoguide as nag
import pyro
import pyro.infer.autoguide as pag
import pytest
import torch

import relaxed_dists.numpyro as rn
import relaxed_dists.pyro as rp

NAMES = ["RelaxedMHot", "ExpRelaxedMHot"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("guide", ["AutoNormal", "AutoDelta"])
def test_pyro_autoguides_refuse_distinct_rows_and_fit_iid_rows(name, guide):
    for distinct in (True, False):
        def model():
            fn = getattr(rp, name)(torch.tensor(0.5), 2, logits=torch.zeros(4), distinct=distinct)
            pyro.sample("z", fn)

        pyro.clear_param_store()
        pyro.set_rng_seed(0)
        svi = pyro.infer.SVI(model, getattr(pag, guide)(model), pyro.optim.Adam({"lr": 0.05}),
                             pyro.infer.Trace_ELBO())
        if distinct:
            with pytest.raises(ValueError, match="LogitRelaxedSubset.*distinct=False"):
                svi.step()
        else:
            losses = [svi.step() for _ in range(20)]
            assert np.all(np.isfinite(losses))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("guide", ["AutoNormal", "AutoDelta"])
def test_numpyro_autoguides_refuse_distinct_rows_and_fit_iid_rows(name, guide):
    for distinct in (True, False):
        def model():
            numpyro.sample("z", getattr(rn, name)(0.5, 2, logits=jnp.zeros(4), distinct=distinct))

        svi = numpyro.infer.SVI(model, getattr(nag, guide)(model), numpyro.optim.Adam(0.05),
                                numpyro.infer.Trace_ELBO())
        if distinct:
            with pytest.raises(ValueError, match="LogitRelaxedSubset.*distinct=False"):
                svi.init(jax.random.PRNGKey(0))
        else:
            result = svi.run(jax.random.PRNGKey(0), 20, progress_bar=False)
            assert np.all(np.isfinite(np.asarray(result.losses)))
