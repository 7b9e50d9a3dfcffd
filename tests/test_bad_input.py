"""Bad input, as one suite: each case loads correctly or fails early with an error that
names the file or value and says what to do. Every file is generated here; nothing is
committed. Property-based tests (hypothesis) cover file-name parsing, and a bounded fuzz
run feeds random bytes to the image loader."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import re
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from skface import AgeRegressor, FaceAttributes, GenderClassifier, ImageLoader, RaceClassifier
from skface._cli import EXIT_BAD_FILES, EXIT_OK, main
from skface.datasets import load_utkface, make_faces, parse_utkface_names
from skface.exceptions import ImageLoadError, LabelError

from .conftest import UTKFACE, UTKFACE_MALFORMED, png_header_only

# --------------------------------------------------------------------------- image files


def _save(path: Path, image: Image.Image, **kwargs) -> str:
    image.save(path, **kwargs)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad-input")
    face = make_faces(1, size=64, random_state=0)[0][0]
    rgb = Image.fromarray(face)
    good = d / "good.jpg"
    rgb.save(good, quality=90)
    data = good.read_bytes()
    (d / "empty.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (d / "random.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    tall = Image.fromarray(np.pad(face, ((0, 0), (0, 32), (0, 0))))  # 64 x 96
    tall.save(rotated, format="JPEG", exif=exif)
    (d / "exif.jpg").write_bytes(rotated.getvalue())
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    grey16 = Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16))
    odd = os.fsdecode(os.fsencode(str(d)) + b"/caf\xe9 photo.jpg")  # not UTF-8, a space
    rgb.save(odd, format="JPEG")
    return {
        "good": str(good),
        "missing": str(d / "missing.jpg"),
        "empty": str(d / "empty.jpg"),
        "truncated": str(d / "truncated.jpg"),
        "random": str(d / "random.jpg"),
        "png_named_jpg": _save(d / "png.jpg", rgb, format="PNG"),
        "bomb": png_header_only(d / "bomb.png", 30000, 30000),
        "one_pixel": _save(d / "one.png", Image.new("RGB", (1, 1), (200, 10, 10))),
        "huge": png_header_only(d / "huge.png", 10000, 10000),
        "grey": _save(d / "grey.jpg", rgb.convert("L")),
        "cmyk": _save(d / "cmyk.jpg", rgb.convert("CMYK")),
        "rgba": _save(d / "rgba.png", rgb.convert("RGBA")),
        "palette": _save(d / "palette.png", rgb.convert("P")),
        "grey16": _save(d / "grey16.png", grey16),
        "exif": str(d / "exif.jpg"),
        "anim": str(d / "anim.gif"),
        "odd_name": odd,
    }


LOADS = ["good", "png_named_jpg", "one_pixel", "grey", "cmyk", "rgba", "palette", "grey16",
         "exif", "anim", "odd_name"]
FAILS = {
    "missing": "file not found",
    "empty": "empty (0 bytes)",
    "truncated": "truncated or corrupt",
    "random": "not an image format Pillow can read",
    "bomb": "decompression-bomb",
    "huge": "max_pixels",
}


@pytest.mark.parametrize("kind", LOADS)
def test_readable_files_load_as_rgb_uint8(files, kind):
    X = ImageLoader(size=32, cache=False).transform([files[kind]])
    assert X.shape == (1, 32, 32, 3) and X.dtype == np.uint8


def test_content_survives_the_odd_cases(files):
    X = ImageLoader(size=32, fit_mode="stretch", cache=False).transform(
        [files["good"], files["png_named_jpg"], files["exif"], files["one_pixel"]])
    assert np.abs(X[0].astype(int) - X[1]).mean() < 8  # the PNG named .jpg is the same face
    assert X[3].reshape(-1, 3).std(0).max() == 0 and X[3, 0, 0, 0] > 150  # 1x1 red, upscaled


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("kind", "words"), FAILS.items())
def test_unreadable_files_are_named_with_the_reason(files, kind, words):
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=32, cache=False).transform([files["good"], files[kind]])
    message = str(info.value)
    assert files[kind] in message and words in message and "1 of 2" in message
    assert [p for p, _ in info.value.failures] == [files[kind]]


def test_bytes_file_names_that_are_not_utf8_load(files):
    raw = os.fsencode(files["odd_name"])
    assert ImageLoader(size=16, cache=False).transform([raw]).shape == (1, 16, 16, 3)


# --------------------------------------------------------------------------- labels


@pytest.fixture(scope="module")
def small(synthetic_faces):
    return synthetic_faces(60)


@pytest.mark.skipif(not all((UTKFACE / n).exists() for n in UTKFACE_MALFORMED),
                    reason=f"the real UTKFace folder is not at {UTKFACE}")
@pytest.mark.utkface
def test_the_five_real_malformed_names_are_named(tmp_path):
    for name in UTKFACE_MALFORMED:
        os.symlink(UTKFACE / name, tmp_path / name)
    with pytest.warns(UserWarning) as caught:
        frame = load_utkface(tmp_path)
    assert frame.empty
    text = " ".join(str(w.message) for w in caught)
    assert all(name in text for name in UTKFACE_MALFORMED)


@pytest.mark.parametrize(("age", "words"), [
    (np.nan, r"missing \(NaN\)"), (-1.0, "between 0 and 116"), (117.0, "between 0 and 116"),
])
def test_bad_ages_are_named(small, age, words, fast_params):
    X, y = small
    ages = np.array(y["age"], dtype=float)
    ages[5] = age
    with pytest.raises(LabelError, match=words) as info:
        AgeRegressor(**fast_params).fit(X, ages)
    assert "row 5" in str(info.value)


@pytest.mark.parametrize(("column", "value"), [("gender", 2), ("race", 7), ("race", "Martian")])
def test_label_tables_refuse_unknown_codes(tmp_path, files, column, value):
    from skface.datasets import load_csv

    table = tmp_path / "labels.csv"
    row = {"path": files["good"], "age": 20, "gender": 0, "race": 1, column: value}
    pd.DataFrame([row]).to_csv(table, index=False)
    with pytest.raises(LabelError, match=f"unknown {column} label") as info:
        load_csv(table)
    assert str(value) in str(info.value) and "good.jpg" in str(info.value)


def test_estimators_take_any_consistent_labels_but_not_mixed_kinds(small, fast_params):
    X, y = small
    frame = y[["age", "gender", "race"]].astype({"gender": int, "race": int})
    frame.loc[3, "race"] = 7  # any codes are labels of their own to an estimator
    model = FaceAttributes(**fast_params).fit(X, frame)
    assert model.classes_["race"].tolist() == [0, 1, 2, 3, 4, 7]
    mixed = frame.astype(object)
    mixed.loc[3, "gender"] = "x"
    with pytest.raises(LabelError, match=r"mixes text and number labels \(e.g. 'x' and 0\)"):
        FaceAttributes(**fast_params).fit(X, mixed)
    with pytest.raises(LabelError, match="mixes text and number"):
        GenderClassifier(**fast_params).fit(X, mixed["gender"])


def test_labels_of_another_kind_are_named_at_score(small, fast_params):
    # codes for a model fitted on names can never match (scikit-learn refuses to
    # compare text with numbers too); a label merely unseen in fit is an error instead
    X, y = small
    clf = GenderClassifier(**fast_params).fit(X, y["gender_name"])
    with pytest.raises(LabelError, match=r"\[0, 1\] are numbers.*'female', 'male'"):
        clf.score(X, y["gender"])
    codes = GenderClassifier(**fast_params).fit(X, y["gender"])
    with pytest.raises(LabelError, match=r"\['female', 'male'\] are text.*\[0, 1\]"):
        codes.score(X, y["gender_name"])


# --------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(("make", "words"), [
    (lambda X: X[0], "batch of images of shape (n, height, width, channels)"),
    (lambda X: X[..., :1], "fitted on 32x32 images with 3 channel(s)"),
    (lambda X: np.zeros((2, 40, 40, 3), np.uint8), "ImageLoader(size=32"),
    (lambda X: X.astype(float) * 3, "outside [0, 1]"),
    (lambda X: X.astype(float) - 300, "outside [0, 1]"),
    (lambda X: X.astype(float), "float_max=255"),
    (lambda X: X.astype(np.int16) * 2, "read as 0..255"),
    (lambda X: X[:0], "got no images"),
    (lambda X: np.full((2, 32, 32, 3), np.nan), "NaN or infinite"),
])
def test_bad_arrays_say_what_to_pass(small, make, words, fast_params):
    X, y = small
    clf = GenderClassifier(**fast_params).fit(X, y["gender"])
    with pytest.raises(ValueError) as info:
        clf.predict(make(X))
    assert words in str(info.value)


def test_x_and_y_of_different_lengths(small, fast_params):
    X, y = small
    with pytest.raises(ValueError, match="60 images but y has 59 labels"):
        GenderClassifier(**fast_params).fit(X, y["gender"][:-1])


def test_float_images_in_zero_one_give_the_predictions_of_their_uint8(small, fast_params):
    X, y = small
    clf = GenderClassifier(**fast_params).fit(X, y["gender"])
    np.testing.assert_allclose(clf.predict_proba(X[:5] / 255.0), clf.predict_proba(X[:5]),
                               atol=1e-5)


# --------------------------------------------------------------------------- properties

_valid_name = st.builds(
    lambda age, gender, race, stamp, tail: f"{age}_{gender}_{race}_{stamp}{tail}",
    st.integers(0, 116), st.integers(0, 1), st.integers(0, 4),
    st.builds(lambda when, ms: when.strftime("%Y%m%d%H%M%S") + f"{ms:03d}",
              st.datetimes(datetime(2010, 1, 1), datetime(2017, 12, 31)),
              st.integers(0, 999)),
    st.sampled_from([".jpg.chip.jpg", ".jpg"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_valid_name, min_size=1, max_size=20))
def test_well_formed_names_round_trip(names):
    labels, malformed = parse_utkface_names(names)
    assert malformed == []
    for i, name in enumerate(names):
        age, gender, race = (int(v) for v in name.split("_")[:3])
        assert labels.loc[i, ["age", "gender", "race"]].tolist() == [age, gender, race]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_valid_name, st.text(max_size=40)), max_size=20))
def test_any_name_is_parsed_or_reported_never_dropped(names):
    names = [n.replace("/", "_") for n in names]
    labels, malformed = parse_utkface_names(names)
    assert len(labels) + len(malformed) == len(names)
    assert labels["age"].between(0, 116).all() and labels["race"].between(0, 4).all()
    assert all(isinstance(reason, str) and reason for _, reason in malformed)


_JPEG = None


def _jpeg_bytes() -> bytes:
    global _JPEG
    if _JPEG is None:
        buf = io.BytesIO()
        Image.fromarray(make_faces(1, size=48, random_state=3)[0][0]).save(buf, format="JPEG")
        _JPEG = buf.getvalue()
    return _JPEG


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_the_loader_with_random_bytes(tmp_path, data):
    """Random bytes, and a real JPEG with bytes flipped or cut: loads or ImageLoadError."""
    good = _jpeg_bytes()
    kind = data.draw(st.sampled_from(["random", "flipped", "cut"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=3000))
    elif kind == "flipped":
        positions = data.draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=30))
        arr = bytearray(good)
        for p in positions:
            arr[p] ^= data.draw(st.integers(1, 255))
        blob = bytes(arr)
    else:
        blob = good[: data.draw(st.integers(0, len(good) - 1))]
    path = tmp_path / "fuzz.jpg"
    path.write_bytes(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            X = ImageLoader(size=24, cache=False, n_jobs=1).transform([str(path)])
        except ImageLoadError as exc:
            assert str(path) in str(exc)
        else:
            assert X.shape == (1, 24, 24, 3) and X.dtype == np.uint8


def test_label_table_problems_are_named(tmp_path, files):
    from skface.datasets import load_csv

    table = tmp_path / "labels.csv"
    pd.DataFrame({"path": [files["good"]], "age": [200], "gender": ["male"],
                  "race": [0]}).to_csv(table, index=False)
    with pytest.raises(LabelError, match="200"):
        load_csv(table)


# ------------------------------------------- destructive outputs
# Report folders (`skface eda`, `skface evaluate`) are replaced only when skface wrote them
# and they hold nothing else; an output that is the data, holds it or lies in it, the
# current folder, the home folder or a parent of either is refused, with --force too, with
# exit code 2 and before any image is decoded or model loaded.


def _tree(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (links not followed), to show nothing changed."""
    state = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(folder, name)
            st_ = os.lstat(path)
            content = os.readlink(path) if os.path.islink(path) else (
                None if os.path.isdir(path) else Path(path).read_bytes())
            state[os.path.relpath(path, root)] = (st_.st_mode, st_.st_mtime_ns, content)
    return state


@pytest.fixture
def project(tmp_path, tmp_path_factory, monkeypatch):
    """home/proj with the user's files, a data folder of faces and a label table."""
    import skface._summary
    from skface.datasets import make_faces

    home = tmp_path / "home"
    proj = home / "proj"
    faces = proj / "faces"
    faces.mkdir(parents=True)
    frame = make_faces(6, size=32, directory=faces, random_state=0)
    (proj / "main.py").write_text("print('my code')\n")
    docs = proj / "userdocs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("years of work")
    tables = proj / "tables"
    tables.mkdir()
    frame[["path", "age", "gender", "race"]].to_csv(tables / "labels.csv", index=False)
    (tables / "notes.md").write_text("about the labels")
    model = proj / "models" / "gender.joblib"
    model.parent.mkdir()
    model.write_text("not loaded: refused first")
    os.symlink(faces, proj / "faces-link")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mpl")))  # not in home
    monkeypatch.chdir(proj)

    def no_work(*args, **kwargs):
        raise AssertionError("the output should have been refused before any work")

    monkeypatch.setattr(skface._summary, "summarize", no_work)  # eda's decoding
    monkeypatch.setattr("joblib.load", no_work)  # evaluate's model
    return {"home": home, "proj": proj, "faces": faces, "tables": tables, "docs": docs,
            "model": model, "root": tmp_path}


# (output, data, what the message says): the data folder is proj/faces unless named
_REFUSED = [
    (".", "faces", "current folder"),
    ("{proj}", "faces", "current folder"),
    ("..", "faces", "current folder"),
    ("{root}", "faces", "current folder"),
    ("faces", "faces", "data folder"),
    ("faces-link", "faces", "data folder"),
    ("faces/report", "faces", "inside the data folder"),
    ("faces-link/new/report", "faces", "inside the data folder"),
    ("userdocs", "faces", "not written by skface"),
    ("tables", "tables/labels.csv", "input"),
    ("faces", "tables/labels.csv", "data folder"),
    ("faces/sub", "tables/labels.csv", "inside the data folder"),
    ("models", "faces", ("not written by skface", "contains the input")),
]


