"""The Sphinx site builds with no warning: API reference, user guide and examples."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
NEEDED = ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser")


@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                    reason='the docs need pip install -e ".[docs]"')
def test_docs_build_without_warnings(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    html = tmp_path / "html"
    page = (html / "generated" / "skface.GenderClassifier.html").read_text()
    assert "predict_proba" in page and "max_epochs" in page  # methods and parameters
    assert (html / "generated" / "skface.plots.group_metrics.html").exists()
    examples = (html / "auto_examples" / "index.html").read_text()
    assert "Faces in ordinary photos" in examples
    for name in ("data", "estimators", "command_line", "benchmarks", "api"):
        assert (html / f"{name}.html").exists()
