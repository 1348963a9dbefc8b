"""The feature-selection examples, in both backends, run with small settings
and give the right answer; the two files stay parallel."""

import ast
import pathlib
import sys

import numpy as np
import pytest
import torch

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import _data  # noqa: E402
import _exact  # noqa: E402
import feature_selection_numpyro  # noqa: E402
import feature_selection_pyro  # noqa: E402

# Whole programs (examples, the docs build, training runs): out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
pytestmark = pytest.mark.slow

BACKENDS = {"numpyro": feature_selection_numpyro, "pyro": feature_selection_pyro}
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the Pyro example's main does: its tensors are tiny, and on a busy
    machine torch's threads mostly wait on each other (10x slower). Restored
    afterwards, so that other tests keep their setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("estimator", ["rloo", "relaxed"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_feature_selection_recovers_planted_features(backend, estimator):
    """The fitted guide moves from the uniform prior (inclusion 3 / 20) to
    the planted features. Under ``rloo`` the hard Subset guide has no
    reparameterised path, so its logits move only through the leave-one-out
    score term: a baseline broadcast against the wrong particle dimension
    would leave them at zero and fail this test."""
    fs = BACKENDS[backend]
    X, y, names, planted = _data.load_data("synthetic", 0)
    X, y = fs.load(X, y)
    params, losses = fs.fit(X, y, 3, steps=200, seed=0, estimator=estimator, progress_bar=False)
    probs = fs.guide_inclusion(params, 3, "subset")
    assert probs.shape == (20,) and abs(probs.sum() - 3) < 1e-4
    assert set(np.argsort(-probs)[:3]) == set(planted), probs
    assert probs[list(planted)].min() > 0.5 > np.delete(probs, planted).max(), probs
    assert np.abs(params["mask_logits"]).max() > 1.0, params["mask_logits"]
    assert losses.shape == (200,) and np.isfinite(losses).all()
    assert np.median(losses[-30:]) < 0.5 * np.median(losses[:10])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_feature_selection_command_line_on_real_data(backend, tmp_path, capsys):
    """Diabetes with the straight-through estimator and the joint importance
    weights (the paths the other tests leave out): the printed table, the
    selection, the plot."""
    out = tmp_path / f"diabetes_{backend}.png"
    argv = ["--dataset", "diabetes", "--m", "2", "--steps", "60", "--draws", "300",
            "--estimator", "straight-through", "--weights", "joint", "--out", str(out)]
    result = BACKENDS[backend].main(argv)
    printed = capsys.readouterr().out
    assert result["planted"] is None and result["names"] == DIABETES and result["likelihood"] == "gaussian"
    # The exact posterior is enumerated by default (45 sets here) and printed.
    assert result["exact"].shape == (10,) and abs(result["exact"].sum() - 2) < 1e-9
    assert "largest difference from exact, importance-weighted" in printed
    assert result["probs"].shape == (10,) and abs(result["probs"].sum() - 2) < 1e-9  # every draw has 2
    assert abs(result["fitted"].sum() - 2) < 1e-4
    assert (result["stderr"] >= 0).all() and 1.0 <= result["ess"] <= 300.0 + 1e-6
    assert len(result["selected"]) == 2 and set(result["selected"]) <= set(DIABETES)
    assert "selected: " + ", ".join(result["selected"]) in printed
    assert f"straight-through ({backend}): ELBO loss" in printed and "effective sample size" in printed
    assert all(f" {name} " in printed for name in DIABETES)  # every feature's probability is printed
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 10_000
    assert np.isfinite(result["losses"]).all() and result["losses"].shape == (60,)


@pytest.mark.parametrize("backend,prior,m", [("numpyro", "bernoulli", 6), ("pyro", "subset", 4),
                                             ("pyro", "bernoulli", 6)])
def test_importance_weighting_matches_exact(backend, prior, m, tmp_path, capsys):
    """End to end on a small correlated problem read from CSV (3 planted
    features of 8, and m above 3 so that the others are spread: exact
    probabilities 0.51, 0.20, 0.14, ... for the subset prior, m = 4; 0.25,
    0.11, 0.08, ... for independent inclusion of probability 6 / 8): the
    importance-weighted inclusion probabilities within 0.05 of the exact
    enumeration, with a standard error that covers the difference, and
    more than 0.1 from the exact posterior of a wrong model (prior scale
    0.1 instead of 2). The NumPyro subset case is
    tests/test_feature_selection_exact.py's."""
    fs = BACKENDS[backend]
    X, y, names, planted = _data.load_data("correlated", 0, n=60, d=8, planted=(1, 4, 6))
    path = tmp_path / "small.csv"
    rows = [",".join(names + ["target"])] + [",".join(map(str, r)) for r in np.column_stack([X, y]).round(12)]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "plot.png"
    result = fs.main(["--csv", str(path), "--target", "target", "--prior", prior, "--m", str(m),
                      "--steps", "300", "--draws", "2000", "--exact", "--out", str(out)])
    printed = capsys.readouterr().out
    exact = result["exact"]
    assert result["reference"]["method"].startswith("exact")
    # the example's reference, from its float32 copy of the data
    np.testing.assert_allclose(exact, _exact.exact_posterior(X, y, prior, m)["inclusion"], atol=1e-5)
    assert ((exact > 0.1) & (exact < 0.9)).sum() >= 2  # not a trivial 0 / 1 posterior
    diff = np.abs(result["probs"] - exact)
    assert diff.max() < 0.05, (result["probs"], exact)
    assert (diff <= 4 * result["stderr"] + 1e-3).all(), (diff, result["stderr"])
    wrong = _exact.exact_posterior(X, y, prior, m, prior_scale=0.1)["inclusion"]  # a negative control
    assert np.abs(result["probs"] - wrong).max() > 0.1
    if prior == "subset":
        assert abs(result["fitted"].sum() - m) < 1e-4 and abs(result["probs"].sum() - m) < 1e-9
    assert "largest difference from exact, importance-weighted" in printed
    assert out.read_bytes()[:8] == PNG


def _top_level(path):
    """(kind, name, arguments, defaults, number of lines) of each top-level statement after the imports."""
    tree = ast.parse(path.read_text())
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.FunctionDef):
            args = [a.arg for a in node.args.args]
            defaults = [ast.unparse(d) for d in node.args.defaults]
            out.append(("def", node.name, args, defaults, node.end_lineno - node.lineno))
        elif isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            out.append(("class", node.name, bases, None, node.end_lineno - node.lineno))
        elif isinstance(node, ast.Assign):
            out.append(("assign", [ast.unparse(t) for t in node.targets], None, None, 0))
        else:
            out.append((type(node).__name__, None, None, None, node.end_lineno - node.lineno))
    return out


def test_examples_are_parallel():
    """The Pyro and NumPyro examples: the same top-level definitions in the same
    order, with the same arguments and defaults, each of the same length to
    within two lines, and the files within three lines; the backend-free
    pieces (the command line, importance weighting, references, report) are
    shared (examples/_selection.py, _data.py, _exact.py, _mcmc.py), not copied."""
    import _selection

    numpyro_file = EXAMPLES / "feature_selection_numpyro.py"
    pyro_file = EXAMPLES / "feature_selection_pyro.py"
    n, p = _top_level(numpyro_file), _top_level(pyro_file)
    names = [t[1] for t in n if t[0] == "def"]
    assert names == ["load", "mask_distribution", "prior_logits", "model", "guide", "fit", "joint_log_weight",
                     "main"]
    assert [t[1] for t in n if t[0] == "class"] == ["StraightThroughELBO"]
    assert [t[:4] for t in n] == [t[:4] for t in p]
    assert all(abs(a[4] - b[4]) <= 2 for a, b in zip(n, p)), (n, p)
    lines_n, lines_p = numpyro_file.read_text().splitlines(), pyro_file.read_text().splitlines()
    assert abs(len(lines_n) - len(lines_p)) <= 3
    # the comments are the same, in the same order
    comments_n = [line.strip() for line in lines_n if line.strip().startswith("#")]
    assert comments_n == [line.strip() for line in lines_p if line.strip().startswith("#")]
    for fs in BACKENDS.values():
        assert fs.run is _selection.main and fs.guide_inclusion is _exact.guide_inclusion
        assert fs.ESTIMATORS == ("rloo", "straight-through", "relaxed")
        assert fs.PRIOR_SCALE == _selection.PRIOR_SCALE
    # the same command line: one parser, the backend only names the plot and the help text
    actions = [[(a.dest, a.default, a.choices, a.help) for a in _selection.parser(fs)._actions
                if a.dest not in ("out", "help")] for fs in BACKENDS.values()]
    assert actions[0] == actions[1]
    # the docstrings differ only in the backend's name
    def generic(doc):
        for name in ("NumPyro", "Pyro", "numpyro", "pyro"):
            doc = doc.replace(name, "B")
        return doc
    assert generic(feature_selection_numpyro.__doc__) == generic(feature_selection_pyro.__doc__)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_logistic_regression_matches_the_reference(backend, tmp_path, capsys):
    """Logistic regression end to end on a small CSV with a 0/1 target (6
    features, 2 of them correlated, m = 2: 15 sets, each set's coefficients
    integrated by importance sampling): the importance-weighted inclusion
    probabilities within 0.05 of the reference, the reference within 0.01 of
    a fresh enumeration of the standardised data (the enumeration itself is
    checked against a grid quadrature in tests/test_feature_selection_exact.py)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from test_feature_selection_exact import logistic_toy

    X, y = logistic_toy()
    path = tmp_path / "logistic.csv"
    rows = ["a,b,c,d,e,f,label"] + [",".join(map(str, r)) for r in np.column_stack([X, y]).round(12)]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "plot.png"
    result = BACKENDS[backend].main(["--csv", str(path), "--target", "label", "--likelihood", "logistic",
                                     "--m", "2", "--steps", "300", "--draws", "2000", "--out", str(out)])
    printed = capsys.readouterr().out
    assert result["likelihood"] == "logistic" and result["reference"]["method"].startswith("exact")
    exact = result["exact"]
    fresh = _exact.exact_posterior((X - X.mean(0)) / X.std(0), y, "subset", 2, likelihood="logistic")
    np.testing.assert_allclose(exact, fresh["inclusion"], atol=0.01)
    assert set(np.argsort(-exact)[:2]) == {0, 3}  # the toy's two features
    diff = np.abs(result["probs"] - exact)
    assert diff.max() < 0.05, (result["probs"], exact)
    assert abs(result["probs"].sum() - 2) < 1e-9
    assert "largest difference from exact, importance-weighted" in printed and out.read_bytes()[:8] == PNG


def test_logistic_errors(tmp_path):
    """--likelihood logistic needs a 0/1 target (a clear message, not a traceback)."""
    path = tmp_path / "bad.csv"
    path.write_text("a,b,c\n1,2,0.5\n2,1,1.5\n3,5,2\n4,1,3\n")
    with pytest.raises(SystemExit):
        feature_selection_numpyro.main(["--csv", str(path), "--target", "c", "--likelihood", "logistic"])


def test_main_job_needs_no_torch(tmp_path):
    """The README's main-job command installs the ``examples-numpyro`` extra,
    which brings no torch (directly or through another extra), and the
    NumPyro example runs with torch and pyro impossible to import."""
    import re
    import subprocess

    root = EXAMPLES.parent
    first = (root / "README.md").read_text().split("```")[1]
    command = next(line for line in first.splitlines() if "feature_selection_numpyro.py" in line)
    extra = re.search(r'-e "\.\[([\w-]+)\]"', command).group(1)
    # the one-line extras of pyproject.toml (tomllib is not in Python 3.10)
    extras = {m.group(1): re.findall(r'"([^"]+)"', m.group(2)) for m in
              re.finditer(r'^([\w-]+) = \[(.*)\]$', (root / "pyproject.toml").read_text(), re.MULTILINE)}

    def requirements(name):
        out = []
        for req in extras[name]:
            nested = re.fullmatch(r"relaxed_dists\[([\w,-]+)\]", req)
            out += [r for n in nested.group(1).split(",") for r in requirements(n)] if nested else [req]
        return out
    assert not any(re.match(r"(torch|pyro-ppl)\b", r) for r in requirements(extra)), requirements(extra)
    assert "torch" not in command
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'pyro'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {str(EXAMPLES)!r})\n"
        "import feature_selection_numpyro as fs\n"
        f"fs.main(['--steps', '30', '--draws', '200', '--out', {str(tmp_path / 'p.png')!r}])\n"
        "assert 'torch' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "largest difference from exact, importance-weighted" in done.stdout
