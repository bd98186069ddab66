"""Sphinx configuration for the tornado_compat docs.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are
errors; the test suite runs the same build).  The docs import the package from
this checkout, never from an installed copy, so they describe the code beside
them.  This file must never fetch anything from the network: intersphinx and
the like stay off, because CI has no network.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

import tornado_compat  # noqa: E402

project = "tornado_compat"
author = "the tornado_compat developers"
copyright = "the tornado_compat developers"
release = tornado_compat.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
    "dropin_table",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "alabaster"
html_static_path: list[str] = []
