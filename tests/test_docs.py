"""The Sphinx docs build in nitpicky mode with warnings as errors (every
cross-reference resolves, docstring math included), every page is produced,
the API pages show each class's own methods, shapes and supports and no
private base, no page cites a file outside the repository, the packaging
metadata agrees with ``LICENSE`` and ``relaxed_dists.__version__``, and the
code examples
the pages include (``docs/snippets/``) run and give what the pages say.
Not run here, for time: ``mhot_numpyro_svi.py``, ``mhot_pyro_svi.py`` (SVI
fits of 7-20 s each) and ``underflow.py`` (tens of thousands of draws at
k = 1000); the gradients they rely on are tested in tests/test_mhot.py and
tests/test_inference.py."""

import json
import pathlib
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

# Whole programs (examples, the docs build, training runs): out of the fast local
# subset (`pytest -m "not slow"`); CI runs them.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SNIPPETS = DOCS / "snippets"

PAGES = [
    "index", "quickstart", "which_relaxation", "stable_twins", "examples", "gumbel_softmax",
    "binary_concrete", "relaxed_mhot", "relaxed_subset", "api_pyro", "api_numpyro", "api_core",
    "api_families", "discrete_latents", "which_estimator", "relax_reparam",
]
# Figures quoted in the pages (float64), recomputed by the tests below.
INCLUSION_M2 = "[0.9266, 0.6957, 0.2747, 0.1030]"
INCLUSION_IID_M2 = "[0.8732, 0.4177, 0.1667, 0.0631]"
INCLUSION_M25 = "[0.9603, 0.8220, 0.5160, 0.2018]"


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
         str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return out


def test_docs_build_without_warnings(html):
    """``-n -W``: also every cross-reference resolves (nitpicky)."""
    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page
    assert (html / "api_numpyro.html").read_text().count("GumbelSoftmax") > 0


def _class_block(text, qualname):
    """The HTML of one class's entry on an API page (up to the next class)."""
    start = text.index(f'id="{qualname}"')
    nxt = text.find('<dl class="py class">', start)
    return text[start: nxt if nxt >= 0 else len(text)]


def public_classes(backend):
    """The distribution classes a backend exports (every family, so a new
    class is checked without editing this file)."""
    import importlib

    from relaxed_dists.families.base import Family

    module = importlib.import_module(f"relaxed_dists.{backend}")
    return [name for name in module.__all__
            if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), Family)]


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_api_pages_show_each_class_own_methods_shapes_and_support(html, backend):
    text = (html / f"api_{backend}.html").read_text()
    sample = "rsample_with_intermediates" if backend == "pyro" else "sample_with_intermediates"
    other = "numpyro" if backend == "pyro" else "pyro"
    classes = public_classes(backend)
    assert len(classes) >= 8, classes
    for name in classes:
        block = _class_block(text, f"relaxed_dists.{backend}.{name}")
        for member in ("log_prob", "infer_shapes", sample):
            assert f'id="relaxed_dists.{backend}.{name}.{member}"' in block, (name, member)
        assert "Shapes" in block and "Support" in block and "Spec(" in block, name
        # no member documented from the other backend's adapter
        assert f"relaxed_dists.{other}.RelaxedDistribution" not in block, name
    for name in ("RelaxedMHot", "ExpRelaxedMHot"):
        block = _class_block(text, f"relaxed_dists.{backend}.{name}")
        for member in ("mhot", "order_log_prob", "inclusion_probs"):
            assert f'id="relaxed_dists.{backend}.{name}.{member}"' in block, (name, member)
    for name in ("RelaxedSubset", "LogitRelaxedSubset"):
        block = _class_block(text, f"relaxed_dists.{backend}.{name}")
        assert f'id="relaxed_dists.{backend}.{name}.inclusion_probs"' in block, name
    # members of the host libraries' own bases are not repeated on every class
    gumbel = _class_block(text, f"relaxed_dists.{backend}.GumbelSoftmax")
    for host_member in ("to_event", "enumerate_support", "entropy", "cdf"):
        assert f"GumbelSoftmax.{host_member}" not in gumbel, host_member


