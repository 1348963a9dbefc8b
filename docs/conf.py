"""Sphinx configuration for relaxed_dists.

Built in nitpicky mode with warnings as errors (``tests/test_docs.py``)::

    python3 -m sphinx -n -W -b html docs /tmp/docs_build
"""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _version():
    """``relaxed_dists.__version__``, read without importing the package (the
    one place the version is written; ``pyproject.toml`` reads it too)."""
    tree = ast.parse((ROOT / "relaxed_dists" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise RuntimeError("relaxed_dists/__init__.py does not set __version__")


project = "relaxed_dists"
author = "relaxed_dists developers"
copyright = "relaxed_dists developers; Apache License 2.0"
release = _version()
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.napoleon"]
exclude_patterns = ["_build"]
html_theme = "alabaster"

# ----------------------------------------------------------------- autodoc
# Each directive says what it shows. The API pages document everything that
# ``relaxed_dists.pyro`` / ``relaxed_dists.numpyro`` export with ``:members:``
# and ``:inherited-members:`` (in ``__all__`` order), so that a class shows
# the public methods and properties it has from its family body and its host
# adapter, and a new class appears without editing the page;
# ``_skip_host_members`` drops the members of the host libraries' own bases
# (torch, Pyro, NumPyro). Bases are never shown: the adapters' bases are an
# implementation detail, not part of the API. No default options: with
# Sphinx 9 a default ``members`` overrides ``:no-members:``, and any value of
# ``show-inheritance`` (even ``False``) turns it on.
autodoc_member_order = "bysource"
autodoc_default_options = {}
# Methods that override a host library's method without a docstring of their
# own are not given the host's (written for the host's classes).
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
# Types only for the parameters and returns a docstring documents (not, for
# example, for the host base class constructor behind an adapter).
autodoc_typehints_description_target = "documented"
# The public signatures annotate array arguments with this alias (of
# ``typing.Any``); shown by name and linked to its entry on api_families.
autodoc_type_aliases = {"ArrayLike": "relaxed_dists.families.base.ArrayLike"}
napoleon_google_docstring = False
napoleon_numpy_docstring = False


def _defining_module(obj):
    """The module that defines a class member (function, property, lazy
    property, class- or staticmethod), or ``None`` for plain data."""
    for attr in ("fget", "__func__", "wrapped", "func"):
        obj = getattr(obj, attr, obj)
    return getattr(obj, "__module__", None) if callable(obj) else None


def _skip_host_members(app, what, name, obj, skip, options):
    """On a class: drop members defined by a host library; keep every public
    method or property defined in this package, documented or not (an
    override such as ``rsample`` or ``support`` is still part of the API)."""
    if what != "class":
        return None
    module = _defining_module(obj)
    if module is None:
        return None
    if not module.startswith("relaxed_dists"):
        return True
    return None if name.startswith("_") else False


def _shapes_and_support(app, what, name, obj, options, lines):
    """Add to each public distribution class its shapes, static arguments and
    support, computed from the class itself (so they cannot go stale), before
    its References."""
    if what != "class" or not name.startswith(("relaxed_dists.pyro.", "relaxed_dists.numpyro.")):
        return
    from relaxed_dists.families.base import Family

    if not (isinstance(obj, type) and issubclass(obj, Family)):
        return
    from relaxed_dists.core.supports import SPECS as specs

    static = {"m": 2} if "m" in obj.static_args else {}
    tempered = "temperature" in obj.param_names
    temperature = {"temperature": 0.5} if tempered else {}
    # An instance says what its support is (the m-hot one depends on ``distinct``).
    support_name = obj(logits=[0.0] * 5 if obj.category_dim else 0.0, **temperature,
                       **static).support_name
    k = " + (k,)" if obj.category_dim else ""
    example = dict(logits=(3, 5) if obj.category_dim else (3,), **static)
    if tempered:
        example = dict(temperature=(2, 1), **example)
    batch, event = obj.infer_shapes(**example)
    call = ", ".join(f"{key}={value!r}" for key, value in example.items())
    _, event_dim, expected = specs[support_name]
    params = "".join(f", {key}={key}" for key in obj.support_args)
    # "sum to m = {m}" reads "sum to m" with the argument left symbolic
    expected = re.sub(r"(\w+) = \{\1\}", r"\1", expected)
    expected = expected.format(**{key: key for key in obj.static_args})
    shapes = (f"``temperature`` of shape ``T`` and ``probs`` / ``logits`` of shape ``P{k}`` give "
              f"the batch shape ``T`` and ``P`` broadcast" if tempered else
              f"``probs`` / ``logits`` of shape ``P{k}`` give the batch shape ``P``")
    added = [
        f":Shapes: {shapes}; for example "
        f"``infer_shapes({call})`` is batch ``{tuple(batch)}``, event ``{tuple(event)}``.",
        f":Support: ``Spec({support_name!r}{params})`` (event dim {event_dim}): {expected}.",
    ]
    if obj.static_args:
        added.append(":Static arguments: " + ", ".join(f"``{key}``" for key in obj.static_args)
                     + " (Python values, kept by ``expand``).")
    at = next((i for i, line in enumerate(lines) if line.strip() == "References"), len(lines))
    lines[at:at] = [""] + added + [""]


def setup(app):
    app.connect("autodoc-process-docstring", _shapes_and_support)
    app.connect("autodoc-skip-member", _skip_host_members)


# ---------------------------------------------------------------- nitpicky
# Every cross-reference must resolve. The build runs offline (CI included),
# so intersphinx is not used, and the third-party types that the public
# signatures are annotated with have no target. Those, and only those, are
# ignored, each by name (they show when a docstring documents the parameter
# or the return value that carries them):
nitpicky = True
nitpick_ignore = [
    ("py:class", "torch.Tensor"),  # values and parameters in Pyro
    ("py:class", "torch.Size"),  # Pyro's sample shapes, infer_shapes
    ("py:class", "jax.Array"),  # values and parameters in NumPyro
    ("py:class", "jax.jaxlib._jax.Array"),  # the same, as jax names it at run time
    ("py:class", "pyro.distributions.score_parts.ScoreParts"),  # Pyro's score_parts
]
