"""Sphinx configuration: API reference from the numpydoc docstrings, the Markdown user
guide (MyST) and the examples gallery (sphinx-gallery).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``. The build
runs every example, so the gallery shows real output and figures, on a small set of
images (``SKFACE_EXAMPLE_N``, 200 unless set; a few seconds to a minute each). They use
the UTKFace folder in ``SKFACE_UTKFACE_DIR`` when it is set and synthetic faces
otherwise. ``-D plot_gallery=0`` builds without running them.
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
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# Every cross-reference must resolve: a renamed or removed object fails the build
# (which runs with -W) instead of leaving a dead link.
nitpicky = True
# The build runs without network, so there is no intersphinx inventory of the other
# projects; references to their objects (scikit-learn, pandas, skorch...) stay
# unresolved and are not checked.
nitpick_ignore_regex = [
    (r"py:.*", r"(os|numpy|scipy|pandas|matplotlib|sklearn|torch|skorch)(\..+)?"),
]

# numpydoc's checks of the public API: every parameter documented (PR01), no
# documented parameter that the signature lacks (PR02), a Returns section (RT01).
numpydoc_validation_checks = {"PR01", "PR02", "RT01"}
numpydoc_validation_exclude = {
    # The estimators take the engine's parameters through **kwargs, so their
    # signatures do not list what their Parameters sections document;
    # tests/test_docstrings.py checks those sections against get_params() instead.
    r"^skface\.(Accelerated)?(GenderClassifier|RaceClassifier|AgeRegressor|AgeBinner"
    r"|FaceAttributes)$",
}

# skorch's hooks that the estimators override: internals of training, documented by
# skorch, not part of skface's API (fit, partial_fit, predict, predict_proba are).
_SKORCH_API = {"fit", "partial_fit", "predict", "predict_proba"}


def _skip_member(app, what, name, obj, skip, options):
    """A class's page shows what skface defines for it, including what it inherits
    from skface's own base classes, but not the members it inherits from
    scikit-learn, skorch, torch or Python, nor members without a docstring of their
    own (autodoc would show the parent's)."""
    if skip or what not in ("class", "exception"):  # the type of the member's owner
        return None
    func = getattr(obj, "fget", None) or getattr(obj, "__func__", None) or obj
    if not (getattr(func, "__module__", None) or "").startswith("skface"):
        return True
    if getattr(func, "__doc__", None) is None:
        return True
    from skorch import NeuralNet

    if name not in _SKORCH_API and hasattr(NeuralNet, name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)

# The examples run in this process and read their size from the environment.
os.environ.setdefault("SKFACE_EXAMPLE_N", "200")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "alabaster"
html_title = f"skface {version}"
html_static_path: list[str] = []
