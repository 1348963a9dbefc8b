"""The feature-selection examples, in both backends and both relaxations, run
with small settings and give the right answer; the two files stay parallel."""

import ast
import pathlib
import sys

import numpy as np
import pytest
import torch

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import feature_selection_numpyro  # noqa: E402
import feature_selection_pyro  # noqa: E402

# Whole programs (examples, the docs build, training runs): out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
pytestmark = pytest.mark.slow

BACKENDS = {"numpyro": feature_selection_numpyro, "pyro": feature_selection_pyro}
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
STEPS = {"mhot": 1000, "subset": 200}  # the m-hot mask leaves its plateau after about 500 steps


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the Pyro example's main does: its tensors are tiny, and on a busy
    machine torch's threads mostly wait on each other (10x slower). Restored
    afterwards, so that other tests keep their setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("relaxation", ["mhot", "subset"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_feature_selection_recovers_planted_features(backend, relaxation):
    fs = BACKENDS[backend]
    X, y, names, planted = fs.load("synthetic", seed=0)
    steps = STEPS[relaxation]
    probs, losses = fs.fit(X, y, m=3, temperature=0.5, steps=steps, seed=0, relaxation=relaxation,
                           progress_bar=False)
    assert probs.shape == (20,) and abs(probs.sum() - 3) < 1e-4
    assert set(np.argsort(-probs)[:3]) == set(planted), probs
    assert probs[list(planted)].min() > 0.5 > np.delete(probs, planted).max(), probs
    assert losses.shape == (steps,) and np.isfinite(losses).all()
    assert losses[-50:].mean() < 0.8 * losses[:50].mean()


@pytest.mark.parametrize("backend,relaxation", [("numpyro", "mhot"), ("pyro", "subset")])
def test_feature_selection_command_line_on_real_data(backend, relaxation, tmp_path, capsys):
    out = tmp_path / f"diabetes_{backend}.png"
    argv = ["--dataset", "diabetes", "--m", "2", "--steps", "60", "--relaxation", relaxation]
    argv += ["--out", str(out)]
    result = BACKENDS[backend].main(argv)
    printed = capsys.readouterr().out
    assert result["planted"] is None and result["names"] == DIABETES
    assert result["probs"].shape == (10,) and abs(result["probs"].sum() - 2) < 1e-4
    assert len(result["selected"]) == 2 and set(result["selected"]) <= set(DIABETES)
    assert "selected: " + ", ".join(result["selected"]) in printed
    assert all(f" {name} " in printed for name in DIABETES)  # every feature's probability is printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert np.isfinite(result["losses"]).all()


def _top_level(path):
    """(kind, name, arguments, number of lines) of each top-level statement after the imports."""
    tree = ast.parse(path.read_text())
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.FunctionDef):
            args = [a.arg for a in node.args.args]
            defaults = [ast.unparse(d) for d in node.args.defaults]
            out.append(("def", node.name, args, defaults, node.end_lineno - node.lineno))
        elif isinstance(node, ast.Assign):
            out.append(("assign", [ast.unparse(t) for t in node.targets], None, None, 0))
        else:
            out.append((type(node).__name__, None, None, None, node.end_lineno - node.lineno))
    return out


def test_examples_are_parallel():
    """The Pyro and NumPyro examples: the same top-level definitions in the same
    order, with the same arguments and defaults, each function of the same
    length to within two lines, and the files within three lines."""
    numpyro_file = EXAMPLES / "feature_selection_numpyro.py"
    pyro_file = EXAMPLES / "feature_selection_pyro.py"
    n, p = _top_level(numpyro_file), _top_level(pyro_file)
    names = [t[1] for t in n if t[0] == "def"]
    assert names == ["load", "model", "guide", "fit", "plot", "main"]
    assert [t[:4] for t in n] == [t[:4] for t in p]
    assert all(abs(a[4] - b[4]) <= 2 for a, b in zip(n, p)), (n, p)
    lines_n, lines_p = numpyro_file.read_text().splitlines(), pyro_file.read_text().splitlines()
    assert abs(len(lines_n) - len(lines_p)) <= 3
    # the comments are the same, in the same order
    comments_n = [line.strip() for line in lines_n if line.strip().startswith("#")]
    assert comments_n == [line.strip() for line in lines_p if line.strip().startswith("#")]
