"""skface._outputs, skface._leftovers and skface._utils: atomic output files and folders,
leftovers of killed writers, refusals; optional imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from skface._leftovers import MANIFEST, clean_leftovers, partial_path
from skface._outputs import (
    OutputRefusedError,
    atomic_file,
    atomic_folder,
    check_file_output,
    check_folder_output,
)
from skface._utils import import_optional
from skface.exceptions import MissingDependencyError

from .conftest import REPO, folder_state


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _lstate(folder: Path) -> dict:
    """Names, sizes and times of a folder's entries, links not followed."""
    return {e.name: (e.stat(follow_symlinks=False).st_size,
                     e.stat(follow_symlinks=False).st_mtime_ns) for e in os.scandir(folder)}


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=60)
    return done.pid


# --------------------------------------------------------------------------- files


def test_a_file_appears_complete_with_the_usual_mode_and_nothing_beside_it(tmp_path):
    final = tmp_path / "out.csv"
    with atomic_file(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".skface-partial-")
        assert tmp.name.endswith("-out.csv")  # the extension picks the writer's format
        assert not final.exists()  # never a half-written final name
        tmp.write_text("a,b\n")
    assert final.read_text() == "a,b\n"
    assert final.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_writer_that_makes_its_own_private_file_still_gives_the_usual_mode(tmp_path):
    final = tmp_path / "model.safetensors"
    with atomic_file(final) as tmp:  # as safetensors does: a new file, mode 0600
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"weights")
        os.close(fd)
    assert final.read_bytes() == b"weights"
    assert final.stat().st_mode & 0o777 == 0o666 & ~_umask()


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_error_while_writing_removes_the_temporary_file(tmp_path, error):
    final = tmp_path / "model.joblib"
    final.write_text("the old model")
    with pytest.raises(error):
        with atomic_file(final, overwrite=True) as tmp:
            tmp.write_text("half")
            raise error("stop")
    assert final.read_text() == "the old model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    final = tmp_path / "m.joblib"
    final.write_text("old")
    with pytest.raises(FileExistsError, match="pass --force"):
        with atomic_file(final):
            pytest.fail("the block must not run")
    with atomic_file(final, overwrite=True) as tmp:
        tmp.write_text("new")
    assert final.read_text() == "new"


def test_a_file_that_appears_while_writing_is_never_replaced(tmp_path):
    # the second writer checks, writes, and only then finds the first one's file
    final = tmp_path / "model.joblib"
    with pytest.raises(FileExistsError, match="created by another program"):
        with atomic_file(final) as slow:
            slow.write_text("second")
            with atomic_file(final) as fast:  # starts after, finishes first
                fast.write_text("first")
    assert final.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


@pytest.mark.timeout(60)
def test_two_threads_racing_for_one_name_exactly_one_wins(tmp_path):
    final = tmp_path / "model.joblib"
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, str] = {}

    def write(tag: str) -> None:
        try:
            with atomic_file(final) as tmp:
                tmp.write_text(tag)
                barrier.wait()  # both have checked and written: only the rename remains
            results[tag] = "ok"
        except FileExistsError:
            results[tag] = "refused"

    threads = [threading.Thread(target=write, args=(t,)) for t in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["ok", "refused"]
    winner = next(t for t, r in results.items() if r == "ok")
    assert final.read_text() == winner
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_folders_special_files_and_links_to_nothing_are_refused(tmp_path):
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "nowhere" / "x.joblib", tmp_path / "dangling.joblib")
    os.mkfifo(tmp_path / "fifo")
    before = _lstate(tmp_path)
    for name, words in [("folder", "is a folder"), ("dangling.joblib", "does not exist"),
                        ("fifo", "not a regular file")]:
        for overwrite in (False, True):
            with pytest.raises(OutputRefusedError, match=words):
                check_file_output(tmp_path / name, overwrite=overwrite)
            with pytest.raises(OutputRefusedError, match=words):
                with atomic_file(tmp_path / name, overwrite=overwrite):
                    pytest.fail("the block must not run")
    assert _lstate(tmp_path) == before
    assert os.readlink(tmp_path / "dangling.joblib") == str(tmp_path / "nowhere" / "x.joblib")


