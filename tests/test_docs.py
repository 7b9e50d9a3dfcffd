"""The Sphinx site builds with no warning, dangling references and numpydoc's parameter
checks included: API reference, user guide and examples."""

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
    # what the estimators inherit from skface's own base classes is on their pages,
    # and what they inherit from skorch, scikit-learn or torch is not
    for member in ("fit", "partial_fit", "predict", "predict_outputs", "task_", "output_head_"):
        assert f'id="skface.GenderClassifier.{member}"' in page, member
    for member in ("initialize_criterion", "get_loss", "train_step_single", "get_params"):
        assert f'id="skface.GenderClassifier.{member}"' not in page, member
    api = (html / "api.html").read_text()
    assert 'id="skface.MAX_AGE"' in api and 'id="skface.AGE_BIN_PRESETS"' in api
    assert (html / "generated" / "skface.plots.group_metrics.html").exists()
    examples = (html / "auto_examples" / "index.html").read_text()
    assert "Faces in ordinary photos" in examples
    for name in ("data", "estimators", "command_line", "benchmarks", "api"):
        assert (html / f"{name}.html").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                    reason='the docs need pip install -e ".[docs]"')
def test_a_dangling_reference_fails_the_build(tmp_path):
    """The site's configuration (nitpicky, numpydoc validation) makes a reference to
    an object that does not exist an error, not a dead link."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"__file__ = {str(DOCS / 'conf.py')!r}\n"
        "exec(compile(open(__file__).read(), __file__, 'exec'))\n"
        f"templates_path = [{str(DOCS / '_templates')!r}]\n"
        "sphinx_gallery_conf['examples_dirs'] = []\n"
        "sphinx_gallery_conf['gallery_dirs'] = []\n")
    (src / "index.rst").write_text(
        "Index\n=====\n\nSee :func:`skface.no_such_function` and :class:`skface.ImageLoader`.\n"
        "\n.. autoclass:: skface.ImageLoader\n")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=500)
    assert done.returncode != 0
    assert "skface.no_such_function" in done.stderr
    assert "reference target not found" in done.stderr