def test_api_pages_name_no_private_base(html):
    """No "Bases:" line, and no private module or class of an adapter."""
    for page in ("api_pyro", "api_numpyro", "api_core", "api_families"):
        text = (html / f"{page}.html").read_text()
        assert "Bases:" not in text, page
        for private in re.findall(r"relaxed_dists(?:\.\w+)*\.(_\w+)", re.sub(r"<[^>]+>", "", text)):
            assert private in {"_check_static", "_event_shape_for", "_noise_shape", "_sample",
                               "_log_prob", "_log_prob_from", "_score_term"}, (page, private)


def test_families_page_documents_the_hooks(html):
    text = (html / "api_families.html").read_text()
    for hook in ("category_dim", "static_args", "support_name", "_check_static", "_event_shape_for",
                 "_noise_shape", "_sample", "_log_prob", "_log_prob_from", "_score_term"):
        assert f'id="relaxed_dists.families.base.Family.{hook}"' in text, hook


def test_no_page_cites_a_file_outside_the_repository():
    for path in [*DOCS.glob("*.rst"), *SNIPPETS.glob("*.py"), DOCS / "conf.py"]:
        text = path.read_text()
        assert "MATH.md" not in text and "seeds/" not in text, path


def test_packaging_metadata():
    """One version (``relaxed_dists.__version__``, read by setuptools and by
    Sphinx), the Apache-2.0 ``LICENSE`` that ``pyproject.toml`` names, and
    the changelog's latest release equal to that version or below an
    Unreleased section."""
    import relaxed_dists

    # In the standard library from Python 3.11 (CI's version); the package
    # supports 3.10, where this one check of the metadata is skipped.
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "relaxed_dists.__version__"}
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    for key in ("Source", "Documentation", "Issues", "Changelog"):
        assert project["urls"][key].startswith("https://github.com/relaxed-dists/relaxed_dists"), key
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert conf["release"] == relaxed_dists.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{relaxed_dists.__version__}]" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{relaxed_dists.__version__}]")


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
    assert "RLOOTrace_ELBO" in quickstart and "RelaxedSubset" in quickstart


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


def test_intermediates_snippet():
    """The explicit fast route equals the general formula, in both backends."""
    import torch

    g = run_snippet("intermediates.py")
    assert g["x"].shape == (64, 1000) and g["y"].shape == (64, 1000)
    torch.testing.assert_close(g["fast"], g["slow"], rtol=1e-5, atol=0)
    np.testing.assert_allclose(np.asarray(g["fast_n"]), np.asarray(g["slow_n"]), rtol=1e-5)
    assert "rsample_with_intermediates" in (DOCS / "quickstart.rst").read_text()


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


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_which_estimator_snippets_find_the_two_features(backend):
    """Both discrete estimators of the page recover the exact posterior's two
    features (features 1 and 4; the enumerated posterior puts its mass there)."""
    g = run_snippet(f"which_estimator_{backend}.py")
    exact = np.asarray(g["exact"])
    assert exact[[1, 4]].min() > 0.99 and np.delete(exact, [1, 4]).max() < 0.01, exact
    for name in ("rloo", "st"):
        fitted = np.asarray(g[name])
        np.testing.assert_allclose(fitted.sum(), 2.0, atol=1e-6)
        assert fitted[[1, 4]].min() > 0.9 and np.delete(fitted, [1, 4]).max() < 0.1, (name, fitted)


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_relax_reparam_snippets_find_the_exact_posterior(backend):
    """The RelaxReparam page's snippets: the fitted AutoGuide alone is off the
    exact posterior (a Gaussian on the relaxed latent pulls it towards the
    prior), the importance-weighted answer is within 0.05 of it."""
    g = run_snippet(f"relax_reparam_{backend}.py")
    exact, weighted, fitted = (np.asarray(g[k], dtype=float) for k in ("exact", "weighted", "fitted"))
    np.testing.assert_allclose(exact, [0.7889, 0.5774, 0.6460], atol=1e-3)
    assert np.abs(weighted - exact).max() < 0.05, (weighted, exact)
    assert 0.05 < np.abs(fitted - exact).max() < 0.25, (fitted, exact)
