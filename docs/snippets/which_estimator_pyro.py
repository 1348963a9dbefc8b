import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO

from relaxed_dists.pyro import RLOOTrace_ELBO, Subset, SubsetStraightThrough

# Which 2 of 6 features drive y? The discrete model: a hard 2-subset mask.
torch.manual_seed(0)
X = torch.randn(60, 6)
y = X[:, 1] + X[:, 4] + 0.5 * torch.randn(60)


def model(X, y):
    mask = pyro.sample("mask", Subset(2, logits=torch.zeros(6)))
    with pyro.plate("data", X.shape[0], dim=-1):
        pyro.sample("y", dist.Normal((X * mask).sum(-1), 0.5), obs=y)


def fit(guide_dist, loss, steps=300):
    pyro.clear_param_store()

    def guide(X, y):
        logits = pyro.param("logits", torch.zeros(6))
        pyro.sample("mask", guide_dist(logits))

    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.1}), loss)
    for _ in range(steps):
        svi.step(X, y)
    return Subset(2, logits=pyro.param("logits").detach()).mean  # inclusion probabilities


# Unbiased: the discrete guide with leave-one-out baselines over 8 particles.
rloo = fit(lambda l: Subset(2, logits=l), RLOOTrace_ELBO(num_particles=8))
# Biased but one evaluation per step: a straight-through guide.
st = fit(lambda l: SubsetStraightThrough(0.5, 2, logits=l), Trace_ELBO())
# The truth, by enumerating the 15 subsets.
sets = Subset(2, logits=torch.zeros(6)).enumerate_support()
loglik = dist.Normal((X * sets.unsqueeze(-2)).sum(-1), 0.5).log_prob(y).sum(-1)
exact = (torch.softmax(loglik, 0).unsqueeze(-1) * sets).sum(0)
print(rloo, st, exact, sep="\n")    # all three near 1 at features 1 and 4
