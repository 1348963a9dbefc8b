import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from relaxed_dists.pyro import RelaxedMHot

torch.manual_seed(0)
X = torch.randn(100, 6)
y = 1.5 * X[:, 1] - 2.0 * X[:, 4] + 0.3 * torch.randn(100)
tau, m = torch.tensor(0.5), 2


def model(X, y):
    rows = pyro.sample("rows", RelaxedMHot(tau, m, logits=torch.zeros(6)))
    mask = rows.max(-2).values                     # the relaxed m-hot mask
    beta = pyro.sample("beta", dist.Normal(0.0, 2.0).expand([6]).to_event(1))
    with pyro.plate("data", len(y)):
        pyro.sample("y", dist.Normal(X @ (mask * beta), 0.3), obs=y)


def guide(X, y):
    logits = pyro.param("mask_logits", torch.zeros(6))
    pyro.sample("rows", RelaxedMHot(tau, m, logits=logits))
    loc = pyro.param("beta_loc", torch.zeros(6))
    scale = pyro.param("beta_scale", torch.full((6,), 0.1), constraint=dist.constraints.positive)
    pyro.sample("beta", dist.Normal(loc, scale).to_event(1))


pyro.set_rng_seed(0)
pyro.clear_param_store()
svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
for step in range(500):
    svi.step(X, y)
print(RelaxedMHot(tau, m, logits=pyro.param("mask_logits")).inclusion_probs)