@pytest.mark.parametrize("command", ["eda", "evaluate"])
@pytest.mark.parametrize(("out", "data", "words"), _REFUSED)
def test_a_report_never_replaces_or_writes_into_what_skface_did_not_write(
        project, capsys, command, out, data, words):
    out = out.format(**{k: str(v) for k, v in project.items()})
    before = _tree(project["root"])
    argv = (["eda", data, "-q"] if command == "eda" else
            ["evaluate", str(project["model"]), data]) + ["-o", out, "--force"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert any(w in err for w in ([words] if isinstance(words, str) else words)), err
    assert f"skface {command}: " in err
    assert _tree(project["root"]) == before


def test_the_home_folder_is_never_a_report_folder(project, capsys, monkeypatch):
    elsewhere = project["root"] / "data"
    make_faces(3, size=32, directory=elsewhere, random_state=0)
    monkeypatch.chdir(project["root"])
    before = _tree(project["root"])
    for argv in (["eda", str(elsewhere)],
                 ["evaluate", str(project["model"]), str(elsewhere)]):
        assert main([*argv, "-o", str(project["home"]), "--force"]) == 2
        assert "home folder" in capsys.readouterr().err
    assert _tree(project["root"]) == before


def test_a_report_with_a_file_of_the_users_is_kept_whole(project, capsys):
    report = project["proj"] / "report"
    report.mkdir()
    (report / "metrics.json").write_text("{}")
    (report / ".skface-manifest.json").write_text(json.dumps(
        {"format": "skface output folder", "files": ["metrics.json"]}))
    (report / "my-notes.txt").write_text("mine")
    before = _tree(project["root"])
    assert main(["eda", "faces", "-o", "report", "--force"]) == 2
    assert "'my-notes.txt'" in capsys.readouterr().err
    assert _tree(project["root"]) == before


def test_a_report_next_to_the_label_table_is_fine(project, monkeypatch):
    from skface._reports import source_protection

    monkeypatch.undo()  # decoding allowed again
    monkeypatch.chdir(project["tables"])
    before = _tree(project["tables"])
    assert main(["eda", "labels.csv", "--no-check", "-q"]) == 0  # default -o skface-eda
    assert (project["tables"] / "skface-eda" / "index.html").is_file()
    after = _tree(project["tables"])
    assert {k: v for k, v in after.items() if not k.startswith("skface-eda")} == before
    assert source_protection("labels.csv")["data_dirs"] == [str(project["faces"])]


# ------------------------------------------- leftovers of killed writers
# A write removes the temporary names (`.skface-partial-<pid>-<hex>-<name>`) that killed
# skface processes left beside its output. Whoever can create entries there can plant
# such a name: removal never follows a symbolic link in any part of a name, never leaves
# the leftover folder, and a name with a pid no process can have is not skface's.


def _dead_pid() -> int:
    import subprocess
    import sys

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=60)
    return done.pid


def _manifest(folder: Path, files: list[str]) -> None:
    (folder / ".skface-manifest.json").write_text(
        json.dumps({"format": "skface output folder", "files": files}))


def _plant(out: Path, elsewhere: Path, layout: str) -> Path:
    """A leftover of a dead process in ``out`` whose removal could reach ``elsewhere``."""
    left = out / f".skface-partial-{_dead_pid()}-0123abcd-report"
    if layout == "leftover is a link":
        os.symlink(elsewhere, left)
        return left
    left.mkdir()
    (left / "a.csv").write_text("skface's")
    if layout == "link to a folder":
        os.symlink(elsewhere, left / "sub")
        _manifest(left, ["a.csv", "sub/thesis.txt", "sub/deeper/draft.txt"])
    elif layout == "link in the middle":
        (left / "a").mkdir()
        os.symlink(elsewhere, left / "a" / "sub")
        _manifest(left, ["a.csv", "a/sub/thesis.txt", "a/sub/deeper/draft.txt"])
    elif layout == "link to a folder above":
        os.symlink(elsewhere.parent, left / "up")
        _manifest(left, [f"up/{elsewhere.name}/thesis.txt", "up/out/notes.txt"])
    elif layout == "relative link to ..":
        os.symlink("..", left / "up")
        _manifest(left, ["up/notes.txt", "a.csv"])
    elif layout == "chain of links":
        os.symlink(elsewhere, out / "hop")
        os.symlink(out / "hop", left / "sub")
        _manifest(left, ["sub/thesis.txt"])
    elif layout == "link to a file":
        os.symlink(elsewhere / "thesis.txt", left / "thesis.txt")
        _manifest(left, ["a.csv", "thesis.txt"])
    elif layout == "dot-dot entries":
        _manifest(left, ["a.csv", f"../../{elsewhere.name}/thesis.txt", "../notes.txt",
                         "x/../../notes.txt"])
    elif layout == "absolute entries":
        _manifest(left, ["a.csv", str(elsewhere / "thesis.txt"), str(out / "notes.txt")])
    elif layout == "link as the manifest":
        _manifest(elsewhere, [str(elsewhere / "thesis.txt")])
        os.symlink(elsewhere / ".skface-manifest.json", left / ".skface-manifest.json")
    elif layout == "no manifest, links inside":
        (left / "a").mkdir()
        os.symlink(elsewhere, left / "a" / "sub")
        os.symlink(elsewhere / "thesis.txt", left / "thesis.txt")
    else:
        raise AssertionError(layout)
    return left


