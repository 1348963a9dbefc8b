import torch

from relaxed_dists.pyro import ExpGumbelSoftmax, GumbelSoftmax, RelaxedSubset

torch.manual_seed(0)
d = GumbelSoftmax(temperature=torch.tensor(0.5), logits=torch.tensor([1.0, 0.0, -1.0, 0.0]))
x = d.rsample((3,))              # three points of the simplex, shape (3, 4)
print(x.sum(-1))                 # tensor([1., 1., 1.])
print(d.log_prob(x))             # exact log-density, shape (3,)

# The stable twin: the value is log x, finite at any temperature.
e = ExpGumbelSoftmax(temperature=torch.tensor(0.01), logits=torch.zeros(1000))
v = e.rsample()
print(torch.isfinite(v).all(), torch.isfinite(e.log_prob(v)))

# A relaxed subset: a mask in (0, 1)^k summing to m, with its exact density.
s = RelaxedSubset(torch.tensor(0.5), 2, logits=torch.tensor([2.0, 1.0, 0.0, -1.0]))
mask = s.rsample()
print(mask.sum(), s.log_prob(mask))
print(s.inclusion_probs)         # tau -> 0: P(category i among the 2 drawn)
