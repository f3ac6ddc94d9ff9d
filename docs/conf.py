"""Sphinx configuration of the bootstrap_meta documentation site.

Build (from the repository root; warnings are errors, as in CI)::

  python -m sphinx -W --keep-going -b html docs docs/_build/html

Why Sphinx (autodoc + napoleon + myst-parser) rather than MkDocs: the
docstrings are Google-style with reST inside (``:func:`` roles, ``.. math::``
blocks, ```Title <url>`_`` references), which autodoc and napoleon render
as written; myst-parser keeps the prose pages (and the repository's
``RESULTS.md``, ``CHANGELOG.md``, ``docs/ratchet.md``) in Markdown.
sphinx-mathjax-offline copies MathJax into the build, so the equations
render without a network (and in the headless-browser test).
"""

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The checkout comes first: the research stack (agents, tasks, launch) is
# not part of the installed distribution, and the core is documented from
# the same source tree.
sys.path.insert(0, str(_ROOT))
sys.path.insert(0, str(_ROOT / "docs" / "_ext"))

import bootstrap_meta  # noqa: E402

project = "bootstrap_meta"
author = "bootstrap_meta authors"
copyright = "the bootstrap_meta authors, Apache-2.0"  # noqa: A001
version = release = bootstrap_meta.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax served from the build, no CDN
    "sphinx.ext.viewcode",
    "myst_parser",
    "bm_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# MyST: $…$ and $$…$$ math, ```{directive} fences, anchors for ## headings.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc / napoleon: Google-style docstrings. Pages ask for ``:members:``
# where they want them (members then follow the module's ``__all__``).
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_member_order = "bysource"
# Signatures name types by their last component (bm_docs qualifies them
# first, so that the links are unambiguous).
python_use_unqualified_type_names = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# ``Attributes:`` sections become ``:ivar:`` fields, not separate attribute
# entries that would collide with autodoc's own dataclass fields.
napoleon_use_ivar = True
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"bootstrap_meta {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
