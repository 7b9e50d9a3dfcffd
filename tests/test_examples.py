"""Every example runs, on a small set (SKFACE_EXAMPLE_N), so none rots; each takes its
UTKFace folder from its first argument or SKFACE_UTKFACE_DIR, says when it uses
synthetic faces instead, stops with a clear message on a missing folder, and leaves no
temporary folder behind."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
QUICKSTART = EXAMPLES[0].parent / "quickstart.py"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an example run: no UTKFace folder unless given, a fresh
    TMPDIR to check that nothing is left in it, a small set, figures to no screen."""
    env = {k: v for k, v in os.environ.items() if k != "SKFACE_UTKFACE_DIR"}
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    # torch keeps its compiler cache in TMPDIR/torchinductor_USER across runs by
    # design: that folder is torch's, not the example's, so it goes elsewhere here
    return {**env, "TMPDIR": str(tmpdir), "MPLBACKEND": "Agg", "SKFACE_EXAMPLE_N": "150",
            "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "torch-cache"), **extra}


def _run(script: Path, tmp_path: Path, *args: str, timeout: int = 300, **env: str):
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True,
                          text=True, cwd=cwd, env=_env(tmp_path, **env), timeout=timeout)


# ONNX Runtime (which the pretrained models run on) writes a session file and an empty
# debug log into TMPDIR as soon as it is imported: those are its files, not the
# example's.
ONNXRUNTIME_FILES = re.compile(r"\.ses|mat-debug-\d+\.log")


def _left_behind(tmp_path: Path) -> list[str]:
    """What a run left in its TMPDIR and its working directory."""
    return sorted(str(p.relative_to(tmp_path)) for d in ("tmpdir", "cwd")
                  for p in (tmp_path / d).iterdir()
                  if not (d == "tmpdir" and ONNXRUNTIME_FILES.fullmatch(p.name)))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_reads_its_folder_from_argv_or_the_environment(script):
    """Each example names both ways of giving it data, and none relies on ``__file__``
    (sphinx-gallery does not set it) or a folder beside the checkout."""
    source = script.read_text()
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    assert "sys.argv[1]" in source and "SKFACE_UTKFACE_DIR" in source
    assert "__file__" not in names
    assert "shared/datasets" not in source  # no folder layout beside the checkout
    assert "mkdtemp" not in source  # temporary folders are TemporaryDirectory objects


@pytest.mark.slow  # a fresh interpreter for each example
@pytest.mark.timeout(120)
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_stops_on_a_missing_folder_naming_the_variable(script, tmp_path):
    missing = tmp_path / "no-such-UTKFace"
    done = _run(script, tmp_path, timeout=100, SKFACE_UTKFACE_DIR=str(missing))
    assert done.returncode != 0
    assert "SKFACE_UTKFACE_DIR" in done.stderr and str(missing) in done.stderr
    assert "Traceback" not in done.stderr  # a message, not a crash
    assert not _left_behind(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_missing_folder_given_as_argument_stops_the_example(tmp_path):
    missing = tmp_path / "no-such-UTKFace"
    done = _run(QUICKSTART, tmp_path, str(missing), timeout=100)
    assert done.returncode != 0
    assert "SKFACE_UTKFACE_DIR" in done.stderr and str(missing) in done.stderr


@pytest.mark.slow  # trains a model in a fresh interpreter
@pytest.mark.timeout(200)
def test_quickstart_falls_back_to_synthetic_faces_and_cleans_up(tmp_path):
    """Without a folder the example says it uses synthetic faces; the images it wrote
    to a temporary folder are gone when it ends."""
    done = _run(QUICKSTART, tmp_path, timeout=180,
                SKFACE_EXAMPLE_N="100")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SYNTHETIC" in done.stdout and "SKFACE_UTKFACE_DIR" in done.stdout
    assert "held-out accuracy" in done.stdout
    assert not _left_behind(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_quickstart_uses_a_folder_given_as_argument(tmp_path, utkface_dir):
    done = _run(QUICKSTART, tmp_path, str(utkface_dir),
                timeout=180, SKFACE_EXAMPLE_N="100")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "real UTKFace images" in done.stdout and "SYNTHETIC" not in done.stdout
    assert not _left_behind(tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    done = _run(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SYNTHETIC" in done.stdout  # it says what it ran on
    assert not _left_behind(tmp_path)


@pytest.mark.slow  # trains, evaluates and analyzes in a fresh interpreter
@pytest.mark.timeout(300)
def test_the_tutorial_goes_from_a_folder_to_faces_in_a_group_photo(tmp_path, utkface_dir):
    """On real faces the tutorial's example holds out a test set, writes the report of
    ``skface evaluate`` with a figure per task, and gives one row per face of the
    group photo it composes."""
    done = _run(QUICKSTART.parent / "tutorial.py", tmp_path, str(utkface_dir), timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "real UTKFace images" in out and "SYNTHETIC" not in out
    assert "held out" in out
    for task, metric in (("age", "mae"), ("gender", "accuracy"), ("race", "accuracy")):
        assert f"{task}: {metric} " in out, task  # each task's figure and its interval
    assert "metrics.json" in out and "predictions.csv" in out
    row = re.compile(r"\s+\d+(\s+\d+){4}\s")  # face, x, y, w, h
    faces = [line for line in out.splitlines() if row.match(line)]
    assert faces and all(line.rstrip().endswith("ok") for line in faces)
    assert not _left_behind(tmp_path)
