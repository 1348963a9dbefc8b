"""The Sphinx docs build with warnings as errors (docstring math and
cross-references included), every page is produced, and the code examples
the pages include (``docs/snippets/``) run and give what the pages say.
Not run here, for time: ``mhot_numpyro_svi.py``, ``mhot_pyro_svi.py`` (SVI
fits of 7-20 s each) and ``underflow.py`` (tens of thousands of draws at
k = 1000); the gradients they rely on are tested in tests/test_mhot.py and
tests/test_inference.py."""

import json
import pathlib
import runpy
import subprocess
import sys

import numpy as np
import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
SNIPPETS = DOCS / "snippets"

PAGES = [
    "index", "quickstart", "which_relaxation", "stable_twins", "examples", "gumbel_softmax",
    "binary_concrete", "relaxed_mhot", "relaxed_subset", "api_pyro", "api_numpyro", "api_core",
]
# Figures quoted in the pages (float64), recomputed by the tests below.
INCLUSION_M2 = "[0.9266, 0.6957, 0.2747, 0.1030]"
INCLUSION_IID_M2 = "[0.8732, 0.4177, 0.1667, 0.0631]"
INCLUSION_M25 = "[0.9603, 0.8220, 0.5160, 0.2018]"


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return out


def test_docs_build_without_warnings(html):
    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page
    assert (html / "api_numpyro.html").read_text().count("GumbelSoftmax") > 0


def test_every_page_is_in_the_toctree(html):
    index = (html / "index.html").read_text()
    for page in PAGES[1:]:
        assert f'href="{page}.html"' in index, page


def test_pages_have_their_math_and_includes(html):
    for page in ["gumbel_softmax", "binary_concrete", "relaxed_mhot", "relaxed_subset"]:
        text = (html / f"{page}.html").read_text()
        assert text.count('class="math') >= 5, page
    assert "mathjax" in (html / "gumbel_softmax.html").read_text().lower()
    assert "1 - p" in (html / "binary_concrete.html").read_text()  # the erratum
    examples = (html / "examples.html").read_text()
    for name in ["feature_selection_numpyro", "feature_selection_pyro", "vae_numpyro", "vae_pyro"]:
        assert f"examples/{name}.py" in examples, name
    assert examples.count('class="highlight-python') == 4  # the four listings are included
    quickstart = (html / "quickstart.html").read_text()
    assert "MHotTrace_ELBO" in quickstart and "RelaxedSubset" in quickstart


def run_snippet(name):
    return runpy.run_path(str(SNIPPETS / name), run_name="__main__")


def test_quickstart_pyro():
    import torch

    g = run_snippet("quickstart_pyro.py")
    assert g["x"].shape == (3, 4)
    torch.testing.assert_close(g["x"].sum(-1), torch.ones(3))
    assert torch.isfinite(g["d"].log_prob(g["x"])).all()
    assert torch.isfinite(g["v"]).all() and torch.isfinite(g["e"].log_prob(g["v"]))
    assert abs(g["mask"].sum().item() - 2) < 1e-5 and torch.isfinite(g["s"].log_prob(g["mask"]))
    expected = torch.tensor(json.loads(INCLUSION_M2))
    torch.testing.assert_close(g["s"].inclusion_probs, expected, atol=1e-4, rtol=0)


def test_quickstart_pyro_svi():
    g = run_snippet("quickstart_pyro_svi.py")
    probs = g["pyro"].param("logits").softmax(-1)
    assert probs[2].item() > 0.99  # as the page says


def test_quickstart_numpyro():
    g = run_snippet("quickstart_numpyro.py")
    assert g["x"].shape == (3, 4) and np.isfinite(np.asarray(g["d"].log_prob(g["x"]))).all()
    assert g["v"].shape == (2, 5)
    np.testing.assert_allclose(np.asarray(g["r"].inclusion_probs), 0.4, atol=1e-5)


def test_quickstart_numpyro_svi():
    g = run_snippet("quickstart_numpyro_svi.py")
    pi = np.asarray(g["fitted"].inclusion_probs)
    assert pi[[1, 4]].min() > 0.99 and np.delete(pi, [1, 4]).max() < 1e-3, pi


def test_erratum_snippet():
    g = run_snippet("erratum.py")
    assert abs((g["note"] > 0.5).mean() - 0.8) < 0.005  # 1 - p
    assert abs((g["fixed"] > 0.5).mean() - 0.2) < 0.005  # p
    assert abs((g["note2"] > 0.5).mean() - 1 / 1.2) < 0.005  # 1 / (1 + p)
    assert ((g["fixed2"] > 0.5) == (g["fixed"] > 0.5)).all()


def test_stable_twin_snippet():
    import torch

    g = run_snippet("stable_twin_pyro.py")
    assert len(g["losses"]) == 200 and torch.isfinite(g["losses"]).all()


def test_quoted_inclusion_probabilities():
    import torch

    from relaxed_dists.pyro import RelaxedMHot, RelaxedSubset

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    tau = torch.tensor(0.5, dtype=torch.float64)
    cases = [
        (RelaxedMHot(tau, 2, logits=logits), INCLUSION_M2, "relaxed_mhot"),
        (RelaxedMHot(tau, 2, logits=logits, distinct=False), INCLUSION_IID_M2, "relaxed_mhot"),
        (RelaxedSubset(tau, 2, logits=logits), INCLUSION_M2, "relaxed_subset"),
        (RelaxedSubset(tau, 2.5, logits=logits), INCLUSION_M25, "relaxed_subset"),
    ]
    for d, quoted, page in cases:
        assert quoted in (DOCS / f"{page}.rst").read_text(), (page, quoted)
        np.testing.assert_allclose(d.inclusion_probs.numpy(), json.loads(quoted), atol=5e-5)
