import numpy as np
from scipy.special import expit, logit

from relaxed_dists.core import binary_concrete

rng = np.random.default_rng(0)
u = rng.uniform(size=200_000)
p, tau = 0.2, 0.01
L = np.log(u) - np.log1p(-u)                       # standard logistic

note = expit(-(logit(p) + L) / tau)                # the note's equation (1)
fixed = binary_concrete.rsample(logit(p), tau, u)  # sigma((logit p + L) / tau)
print((note > 0.5).mean(), (fixed > 0.5).mean())   # about 0.8 and 0.2

a1, a2 = 1.0, 4.0                                  # unnormalised weights, p = a1 / (a1 + a2) = 0.2
note2 = expit(-(np.log(a1 / (a1 + a2)) + L) / tau)  # the note's equation (2)
fixed2 = binary_concrete.rsample(np.log(a1 / a2), tau, u)  # logit = log(a1 / a2)
print((note2 > 0.5).mean(), (fixed2 > 0.5).mean())  # about 0.83 = 1 / (1 + p) and 0.2
