"""Bad input, as one suite: each case loads correctly or fails early with an error that
names the file or value and says what to do. Every file is generated here; nothing is
committed. Property-based tests (hypothesis) cover file-name parsing, and a bounded fuzz
run feeds random bytes to the image loader."""

from __future__ import annotations

import io
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


# --------------------------------------------------------------------------- labels and outputs

_BOOLEAN_AGES = [
    [True, False, True],
    np.array([True, False, True]),
    [30.0, np.bool_(True), 20.0],
    pd.Series([True, False, True], dtype="boolean"),
]


@pytest.mark.parametrize("ages", _BOOLEAN_AGES, ids=["bool", "numpy", "numpy-scalar", "boolean"])
def test_boolean_ages_are_refused_everywhere(small, ages):
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
        AgeRegressor(**FAST).fit(X[:3], ages)


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
def formula_named_images(tmp_path_factory):
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
        model = make_pipeline(ImageLoader(size=16), GenderClassifier(**FAST))
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
        assert rows[0] == ["path", "prediction", "p(=m)", "p(@f)"]
        assert [r[0] for r in rows[1:]] == [_safe_cell(n) for n in names]
        assert {r[1] for r in rows[1:]} <= {"'=m", "'@f"}
        assert all(0.0 <= float(p) <= 1.0 for r in rows[1:] for p in r[2:])


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
    assert all(float(r[3]) >= 0 for r in groups[1:])  # the metric stays a number
    assert any(r[4].startswith("-") for r in groups[1:])  # negative numbers stay as they are
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
