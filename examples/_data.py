"""The data of the feature-selection examples, as NumPy arrays (shared by the
Pyro and NumPyro versions, which only convert them)."""

import numpy as np

PLANTED = (2, 7, 13)


def load_data(name, seed, n=200, d=20, planted=PLANTED):
    """Standardised ``(X, y, feature names, planted indices or None)``.

    ``synthetic``: ``n`` rows of ``d`` independent standard normal features,
    ``y`` a linear function of the ``planted`` ones only (coefficients of
    magnitude 1 to 2, random signs) plus noise of standard deviation 0.5.
    ``diabetes``: scikit-learn's bundled diabetes data (442 rows, 10 features,
    no download); no planted features.
    """
    rng = np.random.default_rng(seed)
    if name == "synthetic":
        X = rng.normal(size=(n, d))
        beta = np.zeros(d)
        beta[list(planted)] = rng.choice([-1.0, 1.0], len(planted)) * rng.uniform(1.0, 2.0, len(planted))
        y = X @ beta + 0.5 * rng.normal(size=n)
        names = [f"x{i}" for i in range(d)]
    elif name == "diabetes":
        from sklearn.datasets import load_diabetes

        data = load_diabetes()
        X, y, names, planted = data.data, data.target, list(data.feature_names), None
    else:
        raise ValueError(f"dataset must be 'synthetic' or 'diabetes', got {name!r}")
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    return X, y, names, None if planted is None else tuple(planted)
