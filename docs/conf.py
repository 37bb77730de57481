"""Sphinx configuration: the Markdown pages (MyST) plus an API reference
generated from the extension's docstrings.  Built in CI with -W (warnings
are errors):  python -m sphinx -W -b html docs docs/_build/html"""

import pygochan

project = "pygochan"
author = "the pygochan authors"
copyright = "pygochan authors, MIT licence"
release = pygochan.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "notebooks", "README.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_default_options = {"members": True, "undoc-members": False, "member-order": "bysource"}
autodoc_typehints = "signature"
# The C types' reprs of defaults and the stubs disagree on nothing a reader
# needs; show signatures as the docstrings give them.
autodoc_docstring_signature = True

html_theme = "furo"
html_title = f"pygochan {release}"
