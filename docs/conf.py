"""Sphinx configuration: API reference from the numpydoc docstrings, the Markdown user
guide (MyST) and the examples gallery (sphinx-gallery).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``. The examples
are rendered without being run here (``plot_gallery = False``): the test suite runs each
of them. Set ``SKFACE_DOCS_RUN_EXAMPLES=1`` to run them during the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import skface  # noqa: E402

project = "skface"
author = "skface developers"
copyright = "skface developers, BSD-3-Clause"
version = release = skface.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

run_examples = os.environ.get("SKFACE_DOCS_RUN_EXAMPLES") == "1"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "plot_gallery": "True" if run_examples else "False",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "alabaster"
html_title = f"skface {version}"
html_static_path: list[str] = []