def test_a_link_to_a_file_is_written_through_with_overwrite(tmp_path):
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "v1.joblib"
    target.write_text("old")
    link = tmp_path / "current.joblib"
    os.symlink(target, link)
    with pytest.raises(FileExistsError):
        check_file_output(link)
    with atomic_file(link, overwrite=True) as tmp:
        assert tmp.parent == target.parent  # beside the real file: a rename, not a copy
        tmp.write_text("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_inputs_and_data_folders_are_never_written(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jpg").write_bytes(b"x")
    table = tmp_path / "labels.csv"
    table.write_text("path\n")
    os.symlink(data, tmp_path / "data-link")
    cases = [(table, {"inputs": [table]}), (data / "a.jpg", {"inputs": [data / "a.jpg"]}),
             (data / "new.csv", {"data_dirs": [data]}),
             (tmp_path / "data-link" / "new.csv", {"data_dirs": [data]}),
             (data / "sub" / "new.csv", {"data_dirs": [tmp_path / "data-link"]})]
    for path, protect in cases:
        with pytest.raises(OutputRefusedError):
            check_file_output(path, overwrite=True, **protect)
    check_file_output(tmp_path / "new.csv", inputs=[table], data_dirs=[data])  # beside: fine


def test_long_names_keep_their_extension_and_fit(tmp_path):
    name = "x" * 250 + ".safetensors"
    tmp = partial_path(tmp_path / name)
    assert len(os.fsencode(tmp.name)) <= 255 and tmp.name.endswith(".safetensors")
    assert partial_path(tmp_path / "a.csv") != partial_path(tmp_path / "a.csv")


# --------------------------------------------------------------------------- leftovers

_SLOW_WRITER = """
import sys, time
from skface._outputs import atomic_file
with atomic_file(sys.argv[1]) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"x" * 1_000_000)
        f.flush()
        print("writing", flush=True)
        while True:  # a large file, written until killed
            f.write(b"x" * 1_000_000)
            f.flush()
            time.sleep(0.05)
"""


@pytest.mark.timeout(120)
def test_leftovers_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    final = tmp_path / "model.joblib"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(final)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".skface-partial-{proc.pid}-")
    assert not final.exists()
    # skface's temporary names of live processes and anything else are kept
    live = partial_path(tmp_path / "other.joblib")  # this process: still writing
    live.write_text("in progress")
    mine = ["notes.txt", ".skface-partial-notes.txt", ".skface-partial-0-abcdef12-x",
            f".skface-partial-{proc.pid}-short-x", "skface-partial-1-abcdef12-x"]
    for name in mine:
        (tmp_path / name).write_text("keep")
    with atomic_file(final) as tmp:
        tmp.write_text("model")
    assert final.read_text() == "model"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.joblib", live.name, *mine])


def test_leftover_folders_lose_only_what_skface_wrote(tmp_path):
    pid = _dead_pid()
    filling = tmp_path / f".skface-partial-{pid}-0123abcd-report"  # killed while filling
    filling.mkdir()
    (filling / "predictions.csv").write_text("x")
    aside = tmp_path / f".skface-partial-{pid}-4567abcd-report"  # an old report set aside
    aside.mkdir()
    (aside / "metrics.json").write_text("{}")
    (aside / "user.txt").write_text("mine")
    (aside / MANIFEST).write_text(json.dumps(
        {"format": "skface output folder", "files": ["metrics.json"]}))
    link_target = tmp_path / "elsewhere"
    link_target.mkdir()
    (link_target / "precious.txt").write_text("keep")
    os.symlink(link_target, tmp_path / f".skface-partial-{pid}-89abcdef-link")
    removed = clean_leftovers(tmp_path)
    assert sorted(removed) == [f".skface-partial-{pid}-0123abcd-report",
                               f".skface-partial-{pid}-89abcdef-link"]
    assert not filling.exists()
    assert sorted(p.name for p in aside.iterdir()) == [MANIFEST, "user.txt"]
    assert (link_target / "precious.txt").read_text() == "keep"  # a link is not followed


# --------------------------------------------------------------------------- folders


def _fill(folder: Path, names=("a.csv", "b.png")) -> None:
    for name in names:
        (folder / name).write_text(name)


def test_a_folder_carries_a_manifest_and_is_replaced_only_when_all_skfaces(tmp_path):
    out = tmp_path / "report"
    with atomic_folder(out) as tmp:
        _fill(tmp)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["a.csv", "b.png"]
    assert out.stat().st_mode & 0o777 == 0o777 & ~_umask()
    with pytest.raises(FileExistsError, match="pass --force"):
        check_folder_output(out)
    with atomic_folder(out, overwrite=True) as tmp:
        _fill(tmp, ["c.csv"])
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "c.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    (out / "notes.txt").write_text("mine")  # the user adds a file
    before = folder_state(out)
    with pytest.raises(OutputRefusedError, match=r"'notes\.txt'"):
        with atomic_folder(out, overwrite=True):
            pytest.fail("the block must not run")
    assert folder_state(out) == before


