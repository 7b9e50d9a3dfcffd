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
