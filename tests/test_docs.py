"""The Sphinx site builds with no warning, dangling references and numpydoc's parameter
checks included: API reference, user guide and examples (run, so the gallery shows
their real output). The user guide and the docstrings speak to users: no issue numbers,
development machines or internal notes (those belong in docs/benchmarks.md)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
NEEDED = ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser")

# Words of the development notebook, not of a user guide. docs/benchmarks.md, the
# measurement record, is not checked: it names the machines of its rows.
INTERNAL_WORDS = {
    "an issue number": r"\bissues? *#?\d",
    "an issue's targets": r"\bissue's\b",
    "seed notebooks": r"\bseed notebooks?\b|\bseeds'",
    "a development CPU": r"\bEPYC\b|\bXeon\b",
    "a core count": r"\b2-core\b|\btwo (CPU )?cores\b",
    "the developers' machine": r"\bour machines?\b|\bon this machine\b",
    "the project's organisation": r"\bCEO\b|\bhelper sessions?\b",
}
USER_DOCS = sorted(
    p for p in [REPO / "README.md", DOCS / "conf.py", *DOCS.glob("*.md"),
                *(REPO / "examples").iterdir()]
    if p.name != "benchmarks.md" and p.suffix in (".md", ".py", ".rst")
)
SOURCES = sorted((REPO / "skface").rglob("*.py"))


def _user_text(path: Path) -> str:
    """A document's text; for skface's modules, every string in them (docstrings,
    messages, help texts), not the comments."""
    if path.is_relative_to(REPO / "skface"):
        tree = ast.parse(path.read_text())
        return "\n".join(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return path.read_text()


@pytest.mark.parametrize("path", USER_DOCS + SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_user_docs_and_docstrings_hold_no_internal_words(path):
    text = _user_text(path)
    found = [f"{what}: {m.group(0)!r}" for what, pattern in INTERNAL_WORDS.items()
             for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not found, f"{path.relative_to(REPO)} speaks of {found}"


def test_internal_words_are_found():
    """The patterns catch what they are for (and ordinary words pass)."""
    for bad in ("target (issue 3)", "the issue's targets", "the seed notebooks' Bin10",
                "on this project's 2-core AMD EPYC", "on two CPU cores", "an Intel Xeon",
                "measured on this machine"):
        assert any(re.search(p, bad, re.IGNORECASE) for p in INTERNAL_WORDS.values()), bad
    for fine in ("skorch.helper.predefined_split", "127.0.0.1 (this machine only)",
                 "a few minutes on a laptop's CPU", "two CPUs"):
        assert not any(re.search(p, fine, re.IGNORECASE) for p in INTERNAL_WORDS.values())


@pytest.mark.timeout(120)
def test_conf_runs_the_gallery_on_a_small_set():
    """docs/conf.py asks sphinx-gallery to execute every example and sets the small
    size they run at (unless the builder chose one)."""
    probe = (
        "import json, os, runpy, sys\n"
        f"conf = runpy.run_path({str(DOCS / 'conf.py')!r})\n"
        "g = conf['sphinx_gallery_conf']\n"
        "print(json.dumps({'plot_gallery': str(g.get('plot_gallery', True)),"
        " 'pattern': g['filename_pattern'], 'dirs': str(g['examples_dirs']),"
        " 'n': os.environ.get('SKFACE_EXAMPLE_N')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SKFACE_EXAMPLE_N"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=100, check=True)
    conf = json.loads(done.stdout.strip().splitlines()[-1])
    assert conf["plot_gallery"] in ("True", "1", "true")
    assert Path(conf["dirs"]) == REPO / "examples"
    for example in (REPO / "examples").glob("*.py"):
        assert re.search(conf["pattern"], str(example)), example.name
    assert 50 <= int(conf["n"]) <= 300
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**env, "SKFACE_EXAMPLE_N": "1000"}, timeout=100, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])["n"] == "1000"


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                    reason='the docs need pip install -e ".[docs]"')
def test_docs_build_without_warnings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SKFACE_UTKFACE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=1400, env={**env, "MPLBACKEND": "Agg"})
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
    # the examples ran: their output and figures are on their pages
    quickstart = (html / "auto_examples" / "quickstart.html").read_text()
    assert "SYNTHETIC" in quickstart and "held-out accuracy" in quickstart
    for figure in ("multi_task_and_group_metrics_001", "faces_in_photos_001"):
        assert (html / "_images" / f"sphx_glr_{figure}.png").exists(), figure
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
