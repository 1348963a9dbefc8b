"""Sphinx configuration for relaxed_dists."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

project = "relaxed_dists"
author = "relaxed_dists developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.napoleon"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_inherit_docstrings = False
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