def _outside(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` but the output folder itself and the leftover."""
    return {k: v for k, v in _tree(root).items()
            if k != "out" and not k.startswith("out/.skface-")}


_LAYOUTS = ["link to a folder", "link in the middle", "link to a folder above",
            "relative link to ..", "chain of links", "link to a file", "dot-dot entries",
            "absolute entries", "link as the manifest", "no manifest, links inside",
            "leftover is a link"]


@pytest.fixture
def planted(tmp_path):
    """An output folder with a file of the user's and a folder of theirs beside it."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    (elsewhere / "deeper").mkdir(parents=True)
    (elsewhere / "thesis.txt").write_text("years of work")
    (elsewhere / "deeper" / "draft.txt").write_text("more work")
    return tmp_path, out, elsewhere


def _write(out: Path, writer: str) -> None:
    from skface._outputs import atomic_file, atomic_folder

    if writer == "file":
        with atomic_file(out / "predictions.csv") as tmp:
            tmp.write_text("path,gender\n")
    else:
        with atomic_folder(out / "report") as tmp:
            (tmp / "metrics.json").write_text("{}")


@pytest.mark.parametrize("writer", ["file", "folder"])
@pytest.mark.parametrize("layout", _LAYOUTS)
def test_removing_a_planted_leftover_never_follows_a_link(planted, layout, writer):
    root, out, elsewhere = planted
    _plant(out, elsewhere, layout)
    outside = _outside(root)
    _write(out, writer)
    after = _tree(root)
    assert {k: v for k, v in after.items() if k in outside} == outside  # nothing outside
    assert (out / ("predictions.csv" if writer == "file" else "report")).exists()


@pytest.mark.parametrize("layout", ["link to a folder", "link in the middle",
                                    "relative link to .."])
def test_predict_beside_a_planted_leftover_deletes_nothing_else(
        planted, formula_named_images, monkeypatch, layout):
    root, out, elsewhere = planted
    folder, names, _, _ = formula_named_images
    left = _plant(out, elsewhere, layout)
    outside = _outside(root)
    monkeypatch.chdir(folder)
    assert main(["predict", "model.joblib", "-o", str(out / "p.csv"), "--", names[0]]) == 0
    assert {k: v for k, v in _tree(root).items() if k in outside} == outside
    assert (out / "p.csv").is_file()
    assert not (left / "a.csv").exists()  # what skface wrote there did go


def _odd_pids() -> list[str]:
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except OSError:
        pid_max = 2**22
    return ["99999999999999999999999", str(2**63), str(2**63 - 1), str(2**32 + 1),
            str(2**31), str(pid_max), str(pid_max + 1000), "0", "00", "0" + str(_dead_pid()),
            "\u0661\u0662\u0663", "\uff11\uff12\uff13", "1_000", "-5"]


@pytest.mark.parametrize("writer", ["file", "folder"])
def test_a_leftover_name_with_a_pid_no_process_can_have_is_left_alone(tmp_path, writer):
    odd = [f".skface-partial-{pid}-0123abcd-{kind}" for pid in _odd_pids()
           for kind in ("x.csv", "report")]
    for name in odd:
        if name.endswith("report"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "kept.txt").write_text("not skface's")
        else:
            (tmp_path / name).write_text("not skface's")
    dead = tmp_path / f".skface-partial-{_dead_pid()}-0123abcd-y.csv"
    dead.write_text("skface's")
    _write(tmp_path, writer)  # no OverflowError, nothing of the above removed
    assert all((tmp_path / name).exists() for name in odd)
    assert all((tmp_path / name / "kept.txt").exists() for name in odd
               if name.endswith("report"))
    assert not dead.exists()  # a real leftover still goes


# ------------------------------------------- where outputs go and when writing them fails
# Every output is made the same way whatever the input: `--draw NEWDIR` is created (with
# its parents) for videos as for images, and a write that fails (a full disk, a file size
# limit, a read-only place) names the output it was writing.


def _video(path: Path, n_frames: int = 3) -> str:
    import cv2

    face = make_faces(1, size=64, random_state=0)[0][0]
    frame = np.full((120, 160, 3), 120, np.uint8)
    frame[20:84, 40:104] = face
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (160, 120))
    assert writer.isOpened()
    for _ in range(n_frames):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("inputs", ["video", "video and image", "image"])
@pytest.mark.parametrize("draw", ["new", "new/deeper/still", "existing/new"])
def test_predict_draw_creates_a_new_folder_for_videos_as_for_images(
        tmp_path, formula_named_images, monkeypatch, inputs, draw):
    pytest.importorskip("cv2")
    folder, names, _, _ = formula_named_images
    monkeypatch.chdir(folder)
    (tmp_path / "existing").mkdir()
    argv = {"video": [_video(tmp_path / "clip.mp4")], "image": [names[0]],
            "video and image": [_video(tmp_path / "clip.mp4"), names[0]]}[inputs]
    out = tmp_path / draw
    code = main(["predict", "model.joblib", "--draw", str(out), "-o", str(tmp_path / "p.csv"),
                 "--", *argv])
    # no face is found in the cartoon video: alone, it leaves nothing predicted
    assert code == (EXIT_BAD_FILES if inputs == "video" else EXIT_OK)
    expected = {"video": ["clip.mp4"], "image": [Path(names[0]).stem + ".png"],
                "video and image": ["clip.mp4", Path(names[0]).stem + ".png"]}[inputs]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)


_WRITE_ERRORS = ["ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS"]


def _failing(code: str, filename):
    import errno

    number = getattr(errno, code)
    return OSError(number, os.strerror(number), *([] if filename is None else [filename]))


@pytest.mark.parametrize("named", ["nothing", "the temporary name", "a file in it"])
@pytest.mark.parametrize("code", _WRITE_ERRORS)
@pytest.mark.parametrize("writer", ["file", "folder"])
def test_a_failed_write_names_the_output(tmp_path, monkeypatch, writer, code, named):
    import errno

    from skface._outputs import atomic_file, atomic_folder

    if not hasattr(errno, code):
        pytest.skip(f"no {code} here")
    monkeypatch.chdir(tmp_path)
    shown = "out.csv" if writer == "file" else "report"
    with pytest.raises(OSError) as info:
        with (atomic_file if writer == "file" else atomic_folder)(shown) as tmp:
            where = {"nothing": None, "the temporary name": str(tmp),
                     "a file in it": str(tmp / "fig.png")}[named]
            if writer == "file" and named == "a file in it":
                where = str(tmp)
            raise _failing(code, where)
    message = str(info.value)
    assert repr(shown) in message and ".skface-partial" not in message, message
    assert info.value.errno == getattr(errno, code)
    assert os.strerror(getattr(errno, code)) in message
    assert sorted(os.listdir(tmp_path)) == []  # nothing left behind


def test_a_failed_write_of_another_file_keeps_its_own_name(tmp_path):
    from skface._outputs import atomic_file

    with pytest.raises(FileNotFoundError) as info:
        with atomic_file(tmp_path / "out.csv"):
            open(tmp_path / "missing-input.csv")  # an input, not the output
    assert info.value.filename == str(tmp_path / "missing-input.csv")


_FSIZE_LIMITED = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
sys.argv = sys.argv[1:]
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", ["predict -o", "save_model"])
def test_a_write_past_the_file_size_limit_names_the_output(
        tmp_path, formula_named_images, what):
    """A real failed write (the file size limit gives EFBIG, as a full disk gives ENOSPC)."""
    import subprocess
    import sys

    folder, names, _, _ = formula_named_images
    out = tmp_path / ("predictions.csv" if what == "predict -o" else "model.safetensors")
    if what == "predict -o":
        code = _FSIZE_LIMITED + (
            "from skface._cli import main\n"
            "sys.exit(main(['predict', 'model.joblib', '-o', sys.argv[1], '--', "
            "*sys.argv[2:]]))\n")
        argv = ["200", str(out), *names]
    else:
        pytest.importorskip("safetensors")
        code = _FSIZE_LIMITED + (
            "from sklearn.pipeline import make_pipeline\n"
            "from skface import GenderClassifier, ImageLoader, save_model\n"
            "model = make_pipeline(ImageLoader(size=16), GenderClassifier())\n"
            "try:\n    save_model(model, sys.argv[1])\n"
            "except OSError as err:\n    print(err, file=sys.stderr)\n    sys.exit(3)\n")
        argv = ["64", str(out)]
    # the model was pickled with the tests' own network: the child imports it from here
    from .conftest import REPO

    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and repr(str(out)) in done.stderr, done.stderr
    assert "File too large" in done.stderr and ".skface-partial" not in done.stderr
    assert os.listdir(tmp_path) == []


# ------------------------------------------- non-raster formats and special files
# Every reader of image files decodes only regular files in the allowed raster formats:
# no other Pillow plugin runs (the EPS one runs Ghostscript), a named pipe or a device is
# never opened, and a refused file is described without copying its bytes anywhere.

_EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
        b"/loop { loop } def 0 0 moveto showpage\n%%EOF\n")


class _NoModel:
    """A stand-in model: only reached when a photo was read."""

    def predict(self, X):
        return np.zeros(len(X))


@pytest.fixture
def no_ghostscript_runs(tmp_path, monkeypatch):
    """A fake ``gs`` first on PATH that leaves a marker file if anything runs it."""
    from PIL import EpsImagePlugin

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs-was-run"
    gs = bin_dir / "gs"
    gs.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 0\n")
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None, raising=False)  # look it up again
    yield marker
    assert not marker.exists(), "a reader ran Ghostscript on an image file"


_KINDS = ["eps", "postscript", "pdf", "svg", "pcx", "html", "fifo", "folder", "device", "loop",
          "dangling"]


def _make_special(d: Path, kind: str) -> str:
    stamp = 20170116174525100 + _KINDS.index(kind)
    path = d / f"20_0_0_{stamp}.jpg"  # a UTKFace-style image name
    if kind == "eps":
        path.write_bytes(_EPS)
    elif kind == "postscript":
        path.write_bytes(b"%!\n/Times findfont 12 scalefont setfont\nshowpage\n")
    elif kind == "pdf":
        path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")
    elif kind == "svg":
        path.write_text('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
                        'width="10" height="10"><rect width="10" height="10"/></svg>\n')
    elif kind == "pcx":  # a raster format Pillow reads that skface does not decode
        Image.new("RGB", (8, 8), (9, 90, 200)).save(path, format="PCX")
    elif kind == "html":
        path.write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        if not os.path.exists(os.devnull):
            pytest.skip("no null device")
        os.symlink(os.devnull, path)
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "dangling":
        os.symlink(d / "nowhere.jpg", path)
    return str(path)


SPECIAL = {
    "eps": ["EPS", "not an allowed raster format"],
    "postscript": ["PostScript", "not an allowed raster format"],
    "pdf": ["PDF", "not an allowed raster format"],
    "svg": ["SVG", "not an allowed raster format"],
    "pcx": ["PCX", "not an allowed raster format"],
    "html": ["HTML", "not an image format"],
    "fifo": ["not a regular file", "named pipe"],
    "folder": ["not a regular file", "folder"],
    "device": ["not a regular file", "device"],
    "loop": ["symbolic link loop"],
    "dangling": ["broken symbolic link"],
}
if not hasattr(os, "mkfifo"):
    SPECIAL.pop("fifo")


def _by_loader(path: str) -> str:
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=16, cache=False).transform([path])
    assert [p for p, _ in info.value.failures] == [path]
    return str(info.value)


def _by_lazy_loader(path: str) -> str:
    with pytest.raises(ImageLoadError) as info:  # at transform, or when the batch is read
        np.asarray(ImageLoader(size=16, lazy=True).transform([path]))
    return str(info.value)


def _by_check_images(path: str) -> str:
    from skface.datasets import check_images

    report = check_images([path])
    assert not report["readable"].iloc[0]
    return f"{report['path'].iloc[0]}: {report['error'].iloc[0]}"


def _by_face_cropper(path: str) -> str:
    pytest.importorskip("cv2")
    from skface import FaceCropper

    with pytest.raises(ImageLoadError) as info:
        FaceCropper(size=16, no_face="full").transform([path])
    return str(info.value)


def _by_annotate_image(path: str) -> str:
    pytest.importorskip("cv2")
    from skface import FaceCropper, annotate_image

    with pytest.raises(ImageLoadError) as info:
        annotate_image(_NoModel(), path, cropper=FaceCropper(size=16))
    return str(info.value)


def _by_summarize_table(path: str) -> str:
    import json

    from skface._summary import summarize

    table = Path(path).parent / "labels.csv"
    pd.DataFrame({"path": [path], "age": [20]}).to_csv(table, index=False)
    summary = summarize(table)
    assert [f for f, _ in summary.unreadable] == [path]
    return json.dumps(summary.as_dict())


def _by_demo_upload(path: str) -> str:
    pytest.importorskip("cv2")
    from skface import FaceCropper
    from skface._demo import predict_upload

    with pytest.raises(ImageLoadError) as info:
        predict_upload(_NoModel(), path, cropper=FaceCropper(size=16))
    message = str(info.value)
    assert os.path.basename(path) in message  # the upload's own name, not a server path
    return f"{path}: {message}"


READERS = {"ImageLoader": _by_loader, "ImageLoader(lazy=True)": _by_lazy_loader,
           "check_images": _by_check_images, "FaceCropper": _by_face_cropper,
           "annotate_image": _by_annotate_image, "summarize": _by_summarize_table,
           "demo upload": _by_demo_upload}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_non_raster_and_special_files(tmp_path, no_ghostscript_runs,
                                                           reader, kind):
    path = _make_special(tmp_path, kind)
    message = READERS[reader](path)
    assert path in message
    for words in SPECIAL[kind]:
        assert words in message, (words, message)
    assert "empty (0 bytes)" not in message


@pytest.mark.timeout(60)
def test_summarize_counts_and_names_special_entries_of_a_folder(tmp_path, files, capsys):
    import json

    from skface._cli import main

    os.symlink(files["good"], tmp_path / "30_1_2_20170116174525125.jpg.chip.jpg")
    kinds = ["fifo", "folder", "device", "loop", "dangling"] if hasattr(os, "mkfifo") else [
        "folder", "device", "loop", "dangling"]
    special = {_make_special(tmp_path, k): k for k in kinds}
    (tmp_path / "crops").mkdir()  # a sub-folder without an image name is no image
    assert main(["summarize", str(tmp_path), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labelled"] == 1 and report["files"] == 1 + len(special)
    reasons = {u["file"]: u["reason"] for u in report["unreadable"]}
    assert set(reasons) == set(special)
    for path, kind in special.items():
        assert all(words in reasons[path] for words in SPECIAL[kind]), reasons[path]
    assert main(["summarize", str(tmp_path), "--strict", "-q"]) == 1


_SECRET = "AWS_SECRET=wJalrXUtnFEMI-K7MDENG"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("head", [
    _SECRET.encode() + b"\n",
    b"\x01\x02\xfe" + _SECRET.encode() + b"\x00\xff" * 40,
    b"\x89PNG\r\n\x1a\n" + _SECRET.encode(),  # an image signature, then junk
    b"GIF89a" + _SECRET.encode(),
    b"II*\x00" + _SECRET.encode(),
], ids=["text", "binary", "png-signature", "gif-signature", "tiff-signature"])
def test_the_reason_never_quotes_the_file(tmp_path, head):
    import json

    from skface._summary import summarize
    from skface.datasets import check_images

    path = tmp_path / "secrets.jpg"
    path.write_bytes(head)
    secret = _SECRET.split("=")[1]
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=16, cache=False).transform([str(path)])
    assert str(path) in str(info.value)
    error = check_images([str(path)])["error"].iloc[0]
    table = tmp_path / "labels.csv"
    pd.DataFrame({"path": [str(path)], "age": [30]}).to_csv(table, index=False)
    dumped = json.dumps(summarize(table).as_dict())
    for text in (str(info.value), error, dumped):
        assert secret not in text and "wJalr" not in text and "AWS" not in text


def test_a_nul_byte_in_a_path_is_named(tmp_path):
    from skface.datasets import check_images

    bad = str(tmp_path / "face\x00.jpg")
    with pytest.raises(ValueError, match=r"position 1.*NUL byte") as info:
        ImageLoader(size=16).fit_transform([str(tmp_path / "a.jpg"), bad])
    assert repr(bad) in str(info.value)
    error = check_images([bad])["error"].iloc[0]
    assert "NUL byte" in error and "fix the path" in error


def test_high_bit_depth_tiffs_keep_their_intensities(tmp_path):
    ramp = np.linspace(0, 1, 64).reshape(8, 8)
    expected = np.rint(ramp * 255).astype(np.uint8)
    made = {
        "float01": ramp.astype(np.float32),
        "float255": (ramp * 255).astype(np.float32),
        "int32": np.rint(ramp * (2**31 - 1)).astype(np.int32),
        "uint16": np.rint(ramp * 65535).astype(np.uint16),
    }
    paths = []
    for name, array in made.items():
        paths.append(str(tmp_path / f"{name}.tif"))
        Image.fromarray(array).save(paths[-1], format="TIFF")
    loader = ImageLoader(size=8, fit_mode="stretch", color="grayscale", cache=False)
    X = loader.transform(paths[:1] + paths[2:])
    X = np.concatenate([X[:1], loader.set_params(float_max=255).transform(paths[1:2]), X[1:]])
    for i, name in enumerate(made):
        assert np.abs(X[i, :, :, 0].astype(int) - expected).max() <= 1, name
    with pytest.raises(ImageLoadError, match="float_max"):  # floats read in [0, 1] by default
        ImageLoader(size=8, cache=False).transform(paths[1:2])
    paths.pop(1)
    if importlib.util.find_spec("cv2") is not None:  # the full-size reader scales the same
        from skface import FaceCropper

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no face in a ramp: the whole image is kept
            crops = FaceCropper(size=8, no_face="full").transform(paths)
        assert np.abs(crops[..., 0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("values", "words"), [
    (np.linspace(-1, 1, 64), "values from -1 to 1"),
    (np.linspace(0, 1000, 64), "values from 0 to 1000"),
    (np.where(np.arange(64) == 3, np.nan, 0.5), "NaN"),
])
def test_floats_of_no_known_range_are_refused(tmp_path, values, words):
    path = str(tmp_path / "float.tif")
    Image.fromarray(values.reshape(8, 8).astype(np.float32)).save(path, format="TIFF")
    with pytest.raises(ImageLoadError, match="floating-point image") as info:
        ImageLoader(size=8, cache=False).transform([path])
    assert words in str(info.value) and path in str(info.value)


# --------------------------------------------------------------------------- decoding cost
# What a file costs to decode is bounded, not only its pixel count: a JPEG's scans (each
# a pass over the whole image, a few bytes each), the bytes per pixel of wide sample
# formats (16-bit, 32-bit and float images), the decodes of parallel threads together,
# and a face crop however wide its margin or box.

_MARKERS = re.compile(rb"\xff([^\x00\xd0-\xd7\xff])")


def _jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every scan (SOS segment and its data) of a JPEG."""
    spans, at = [], 2
    while at < len(data):
        marker = data[at + 1]
        if marker == 0xD9:
            break
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xDA:
            end = _MARKERS.search(data, end).start()
            spans.append((at, end))
        at = end
    return spans


def _many_scans(path: Path, side: int, n_extra: int, *, mode: str = "RGB",
                progressive: bool = True, fill: bool = False) -> str:
    """A small JPEG whose shortest scan is repeated ``n_extra`` times before its end."""
    out = io.BytesIO()
    Image.new(mode, (side, side), 120).save(out, "JPEG", progressive=progressive, quality=80)
    data = out.getvalue()
    start, end = min(_jpeg_scans(data), key=lambda s: s[1] - s[0])
    scan = data[start:end]
    if fill:  # fill bytes before each repeated marker: still one scan each
        scan = b"\xff\xff" + scan
    eoi = data.rindex(b"\xff\xd9")
    path.write_bytes(data[:eoi] + scan * n_extra + data[eoi:])
    return str(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("reader", ["ImageLoader", "check_images", "full size"])
@pytest.mark.parametrize(("side", "n_extra", "options"), [
    (64, 300, {}),
    (1500, 20_000, {}),
    (800, 5000, {"mode": "L"}),
    (400, 3000, {"mode": "CMYK"}),
    (600, 2000, {"fill": True}),
    (300, 1000, {"progressive": False}),
])
def test_jpegs_with_too_many_scans_are_refused_before_decoding(tmp_path, reader, side,
                                                               n_extra, options):
    from skface._image_files import MAX_JPEG_SCANS
    from skface._imaging import DecodeFailure, read_rgb
    from skface.datasets import check_images

    path = _many_scans(tmp_path / "scans.jpg", side, n_extra, **options)
    if reader == "check_images":
        message = check_images([path])["error"].iloc[0]
    elif reader == "full size":
        with pytest.raises(DecodeFailure) as info:
            read_rgb(path)
        message = str(info.value)
    else:
        with pytest.raises(ImageLoadError) as info:
            ImageLoader(size=16, cache=False).transform([path])
        message = str(info.value)
        assert path in message
    assert f"more than {MAX_JPEG_SCANS} scans" in message and "re-export" in message


@pytest.mark.parametrize("options", [{}, {"mode": "L"}, {"mode": "CMYK"}, {"fill": True}])
def test_progressive_jpegs_with_scans_up_to_the_limit_load(tmp_path, options):
    from skface._image_files import MAX_JPEG_SCANS, count_jpeg_scans

    ordinary = _many_scans(tmp_path / "ordinary.jpg", 96, 0, **options)
    with open(ordinary, "rb") as f:
        n = count_jpeg_scans(f, 10**6)
    assert 1 <= n <= 20
    at_limit = _many_scans(tmp_path / "limit.jpg", 96, MAX_JPEG_SCANS - n, **options)
    with open(at_limit, "rb") as f:
        assert count_jpeg_scans(f, 10**6) == MAX_JPEG_SCANS
    X = ImageLoader(size=16, cache=False).transform([ordinary, at_limit])
    assert X.shape == (2, 16, 16, 3)


def test_scans_hidden_in_metadata_are_not_counted(tmp_path):
    from skface._image_files import MAX_JPEG_SCANS

    thumbnail = Path(_many_scans(tmp_path / "thumb.jpg", 32, MAX_JPEG_SCANS)).read_bytes()
    photo = make_faces(1, size=64, random_state=0)[0][0]
    path = tmp_path / "with-thumbnail.jpg"
    Image.fromarray(photo).save(path, "JPEG", exif=b"Exif\x00\x00" + thumbnail,
                                comment=thumbnail[:60000])
    assert ImageLoader(size=16, cache=False).transform([str(path)]).shape == (1, 16, 16, 3)


# Decodes in a child process whose address space is bounded: what a decode may hold
# beyond the libraries is about what an RGB image of the same size costs (~10 bytes a
# pixel), so a regression to wide temporaries fails instead of exhausting the machine.
_BOUNDED_DECODE = """
import resource, sys
import numpy as np
from PIL import Image
import skface._imaging as imaging
from skface._image_batches import load_images

path, reader, per_pixel = sys.argv[1], sys.argv[2], float(sys.argv[3])
float_max = float(sys.argv[4])  # where float pixels top out: declared, never guessed
with Image.open(path) as im:
    pixels = im.size[0] * im.size[1]

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

def load(paths, n_jobs):  # what ImageLoader(size=16).transform runs
    return load_images(paths, imaging.DecodeSpec(size=16, float_max=float_max),
                       n_jobs=n_jobs, use_cache=False)

if reader == "threads":  # room for one decode at a time, four threads asking
    imaging._BUDGET.max_bytes = 1
    load([path] * 2, 2)  # the threads exist before the limit is set
limit = vm_size() + int(per_pixel * pixels) + (32 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
if reader == "full size":
    out = imaging.read_rgb(path, float_max=float_max)
    assert out.shape[2] == 3 and out.dtype == np.uint8
elif reader == "threads":
    assert load([path] * 4, 4).shape == (4, 16, 16, 3)
else:
    assert load([path], 1).shape == (1, 16, 16, 3)
print("ok")
"""
_WIDE_KINDS = {  # kind -> (file suffix, save options)
    "F": (".tif", {"compression": "tiff_deflate"}), "F255": (".tif", {}),
    "I": (".tif", {"compression": "tiff_deflate"}), "I;16": (".png", {"compress_level": 1}),
    "I;16B": (".tif", {"compression": "tiff_lzw"}), "PGM16": (".pgm", {}), "PFM": (".pfm", {}),
}


@pytest.fixture(scope="module")
def wide_images(tmp_path_factory) -> dict[str, str]:
    """3000 x 3000 images of wide sample formats (9 million pixels each)."""
    folder = tmp_path_factory.mktemp("wide")
    levels = np.random.default_rng(0).random((15, 15))
    ramp = np.kron(levels, np.ones((200, 200)))  # flat blocks: compresses well
    arrays = {"F": ramp.astype(np.float32), "F255": (ramp * 255).astype(np.float32),
              "I": np.rint(ramp * (2**31 - 1)).astype(np.int32),
              "I;16": np.rint(ramp * 65535).astype(np.uint16)}
    arrays.update({"I;16B": arrays["I;16"].astype(">u2"), "PGM16": arrays["I;16"],
                   "PFM": arrays["F"]})
    paths = {}
    for kind, (suffix, options) in _WIDE_KINDS.items():
        paths[kind] = str(folder / f"{kind.replace(';', '_')}{suffix}")
        Image.fromarray(arrays[kind]).save(paths[kind], **options)
    return paths


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
@pytest.mark.timeout(120)
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "reader"), [
    *((kind, reader) for kind in _WIDE_KINDS for reader in ("ImageLoader", "full size")),
    ("F", "threads"), ("I;16", "threads"),  # one float and one integer format
])
def test_wide_sample_images_cost_no_more_than_rgb_ones(wide_images, kind, reader):
    import subprocess
    import sys

    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _BOUNDED_DECODE, wide_images[kind], reader, "12",
         "255" if kind == "F255" else "1"],
        env=env, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


def test_the_decode_budget_lets_one_large_image_through_alone():
    import threading
    import time

    from skface._imaging import _DecodeBudget

    budget = _DecodeBudget(100)
    held, peak, lock = [0], [0], threading.Lock()

    def decode(cost):
        with budget.reserve(cost):
            with lock:
                held[0] += min(cost, 100)
                peak[0] = max(peak[0], held[0])
            time.sleep(0.01)
            with lock:
                held[0] -= min(cost, 100)

    threads = [threading.Thread(target=decode, args=(c,)) for c in (60, 60, 500, 30, 30, 30, 90)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] <= 100 and held[0] == 0


# mode -> the lossless file the same pixels are saved to (the mode itself where a format
# holds it, else what Pillow converts it to)
_MODES_IN_MEMORY = {
    "CMYK": (None, ".tif"), "I;16": (None, ".png"), "I": (None, ".pgm"), "F": (None, ".tif"),
    "LA": (None, ".png"), "P": (None, ".png"), "1": (None, ".png"), "RGBA": (None, ".png"),
    "PA": ("RGBA", ".png"), "YCbCr": ("RGB", ".png"), "HSV": ("RGB", ".png"),
}


def _in_mode(mode: str) -> Image.Image:
    face = Image.fromarray(make_faces(1, size=48, random_state=1)[0][0])
    if mode == "I;16":
        return Image.fromarray(np.asarray(face.convert("L")).astype(np.uint16) * 257)
    if mode == "I":  # as a 16-bit PGM opens
        return Image.fromarray(np.asarray(face.convert("L")).astype(np.int32) * 257)
    if mode == "F":
        return Image.fromarray(np.asarray(face.convert("L")).astype(np.float32) / 255)
    if mode == "PA":
        return face.convert("P").convert("PA")
    return face.convert(mode)


@pytest.mark.parametrize("mode", _MODES_IN_MEMORY)
def test_annotate_image_converts_an_image_in_memory_as_a_file(tmp_path, mode):
    pytest.importorskip("cv2")
    from skface import FaceCropper, annotate_image
    from skface._imaging import read_rgb

    image = _in_mode(mode)
    saved_as, suffix = _MODES_IN_MEMORY[mode]
    path = tmp_path / f"photo{suffix}"
    (image if saved_as is None else image.convert(saved_as)).save(path)
    before = image.tobytes()
    drawn, faces = annotate_image(_NoModel(), image, cropper=FaceCropper(size=16))
    assert drawn.dtype == np.uint8 and drawn.shape == (48, 48, 3)
    if faces.empty:
        np.testing.assert_array_equal(drawn, read_rgb(str(path)))
    drawn_file, faces_file = annotate_image(_NoModel(), str(path), cropper=FaceCropper(size=16))
    np.testing.assert_array_equal(drawn, drawn_file)
    pd.testing.assert_frame_equal(faces, faces_file)
    assert image.tobytes() == before  # not modified


@pytest.mark.parametrize("image", [
    Image.fromarray(np.full((20, 20), np.nan, dtype=np.float32)),
    Image.fromarray(np.linspace(-5, 900, 400, dtype=np.float32).reshape(20, 20)),
    np.zeros((20, 20, 5), dtype=np.uint8),
    np.full((20, 20, 3), 1000, dtype=np.int32),
], ids=["float NaN", "float range", "five channels", "int range"])
def test_annotate_image_refuses_an_image_in_memory_before_detecting(monkeypatch, image):
    pytest.importorskip("cv2")
    from skface import FaceCropper, annotate_image

    def never(*args, **kwargs):
        raise AssertionError("faces were looked for in an unconvertible image")

    monkeypatch.setattr(FaceCropper, "find_faces", never)
    monkeypatch.setattr(FaceCropper, "crop_faces", never)
    with pytest.raises(ImageLoadError, match="the image"):
        annotate_image(_NoModel(), image, cropper=FaceCropper(size=16))


@pytest.mark.parametrize("margin", [2.01, 5, 20, 60, 1e9, float("inf"), float("nan")])
def test_face_cropper_margin_has_an_upper_bound(margin):
    from sklearn.utils._param_validation import InvalidParameterError

    from skface import FaceCropper

    with pytest.raises(InvalidParameterError, match=r"'margin'.*\[0(\.0)?, 2(\.0)?\]"):
        FaceCropper(size=16, margin=margin).fit([])


@pytest.mark.parametrize("scale_factor", [1.0000001, 1.001, 1.009, 1.0])
def test_face_cropper_detection_steps_are_bounded(scale_factor, tmp_path):
    """A step between detection scales close to 1 means thousands of passes per photo:
    refused as a parameter and in a model file."""
    from sklearn.utils._param_validation import InvalidParameterError

    from skface import FaceCropper

    with pytest.raises(InvalidParameterError, match="'scale_factor'"):
        FaceCropper(size=16, scale_factor=scale_factor).fit([])
    pytest.importorskip("safetensors")
    from skface import load_model, save_model
    from skface.exceptions import ModelFileError

    save_model(FaceCropper(size=16), tmp_path / "c.safetensors")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "c.safetensors"), framework="pt") as f:
        description = json.loads(f.metadata()["description"])
    description["steps"][0]["params"]["scale_factor"] = scale_factor
    with pytest.raises(ModelFileError, match="scale_factor"):
        load_model(_write_model(tmp_path / "m.safetensors", description, {}))


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("photo", [1, 40, 200, 640])
@pytest.mark.parametrize("margin", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("box", ["face", "whole", "huge", "beyond", "far away"])
def test_face_crops_are_bounded_whatever_the_box(photo, margin, box):
    from skface import FaceCropper
    from skface._face_detectors import crop_square

    rng = np.random.default_rng(photo)
    image = rng.integers(0, 256, (photo, photo + photo // 2, 3), dtype=np.uint8)
    w = max(1, photo // 3)
    boxes = {"face": (photo // 3, photo // 4, w, w), "whole": (0, 0, photo, photo),
             "huge": (-photo * 40, -photo * 40, photo * 80 + 12_000, photo * 80 + 12_000),
             "beyond": (photo // 2, photo // 2, 10**6, 10**6),
             "far away": (10**7, -10**7, 50, 50)}
    cropper = FaceCropper(size=24, margin=margin)
    crops = cropper.crop_faces(image, [boxes[box]])
    assert crops.shape == (1, 24, 24, 3) and crops.dtype == np.uint8
    if box == "far away":
        assert not crops.any()
    x0, y0, side = crop_square(boxes[box], margin)
    inside = x0 >= 0 and y0 >= 0 and x0 + side <= image.shape[1] and y0 + side <= image.shape[0]
    if inside:  # an ordinary crop: cut out, reduced as every image is, and resized
        from skface._imaging import pre_reduce

        region = Image.fromarray(image).crop((x0, y0, x0 + side, y0 + side))
        region, factor = pre_reduce(region, 24)
        expected = np.asarray(region.resize((24, 24), Image.Resampling.BILINEAR,
                                            box=(0, 0, side / factor, side / factor),
                                            reducing_gap=None))
        np.testing.assert_array_equal(crops[0], expected)


_BOUNDED_CROP = """
import resource
import numpy as np
from skface import FaceCropper

def vm_size():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

image = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
cropper = FaceCropper(size=48, margin=2.0)
limit = vm_size() + (64 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for side in (100, 2000, 9000, 12000, 13000):
    crops = cropper.crop_faces(image, [(-side // 2, -side // 2, side, side)])
    assert crops.shape == (1, 48, 48, 3)
print("ok")
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
@pytest.mark.timeout(120)
def test_a_wide_face_crop_holds_no_more_than_the_photo():
    import subprocess
    import sys

    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", _BOUNDED_CROP], env=env,
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


# Every other file a user or a file names goes through the same checked opener: label
# tables, model files, videos and .mat files. A special file is refused at once and
# called what it is (never "not found"), whatever reads it.

_INPUT_KINDS = ["fifo", "device", "folder", "socket"]
_INPUT_WORDS = {"fifo": "named pipe", "device": "character device", "folder": "folder",
                "socket": "socket"}


def _special_input(d: Path, kind: str, name: str) -> str:
    path = d / name
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes here")
        os.mkfifo(path)
    elif kind == "device":
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero here")
        os.symlink("/dev/zero", path)  # read without end, were it read
    elif kind == "folder":
        path.mkdir()
    else:
        import socket

        if len(str(path)) > 100 or not hasattr(socket, "AF_UNIX"):
            pytest.skip("no socket at this path")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    return str(path)


def _fitted_pipeline_file(d: Path) -> str:
    import joblib
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = d / "model.joblib"
    joblib.dump(make_pipeline(FunctionTransformer(), DummyClassifier()).fit([[0], [1]], [0, 1]),
                path)
    return str(path)


def _table_by_load_csv(path):
    from skface.datasets import load_csv

    load_csv(path)


def _table_by_load_fairface(path):
    from skface.datasets import load_fairface

    load_fairface(path)


def _model_by_load_model(path):
    pytest.importorskip("safetensors")
    from skface import load_model

    load_model(path)


def _model_by_cli_loader(path):
    from skface._safe_io import load_model_file

    load_model_file(path)


def _video_by_annotate_video(path):
    from skface import annotate_video

    annotate_video(_NoModel(), path, str(Path(path).parent / "out" / "drawn.mp4"))


def _mat_by_load_imdb_wiki(path):
    from skface.datasets import load_imdb_wiki

    load_imdb_wiki(path)


_FILE_READERS = {
    "load_csv": (_table_by_load_csv, "labels.csv"),
    "load_fairface": (_table_by_load_fairface, "fairface_label_val.csv"),
    "load_model": (_model_by_load_model, "model.safetensors"),
    "load_model_file": (_model_by_cli_loader, "model.joblib"),
    "annotate_video": (_video_by_annotate_video, "clip.mp4"),
    "load_imdb_wiki": (_mat_by_load_imdb_wiki, "wiki.mat"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", _INPUT_KINDS)
@pytest.mark.parametrize("reader", _FILE_READERS)
def test_every_file_reader_refuses_special_files_at_once(tmp_path, reader, kind):
    read, name = _FILE_READERS[reader]
    (tmp_path / "out").mkdir()
    path = _special_input(tmp_path, kind, name)
    with pytest.raises(ValueError) as info:  # never FileNotFoundError: it is there
        read(path)
    message = str(info.value)
    assert path in message and "not a regular file" in message, message
    assert _INPUT_WORDS[kind] in message, message
    assert "not found" not in message and "does not exist" not in message, message


@contextlib.contextmanager
def _address_space_limit(extra: int):
    """At most ``extra`` more bytes of address space for this process, while inside."""
    import resource

    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc")
    with open("/proc/self/status") as status:
        vm = int(next(line for line in status if line.startswith("VmSize")).split()[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "device", "socket"])
@pytest.mark.parametrize("command", ["summarize", "train", "eda", "evaluate"])
def test_every_command_refuses_a_special_label_table(tmp_path, monkeypatch, capsys, command,
                                                     kind):
    """A named pipe would block the command, /dev/zero be read until the memory ends."""
    for heavy in ("skface._classifiers", "skface._age_estimators", "skface._multitask",
                  "skface._reports"):  # imported before the limit
        importlib.import_module(heavy)
    from skface._cli import main

    monkeypatch.chdir(tmp_path)
    table = _special_input(tmp_path, kind, "labels.csv")
    args = {"summarize": ["summarize", table],
            "train": ["train", table, "-o", str(tmp_path / "m.joblib"), "-q"],
            "eda": ["eda", table, "-o", str(tmp_path / "eda"), "-q"],
            "evaluate": ["evaluate", _fitted_pipeline_file(tmp_path), table, "-o",
                         str(tmp_path / "report"), "--no-plots"]}[command]
    with _address_space_limit(1024**3):
        code = main(args)
    err = capsys.readouterr().err
    assert code == 3, err
    assert table in err and "not a regular file" in err and _INPUT_WORDS[kind] in err, err
    assert "Traceback" not in err and "not found" not in err


# --------------------------------------------------------------------------- labels and outputs

_BOOLEAN_AGES = [
    [True, False, True],
    np.array([True, False, True]),
    [30.0, np.bool_(True), 20.0],
    pd.Series([True, False, True], dtype="boolean"),
]


@pytest.mark.parametrize("ages", _BOOLEAN_AGES, ids=["bool", "numpy", "numpy-scalar", "boolean"])
def test_boolean_ages_are_refused_everywhere(small, ages, fast_params):
    from skface import AgeBinEncoder
    from skface._labels import check_ages
    from skface.datasets import from_dataframe

    with pytest.raises(LabelError, match="not a boolean") as info:
        check_ages(ages)
    assert re.search(r"True_? \(row \d\)", str(info.value))
    table = pd.DataFrame({"path": ["a.jpg", "b.jpg", "c.jpg"], "age": ages})
    with pytest.raises(LabelError, match=r"not a boolean.*a\.jpg|not a boolean.*b\.jpg"):
        from_dataframe(table)
    with pytest.raises(LabelError, match="not a boolean"):
        AgeBinEncoder().fit(ages)
    X, _ = small
    with pytest.raises(LabelError, match="not a boolean"):
        AgeRegressor(**fast_params).fit(X[:3], ages)


def test_boolean_age_column_of_a_csv_is_refused(tmp_path):
    from skface.datasets import load_csv

    table = tmp_path / "labels.csv"
    table.write_text("path,age\na.jpg,True\nb.jpg,False\n")
    with pytest.raises(LabelError, match=r"labels\.csv.*not a boolean.*a\.jpg"):
        load_csv(table)


@pytest.mark.parametrize(("suffix", "options"), [
    (".csv", {}), (".tsv", {"sep": "\t"}), (".txt", {"sep": ";"}), (".csv.gz", {}),
    (".tsv", {"sep": None, "engine": "python"}),
])
@pytest.mark.parametrize("header", [
    ["path", "age", "age"], ["path", "gender", "site", "gender"], ["path", "path", "age"],
    ["path", "age", "site", "site"],
])
def test_duplicated_columns_of_a_label_file_are_named(tmp_path, suffix, options, header):
    from skface.datasets import load_csv

    sep = options.get("sep") or ("\t" if suffix == ".tsv" else ",")
    table = tmp_path / f"labels{suffix}"
    rows = [sep.join(header), sep.join(["a.jpg", *["1"] * (len(header) - 1)])]
    pd.DataFrame([r.split(sep) for r in rows[1:]], columns=header).to_csv(
        table, sep=sep, index=False)
    twice = sorted({c for c in header if header.count(c) > 1})
    with pytest.raises(ValueError, match="duplicated column") as info:
        load_csv(table, **options)
    assert str(table) in str(info.value) and repr(twice) in str(info.value)


def test_unnamed_columns_are_not_duplicates(tmp_path):
    from skface.datasets import load_csv

    table = tmp_path / "labels.csv"
    table.write_text(",path,age,\n0,a.jpg,3,x\n1,b.jpg,4,y\n")
    frame = load_csv(table)
    assert frame["age"].tolist() == [3.0, 4.0]
    assert frame.columns.tolist() == ["path", "age", "Unnamed: 0", "Unnamed: 3"]


def test_duplicated_columns_of_a_fairface_file_are_named(tmp_path):
    from skface.datasets._fairface import load_fairface

    table = tmp_path / "fairface_label_val.csv"
    table.write_text("file,age,gender,race,race\nval/1.jpg,20-29,Male,White,Black\n")
    with pytest.raises(ValueError, match=r"duplicated column name\(s\) \['race'\]"):
        load_fairface(table)


# digits of other scripts: str.isdigit() is true for all of them, int() reads some of them
_OTHER_DIGITS = ["\u00b2", "\u00b9", "\u0663", "\u0661", "\uff13", "\u09e7", "\U0001d7cf",
                 "\u06f1", "1\u0663", "\u2070"]  # ², ¹, Arabic-Indic, fullwidth, Bengali, ...


@pytest.mark.parametrize("digit", _OTHER_DIGITS)
def test_codes_must_be_written_with_ascii_digits(digit):
    from skface.datasets import from_dataframe

    for column in ("gender", "race"):
        table = pd.DataFrame({"path": ["a.jpg", "face.jpg"], column: ["0", digit]})
        with pytest.raises(LabelError, match=f"unknown {column} label") as info:
            from_dataframe(table)
        message = str(info.value)
        assert repr(digit) in message and "face.jpg" in message and "0-9" in message
    table = pd.DataFrame({"path": ["a.jpg", "face.jpg"], "age": ["3", digit]})
    with pytest.raises(LabelError, match="number of years") as info:
        from_dataframe(table)
    assert repr(digit) in str(info.value) and "face.jpg" in str(info.value)


@pytest.mark.parametrize("digit", ["\u0663", "\uff13", "\u09e7", "\u00b2", "\u06f2"])
def test_utkface_names_must_use_ascii_digits(digit):
    from skface import UTKFaceLabelDecoder
    from skface.exceptions import MalformedFileNameError

    names = [f"2{digit}_1_2_20170116174525125.jpg.chip.jpg",
             f"26_{digit}_2_20170116174525125.jpg.chip.jpg",
             f"26_1_{digit}_20170116174525125.jpg.chip.jpg",
             f"26_1_2_2017011617452512{digit}.jpg.chip.jpg".replace("2512" + digit, digit * 4)]
    labels, malformed = parse_utkface_names(names)
    assert labels.empty
    assert [n for n, _ in malformed] == names
    assert all("0-9" in reason for _, reason in malformed)
    with pytest.raises(MalformedFileNameError):
        UTKFaceLabelDecoder().fit_transform(names[:1])


_FORMULAS = ["=HYPERLINK(\"http:x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)",
             "\tq", "\rz", "=1", "x\r=1+1", "y\r\n@A1"]


def _safe_cell(text: str) -> str:
    """What a text cell must become: quoted formula, carriage returns as line feeds."""
    prefix = "'" if text.startswith(("=", "+", "-", "@", "\t", "\r")) else ""
    return prefix + text.replace("\r\n", "\n").replace("\r", "\n")


def test_spreadsheet_safe_prefixes_every_formula_start_and_keeps_numbers():
    from skface._spreadsheet import spreadsheet_safe

    n = len(_FORMULAS)
    table = pd.DataFrame({
        "text": _FORMULAS,
        "category": pd.Categorical(_FORMULAS),
        "string": pd.array(_FORMULAS, dtype="string"),
        "mixed": [-1, *_FORMULAS[1:]],
        "number": -np.arange(n, dtype=float),
        "integer": -np.arange(n),
        "plain": ["a.jpg"] * n,
    })
    table["=name"] = 1
    safe = spreadsheet_safe(table)
    for column in ("text", "category", "string"):
        assert safe[column].tolist() == [_safe_cell(f) for f in _FORMULAS]
    assert safe["mixed"].tolist() == [-1, *(_safe_cell(f) for f in _FORMULAS[1:])]
    for column in ("number", "integer", "plain"):
        pd.testing.assert_series_equal(safe[column], table[column])
    assert safe.columns[-1] == "'=name"
    assert table["text"].tolist() == _FORMULAS  # the input is not changed


@pytest.fixture(scope="module")
def formula_named_images(tmp_path_factory, fast_params):
    """Synthetic faces under names a spreadsheet would run, and a model trained on them."""
    import joblib
    from sklearn.pipeline import make_pipeline

    folder = tmp_path_factory.mktemp("formulas")
    X, y = make_faces(14, size=32, random_state=0)
    names = [f"{_FORMULAS[i % len(_FORMULAS)]}{i}.png" for i in range(len(X))]
    for name, image in zip(names, X, strict=True):
        Image.fromarray(image).save(folder / name)
    labels = np.where(y["gender"].to_numpy() == 0, "=m", "@f")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        model = make_pipeline(ImageLoader(size=16), GenderClassifier(**fast_params))
        model.fit(names, labels)
    finally:
        os.chdir(cwd)
    joblib.dump(model, folder / "model.joblib")
    return folder, names, labels, model


def _csv_cells(text: str | Path) -> list[list[str]]:
    import csv

    if isinstance(text, Path):
        with open(text, newline="") as f:
            return list(csv.reader(f))
    return list(csv.reader(io.StringIO(text, newline="")))


def test_predict_table_cannot_run_formulas(formula_named_images, monkeypatch, capsys):
    from skface._cli import main

    folder, names, _, _ = formula_named_images
    monkeypatch.chdir(folder)
    out = folder / "predictions.csv"
    assert main(["predict", "model.joblib", "-o", str(out), "--force", "--no-detect", "--",
                 *names]) == 0
    assert main(["predict", "model.joblib", "--no-detect", "--", *names]) == 0
    for text in (out, capsys.readouterr().out):
        rows = _csv_cells(text)
        assert rows[0] == ["path", "gender", "p(=m)", "p(@f)", "status"]
        assert [r[0] for r in rows[1:]] == [_safe_cell(n) for n in names]
        assert {r[1] for r in rows[1:]} <= {"'=m", "'@f"}
        assert all(0.0 <= float(p) <= 1.0 for r in rows[1:] for p in r[2:4])


def test_report_tables_cannot_run_formulas(formula_named_images, tmp_path, monkeypatch):
    from skface._reports import evaluate_model

    folder, names, labels, model = formula_named_images
    monkeypatch.chdir(folder)
    frame = pd.DataFrame({"path": names, "gender": labels})
    evaluate_model(model, frame, tmp_path / "report", plots=False)
    rows = _csv_cells(tmp_path / "report" / "predictions.csv")
    assert rows[0] == ["path", "true_gender", "predicted_gender"]
    assert [r[0] for r in rows[1:]] == [_safe_cell(n) for n in names]
    assert {c for r in rows[1:] for c in r[1:]} <= {"'=m", "'@f"}
    groups = _csv_cells(tmp_path / "report" / "group_metrics_gender.csv")
    assert {r[1] for r in groups[1:]} == {"all", "'=m", "'@f"}
    metric, gap = groups[0].index("accuracy"), groups[0].index("vs_overall")
    assert all(float(r[metric]) >= 0 for r in groups[1:])  # the metric stays a number
    assert any(r[gap].startswith("-") for r in groups[1:])  # negative numbers stay as they are
    text = [c for row in (*rows, *groups) for c in row if not _is_number(c)]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _write_mat_bomb(path: Path, variables: dict) -> str:
    import scipy.io

    scipy.io.savemat(path, variables, do_compression=True)
    return str(path)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("layout", ["one_variable", "wiki_struct", "many_variables"])
def test_imdb_wiki_refuses_a_decompression_bomb_without_inflating_it(tmp_path, layout):
    import gc
    import tracemalloc

    from skface.datasets._imdb_wiki import load_imdb_wiki

    n = 16_000_000  # 128 MB of float64 zeros, about 125 kB compressed
    if layout == "one_variable":
        variables = {"blob": np.zeros((1, n))}
    elif layout == "wiki_struct":
        variables = {"wiki": {"dob": np.zeros((1, n)), "photo_taken": np.zeros((1, n))}}
    else:
        variables = {f"v{i}": np.zeros((1, n // 8)) for i in range(8)}
    path = _write_mat_bomb(tmp_path / "wiki.mat", variables)
    del variables
    gc.collect()
    assert os.path.getsize(path) < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="decompress") as info:
            load_imdb_wiki(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path in str(info.value)
    assert peak < 16 * 1024**2  # nowhere near the 128 MB the file inflates to


def test_imdb_wiki_reads_a_compressed_metadata_file(tmp_path):
    """A real-shaped file saved compressed (as MATLAB saves it) is read as before."""
    import scipy.io

    from skface.datasets._imdb_wiki import load_imdb_wiki

    n = 3
    cells = np.empty((1, n), dtype=object)
    for i in range(n):
        cells[0, i] = f"0{i}/face_{i}.jpg"
    struct = {"dob": np.full((1, n), 723_000.0), "photo_taken": np.full((1, n), 2000.0),
              "full_path": cells, "gender": np.ones((1, n)), "face_score": np.ones((1, n)),
              "second_face_score": np.full((1, n), np.nan)}
    path = tmp_path / "wiki.mat"
    scipy.io.savemat(path, {"wiki": struct}, do_compression=True)
    frame = load_imdb_wiki(path)
    assert len(frame) == n and frame["gender"].tolist() == [0, 0, 0]


# --------------------------------------------------------------------------- declared sizes
# A compressed label table is decompressed within a bound, and a .mat file's arrays must
# fit in the bytes they occupy, nested and compressed ones included: a small file never
# makes a reader allocate gigabytes.

_MiB = 1024**2


def _repeated_members(method: str, chunk: bytes, n: int) -> bytes:
    """``n`` concatenated streams of ``chunk``: each reader takes them as one file."""
    import bz2
    import gzip
    import lzma

    one = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[method](chunk)
    return one * n


def _compressed_table(d: Path, method: str, total: int) -> str:
    """A label table of ``total`` decompressed bytes (a header, then one long cell)."""
    import tarfile
    import zipfile

    head, chunk = b"path,age\n", b"0" * _MiB
    n = total // _MiB
    if method in ("gzip", "bz2", "xz"):
        suffix = {"gzip": ".csv.gz", "bz2": ".csv.bz2", "xz": ".csv.xz"}[method]
        path = d / f"labels{suffix}"
        path.write_bytes(_repeated_members(method, head, 1)
                         + _repeated_members(method, chunk, n))
    elif method == "zip":
        path = d / "labels.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(
                "labels.csv", "w", force_zip64=True) as member:
            member.write(head)
            for _ in range(n):
                member.write(chunk)
    else:
        path = d / "labels.tar.gz"

        class _Zeros(io.RawIOBase):
            def __init__(self):
                self.left = len(head) + n * _MiB

            def readable(self):
                return True

            def readinto(self, b):
                k = min(len(b), self.left)
                b[:k] = b"0" * k
                self.left -= k
                return k

        with tarfile.open(path, "w:gz", compresslevel=1) as archive:
            info = tarfile.TarInfo("labels.csv")
            info.size = len(head) + n * _MiB
            archive.addfile(info, io.BufferedReader(_Zeros()))
    return str(path)


_COMPRESSIONS = ["gzip", "bz2", "xz", "zip", "tar"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", _COMPRESSIONS)
def test_a_compressed_label_table_is_decompressed_within_a_bound(tmp_path, method):
    from skface.datasets import _table, load_csv

    path = _compressed_table(tmp_path, method, 80 * _MiB)
    assert os.path.getsize(path) < 1 * _MiB
    with pytest.raises(ValueError, match="decompresses to more than") as info:
        load_csv(path)
    limit = _table.MIN_TABLE_DECOMPRESSED_BYTES
    assert path in str(info.value) and f"{limit:,}" in str(info.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", _COMPRESSIONS)
def test_compressed_label_tables_within_the_bound_still_load(tmp_path, method):
    import bz2
    import gzip
    import lzma
    import tarfile
    import zipfile

    from skface.datasets import load_csv

    text = b"path,age,gender\na.jpg,31,F\nb.jpg,4,male\n"
    if method == "zip":
        path = tmp_path / "labels.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("labels.csv", text)
    elif method == "tar":
        path = tmp_path / "labels.tar.xz"
        with tarfile.open(path, "w:xz") as archive:
            info = tarfile.TarInfo("labels.csv")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    else:
        suffix = {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz"}[method]
        path = tmp_path / f"labels.csv{suffix}"
        path.write_bytes({"gzip": gzip, "bz2": bz2, "xz": lzma}[method].compress(text))
    frame = load_csv(path)
    assert frame["path"].tolist() == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    assert frame["age"].tolist() == [31, 4] and frame["gender"].tolist() == [1, 0]


def test_a_label_table_has_a_row_limit(tmp_path, monkeypatch):
    from skface.datasets import _table, load_csv

    monkeypatch.setattr(_table, "MAX_TABLE_ROWS", 5)
    path = tmp_path / "labels.csv"
    pd.DataFrame({"path": [f"{i}.jpg" for i in range(5)], "age": 30}).to_csv(path, index=False)
    assert len(load_csv(path)) == 5
    pd.DataFrame({"path": [f"{i}.jpg" for i in range(6)], "age": 30}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="more than 5 rows") as info:
        load_csv(path)
    assert str(path) in str(info.value)


def test_a_table_too_large_for_memory_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from skface._cli import main

    path = tmp_path / "labels.csv"
    pd.DataFrame({"path": ["a.jpg"], "age": [30]}).to_csv(path, index=False)

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", no_memory)
    assert main(["summarize", str(path)]) == 3
    err = capsys.readouterr().err
    assert str(path) in err and "too large" in err and "Traceback" not in err


_TABLE_BOMB_SCRIPT = """
import resource, sys
import skface._cli, skface._summary  # imported before the limit
from skface._cli import main
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 768 * 1024**2, vm + 768 * 1024**2))
print(main(["summarize", sys.argv[1]]))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
@pytest.mark.parametrize("method", ["gzip", "xz"])
def test_a_compressed_table_bomb_exits_3_within_a_memory_limit(tmp_path, method):
    import subprocess
    import sys

    path = tmp_path / f"labels.csv.{ {'gzip': 'gz', 'bz2': 'bz2', 'xz': 'xz'}[method]}"
    # a 1 GiB table (a header, then lines of zeros) in a file of a few megabytes at most
    path.write_bytes(_repeated_members(method, b"path,age\n", 1)
                     + _repeated_members(method, (b"0" * 1023 + b"\n") * 1024, 1024))
    assert os.path.getsize(path) < 3 * _MiB
    run = subprocess.run([sys.executable, "-c", _TABLE_BOMB_SCRIPT, str(path)],
                         capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert run.stdout.strip() == "3", run.stdout + run.stderr
    assert str(path) in run.stderr and "decompresses to more than" in run.stderr
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr


def _mat_element(kind: int, data: bytes) -> bytes:
    import struct

    return struct.pack("<II", kind, len(data)) + data + b"\0" * (-len(data) % 8)


def _mat_array(cls: int, dims, content: bytes = b"", name: bytes = b"wiki") -> bytes:
    import struct

    return _mat_element(14, _mat_element(6, struct.pack("<II", cls, 0))
                        + _mat_element(5, struct.pack(f"<{len(dims)}i", *dims))
                        + _mat_element(1, name) + content)


def _mat_fields(names, values: bytes = b"") -> bytes:
    import struct

    packed = b"".join(n.encode().ljust(32, b"\0") for n in names)
    return struct.pack("<HHi", 5, 4, 32) + _mat_element(1, packed) + values


def _mat_file(variable: bytes, compressed: bool) -> bytes:
    import struct
    import zlib

    header = b"MATLAB 5.0 MAT-file".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100)
    if compressed:
        packed = zlib.compress(variable)
        variable = struct.pack("<II", 15, len(packed)) + packed
    return header + b"IM" + variable


_BIG = [15000, 20000]  # 300 million elements: 2.4 GB of object pointers
_MAT_LAYOUTS = {
    "cell": lambda: _mat_array(1, _BIG),
    "struct_without_fields": lambda: _mat_array(2, _BIG, _mat_fields([])),
    "struct_with_fields": lambda: _mat_array(2, _BIG, _mat_fields(["dob", "full_path"])),
    "object": lambda: _mat_array(3, _BIG, _mat_element(1, b"person") + _mat_fields([])),
    "three_dimensions": lambda: _mat_array(1, [100, 3000, 1000]),
    "cell_in_cell": lambda: _mat_array(1, [1, 1], _mat_array(1, _BIG, name=b"")),
    "cell_in_struct": lambda: _mat_array(2, [1, 1], _mat_fields(
        ["full_path"], _mat_array(1, _BIG, name=b""))),
    "struct_in_cell_in_struct": lambda: _mat_array(2, [1, 1], _mat_fields(
        ["name"], _mat_array(1, [1, 1], _mat_array(2, _BIG, _mat_fields([]), name=b""),
                             name=b""))),
    "after_a_good_variable": lambda: _mat_array(6, [1, 1], _mat_element(9, b"\0" * 8),
                                                name=b"x") + _mat_array(1, _BIG),
    "size_claimed_larger": lambda: (lambda a: a[:4] + (0xFFFFFF00).to_bytes(4, "little")
                                    + a[8:])(_mat_array(1, _BIG)),
}

_MAT_BOMB_SCRIPT = """
import json, resource, sys
from skface.datasets import load_imdb_wiki
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 1024**2, vm + 512 * 1024**2))
out = {}
for path in sys.argv[1:]:
    try:
        load_imdb_wiki(path)
        out[path] = "loaded"
    except Exception as exc:
        out[path] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
"""


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_imdb_wiki_refuses_arrays_larger_than_the_file_within_a_memory_limit(tmp_path):
    """Cell, struct and object arrays declaring far more elements than the file holds,
    at the top or nested, stored or compressed, are refused before scipy allocates them."""
    import subprocess
    import sys

    paths = []
    for layout, make in _MAT_LAYOUTS.items():
        for compressed in (False, True):
            if compressed and layout in ("size_claimed_larger", "after_a_good_variable"):
                continue  # a compressed element holds one variable, its size is checked
            path = tmp_path / f"{layout}{'_compressed' if compressed else ''}.mat"
            path.write_bytes(_mat_file(make(), compressed))
            assert path.stat().st_size < 400
            paths.append(str(path))
    run = subprocess.run([sys.executable, "-c", _MAT_BOMB_SCRIPT, *paths],
                         capture_output=True, text=True, timeout=110)
    results = json.loads(run.stdout.strip().splitlines()[-1])
    for path in paths:
        assert results[path].startswith("ValueError: " + path + ": refused"), results[path]
        assert "MemoryError" not in results[path] and "allocate" not in results[path]


def test_imdb_wiki_walks_whatever_scipy_writes(tmp_path):
    """Nested cells and structs, complex, sparse, logical, char and empty arrays, stored
    or compressed, pass the check of declared sizes and load as before."""
    import scipy.io
    import scipy.sparse

    from skface.datasets._imdb_wiki import _read_mat

    n = 3
    cells = np.empty((1, n), dtype=object)
    for i in range(n):
        cells[0, i] = f"0{i}/face_{i}.jpg"
    nested = np.empty((2, 2), dtype=object)
    nested[0, 0], nested[0, 1] = cells, {"a": np.arange(3), "b": "text"}
    nested[1, 0], nested[1, 1] = np.array([1 + 2j]), np.zeros((0, 3))
    wiki = {"dob": np.full((1, n), 723_000.0), "photo_taken": np.full((1, n), 2000.0),
            "full_path": cells, "gender": np.ones((1, n)), "face_score": np.ones((1, n)),
            "second_face_score": np.full((1, n), np.nan), "name": cells,
            "extra": {"nested": nested, "sparse": scipy.sparse.csc_matrix(np.eye(4)),
                      "flags": np.array([True, False]), "chars": np.array(["ab", "cd"]),
                      "ints": np.arange(6, dtype=np.int16).reshape(2, 3), "empty": {}}}
    for compression in (False, True):
        path = tmp_path / f"wiki_{compression}.mat"
        scipy.io.savemat(path, {"other": np.arange(4), "wiki": wiki},
                         do_compression=compression)
        key, fields = _read_mat(str(path))
        assert key == "wiki" and "extra" in fields


# --------------------------------------------------------------------------- decode cache

_BAD_CACHE_SIZES = ["inf", "1e400", "nan", "-1", "-1e9", "abc", "1e30", "1.5", "2**30",
                    "12MB", "\u0663", "9223372036854775808", "0e-99999999999999999999",
                    "1e99999999999999999999"]

_CACHE_SIZE_SCRIPT = """
import json, os, sys
import skface  # must import whatever the variable holds
from skface import ImageLoader
paths, values = sys.argv[1], json.loads(sys.argv[2])
results = {}
for value in values:
    os.environ["SKFACE_IMAGE_CACHE_BYTES"] = value
    outcome = []
    for use in (skface.image_cache_info, lambda: ImageLoader(size=8).transform([paths])):
        try:
            use()
            outcome.append("ok")
        except ValueError as err:
            outcome.append(str(err))
    ImageLoader(size=8, cache=False).transform([paths])  # no cache, no error
    results[value] = outcome
print(json.dumps(results))
"""


@pytest.mark.timeout(120)
def test_bad_cache_size_variable_is_named_at_first_use_not_at_import(files):
    import json
    import subprocess
    import sys

    env = {**os.environ, "SKFACE_IMAGE_CACHE_BYTES": "inf", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CACHE_SIZE_SCRIPT, files["good"], json.dumps(_BAD_CACHE_SIZES)],
        env=env, capture_output=True, text=True, timeout=100,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for value in _BAD_CACHE_SIZES:
        for message in results[value]:
            assert f"SKFACE_IMAGE_CACHE_BYTES={value!r}" in message
            assert "whole number of bytes" in message and "unset it" in message


# exponents no size needs, special numbers, signs and other digits: the same error
_ODD_CACHE_SIZES = ["0e-99999999999999999999", "1e-99999999999999999999",
                    "0e99999999999999999999", "1e99999999999999999999", "0.0e-1000",
                    "5e-999999999", "1e-999999999999999999", "0e" + "9" * 5000,
                    "1" + "0" * 5000, "Infinity", "-Infinity", "NaN", "sNaN", "-0", "+5",
                    "-0e-99999999999999999999", "1e-1", "0x10", "1_000", "1e", "e5", ".",
                    "\u0661\u0660", "\uff11\uff10", "1\u0660", "\u00b9", "9.3e18",
                    "92233720368547758080e-1"]


@pytest.mark.parametrize("value", _ODD_CACHE_SIZES)
def test_odd_cache_size_variable_gives_the_same_clear_error(monkeypatch, value):
    from skface._image_batches import _default_cache_bytes

    monkeypatch.setenv("SKFACE_IMAGE_CACHE_BYTES", value)
    with pytest.raises(ValueError, match="whole number of bytes") as err:
        _default_cache_bytes()
    assert "SKFACE_IMAGE_CACHE_BYTES=" in str(err.value) and len(str(err.value)) < 500


@pytest.mark.parametrize(("value", "expected"), [
    ("1000000", 1_000_000), (" 2e6 ", 2_000_000), ("0", 0), ("", 2 * 1024**3),
    ("1.5e3", 1500), ("9223372036854775807", 2**63 - 1), ("0e5", 0), ("1.", 1),
    ("000123.4500e2", 12345), ("12345678901234567890e-1", 1234567890123456789),
    ("0.00000000000000000001e20", 1), ("9.223372036854775807e18", 2**63 - 1),
    ("1E+2", 100), ("2e-0", 2),
])
def test_valid_cache_size_variable_is_read(monkeypatch, value, expected):
    from skface._image_batches import _default_cache_bytes

    monkeypatch.setenv("SKFACE_IMAGE_CACHE_BYTES", value)
    assert _default_cache_bytes() == expected


@pytest.mark.parametrize("value", [-1, 2**63, 1.5, True, "1000", np.float64(10), None])
def test_set_image_cache_limit_refuses_what_is_not_a_size(value):
    from skface import set_image_cache_limit

    with pytest.raises(ValueError, match="non-negative integer"):
        set_image_cache_limit(value)


# ------------------------------------------------------------------------ crafted model files


def _not_models(folder: Path, image: str) -> dict[str, Path]:
    """Files given where a model file belongs, none of them a model."""
    import joblib
    import safetensors.torch
    import torch

    made = {
        "text file": folder / "notes.txt",
        "image": Path(image),
        "empty file": folder / "empty.joblib",
        "folder": folder / "models",
        "missing file": folder / "missing.joblib",
        "joblib dict": folder / "dict.joblib",
        "joblib list": folder / "list.pkl",
        "cut joblib": folder / "cut.joblib",
        "plain safetensors": folder / "weights.safetensors",
        "safetensors by content, cut": folder / "weights.bin",
        "safetensors suffix, not one": folder / "fake.safetensors",
    }
    made["text file"].write_text("hello\nthis is not a model\n")
    made["empty file"].write_bytes(b"")
    made["folder"].mkdir()
    joblib.dump({"model": "GenderClassifier"}, made["joblib dict"])
    joblib.dump([1, 2, 3], made["joblib list"])
    joblib.dump(ImageLoader(size=8), folder / "whole.joblib")
    made["cut joblib"].write_bytes((folder / "whole.joblib").read_bytes()[:60])
    safetensors.torch.save_file({"w": torch.zeros(3)}, str(made["plain safetensors"]))
    made["safetensors by content, cut"].write_bytes(
        made["plain safetensors"].read_bytes()[:20])
    made["safetensors suffix, not one"].write_text("hello")
    return made


@pytest.mark.parametrize("command", ["predict", "evaluate", "demo"])
def test_a_file_that_is_not_a_model_gives_one_line_and_exit_code_3(tmp_path, files, command,
                                                                   capsys):
    pytest.importorskip("safetensors")
    from skface._cli import main

    for kind, path in _not_models(tmp_path, files["good"]).items():
        argv = {"predict": ["predict", str(path), files["good"]],
                "evaluate": ["evaluate", str(path), str(tmp_path)],
                "demo": ["demo", str(path)]}[command]
        assert main(argv) == 3, kind
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err, (kind, err)
        assert err.startswith(f"skface {command}: error: ") and "model" in err, (kind, err)
        assert "Traceback" not in err


@pytest.mark.timeout(60)
def test_a_fifo_given_as_the_model_does_not_hang(tmp_path, files, capsys):
    from skface._cli import main

    fifo = tmp_path / "model.joblib"
    os.mkfifo(fifo)
    assert main(["predict", str(fifo), files["good"]]) == 3
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_the_command_line_prints_no_traceback_for_a_text_model_file(tmp_path, files):
    import subprocess
    import sys

    model = tmp_path / "model.joblib"
    model.write_text("not a model")
    done = subprocess.run([sys.executable, "-m", "skface", "predict", str(model), files["good"]],
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(model) in done.stderr and "save_model" in done.stderr


def test_a_crafted_safe_model_file_is_refused_by_the_command_line(tmp_path, files, capsys):
    """A safetensors model file naming a module to import: refused, nothing imported."""
    import json
    import sys

    import safetensors.torch

    from skface._cli import main

    description = {"format": "skface-model", "version": 1, "pipeline": False, "steps": [
        {"class": "GenderClassifier", "name": None, "fitted": {},
         "params": {"criterion": {"__class__": "torch.utils.model_dump.__main__:X"}}}]}
    path = tmp_path / "crafted.model"
    safetensors.torch.save_file({}, str(path), metadata={
        "format": "skface-model", "description": json.dumps(description)})
    before = set(sys.modules)
    assert main(["predict", str(path), files["good"]]) == 3
    err = capsys.readouterr().err
    assert "parameter criterion" in err and "unknown criterion class" in err
    assert not {m for m in set(sys.modules) - before if "model_dump" in m}


# A safe model file sets only what defines the model: the network and its arguments,
# image size and mode, classes, target encoding, head, test-time flipping. Runtime
# settings (devices, workers, compilation, precision, callbacks, data-loading options,
# training settings, verbosity) are never the file's: they take their defaults on
# loading, or what the caller gives.


@pytest.fixture(scope="module")
def safe_pipeline(tmp_path_factory):
    """A saved ImageLoader + GenderClassifier: its path, description and tensors."""
    pytest.importorskip("safetensors")
    from safetensors import safe_open
    from sklearn.pipeline import make_pipeline

    from skface import save_model

    X, y = make_faces(40, size=16, random_state=3)
    pipe = make_pipeline(ImageLoader(size=16), GenderClassifier(
        module="basic_cnn", module__widths=(4, 8), module__hidden=8, max_epochs=1,
        verbose=0, random_state=0))
    pipe[-1].fit(X, y["gender"])
    path = tmp_path_factory.mktemp("safe") / "m.safetensors"
    save_model(pipe, path)
    with safe_open(str(path), framework="pt") as f:
        return path, json.loads(f.metadata()["description"]), {
            k: f.get_tensor(k) for k in f.keys()}


def _write_model(path: Path, description, tensors, **metadata) -> Path:
    import safetensors.torch

    text = description if isinstance(description, str) else json.dumps(description)
    safetensors.torch.save_file(tensors, str(path), metadata={
        "format": "skface-model", "description": text, **metadata})
    return path


RUNTIME_SETTINGS = {  # (step, parameter, JSON value)
    "DataLoader workers": (1, "iterator_valid__num_workers", 40),
    "training workers": (1, "iterator_train__num_workers", 3),
    "worker start method": (1, "iterator_valid__multiprocessing_context", "fork"),
    "prefetching": (1, "iterator_valid__prefetch_factor", 64),
    "pinned memory": (1, "iterator_valid__pin_memory", True),
    "compilation": (1, "compile", True),
    "compiler options": (1, "compile__mode", "max-autotune"),
    "torch.load options": (1, "torch_load_kwargs", {"__dict__": {"weights_only": False}}),
    "device": (1, "device", "cuda:7"),
    "precision": (1, "precision", "float16"),
    "memory layout": (1, "channels_last", False),
    "callbacks": (1, "callbacks", "disable"),
    "callback options": (1, "callbacks__print_log__sink", "print"),
    "verbosity": (1, "verbose", 5),
    "batch size": (1, "batch_size", 65_536),
    "caching": (1, "use_caching", False),
    "optimizer": (1, "optimizer", {"__class__": "torch.optim:SGD"}),
    "optimizer options": (1, "optimizer__weight_decay", 0.5),
    "learning rate": (1, "lr", 0.5),
    "epochs": (1, "max_epochs", 10**6),
    "warm start": (1, "warm_start", True),
    "dataset options": (1, "dataset__length", 3),
    "prediction nonlinearity": (1, "predict_nonlinearity", None),
    "loader threads": (0, "n_jobs", 256),
    "loader cache": (0, "cache", False),
    "lazy loading": (0, "lazy", True),
    "decoding limit": (0, "max_pixels", 178_956_970),
}


@pytest.mark.parametrize("case", sorted(RUNTIME_SETTINGS))
def test_a_model_file_cannot_set_runtime_settings(safe_pipeline, tmp_path, case):
    import copy
    import multiprocessing

    from skface import load_model
    from skface.exceptions import ModelFileError

    _, description, tensors = safe_pipeline
    step, key, value = RUNTIME_SETTINGS[case]
    changed = copy.deepcopy(description)
    changed["steps"][step]["params"][key] = value
    path = _write_model(tmp_path / "m.safetensors", changed, tensors)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert key in str(info.value) and key in info.value.field
    assert "may set" in str(info.value)
    assert not multiprocessing.active_children()


def test_a_loaded_model_has_safe_runtime_defaults_and_the_callers_settings(safe_pipeline):
    from skface import load_model

    path, _, _ = safe_pipeline
    model = load_model(path)
    est, default = model[-1], GenderClassifier()
    for key in ("compile", "torch_load_kwargs", "precision", "callbacks", "batch_size",
                "verbose", "device"):
        assert est.get_params()[key] == default.get_params()[key], key
    assert not any(k.startswith(("iterator_train__", "iterator_valid__", "compile__"))
                   for k in est.get_params())
    assert model[0].n_jobs == ImageLoader().n_jobs
    chosen = load_model(path, genderclassifier__batch_size=4, genderclassifier__device="cpu",
                        imageloader__n_jobs=1)
    assert chosen[-1].batch_size == 4 and chosen[-1].device_ == "cpu"
    assert chosen[0].n_jobs == 1
    X = make_faces(3, size=16, random_state=0)[0]
    np.testing.assert_array_equal(chosen.predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match="defines the saved model"):
        load_model(path, genderclassifier__module__hidden=16)
    with pytest.raises(ValueError, match="names no step"):
        load_model(path, batch_size=4)


def test_save_model_writes_only_what_defines_the_model(safe_pipeline):
    _, description, _ = safe_pipeline
    assert set(description["steps"][0]["params"]) <= {"size", "color", "fit_mode", "resample",
                                                       "fill", "float_max"}
    assert set(description["steps"][1]["params"]) <= {
        "module", "module__widths", "module__hidden", "criterion", "tta"}
    # one row per epoch, not one per batch
    assert all("batches" not in row["__dict__"] for row in description["steps"][1]["history"])


@pytest.mark.parametrize("padding", ["list in the description", "string in the description",
                                     "objects in the description", "another metadata entry"])
def test_a_padded_model_file_is_refused_before_it_is_parsed(safe_pipeline, tmp_path, padding):
    """Descriptions are a few KB: one of many MB is refused without parsing it."""
    import tracemalloc

    from skface import load_model
    from skface.exceptions import ModelFileError

    _, description, tensors = safe_pipeline
    n = 6_000_000
    text = json.dumps(description)
    extra = {}
    if padding == "list in the description":
        text = text[:-1] + ', "padding": [' + "0," * n + "0]}"
    elif padding == "string in the description":
        text = text[:-1] + ', "padding": "' + "x" * (2 * n) + '"}'
    elif padding == "objects in the description":
        text = text[:-1] + ', "padding": [' + "{}," * n + "{}]}"
    else:
        extra = {"padding": "x" * (2 * n)}
    path = _write_model(tmp_path / "m.safetensors", text, tensors, **extra)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB used to refuse a padded file"


def test_a_description_over_its_bound_is_refused_by_size(safe_pipeline, tmp_path):
    from skface import load_model
    from skface.exceptions import ModelFileError

    _, description, tensors = safe_pipeline
    text = json.dumps(description)[:-1] + ', "padding": "' + "x" * (2 * 2**20) + '"}'
    with pytest.raises(ModelFileError, match="description") as info:
        load_model(_write_model(tmp_path / "m.safetensors", text, tensors))
    assert info.value.field == "description"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("where", ["all", "one weight", "one statistic"])
def test_non_finite_weights_are_refused_at_load(safe_pipeline, tmp_path, value, where):
    import torch

    from skface import load_model
    from skface.exceptions import ModelFileError

    _, description, tensors = safe_pipeline
    changed = {k: t.clone() for k, t in tensors.items()}
    floats = sorted(k for k, t in changed.items() if t.is_floating_point())
    if where == "all":
        for k in floats:
            changed[k].fill_(value)
    elif where == "one weight":
        k = next(k for k in floats if k.endswith("weight"))
        changed[k].view(-1)[0] = value
    else:
        k = next(k for k in floats if "running_var" in k or "input_" in k)
        changed[k].view(-1)[-1] = value
    assert any(not torch.isfinite(t).all() for t in changed.values())
    with pytest.raises(ModelFileError, match="not finite") as info:
        load_model(_write_model(tmp_path / "m.safetensors", description, changed))
    assert "weights" in info.value.field


def test_weights_that_predict_non_finite_values_are_refused_at_load(safe_pipeline, tmp_path):
    from skface import load_model
    from skface.exceptions import ModelFileError

    _, description, tensors = safe_pipeline
    changed = {k: t.clone() for k, t in tensors.items()}
    for k, t in changed.items():  # finite, but large enough to overflow float32
        if t.is_floating_point() and k.endswith("weight"):
            t.fill_(3e38)
    with pytest.raises(ModelFileError, match="not finite"):
        load_model(_write_model(tmp_path / "m.safetensors", description, changed))


# --------------------------------------------------------------------------- names on output

# File names that are not valid UTF-8, or that hold what a terminal acts on: each is
# written escaped in every table and report, and the other files' rows as usual.
_ODD_NAMES = [
    b"not-utf8-\xff.png",  # a byte that never starts a character
    b"latin1-caf\xe9.png",  # a name from a Latin-1 system
    b"truncated-\xc3(.png",  # a two-byte character cut short
    b"surrogate-\xed\xa0\x80.png",  # an encoded surrogate, which UTF-8 forbids
    b"escape-\x1b[2J\x1b]0;title\x07.png",  # clear the screen, set the window title
    b"bell-\x07.png",
    b"cr-\x1b[2K\rfake.png",  # erases the line, returns to its start, writes over it
    b"backspace-\x08\x08x.png",
    b"csi-\xc2\x9b31m.png",  # the C1 control CSI, as UTF-8
    b"del-\x7f.png",
    b"bidi-\xe2\x80\xaegnp.exe.png",  # U+202E RIGHT-TO-LEFT OVERRIDE
]
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                         "\u2066-\u2069\ud800-\udfff]")  # tabs and line feeds may stay


def _escaped(name: bytes, *, keep: str = "") -> str:
    """A file name as skface shows it: bytes that are not UTF-8 and control characters
    (but those in ``keep``) as backslash escapes."""
    return _UNSHOWABLE.sub(
        lambda m: m.group() if m.group() in keep else (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) <= 0xFF else f"\\u{ord(m.group()):04x}"),
        name.decode("utf-8", "backslashreplace"))


def _shown(name: bytes) -> str:
    """A file name as a table cell shows it: escaped, a carriage return as a line feed
    (the cell stays one cell), a formula start quoted."""
    text = _escaped(name, keep="\r").replace("\r", "\n")
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t")) else text


def _check_printable(text: str) -> None:
    """Text that can be written as UTF-8 and printed without a terminal acting on it."""
    text.encode("utf-8")  # no lone surrogate
    found = _UNSHOWABLE.search(text)
    assert found is None, f"{found.group()!r} at {found.start()} in {text!r}"


@pytest.fixture(scope="module")
def odd_named_images(tmp_path_factory, fast_params):
    """A folder of synthetic faces, a few under names that are not UTF-8 or hold control
    characters, and a model trained on them."""
    import joblib
    from sklearn.pipeline import make_pipeline

    folder = tmp_path_factory.mktemp("odd-names")
    X, y = make_faces(len(_ODD_NAMES) + 3, size=32, random_state=0)
    names = [os.fsdecode(n) for n in _ODD_NAMES] + [f"plain-{i}.png" for i in range(3)]
    for name, image in zip(names, X, strict=True):
        Image.fromarray(image).save(os.path.join(os.fsencode(folder), os.fsencode(name)),
                                    format="PNG")
    model = make_pipeline(ImageLoader(size=16), GenderClassifier(**fast_params))
    model.fit([os.path.join(str(folder), n) for n in names], y["gender"].to_numpy())
    joblib.dump(model, folder / "model.joblib")
    return folder, names, y


@pytest.mark.parametrize("odd", _ODD_NAMES, ids=lambda n: n.split(b"-")[0].decode())
def test_predict_writes_every_row_with_odd_names_escaped(odd_named_images, odd, tmp_path,
                                                         monkeypatch, capsys):
    from skface._cli import main

    folder, names, _ = odd_named_images
    names = [names[-3], os.fsdecode(odd), names[-1]]  # between two plain names
    monkeypatch.chdir(folder)
    out = tmp_path / "predictions.csv"
    assert main(["predict", "model.joblib", "-o", str(out), "--", *names]) == 0
    written = out.read_bytes().decode("utf-8")  # strict: the file is UTF-8
    assert main(["predict", "model.joblib", "--", *names]) == 0
    captured = capsys.readouterr()
    for text in (written, captured.out, captured.err):
        _check_printable(text)
    for text in (written, captured.out):
        rows = _csv_cells(text)
        assert rows[0][0] == "path" and len(rows) == 1 + len(names)
        assert [r[0] for r in rows[1:]] == [_shown(os.fsencode(n)) for n in names]
        assert {r[-1] for r in rows[1:]} == {"ok"}


def test_predict_on_a_folder_with_odd_names_says_what_it_skipped(odd_named_images, tmp_path,
                                                                 capsys):
    """The names in the messages are escaped too: a file that is no image, one that
    cannot be read."""
    import shutil

    from skface._cli import main

    folder = odd_named_images[0]
    data = tmp_path / "data"
    data.mkdir()
    raw = os.fsencode(data)
    for name in _ODD_NAMES[:3] + _ODD_NAMES[4:6]:
        shutil.copy(os.path.join(os.fsencode(folder), name), os.path.join(raw, name))
        with open(os.path.join(raw, name.replace(b".png", b".txt")), "w") as f:
            f.write("no image")
        with open(os.path.join(raw, name.replace(b".png", b"-broken.jpg")), "wb") as f:
            f.write(b"\xff\xd8\xff not a JPEG")
    assert main(["predict", str(folder / "model.joblib"), str(data)]) == 0
    captured = capsys.readouterr()
    _check_printable(captured.out)
    _check_printable(captured.err)
    rows = _csv_cells(captured.out)
    assert len(rows) == 1 + 10
    assert sum(r[-1] == "ok" for r in rows[1:]) == 5
    assert "not image files" in captured.err and "could not be read" in captured.err


@pytest.mark.timeout(120)
def test_summarize_and_eda_show_odd_names_escaped(odd_named_images, tmp_path, capsys):
    import html
    import shutil

    pytest.importorskip("matplotlib")
    from skface._cli import main

    folder, names, _ = odd_named_images
    data = tmp_path / "data"
    data.mkdir()
    raw = os.fsencode(data)
    for name in names:  # every name malformed in UTKFace's scheme...
        shutil.copy(os.path.join(os.fsencode(folder), os.fsencode(name)),
                    os.path.join(raw, os.fsencode(name)))
    for i in range(4):  # ...and a few labelled images for the figures
        shutil.copy(os.path.join(os.fsencode(folder), os.fsencode(names[-1])),
                    os.path.join(raw, f"{20 + i}_{i % 2}_{i}_2017011617452{i}.png".encode()))
    assert main(["summarize", str(data), "-q"]) == 0
    text = capsys.readouterr().out
    _check_printable(text)
    for name in _ODD_NAMES:
        assert f"'{_escaped(name)}'" in text
    assert main(["summarize", str(data), "--json", "-q"]) == 0
    _check_printable(capsys.readouterr().out)

    assert main(["eda", str(data), "-o", str(tmp_path / "eda"), "-q"]) == 0
    captured = capsys.readouterr()
    _check_printable(captured.out + captured.err)
    page = (tmp_path / "eda" / "index.html").read_bytes().decode("utf-8")
    _check_printable(page)
    for name in _ODD_NAMES:
        assert f"<code>{html.escape(_escaped(name))}</code>" in page
    (tmp_path / "eda" / "summary.json").read_bytes().decode("utf-8")


def test_report_tables_escape_odd_names(odd_named_images, tmp_path):
    import joblib

    from skface._reports import evaluate_model

    folder, names, y = odd_named_images
    paths = [os.path.join(str(folder), n) for n in names]
    model = joblib.load(folder / "model.joblib")
    frame = pd.DataFrame({"path": paths, "gender": y["gender"].to_numpy()})
    evaluate_model(model, frame, tmp_path / "report", plots=False)
    text = (tmp_path / "report" / "predictions.csv").read_bytes().decode("utf-8")
    _check_printable(text)
    rows = _csv_cells(text)
    assert len(rows) == 1 + len(names)
    assert [r[0] for r in rows[1:]] == [_shown(os.fsencode(p)) for p in paths]


# --------------------------------------------------------------------------- image sizes

_TOO_LARGE = ["1025", "4096", "100000", "4294967296", "99999999999999999999"]


@pytest.mark.parametrize("size", _TOO_LARGE)
def test_train_refuses_a_size_the_networks_do_not_take(size, monkeypatch, capsys):
    import skface._cli as cli
    import skface.datasets

    def fail(*args, **kwargs):
        raise AssertionError("a bad --size should have been refused before any work")

    monkeypatch.setattr(cli, "_load_labels", fail)
    monkeypatch.setattr(skface.datasets, "make_faces", fail)
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--size", size, "-o", "never.joblib"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size" in err and f"{size!r}" in err
    assert "from 32 to 1024" in err


_SIZES_IN_PYTHON = """
import resource, sys
limit = 2 << 30  # an image of a side the networks do not take would need far more
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from skface import FaceCropper, ImageLoader
from skface.datasets import make_faces
path = sys.argv[1]
for size in (1025, 5000, 100000, 2**31, 2**63):
    for name, call in [("ImageLoader", lambda: ImageLoader(size=size).fit_transform([path])),
                       ("FaceCropper", lambda: FaceCropper(size=size).fit([path])),
                       ("make_faces", lambda: make_faces(2, size=size))]:
        try:
            call()
        except BaseException as exc:
            print(name, size, type(exc).__name__, str(exc).replace(chr(10), " "))
        else:
            print(name, size, "accepted")
"""


@pytest.mark.timeout(120)
def test_the_size_parameter_is_bounded(files):
    """ImageLoader, FaceCropper and make_faces refuse a side no network takes before
    allocating anything (run under a memory limit, so a regression fails instead of
    exhausting the machine)."""
    import subprocess
    import sys

    if not hasattr(os, "fork"):
        pytest.skip("resource limits need a POSIX system")
    done = subprocess.run([sys.executable, "-c", _SIZES_IN_PYTHON, files["good"]],
                          capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 15, done.stdout
    for line in lines:
        name, _, kind, *message = line.split(" ", 3)
        if name == "make_faces":
            assert kind == "ValueError" and "at most 1024" in message[0], line
        else:
            assert kind == "InvalidParameterError", line
            assert "'size'" in message[0] and "[1, 1024]" in message[0], line


# --------------------------------------------------------------------------- scikit-learn contracts


@pytest.fixture(scope="module")
def gender_model(small, fast_params):
    X, y = small
    return GenderClassifier(**fast_params).fit(X, y["gender_name"])


@pytest.mark.parametrize(("cls", "column", "unseen"), [
    (RaceClassifier, "race", [5, 9]),
    (RaceClassifier, "race_name", ["Martian"]),
    (GenderClassifier, "gender", [2]),
    (GenderClassifier, "gender_name", ["other", "x"]),
])
def test_score_counts_labels_unseen_in_fit_as_errors(small, fast_params, cls, column, unseen):
    X, y = small
    labels = y[column].to_numpy(dtype=object)
    model = cls(**fast_params).fit(X[:40], labels[:40])
    truth = labels[40:].copy()
    truth[: len(unseen)] = unseen
    score = model.score(X[40:], truth)
    assert score == pytest.approx(np.mean(model.predict(X[40:]) == truth))
    weights = np.r_[np.ones(len(unseen)), np.zeros(len(truth) - len(unseen))]
    assert model.score(X[40:], truth, sample_weight=weights) == 0.0


def test_default_scoring_of_a_fold_with_a_class_unseen_in_fit_is_no_nan(small, fast_params):
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

    X, y = small
    labels = np.where(np.arange(60) < 50, y["race"].to_numpy() % 2, 2)  # class 2 at the end
    cv = KFold(3)  # the last fold holds class 2, its training folds do not
    scores = cross_val_score(RaceClassifier(**fast_params), X, labels, cv=cv)
    assert np.isfinite(scores).all()
    search = GridSearchCV(RaceClassifier(**fast_params), {"lr": [1e-3, 3e-3]}, cv=cv).fit(
        X, labels)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


_CONTINUOUS = {
    "ages plus a half": lambda y: y["age"].to_numpy(dtype=float) + 0.5,
    "normal draws": lambda y: np.random.default_rng(0).normal(30, 10, len(y)),
    "float Series": lambda y: pd.Series(np.linspace(0.1, 0.9, len(y))),
    "predicted ages": lambda y: y["age"].to_numpy(dtype=float) * 1.01,
}


@pytest.mark.parametrize("make", _CONTINUOUS.values(), ids=_CONTINUOUS)
@pytest.mark.parametrize("where", ["GenderClassifier", "RaceClassifier", "partial_fit classes",
                                   "FaceAttributes gender", "FaceAttributes race"])
def test_classifiers_refuse_a_continuous_target(small, fast_params, make, where):
    X, y = small
    target = make(y)
    with pytest.raises(LabelError, match="Unknown label type: continuous") as info:
        if where == "GenderClassifier":
            GenderClassifier(**fast_params).fit(X, target)
        elif where == "RaceClassifier":
            RaceClassifier(**fast_params).fit(X, target)
        elif where == "partial_fit classes":
            GenderClassifier(**fast_params).partial_fit(X[:4], y["gender"][:4],
                                                        classes=np.asarray(target)[:4])
        else:
            table = y[["age", "gender", "race"]].astype(object)
            table[where.split()[1]] = np.asarray(target)
            FaceAttributes(**fast_params).fit(X, table)
    assert "AgeRegressor" in str(info.value)


_WHOLE_NUMBER_TARGETS = {
    "ages as floats": lambda y: y["age"].to_numpy(dtype=float),
    "ages as ints": lambda y: y["age"].to_numpy().astype(int),
    "race codes": lambda y: y["race"].astype(int).to_numpy() % 3,
    "three names": lambda y: np.array(["a", "b", "c"] * len(y))[: len(y)],
}


@pytest.mark.parametrize("make", _WHOLE_NUMBER_TARGETS.values(), ids=_WHOLE_NUMBER_TARGETS)
@pytest.mark.parametrize("where", ["GenderClassifier", "partial_fit classes",
                                   "FaceAttributes gender"])
def test_a_gender_target_of_more_than_two_labels_is_refused(small, fast_params, make, where):
    """Ages given to a gender model are whole numbers, not continuous: they are refused
    because gender has two labels, not built into a model of dozens of classes."""
    X, y = small
    target = np.asarray(make(y))
    with pytest.raises(LabelError, match=r"distinct labels.*has 2") as info:
        if where == "GenderClassifier":
            GenderClassifier(**fast_params).fit(X, target)
        elif where == "partial_fit classes":
            GenderClassifier(**fast_params).partial_fit(X[:4], y["gender"][:4],
                                                        classes=target)
        else:
            table = y[["age", "gender", "race"]].astype(object)
            table["gender"] = target
            FaceAttributes(**fast_params).fit(X, table)
    assert "AgeRegressor" in str(info.value)


_FITTED_METHODS = ("score", "predict", "predict_proba", "predict_outputs", "predict_age")


@pytest.mark.parametrize("cls", [GenderClassifier, RaceClassifier, AgeRegressor,
                                 FaceAttributes, "AgeBinner"], ids=str)
def test_unfitted_estimators_raise_not_fitted_error_from_every_method(small, cls):
    from sklearn.exceptions import NotFittedError

    import skface

    cls = getattr(skface, cls) if isinstance(cls, str) else cls
    X, y = small
    model = cls()
    target = y[["age", "gender", "race"]] if cls is FaceAttributes else y["gender"]
    methods = [m for m in _FITTED_METHODS if hasattr(model, m)]
    assert "score" in methods and "predict" in methods
    for method in methods:
        args = (X, target) if method == "score" else (X,)
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(model, method)(*args)
    for attribute in ("task_", "output_head_"):
        with pytest.raises(NotFittedError):
            getattr(model, attribute)


def _probability_metrics():
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    return [(roc_auc_score, {}), (log_loss, {}),
            (average_precision_score, {"pos_label": "female"}),
            (average_precision_score, {"pos_label": "male"}),
            (brier_score_loss, {"pos_label": "male"})]


@pytest.mark.parametrize(("metric", "kwargs"), _probability_metrics(),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_task_scorer_passes_the_positive_column_of_a_binary_task(small, gender_model, metric,
                                                                 kwargs):
    from sklearn.metrics import make_scorer

    from skface import make_task_scorer

    X, y = small
    truth = y["gender_name"].to_numpy(dtype=object)
    ours = make_task_scorer("gender", metric, response_method="predict_proba", **kwargs)
    theirs = make_scorer(metric, response_method="predict_proba", **kwargs)
    assert ours(gender_model, X, truth) == pytest.approx(theirs(gender_model, X, truth))


def test_task_scorer_refuses_a_positive_label_the_task_lacks(small, gender_model):
    from sklearn.metrics import average_precision_score

    from skface import make_task_scorer

    X, y = small
    scorer = make_task_scorer("gender", average_precision_score,
                              response_method="predict_proba")  # pos_label=1 by default
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label.*'female'"):
        scorer(gender_model, X, y["gender_name"])


@pytest.mark.parametrize("task_metric", ["default", "balanced_accuracy_score"])
def test_task_scorer_takes_sample_weight_under_metadata_routing(small, fast_params, task_metric):
    import sklearn
    from sklearn import metrics
    from sklearn.model_selection import cross_validate

    from skface import make_task_scorer

    X, y = small
    labels = y["gender_name"].to_numpy(dtype=object)
    weights = np.random.default_rng(0).uniform(0.1, 2, len(labels))
    func = metrics.accuracy_score if task_metric == "default" else getattr(metrics, task_metric)
    with sklearn.config_context(enable_metadata_routing=True):
        ours = make_task_scorer("gender", None if task_metric == "default" else func)
        ours = ours.set_score_request(sample_weight=True)
        theirs = metrics.make_scorer(func).set_score_request(sample_weight=True)
        plain = make_task_scorer("gender", None if task_metric == "default" else func)
        plain = plain.set_score_request(sample_weight=False)
        model = GenderClassifier(**fast_params).set_fit_request(sample_weight=False)
        result = cross_validate(model, X, labels, cv=2, params={"sample_weight": weights},
                                scoring={"ours": ours, "theirs": theirs, "plain": plain},
                                error_score="raise")
    np.testing.assert_allclose(result["test_ours"], result["test_theirs"])
    assert not np.allclose(result["test_ours"], result["test_plain"])  # the weights count


def test_face_attributes_declares_a_multi_output_target():
    for model in (FaceAttributes(), FaceAttributes(criterion__age_loss="l1")):
        tags = model.__sklearn_tags__().target_tags
        assert tags.multi_output and not tags.single_output and tags.required
    for cls in (GenderClassifier, RaceClassifier, AgeRegressor):
        tags = cls().__sklearn_tags__().target_tags
        assert tags.single_output and not tags.multi_output


@pytest.mark.parametrize("first", [
    "ImageLoader(size=8)", "ImageLoader(size=5, color='grayscale')",
    "ImageLoader(size=6, fit_mode='pad')", "FaceCropper(size=7, no_face='full')",
])
def test_image_steps_name_their_output_features(files, first):
    from sklearn.pipeline import make_pipeline

    from skface import FaceCropper  # noqa: F401 - named by the parameter

    step = eval(first)
    pipe = make_pipeline(step, GenderClassifier())
    names = pipe[:-1].get_feature_names_out()
    out = pipe[:-1].transform([files["good"], files["good"]])
    assert len(names) == int(np.prod(out.shape[1:])) == len(set(names))
    prefix = type(step).__name__.lower()
    assert names[0] == f"{prefix}_r0_c0_ch0"
    assert names[-1] == f"{prefix}_r{out.shape[1] - 1}_c{out.shape[2] - 1}_ch{out.shape[3] - 1}"


# --------------------------------------------------------------------------- the scale of pixels
# The scale of an image's pixels follows its dtype (floats in [0, float_max], 1 by
# default; bool 0/255; uint16 0..65535; other integers 0..255), never its values or the
# values of the other images of its batch.

_DARK = np.linspace(0, 0.9, 48).reshape(4, 4, 3)  # a dark image on the 0-255 scale


@pytest.mark.parametrize(("image", "float_max", "expected"), [
    (_DARK.astype(np.float32), 255, np.rint(_DARK)),
    (_DARK.astype(np.float64), 255, np.rint(_DARK)),
    (_DARK / 0.9, 1.0, np.rint(_DARK / 0.9 * 255)),
    ((_DARK / 0.9).astype(np.float16), 1.0, np.rint((_DARK / 0.9).astype(np.float16)
                                                    .astype(np.float64) * 255)),
    (_DARK > 0.4, 1.0, np.where(_DARK > 0.4, 255, 0)),
    ((_DARK * 257).astype(np.uint16), 1.0, np.rint(_DARK)),
    (np.rint(_DARK).astype(np.int16), 1.0, np.rint(_DARK)),
    (np.rint(_DARK).astype(np.int64), 1.0, np.rint(_DARK)),
], ids=["float32 0-255", "float64 0-255", "float 0-1", "float16 0-1", "bool", "uint16",
        "int16", "int64"])
def test_the_scale_of_pixels_follows_their_dtype_alone_or_in_a_batch(image, float_max,
                                                                      expected):
    loader = ImageLoader(size=4, float_max=float_max, cache=False)
    bright = np.full_like(image, True if image.dtype == bool else float_max * 0.9 // 1)
    alone = loader.transform([image])[0]
    np.testing.assert_array_equal(alone, expected.astype(np.uint8))
    np.testing.assert_array_equal(loader.transform([bright, image])[1], alone)
    np.testing.assert_array_equal(loader.transform(np.stack([image, bright]))[0], alone)


@pytest.mark.parametrize(("image", "params", "words"), [
    (_DARK * 200, {}, "outside [0, 1]"),
    (_DARK * 300, {"float_max": 255}, "outside [0, 255]"),
    (-_DARK, {}, "outside [0, 1]"),
    (np.full((4, 4), 256, np.int32), {}, "read as 0..255"),
    (np.full((4, 4), -1, np.int8), {}, "read as 0..255"),
])
def test_pixels_outside_their_dtype_range_are_refused(image, params, words):
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=4, **params).transform([image])
    assert words in str(info.value) and "image at position 0" in str(info.value)


def test_an_estimator_never_rescales_an_image_by_its_batch(small, fast_params):
    X, y = small
    clf = GenderClassifier(**fast_params).fit(X, y["gender"])
    dark = X[:1] * (0.9 / 255)  # read as [0, 1]: the same pixels alone or in any batch
    alone = clf.predict_proba(dark)
    np.testing.assert_allclose(clf.predict_proba(np.concatenate([dark, X[1:3] / 255.0]))[:1],
                               alone, atol=1e-6)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):  # not a 0-255 batch
        clf.predict_proba(np.concatenate([dark, X[1:3].astype(np.float64)]))
    np.testing.assert_allclose(
        clf.predict_proba(np.concatenate([X[:1].astype(np.uint16) * 257, X[1:3] > 127]))[:1],
        clf.predict_proba(X[:1]), atol=1e-6)
