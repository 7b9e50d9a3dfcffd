"""save_model / load_model: safetensors weights plus a JSON description, no code run."""

from __future__ import annotations

import json
import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skface import (
    AgeBinner,
    AgeRegressor,
    FaceAttributes,
    GenderClassifier,
    ImageLoader,
    RaceClassifier,
    load_model,
    save_model,
)
from skface.datasets import make_faces
from skface.exceptions import ModelFileError

st = pytest.importorskip("safetensors.torch")

FAST = {"max_epochs": 2, "verbose": 0, "random_state": 0, "module": "basic_cnn"}


@pytest.fixture(scope="module")
def faces():
    X, y = make_faces(160, size=32, random_state=2)
    return X, y


def _targets(y):
    return {
        GenderClassifier: y["gender_name"],
        RaceClassifier: y["race"],
        AgeRegressor: y["age"],
        AgeBinner: y["age"],
        FaceAttributes: y[["age", "gender", "race"]].astype({"gender": int, "race": int}),
    }


@pytest.mark.parametrize("cls", [GenderClassifier, RaceClassifier, AgeRegressor, AgeBinner,
                                 FaceAttributes])
def test_round_trip_gives_identical_predictions(cls, faces, tmp_path):
    X, y = faces
    model = cls(**FAST).fit(X, _targets(y)[cls])
    path = tmp_path / "model.safetensors"
    save_model(model, path)
    loaded = load_model(path)
    assert type(loaded) is cls and loaded is not model
    before, after = model.predict(X[:30]), loaded.predict(X[:30])
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after)
    else:
        np.testing.assert_array_equal(before, after)
    if hasattr(model, "predict_proba") and cls is not FaceAttributes:
        np.testing.assert_array_equal(model.predict_proba(X[:30]), loaded.predict_proba(X[:30]))
    if cls is FaceAttributes:
        assert loaded.task_weights_ == model.task_weights_  # the learned loss weights too
    assert loaded.get_params()["max_epochs"] == 2 and len(loaded.history_) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no partial file



def test_a_distilled_model_is_saved_without_its_teacher(faces, tmp_path):
    X, y = faces
    teacher = FaceAttributes(**FAST).fit(X, _targets(y)[FaceAttributes])
    student = RaceClassifier(**FAST, teacher=teacher, distill_weight=0.3).fit(X, y["race"])
    save_model(student, tmp_path / "student.safetensors")
    loaded = load_model(tmp_path / "student.safetensors")
    assert loaded.teacher is None and loaded.distill_weight == 0.3
    np.testing.assert_array_equal(loaded.predict_proba(X[:30]), student.predict_proba(X[:30]))
    assert student.teacher is teacher  # the saved model's own parameters are untouched

def test_pipeline_from_paths_round_trip_with_network_parameters(synthetic_paths, tmp_path):
    y = np.arange(len(synthetic_paths)) % 2
    pipe = make_pipeline(ImageLoader(size=24, color="grayscale"),
                         GenderClassifier(module="skfacenet", module__width=8, max_epochs=1,
                                          verbose=0, random_state=0))
    pipe.fit(synthetic_paths, y)
    save_model(pipe, tmp_path / "pipe.safetensors")
    loaded = load_model(tmp_path / "pipe.safetensors")
    assert [name for name, _ in loaded.steps] == ["imageloader", "genderclassifier"]
    assert loaded[0].get_params() == pipe[0].get_params()
    assert loaded[-1].module__width == 8
    np.testing.assert_array_equal(loaded.predict_proba(synthetic_paths),
                                  pipe.predict_proba(synthetic_paths))


def test_unfitted_model_keeps_its_parameters(tmp_path):
    model = AgeBinner(bins="life_stages", head="ordinal", lr=1e-3, optimizer=torch.optim.SGD,
                      optimizer__momentum=0.9, augment={"flip": True})
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert not hasattr(loaded, "module_")
    expected = clone(model).get_params()
    got = loaded.get_params()
    for key in ("bins", "head", "lr", "optimizer", "optimizer__momentum", "augment"):
        assert got[key] == expected[key], key


def test_loading_unpickles_nothing(faces, tmp_path, monkeypatch):
    X, y = faces
    model = GenderClassifier(**FAST).fit(X, y["gender"])
    save_model(model, tmp_path / "m.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("load_model must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    np.testing.assert_array_equal(load_model(tmp_path / "m.safetensors").predict(X[:10]),
                                  model.predict(X[:10]))


def _rewrite(path, change):
    """Rewrite a saved file with its description changed by ``change(description)``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    description = json.loads(metadata["description"])
    change(description)
    metadata["description"] = json.dumps(description)
    st.save_file(tensors, str(path), metadata=metadata)


def test_refuses_files_it_did_not_write(faces, tmp_path):
    X, y = faces
    model = GenderClassifier(**FAST).fit(X, y["gender"])
    joblib.dump(model, tmp_path / "model.joblib")
    with pytest.raises(ModelFileError, match=r"not a model file written by skface\.save_model"):
        load_model(tmp_path / "model.joblib")
    st.save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ModelFileError, match=r"not one written by skface\.save_model"):
        load_model(tmp_path / "plain.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["steps"][0].update({"class": "Popen"}), "unknown class 'Popen'"),
    (lambda d: d["steps"][0]["params"].update({"criterion": {"__class__": "builtins:eval"}}),
     "outside torch, skorch and skface"),
    (lambda d: d["steps"][0]["params"].update({"criterion": {"__class__": "torch.hub:load"}}),
     "not a class of the expected kind"),
    (lambda d: d.update({"version": 99}), "format 99"),
])
def test_refuses_a_description_that_names_anything_else(faces, tmp_path, change, message):
    X, y = faces
    path = tmp_path / "m.safetensors"
    save_model(GenderClassifier(**FAST).fit(X, y["gender"]), path)
    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_refuses_weights_that_do_not_fit(faces, tmp_path):
    X, y = faces
    path = tmp_path / "m.safetensors"
    save_model(GenderClassifier(**FAST).fit(X, y["gender"]), path)
    _rewrite(path, lambda d: d["steps"][0]["fitted"].update({"n_outputs_": 3}))
    with pytest.raises(ModelFileError, match="module weights do not fit"):
        load_model(path)


def test_save_names_what_the_format_cannot_store(faces, tmp_path):
    X, y = faces

    class MyNet(torch.nn.Module):
        def __init__(self, n_outputs, in_channels=3):
            super().__init__()
            self.fc = torch.nn.Linear(in_channels, n_outputs)

        def forward(self, x):
            return self.fc(x.mean((2, 3)))

    model = GenderClassifier(module=MyNet, max_epochs=1, verbose=0).fit(X[:40], y["gender"][:40])
    with pytest.raises(ValueError, match="register_model"):
        save_model(model, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


def test_pretrained_weights_file_is_not_needed_to_load(faces, tmp_path):
    from skface.nets import get_model

    X, y = faces
    weights = tmp_path / "vgg.pth"
    torch.save({k: v for k, v in get_model("vgg16", n_outputs=10).state_dict().items()
                if k.startswith("features.")}, weights)
    model = GenderClassifier(module="vgg16", module__weights=weights, max_epochs=1, verbose=0,
                             random_state=0).fit(X[:40], y["gender"][:40])
    save_model(model, tmp_path / "m.safetensors")
    os.remove(weights)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.module__weights == str(weights)  # kept as a parameter, not read
    np.testing.assert_array_equal(loaded.predict_proba(X[:8]), model.predict_proba(X[:8]))
