import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from relaxed_dists.pyro import ExpGumbelSoftmax

means = torch.linspace(-3.0, 3.0, 20)          # 20 candidate centres
data = 2.0 + 0.5 * torch.randn(50, generator=torch.Generator().manual_seed(0))
tau = torch.tensor(0.05)                        # low temperature, float32


def model(data):
    v = pyro.sample("x", ExpGumbelSoftmax(tau, logits=torch.zeros(20)))  # v = log x
    with pyro.plate("data", len(data)):
        pyro.sample("obs", dist.Normal(v.exp() @ means, 0.5), obs=data)


def guide(data):
    logits = pyro.param("logits", torch.zeros(20))
    pyro.sample("x", ExpGumbelSoftmax(tau, logits=logits))


pyro.set_rng_seed(0)
pyro.clear_param_store()
svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
losses = torch.tensor([svi.step(data) for _ in range(200)])
print(torch.isfinite(losses).all())             # tensor(True)
