"""The data of the feature-selection examples, as NumPy arrays (shared by the
Pyro and NumPyro versions, which only convert them), and their plot."""

import csv
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PLANTED = (2, 7, 13)
#: Cells read as missing values in a CSV file.
MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


#: The datasets :func:`load_data` makes or loads.
DATASETS = ("synthetic", "correlated", "diabetes", "breast-cancer")


def load_data(name, seed, n=None, d=20, planted=PLANTED, rho=None, signal=1.0):
    """Standardised ``(X, y, feature names, planted indices or None)``.

    ``synthetic``: ``n`` rows (200 unless given) of ``d`` standard normal
    features of equicorrelation ``rho`` (0 unless given: independent), ``y``
    a linear function of the ``planted`` ones only (coefficients of
    magnitude ``signal`` times 1 to 2, random signs) plus noise of standard
    deviation 0.5. ``correlated``: the same with 100 rows and equicorrelation
    0.5 unless ``n`` and ``rho`` are given; a high ``rho`` (0.9) with a
    small ``signal`` (0.2) makes a design whose posterior spreads over many
    sets. ``diabetes``: scikit-learn's bundled diabetes data (442 rows, 10
    features, no download); ``breast-cancer``: scikit-learn's bundled breast
    cancer data (569 rows, 30 features, ``y`` = 1 for benign, not
    standardised: a binary target for logistic regression). Neither has
    planted features.
    """
    rng = np.random.default_rng(seed)
    if name in ("synthetic", "correlated"):
        if n is None:
            n = 200 if name == "synthetic" else 100
        if rho is None:
            rho = 0.0 if name == "synthetic" else 0.5
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho!r}")
        if not signal > 0.0:
            raise ValueError(f"signal must be positive, got {signal!r}")
        if not (len(planted) < d and all(0 <= i < d for i in planted)):
            raise ValueError(f"planted must be fewer than d = {d} indices in [0, d), got {planted!r}")
        if rho == 0.0:
            X = rng.normal(size=(n, d))
        else:  # every pair of features has correlation rho: a shared factor plus independent parts
            X = math.sqrt(rho) * rng.normal(size=(n, 1)) + math.sqrt(1.0 - rho) * rng.normal(size=(n, d))
        beta = np.zeros(d)
        beta[list(planted)] = (rng.choice([-1.0, 1.0], len(planted))
                               * signal * rng.uniform(1.0, 2.0, len(planted)))
        y = X @ beta + 0.5 * rng.normal(size=n)
        names = [f"x{i}" for i in range(d)]
    elif name == "diabetes":
        from sklearn.datasets import load_diabetes

        data = load_diabetes()
        X, y, names, planted = data.data, data.target, list(data.feature_names), None
    elif name == "breast-cancer":
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        X = data.data
        X = (X - X.mean(0)) / X.std(0)
        return X, data.target.astype(np.float64), list(data.feature_names), None
    else:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}, got {name!r}")
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    return X, y, names, None if planted is None else tuple(planted)


def load_csv(path, target, standardise_target=True):
    """Standardised ``(X, y, feature names, None)`` from a CSV file with a
    header row: ``target`` is the column predicted, every other numeric
    column a feature (columns with any non-numeric cell are left out, and
    named on stdout). The features are standardised, and the target too
    unless ``standardise_target`` is false (a 0/1 target of logistic
    regression).

    :raises ValueError: if ``target`` is not a column or not numeric, a
        column has missing values (``""``, ``NA``, ``NaN``, ``?``, ...; the
        message names it and the rows), a column is constant, or fewer than
        two features or three rows remain.
    """
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"csv: {path} is empty")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]
    if target not in header:
        raise ValueError(f"target: {target!r} is not a column of {path} (columns: {', '.join(header)})")
    columns, dropped = {}, []
    for j, name in enumerate(header):
        cells = [r[j].strip() if j < len(r) else "" for r in body]
        missing = [i + 2 for i, c in enumerate(cells) if c.lower() in MISSING]  # file line numbers
        if missing:
            lines = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            raise ValueError(f"csv: column {name!r} of {path} has {len(missing)} missing value(s) "
                             f"(lines {lines}); rows with missing values are refused: drop or impute them")
        try:
            columns[name] = np.array([float(c) for c in cells])
        except ValueError:
            if name == target:
                raise ValueError(f"target: column {target!r} of {path} is not numeric") from None
            dropped.append(name)
    names = [h for h in header if h in columns and h != target]
    if dropped:
        print(f"csv: non-numeric columns left out: {', '.join(dropped)}")
    if len(names) < 2 or len(body) < 3:
        raise ValueError(f"csv: {path} needs at least 2 numeric feature columns and 3 rows, "
                         f"got {len(names)} and {len(body)}")
    for name, col in columns.items():
        if col.std() == 0.0:
            raise ValueError(f"csv: column {name!r} of {path} is constant; it cannot be standardised")
    X = np.stack([columns[h] for h in names], axis=1)
    y = columns[target]
    X = (X - X.mean(0)) / X.std(0)
    if standardise_target:
        y = (y - y.mean()) / y.std()
    return X, y, names, None


def plot(columns, names, planted, m, title, out, stderr=None):
    """Grouped bars of the inclusion probabilities ({label: probs}; planted marked), saved as a PNG."""
    d = len(names)
    fig = Figure(figsize=(max(6.5, 0.45 * d + 1.5), 3.8), layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without pyplot's global state
    ax = fig.subplots()
    width = 0.8 / len(columns)
    for i, (label, probs) in enumerate(columns.items()):
        err = stderr if label.startswith("importance") else None
        ax.bar(np.arange(d) + (i - (len(columns) - 1) / 2) * width, probs, width, yerr=err,
               color=f"C{i}", label=label, capsize=2)
    ax.axhline(m / d, color="grey", linestyle="--", label="prior, m / d")
    ticks = [f"{n}*" if planted is not None and i in planted else n for i, n in enumerate(names)]
    ax.set_xticks(np.arange(d), ticks, rotation=90)
    ax.set_ylim(0.0, 1.3)  # room for the legend above the bars
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel("posterior inclusion probability")
    ax.set_title(title + ("; * planted" if planted is not None else ""), fontsize="medium")
    ax.legend(loc="upper center", ncols=len(columns) + 1, fontsize="small")
    fig.savefig(out, dpi=120)