def test_a_file_added_while_the_folder_is_written_is_never_deleted(tmp_path):
    out = tmp_path / "report"
    with atomic_folder(out) as tmp:
        _fill(tmp)
    with pytest.raises(OutputRefusedError, match=r"'late\.txt'"):
        with atomic_folder(out, overwrite=True) as tmp:
            _fill(tmp, ["new.csv"])
            (out / "late.txt").write_text("mine")  # between the check and the swap
    assert (out / "late.txt").read_text() == "mine" and (out / "a.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_folder_error_leaves_the_old_folder_and_no_temporary_one(tmp_path):
    out = tmp_path / "report"
    with atomic_folder(out) as tmp:
        _fill(tmp)
    before = folder_state(out)
    with pytest.raises(RuntimeError):
        with atomic_folder(out, overwrite=True) as tmp:
            _fill(tmp, ["half.csv"])
            raise RuntimeError("plotting failed")
    assert folder_state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_folder_that_appears_while_writing_is_never_replaced(tmp_path, monkeypatch):
    import skface._outputs as U

    out = tmp_path / "report"
    with pytest.raises(FileExistsError, match="not written by skface"):
        with atomic_folder(out) as tmp:  # appears while the folder is filled
            _fill(tmp)
            out.mkdir()
            (out / "theirs.txt").write_text("x")
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]

    original, calls = U._folder_state, []

    def appears_after_the_last_check(*args, **kwargs):
        state = original(*args, **kwargs)
        calls.append(state)
        if len(calls) == 2:  # between the last check and the rename
            (tmp_path / "late").mkdir()
            (tmp_path / "late" / "theirs.txt").write_text("x")
        return state

    monkeypatch.setattr(U, "_folder_state", appears_after_the_last_check)
    with pytest.raises(FileExistsError, match="created by another program"):
        with atomic_folder(tmp_path / "late") as tmp:
            _fill(tmp)
    assert calls == ["absent", "absent"]
    assert [p.name for p in (tmp_path / "late").iterdir()] == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late", "report"]


@pytest.mark.parametrize("manifest", [
    "not json", json.dumps({"format": "something else", "files": []}),
    json.dumps({"format": "skface output folder", "files": ["../outside.txt"]}),
])
def test_a_folder_without_a_valid_manifest_is_not_skfaces(tmp_path, manifest):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work")
    (out / MANIFEST).write_text(manifest)
    with pytest.raises(OutputRefusedError, match="not written by skface"):
        check_folder_output(out, overwrite=True)


def test_the_current_home_and_their_parents_are_refused(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "home" / "proj"
    work.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for path, words in [(work, "current folder"), (".", "current folder"),
                        (home, "current folder"), (tmp_path, "current folder"),
                        ("/", "current folder")]:
        with pytest.raises(OutputRefusedError, match=words):
            check_folder_output(path, overwrite=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputRefusedError, match="home folder"):
        check_folder_output(home, overwrite=True)
    check_folder_output(tmp_path / "new-report")  # a new folder below the current one: fine


# --------------------------------------------------------------------------- optional imports


def _hide(monkeypatch, name: str) -> None:
    """Make ``import name`` fail as when its package is not installed."""
    for module in {name, name.partition(".")[0]}:
        monkeypatch.setitem(sys.modules, module, None)


def test_import_optional_returns_the_module():
    import json as expected

    assert import_optional("json", "plot") is expected
    assert import_optional("os.path", "plot", "a purpose") is os.path


def test_a_missing_module_names_the_extra_and_the_pip_command(monkeypatch):
    _hide(monkeypatch, "cv2")
    with pytest.raises(MissingDependencyError) as info:
        import_optional("cv2", "detect", "face detection", hint="or install OpenCV yourself")
    err = info.value
    message = str(err)
    assert isinstance(err, ImportError) and isinstance(err.__cause__, ImportError)
    assert message.startswith("face detection needs OpenCV")
    assert 'pip install "skface[detect]"' in message and "not installed" in message
    assert "(or install OpenCV yourself)" in message
    assert (err.name, err.extra, err.install) == ("cv2", "detect", 'pip install "skface[detect]"')
    # it survives a trip to another process (a joblib worker) whole
    import pickle

    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.name, back.extra) == (
        MissingDependencyError, message, "cv2", "detect")


def test_a_module_that_fails_to_import_is_told_apart_from_a_missing_one(tmp_path, monkeypatch):
    broken = tmp_path / "skface_broken_optional.py"
    broken.write_text("raise ImportError('libfoo.so: cannot open')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError,
                       match=r"could not be imported \(libfoo\.so: cannot open\).*skface\[plot\]"):
        import_optional("skface_broken_optional", "plot")


