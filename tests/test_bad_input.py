"""Bad input, as one suite: each case loads correctly or fails early with an error that
names the file or value and says what to do. Every file is generated here; nothing is
committed. Property-based tests (hypothesis) cover file-name parsing, and a bounded fuzz
run feeds random bytes to the image loader."""

from __future__ import annotations

import io
import os
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
def small():
    X, y = make_faces(60, size=32, random_state=0)
    return X, y


FAST = {"module": "basic_cnn", "max_epochs": 1, "verbose": 0, "random_state": 0}


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
def test_bad_ages_are_named(small, age, words):
    X, y = small
    ages = np.array(y["age"], dtype=float)
    ages[5] = age
    with pytest.raises(LabelError, match=words) as info:
        AgeRegressor(**FAST).fit(X, ages)
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


def test_estimators_take_any_consistent_labels_but_not_mixed_kinds(small):
    X, y = small
    frame = y[["age", "gender", "race"]].astype({"gender": int, "race": int})
    frame.loc[3, "race"] = 7  # any codes are labels of their own to an estimator
    model = FaceAttributes(**FAST).fit(X, frame)
    assert model.classes_["race"].tolist() == [0, 1, 2, 3, 4, 7]
    mixed = frame.astype(object)
    mixed.loc[3, "gender"] = "x"
    with pytest.raises(LabelError, match=r"mixes text and number labels \(e.g. 'x' and 0\)"):
        FaceAttributes(**FAST).fit(X, mixed)
    with pytest.raises(LabelError, match="mixes text and number"):
        GenderClassifier(**FAST).fit(X, mixed["gender"])


def test_a_class_unseen_in_fit_is_named_at_score(small):
    X, y = small
    clf = GenderClassifier(**FAST).fit(X, y["gender_name"])
    with pytest.raises(LabelError, match=r"\[0, 1\] were not seen in fit.*'female', 'male'"):
        clf.score(X, y["gender"])  # codes for a model fitted on names
    with pytest.raises(LabelError, match=r"\[5\] were not seen in fit"):
        RaceClassifier(**FAST).fit(X[:40], y["race"][:40] % 4).score(X[:3], [0, 1, 5])


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
def test_bad_arrays_say_what_to_pass(small, make, words):
    X, y = small
    clf = GenderClassifier(**FAST).fit(X, y["gender"])
    with pytest.raises(ValueError) as info:
        clf.predict(make(X))
    assert words in str(info.value)


def test_x_and_y_of_different_lengths(small):
    X, y = small
    with pytest.raises(ValueError, match="60 images but y has 59 labels"):
        GenderClassifier(**FAST).fit(X, y["gender"][:-1])


def test_float_images_in_either_range_give_the_same_predictions(small):
    X, y = small
    clf = GenderClassifier(**FAST).fit(X, y["gender"])
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
