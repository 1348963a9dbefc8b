import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from relaxed_dists.pyro import GumbelSoftmax

means = torch.tensor([-2.0, 0.0, 2.0])        # three known cluster centres
data = 2.0 + 0.5 * torch.randn(50, generator=torch.Generator().manual_seed(0))
tau = torch.tensor(0.5)


def model(data):
    # Which centre generated the data: a relaxed one-hot x, uniform prior.
    x = pyro.sample("x", GumbelSoftmax(tau, logits=torch.zeros(3)))
    with pyro.plate("data", len(data)):
        pyro.sample("obs", dist.Normal(x @ means, 0.5), obs=data)


def guide(data):
    logits = pyro.param("logits", torch.zeros(3))
    pyro.sample("x", GumbelSoftmax(tau, logits=logits))


pyro.set_rng_seed(0)
pyro.clear_param_store()
svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
for step in range(500):
    svi.step(data)
print(pyro.param("logits").softmax(-1))       # the mass moves to the third centre
