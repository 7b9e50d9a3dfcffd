"""skface.analyze: photos, folders and in-memory images in, one named row per face out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.pipeline import make_pipeline

from skface import FaceAttributes, FaceCropper, GenderClassifier, ImageLoader, RaceClassifier
from skface import analyze as analyze_fn
from skface._labels import class_names
from skface.exceptions import FaceDetectionError, ImageLoadError

from .conftest import BIG_AT, SMALL_AT, TinyNet
from .test_face_cropper import _close, needs_cv2


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    import skface

    folder = tmp_path_factory.mktemp("faces")
    frame = skface.datasets.make_faces(24, size=32, directory=folder, random_state=0)
    return folder, frame


@pytest.fixture(scope="module")
def models(synthetic):
    _, frame = synthetic
    params = {"module": TinyNet, "max_epochs": 1, "verbose": 0, "random_state": 0}
    gender = make_pipeline(ImageLoader(size=32), GenderClassifier(**params)).fit(
        frame["path"], frame["gender"])
    named = make_pipeline(ImageLoader(size=32), RaceClassifier(**params)).fit(
        frame["path"], frame["race_name"] if "race_name" in frame else
        np.asarray(["White", "Black", "Asian", "Indian", "Others"])[frame["race"]])
    multi = make_pipeline(ImageLoader(size=32), FaceAttributes(**params)).fit(
        frame["path"], frame[["age", "gender", "race"]])
    return {"gender": gender, "race_names": named, "multi": multi}


@pytest.mark.parametrize(("task", "classes", "names"), [
    ("gender", [0, 1], ["male", "female"]),
    ("gender", np.array([1, 0]), ["female", "male"]),
    ("gender", ["0", "1"], ["male", "female"]),
    ("race", [0, 1, 2, 3, 4], ["White", "Black", "Asian", "Indian", "Others"]),
    ("race", [4.0, 2.0], ["Others", "Asian"]),
    ("race", ["Asian", "White"], ["Asian", "White"]),
    ("race", [0, 9], ["0", "9"]),                 # outside the conventions: as they are
    ("gender", [True, False], ["True", "False"]),
    ("age_group", ["0-9", "10-19"], ["0-9", "10-19"]),
    ("smile", [0, 1], ["0", "1"]),               # an unknown task: as they are
])
def test_class_names_follow_the_label_conventions(task, classes, names):
    assert class_names(task, classes) == names


def test_whole_images_give_named_columns_and_statuses(synthetic, models):
    folder, frame = synthetic
    paths = frame["path"].tolist()[:3]
    table = analyze_fn([*paths, str(folder / "missing.jpg"), np.zeros((40, 30, 3), np.uint8)],
                       models["gender"], detect=False)
    assert list(table.columns) == ["file", "face", "x", "y", "w", "h", "gender", "p(male)",
                                   "p(female)", "status"]
    assert table["file"].tolist() == [*paths, str(folder / "missing.jpg"), "image at position 4"]
    assert table["status"].tolist()[:3] == ["ok"] * 3 and table["status"][4] == "ok"
    assert table["status"][3].startswith("unreadable: ")
    assert set(table["gender"].dropna()) <= {"male", "female"}
    np.testing.assert_allclose(table[["p(male)", "p(female)"]].dropna().sum(axis=1), 1, atol=1e-3)
    assert pd.isna(table.loc[3, "gender"]) and pd.isna(table.loc[3, "face"])
    assert table.loc[4, ["w", "h"]].tolist() == [30, 40]
    # the same predictions as the model's own, named
    proba = models["gender"].predict_proba(paths)
    np.testing.assert_allclose(table.loc[:2, ["p(male)", "p(female)"]], proba, atol=1e-4)
    codes = analyze_fn(paths, models["gender"], detect=False, codes=True)
    assert list(codes.columns[6:9]) == ["gender", "p(gender=0)", "p(gender=1)"]
    assert codes["gender"].tolist() == list(models["gender"].predict(paths))


def test_every_kind_of_input_gives_the_same_answer(synthetic, models):
    folder, frame = synthetic
    path = frame["path"].iloc[0]
    pil = Image.open(path)
    array = np.asarray(pil.convert("RGB"))
    want = analyze_fn([path], models["multi"], detect=False).drop(columns="file")
    for images in ([pil], pil, array, array[None], [array], pd.Series([path]),
                   pd.DataFrame({"path": [path]})):
        got = analyze_fn(images, models["multi"], detect=False).drop(columns="file")
        pd.testing.assert_frame_equal(got, want)
    folder_table = analyze_fn(str(folder), models["multi"], detect=False)
    assert len(folder_table) == len(frame) and (folder_table["status"] == "ok").all()
    assert {"age", "gender", "race", "p(female)", "p(Asian)"} <= set(folder_table.columns)
    assert folder_table["age"].map(lambda v: round(v, 1) == v).all()


def test_a_folder_gives_its_image_files_only(synthetic, models, tmp_path):
    _, frame = synthetic
    for p in frame["path"][:2]:
        (tmp_path / Image.open(p).filename.split("/")[-1]).write_bytes(open(p, "rb").read())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    table = analyze_fn(str(tmp_path), models["gender"], detect=False)
    assert len(table) == 2 and (table["status"] == "ok").all()
    listed = analyze_fn([frame["path"][3], tmp_path], models["gender"], detect=False)
    assert listed["file"].tolist() == [frame["path"][3], *table["file"]]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image file"):
        analyze_fn(str(empty), models["gender"], detect=False)


def test_labels_the_model_was_fitted_on_are_kept(synthetic, models):
    _, frame = synthetic
    table = analyze_fn(frame["path"][:4], models["race_names"], detect=False)
    assert set(table["race"]) <= {"White", "Black", "Asian", "Indian", "Others"}
    assert "p(Asian)" in table.columns


def test_on_error_fail_names_every_bad_input(synthetic, models, tmp_path):
    _, frame = synthetic
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ImageLoadError) as info:
        analyze_fn([frame["path"][0], str(bad), str(tmp_path / "gone.png")], models["gender"],
                   detect=False, on_error="fail")
    assert [n for n, _ in info.value.failures] == [str(bad), str(tmp_path / "gone.png")]
    with pytest.raises(ValueError, match="on_error"):
        analyze_fn([frame["path"][0]], models["gender"], on_error="skip")
    with pytest.raises(TypeError, match="element 1"):
        analyze_fn([frame["path"][0], 3.5], models["gender"], detect=False)


@needs_cv2
def test_detection_gives_a_row_per_face_with_its_box(scene_path, no_face_path, models):
    table = analyze_fn([scene_path, no_face_path], models["multi"])
    faces_ = table[table["file"] == scene_path]
    assert faces_["face"].tolist() == [0, 1] and (faces_["status"] == "ok").all()
    big, small = faces_.iloc[0], faces_.iloc[1]
    assert big["w"] > small["w"]
    assert _close((big["x"], big["y"]), BIG_AT[:2], tol=30)
    assert _close((small["x"], small["y"]), SMALL_AT[:2], tol=30)
    assert {"age", "gender", "race"} <= set(table.columns)
    none = table[table["file"] == no_face_path]
    assert none["status"].tolist() == ["no face"] and pd.isna(none["gender"].iloc[0])
    with pytest.raises(FaceDetectionError, match="landscape"):
        analyze_fn([scene_path, no_face_path], models["multi"], on_error="fail")
    largest = analyze_fn([scene_path], models["multi"],
                         cropper=FaceCropper(size=32, multiple="largest"))
    assert len(largest) == 1 and largest["w"].iloc[0] == big["w"]


@needs_cv2
def test_find_faces_and_crop_faces_are_the_detect_and_crop_of_one_image(scene_path):
    cropper = FaceCropper(size=40, multiple="all")
    image = np.asarray(Image.open(scene_path).convert("RGB"))
    boxes = cropper.find_faces(image)
    frame = cropper.detect([scene_path])
    np.testing.assert_array_equal(boxes, frame[["x", "y", "w", "h"]].to_numpy())
    crops, _ = cropper.crop([scene_path])
    np.testing.assert_array_equal(cropper.crop_faces(image, boxes), crops)
    np.testing.assert_array_equal(cropper.find_faces(Image.open(scene_path)), boxes)
    assert cropper.crop_faces(image, np.empty((0, 4))).shape == (0, 40, 40, 3)
    with pytest.raises(TypeError, match="not a path"):
        cropper.find_faces(scene_path)


def test_reports_name_the_classes(synthetic, models, tmp_path):
    from skface._reports import evaluate_model
    from skface.datasets import load_utkface

    folder, _ = synthetic
    frame = load_utkface(folder)
    evaluate_model(models["multi"], frame, tmp_path / "report", plots=False)
    table = pd.read_csv(tmp_path / "report" / "predictions.csv")
    assert set(table["true_gender"]) <= {"male", "female"}
    assert set(table["predicted_race"]) <= {"White", "Black", "Asian", "Indian", "Others"}
    assert table["true_age"].dtype.kind == "f"


def test_a_model_trained_on_synthetic_faces_says_so_when_it_predicts(synthetic, tmp_path,
                                                                     registered_fast_params):
    import pickle
    import warnings

    from skface.exceptions import SyntheticModelWarning

    _, frame = synthetic
    model = make_pipeline(ImageLoader(size=32), GenderClassifier(**registered_fast_params)).fit(
        frame["path"], frame["gender"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntheticModelWarning)
        model.predict(frame["path"][:2])  # not marked: silent
    model[-1].training_data_ = {"synthetic": True, "source": "24 synthetic faces"}
    with pytest.warns(SyntheticModelWarning, match="24 synthetic faces"):
        model.predict(frame["path"][:2])
    with pytest.warns(SyntheticModelWarning):
        analyze_fn(frame["path"][:2], model, detect=False)
    for loaded in (pickle.loads(pickle.dumps(model)), _safe_round_trip(model, tmp_path)):
        assert loaded[-1].training_data_ == model[-1].training_data_
        with pytest.warns(SyntheticModelWarning):
            loaded.predict_proba(frame["path"][:1])


def _safe_round_trip(model, tmp_path):
    from skface import load_model, save_model

    save_model(model, tmp_path / "m.safetensors")
    return load_model(tmp_path / "m.safetensors")


def test_a_streaming_pipeline_analyzes_images_in_memory(synthetic):
    _, frame = synthetic
    params = {"module": TinyNet, "max_epochs": 1, "verbose": 0, "random_state": 0}
    pipe = make_pipeline(ImageLoader(size=32, lazy=True), GenderClassifier(**params)).fit(
        frame["path"], frame["gender"])
    table = analyze_fn([frame["path"][0], np.zeros((40, 40, 3), np.uint8)], pipe,
                       detect=False)
    assert (table["status"] == "ok").all()
    assert pipe[0].lazy  # the model itself is not changed


def test_whole_photos_are_decoded_as_the_pipeline_decodes_them(utkface_subset, models):
    # JPEGs are decoded at reduced scale when the model's size is small (draft mode):
    # analyze without detection gives exactly the Pipeline's own predictions
    paths = [str(p) for p in utkface_subset[:6]]
    table = analyze_fn(paths, models["multi"], detect=False)
    proba = models["multi"].predict_proba(paths)
    np.testing.assert_allclose(table[["p(male)", "p(female)"]], proba["gender"], atol=6e-5)
    assert table[["w", "h"]].drop_duplicates().values.tolist() == [[200, 200]]


# ------------------------------------------------------------- one detection default


def _copies(paths, folder, side: int) -> list[str]:
    """The UTKFace crops at ``paths``, resized to ``side`` pixels, as PNG files."""
    folder.mkdir(exist_ok=True)
    out = []
    for p in paths:
        target = folder / (p.name.split(".")[0] + f"_{side}.png")
        Image.open(p).convert("RGB").resize((side, side), Image.Resampling.BILINEAR).save(target)
        out.append(str(target))
    return out


def _group(faces_, names, canvas, placed, path) -> str:
    photo = Image.new("RGB", canvas, (140, 160, 185))
    for name, (x, y, side) in zip(names, placed, strict=True):
        photo.paste(faces_[name].resize((side, side), Image.Resampling.BILINEAR), (x, y))
    photo.save(path)
    return str(path)


@needs_cv2
@pytest.mark.utkface
@pytest.mark.parametrize("side", [None, 120, 300])
def test_face_crops_are_one_face_the_whole_image_as_without_detection(utkface_subset, models,
                                                                      tmp_path, side):
    paths = [str(p) for p in utkface_subset[:8]]
    if side is not None:
        paths = _copies(utkface_subset[:8], tmp_path / "crops", side)
    auto = analyze_fn(paths, models["multi"])
    whole = analyze_fn(paths, models["multi"], detect=False)
    assert (auto["status"] == "ok").all() and auto["face"].tolist() == [0] * len(paths)
    n = side or 200
    # the Haar cascade finds only part of a face in about 2% of UTKFace crops (a box
    # under 40% of the image): those are cropped; every other crop is one whole face
    taken = (auto[["x", "y", "w", "h"]] == [0, 0, n, n]).all(axis=1).to_numpy()
    assert taken.sum() >= len(paths) - 1
    # the same predictions as the whole image, and as the Pipeline's own on the files
    pd.testing.assert_frame_equal(auto[taken], whole[taken])
    proba = models["multi"].predict_proba(paths)
    np.testing.assert_allclose(auto.loc[taken, ["p(male)", "p(female)"]], proba["gender"][taken],
                               atol=6e-5)
    np.testing.assert_allclose(auto.loc[taken, "age"],
                               models["multi"].predict(paths)["age"][taken], atol=0.051)
    assert any("taken as face crops" in note for note in auto.attrs["notes"])
    # detect=True crops the face found in them, inside the image
    forced = analyze_fn(paths, models["multi"], detect=True)
    inside = forced.dropna(subset=["x"])
    assert (inside["x"] >= 0).all() and (inside["y"] >= 0).all()
    assert ((inside["x"] + inside["w"]) <= n).all() and ((inside["y"] + inside["h"]) <= n).all()


@needs_cv2
@pytest.mark.utkface
@pytest.mark.parametrize(("canvas", "placed"), [
    ((480, 320), [BIG_AT, SMALL_AT]),
    ((640, 480), [(30, 40, 150), (250, 200, 110), (430, 60, 160)]),
    ((800, 600), [(40, 60, 200), (300, 300, 150), (520, 40, 180), (560, 380, 120)]),
])
def test_group_photos_give_one_row_per_face_by_default(faces, models, tmp_path, canvas,
                                                       placed):
    from .conftest import BIG, RAW_ONLY, SMALL

    names = [BIG, SMALL, RAW_ONLY, BIG][:len(placed)]
    path = _group(faces, names, canvas, placed, tmp_path / "group.png")
    auto = analyze_fn([path], models["multi"])
    forced = analyze_fn([path], models["multi"], detect=True)
    pd.testing.assert_frame_equal(auto, forced)
    assert len(auto) >= 2 and (auto["w"] < canvas[0] // 2).all()
    assert not auto.attrs["notes"]


@needs_cv2
def test_auto_without_a_face_depends_on_whether_the_image_could_be_a_crop(models, tmp_path):
    blank = np.full((200, 200, 3), 120, np.uint8)
    photo = np.full((300, 400, 3), 120, np.uint8)  # a 4:3 photo: not a face crop
    large = np.full((800, 800, 3), 120, np.uint8)  # larger than face crops are
    table = analyze_fn([blank, photo, large], models["gender"])
    assert table["status"].tolist() == ["ok", "no face", "no face"]
    assert table.loc[0, ["x", "y", "w", "h"]].tolist() == [0, 0, 200, 200]
    assert analyze_fn([blank], models["gender"], detect=True)["status"].tolist() == ["no face"]
    for bad in ("yes", None, 1.5, "Auto"):
        with pytest.raises(ValueError, match="detect must be 'auto', True or False"):
            analyze_fn([blank], models["gender"], detect=bad)


def test_auto_without_a_detector_predicts_whole_images_and_says_so(synthetic, models,
                                                                   monkeypatch):
    import sys

    _, frame = synthetic
    monkeypatch.setitem(sys.modules, "cv2", None)  # OpenCV not installed
    table = analyze_fn(frame["path"][:3], models["gender"])
    assert (table["status"] == "ok").all()
    assert any("no face detector is installed" in n and "skface[detect]" in n
               for n in table.attrs["notes"])
    with pytest.raises(ImportError, match=r"skface\[detect\]"):
        analyze_fn(frame["path"][:3], models["gender"], detect=True)


@needs_cv2
@pytest.mark.utkface
def test_predict_and_analyze_share_one_default_on_the_command_line(utkface_subset, models,
                                                                   faces, tmp_path, capsys):
    import joblib

    from skface._cli import main

    from .conftest import BIG, SMALL

    crops = _copies(utkface_subset[:4], tmp_path / "crops", 200)
    group = _group(faces, [BIG, SMALL], (480, 320), [BIG_AT, SMALL_AT], tmp_path / "g.png")
    model = tmp_path / "model.joblib"
    joblib.dump(models["multi"], model)

    def run(*argv):
        capsys.readouterr()
        assert main(list(argv)) == 0
        from io import StringIO

        return pd.read_csv(StringIO(capsys.readouterr().out))

    for paths in ([*crops], [group]):
        predicted = run("predict", str(model), *paths)
        analyzed = run("analyze", "--model", str(model), *paths)
        pd.testing.assert_frame_equal(predicted, analyzed)
        expected = analyze_fn(paths, models["multi"])
        np.testing.assert_allclose(predicted["age"], expected["age"])
        assert predicted["face"].tolist() == expected["face"].tolist()
    assert len(run("predict", str(model), group)) == 2  # one row per face
    # on face crops, the default is the whole image: the Pipeline's own predictions
    table = run("analyze", "--model", str(model), *crops)
    np.testing.assert_allclose(table["age"], models["multi"].predict(crops)["age"], atol=0.051)
    for command in (["predict", str(model)], ["analyze", "--model", str(model)]):
        whole = run(*command, "--no-detect", group)
        assert len(whole) == 1 and "x" not in whole.columns
        assert len(run(*command, "--detect", *crops[:2])) == 2
        with pytest.raises(SystemExit):
            main([*command, "--detect", "--no-detect", group])
