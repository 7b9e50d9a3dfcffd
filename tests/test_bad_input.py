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
from skface._cli import main
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


def test_a_class_unseen_in_fit_is_named_at_score(small, fast_params):
    X, y = small
    clf = GenderClassifier(**fast_params).fit(X, y["gender_name"])
    with pytest.raises(LabelError, match=r"\[0, 1\] were not seen in fit.*'female', 'male'"):
        clf.score(X, y["gender"])  # codes for a model fitted on names
    with pytest.raises(LabelError, match=r"\[5\] were not seen in fit"):
        RaceClassifier(**fast_params).fit(X[:40], y["race"][:40] % 4).score(X[:3], [0, 1, 5])


# --------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(("make", "words"), [
    (lambda X: X[0], "batch of images of shape (n, height, width, channels)"),
    (lambda X: X[..., :1], "fitted on 32x32 images with 3 channel(s)"),
    (lambda X: np.zeros((2, 40, 40, 3), np.uint8), "ImageLoader(size=32"),
    (lambda X: X.astype(float) * 3, "pixel values in [0, 1] or [0, 255]"),
    (lambda X: X.astype(float) - 300, "pixel values in [0, 1] or [0, 255]"),
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


def test_float_images_in_either_range_give_the_same_predictions(small, fast_params):
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
    X = ImageLoader(size=8, fit_mode="stretch", color="grayscale", cache=False).transform(paths)
    for i, name in enumerate(made):
        assert np.abs(X[i, :, :, 0].astype(int) - expected).max() <= 1, name
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
    from skface._cli import load_model_file

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
    for heavy in ("skface._estimators", "skface._reports"):  # imported before the limit
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
    assert main(["predict", "model.joblib", "-o", str(out), "--force", "--", *names]) == 0
    assert main(["predict", "model.joblib", "--", *names]) == 0
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
                    "12MB", "\u0663", "9223372036854775808"]

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


@pytest.mark.parametrize(("value", "expected"), [
    ("1000000", 1_000_000), (" 2e6 ", 2_000_000), ("0", 0), ("", 2 * 1024**3),
    ("1.5e3", 1500), ("9223372036854775807", 2**63 - 1),
])
def test_valid_cache_size_variable_is_read(monkeypatch, value, expected):
    from skface._imaging import _default_cache_bytes

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