def _fitted_tiny(fast_params):
    import numpy as np

    from skface import GenderClassifier

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    return GenderClassifier(**fast_params, batch_size=4).fit(X, np.arange(8) % 2)


def _surface(name: str, tmp_path, fast_params):
    """Call the public surface ``name`` in the cheapest way that reaches its optional import."""
    import numpy as np
    import pandas as pd

    if name == "FaceCropper":
        from skface import FaceCropper

        FaceCropper().fit(np.zeros((1, 20, 20, 3), dtype=np.uint8))
    elif name == "save_model":
        from skface import save_model

        save_model(object(), tmp_path / "model.safetensors")
    elif name == "load_model":
        from skface import load_model

        load_model(tmp_path / "model.safetensors")
    elif name == "explore_data":
        from skface._reports import explore_data

        explore_data(tmp_path / "faces", tmp_path / "report")
    elif name == "plots":
        from skface.plots import plot_age_histogram

        plot_age_histogram(pd.DataFrame({"age": [20, 30]}))
    elif name == "export_onnx":
        from skface import export_onnx

        export_onnx(_fitted_tiny(fast_params), tmp_path / "model.onnx")
    elif name == "demo":
        from skface._demo import build_demo

        build_demo(object())
    elif name == "Accelerated* log":
        from skface._accelerate import _print_on_main_process

        _print_on_main_process("epoch 1")
    else:  # pragma: no cover
        raise AssertionError(name)


# (surface, module it imports, extra that installs it, distribution in that extra)
SURFACES = [
    ("FaceCropper", "cv2", "detect", "opencv-python-headless"),
    ("save_model", "safetensors.torch", "safetensors", "safetensors"),
    ("load_model", "safetensors", "safetensors", "safetensors"),
    ("explore_data", "matplotlib.pyplot", "plot", "matplotlib"),
    ("plots", "matplotlib.pyplot", "plot", "matplotlib"),
    ("export_onnx", "onnxscript", "onnx", "onnxscript"),
    ("demo", "gradio", "demo", "gradio"),
    ("Accelerated* log", "accelerate", "accelerate", "accelerate"),
]


@pytest.mark.parametrize(("surface", "module", "extra", "distribution"), SURFACES,
                         ids=[s[0] for s in SURFACES])
def test_each_surface_says_which_extra_to_install(surface, module, extra, distribution,
                                                 tmp_path, monkeypatch, fast_params):
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(r.startswith(distribution) for r in extras[extra]), (extra, extras.get(extra))
    _hide(monkeypatch, module)
    with pytest.raises(MissingDependencyError, match=rf'pip install "skface\[{extra}\]"') as info:
        _surface(surface, tmp_path, fast_params)
    assert info.value.extra == extra


def test_the_command_line_exits_4_naming_the_extra(tmp_path, monkeypatch, capsys):
    from skface._cli import EXIT_MISSING_DEPENDENCY, main

    _hide(monkeypatch, "safetensors.torch")
    out = tmp_path / "model.safetensors"
    assert main(["train", "--target", "gender", "--synthetic", "40", "--size", "32",
                 "--epochs", "1", "-q", "-o", str(out)]) == EXIT_MISSING_DEPENDENCY == 4
    err = capsys.readouterr().err
    assert "--format safetensors needs safetensors" in err
    assert 'pip install "skface[safetensors]"' in err and not out.exists()


def test_leftover_folders_with_subfolders_go_whole_and_deep_ones_stay(tmp_path):
    pid = _dead_pid()
    nested = tmp_path / f".skface-partial-{pid}-0123abcd-report"  # a report with subfolders
    (nested / "sub" / "deeper").mkdir(parents=True)
    for name in ("a.csv", "sub/b.csv", "sub/deeper/c.csv"):
        (nested / name).write_text(name)
    (nested / MANIFEST).write_text(json.dumps(
        {"format": "skface output folder", "files": ["a.csv", "sub/b.csv", "sub/deeper/c.csv"]}))
    deep = tmp_path / f".skface-partial-{pid}-4567abcd-deep"  # deeper than skface writes
    inner = deep.joinpath(*["d"] * 40)
    inner.mkdir(parents=True)
    (inner / "x").write_text("x")
    odd = tmp_path / f".skface-partial-{pid}-89abcdef-odd"  # a manifest skface never writes
    odd.mkdir()
    (odd / "a.csv").write_text("a")
    (odd / MANIFEST).write_text(json.dumps(
        {"format": "skface output folder", "files": ["a.csv", "./a.csv"]}))
    assert clean_leftovers(tmp_path) == [nested.name]
    assert (inner / "x").exists() and (odd / "a.csv").exists()
