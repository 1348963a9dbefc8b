"""The examples run with small settings and give the right answer."""

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

import feature_selection_numpyro as fs  # noqa: E402


def test_feature_selection_recovers_planted_features():
    X, y, names, planted = fs.load("synthetic", seed=0)
    probs, losses = fs.fit(X, y, m=3, temperature=0.5, steps=800, seed=0, progress_bar=False)
    assert set(np.argsort(-probs)[:3]) == set(planted)
    assert abs(probs.sum() - 3) < 1e-6
    assert np.isfinite(losses).all() and losses[-100:].mean() < losses[:100].mean()


def test_feature_selection_command_line_on_real_data(capsys):
    probs, planted = fs.main(["--dataset", "diabetes", "--m", "2", "--steps", "300"])
    out = capsys.readouterr().out
    assert planted is None and probs.shape == (10,) and "selected:" in out
    assert abs(probs.sum() - 2) < 1e-6
