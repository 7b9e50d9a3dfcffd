"""Output heads: each head's math against numpy; predict and the ONNX graph through the
same head for every estimator; and the surfaces (export_onnx, evaluate_model, `skface
evaluate`) working from the declared task, for subclasses of the estimators too."""

from __future__ import annotations

import ast
import json
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import make_pipeline

import skface
from skface import (
    AgeBinner,
    AgeRegressor,
    FaceAttributes,
    GenderClassifier,
    ImageLoader,
    RaceClassifier,
)
from skface.nets import heads

SKFACE = Path(skface.__file__).parent
FAST = {"max_epochs": 1, "verbose": 0, "random_state": 0, "module": "basic_cnn"}
TOL = 1e-4  # as tests/test_onnx.py: ONNX runtime against torch, both float32


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _apply(head, z: np.ndarray) -> tuple[np.ndarray, ...]:
    with torch.no_grad():
        return tuple(t.numpy() for t in head(torch.from_numpy(z)))


# --------------------------------------------------------------------------- the math


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_class_probabilities_are_a_softmax(rng):
    z = rng.normal(size=(7, 5)) * 6
    (p,) = _apply(heads.ClassProbabilities(), z)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, _softmax(z), rtol=1e-5, atol=1e-7)


def test_expected_age_is_the_mean_of_the_year_distribution(rng):
    z = rng.normal(size=(6, 117)) * 3
    z[0, 0] = z[1, 116] = 60.0  # all the mass on the youngest and the oldest year
    (age,) = _apply(heads.ExpectedAge(117), z)
    expected = _softmax(z) @ np.arange(117)
    np.testing.assert_allclose(age, expected, rtol=1e-6, atol=1e-4)
    assert 0 <= age.min() and age.max() <= 116
    with pytest.raises(ValueError, match="at least two year classes"):
        heads.ExpectedAge(1)


def test_scalar_age_is_the_standardised_value_in_years_clipped():
    z = np.array([[-10.0], [-1.0], [0.0], [1.5], [40.0]])
    (age,) = _apply(heads.ScalarAge(33.0, 19.5, max_age=116), z)
    np.testing.assert_allclose(age, np.clip(z[:, 0] * 19.5 + 33.0, 0, 116), rtol=1e-6)
    (unbounded,) = _apply(heads.ScalarAge(33.0, 19.5), z)
    np.testing.assert_allclose(unbounded, np.clip(z[:, 0] * 19.5 + 33.0, 0, None), rtol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 9])
def test_ordinal_probabilities_are_rank_consistent_coral(rng, k):
    z = rng.normal(size=(10, k - 1)) * 3  # unsorted: inconsistent cumulative probabilities
    (p,) = _apply(heads.OrdinalProbabilities(), z)
    above = np.minimum.accumulate(_sigmoid(z), axis=1)  # P(group > j), non-increasing
    cum = np.hstack([np.ones((10, 1)), above, np.zeros((10, 1))])
    expected = np.clip(cum[:, :-1] - cum[:, 1:], 0, None)
    assert p.shape == (10, k)
    np.testing.assert_allclose(p, expected, atol=1e-6)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert (p >= 0).all()


def test_groups_from_years_sum_each_groups_years(rng):
    edges = [0, 13, 30, 60, 117]
    years = np.arange(117)
    matrix = np.stack([(years >= a) & (years < b) for a, b in pairwise(edges)],
                      axis=1).astype(float)
    z = rng.normal(size=(6, 117)) * 3
    p, age = _apply(heads.GroupsFromYears(matrix), z)
    p_years = _softmax(z)
    expected = np.stack([p_years[:, a:b].sum(1) for a, b in pairwise(edges)],
                        axis=1)
    np.testing.assert_allclose(p, expected, atol=1e-6)
    np.testing.assert_allclose(age, p_years @ years, rtol=1e-6, atol=1e-4)
    assert heads.GroupsFromYears(matrix).names == ("probabilities", "age")


@pytest.mark.parametrize("inner", ["softmax", "ordinal"])
def test_representative_age_weights_each_groups_age(rng, inner):
    ages = np.array([3.0, 18.5, 40.0, 70.0])
    if inner == "softmax":
        z, groups = rng.normal(size=(5, 4)), heads.ClassProbabilities()
        expected_p = _softmax(z)
    else:
        z, groups = rng.normal(size=(5, 3)), heads.OrdinalProbabilities()
        expected_p = _apply(heads.OrdinalProbabilities(), z)[0]
    p, age = _apply(heads.RepresentativeAge(groups, ages), z)
    np.testing.assert_allclose(p, expected_p, atol=1e-6)
    np.testing.assert_allclose(age, expected_p @ ages, rtol=1e-6, atol=1e-5)


def test_multi_task_names_and_applies_each_slices_head(rng):
    slices = {"age": (0, 117), "gender": (117, 119), "race": (119, 124)}
    head = heads.MultiTask(slices, {"age": heads.ExpectedAge(117),
                                    "gender": heads.ClassProbabilities(),
                                    "race": heads.ClassProbabilities()})
    assert head.names == ("age", "gender_probabilities", "race_probabilities")
    z = rng.normal(size=(4, 124)) * 2
    age, gender, race = _apply(head, z)
    np.testing.assert_allclose(age, _softmax(z[:, :117]) @ np.arange(117), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(gender, _softmax(z[:, 117:119]), atol=1e-6)
    np.testing.assert_allclose(race, _softmax(z[:, 119:]), atol=1e-6)
    scalar = heads.MultiTask({"race": (0, 3), "age": (3, 4)},
                             {"race": heads.ClassProbabilities(),
                              "age": heads.ScalarAge(30.0, 10.0, max_age=116)})
    assert scalar.names == ("race_probabilities", "age")
    np.testing.assert_allclose(_apply(scalar, z[:, :4])[1], np.clip(z[:, 3] * 10 + 30, 0, 116),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="one head per slice"):
        heads.MultiTask(slices, {"age": heads.ExpectedAge(117)})


def test_heads_hold_no_weights_and_predict_float32_numpy(rng):
    every = [heads.ClassProbabilities(), heads.ExpectedAge(117),
             heads.ScalarAge(30.0, 10.0), heads.OrdinalProbabilities(),
             heads.GroupsFromYears(np.eye(117)[:, :3]),
             heads.RepresentativeAge(heads.ClassProbabilities(), [1.0, 2.0, 3.0])]
    widths = [3, 117, 1, 2, 117, 3]
    for head, width in zip(every, widths, strict=True):
        assert head.state_dict() == {} and not list(head.parameters())
        out = head.predict(rng.normal(size=(4, width)))  # float64 numpy in
        assert list(out) == list(head.names)
        assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 and len(v) == 4
                   for v in out.values())


def test_nets_heads_import_neither_scikit_learn_nor_skorch():
    source = (SKFACE / "nets" / "heads.py").read_text()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "collections", "numpy", "torch"}


# --------------------------------------------------------------------------- estimators


class MyGender(GenderClassifier):
    """A user's subclass, changing nothing."""


class MyAgeBinner(AgeBinner):
    """A user's subclass, changing nothing."""


class MyFaceAttributes(FaceAttributes):
    """A user's subclass, changing nothing."""


def _accelerated(name: str):
    accelerate = pytest.importorskip("accelerate")
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    return lambda **kw: getattr(skface, name)(accelerator=accelerate.Accelerator(cpu=True), **kw)


# (maker, params, target column of make_faces' labels)
CASES = {
    "gender": (GenderClassifier, {}, "gender_name"),
    "race": (RaceClassifier, {}, "race"),
    "age dex": (AgeRegressor, {}, "age"),
    "age l1": (AgeRegressor, {"criterion": "l1"}, "age"),
    "groups years": (AgeBinner, {}, "age"),
    "groups softmax": (AgeBinner, {"head": "softmax"}, "age"),
    "groups ordinal": (AgeBinner, {"head": "ordinal"}, "age"),
    "all dex": (FaceAttributes, {}, ["age", "gender", "race"]),
    "all l1": (FaceAttributes, {"criterion__age_loss": "l1"}, ["age", "gender", "race"]),
    "subclass gender": (MyGender, {}, "gender_name"),
    "subclass groups": (MyAgeBinner, {"head": "ordinal"}, "age"),
    "subclass all": (MyFaceAttributes, {}, ["gender", "age"]),
    "accelerated gender": ("AcceleratedGenderClassifier", {}, "gender_name"),
    "accelerated age": ("AcceleratedAgeRegressor", {}, "age"),
    "accelerated groups": ("AcceleratedAgeBinner", {}, "age"),
    "accelerated all": ("AcceleratedFaceAttributes", {}, ["age", "gender", "race"]),
}

EXPECTED_TASKS = {  # kind, (task name, task kind, output) of each task
    GenderClassifier: ("classification", [("gender", "classification", "probabilities")]),
    RaceClassifier: ("classification", [("race", "classification", "probabilities")]),
    AgeRegressor: ("regression", [("age", "regression", "age")]),
    AgeBinner: ("classification", [("age_group", "classification", "probabilities"),
                                   ("age", "regression", "age")]),
}


@pytest.fixture(scope="module")
def faces():
    from skface.datasets import make_faces

    return make_faces(90, size=32, random_state=4)


def _fit(case: str, faces):
    maker, params, column = CASES[case]
    if isinstance(maker, str):
        maker = _accelerated(maker)
    X, y = faces
    target = y[column]
    if isinstance(column, list):
        target = target.astype({c: int for c in column if c != "age"})
    return maker(**FAST, **params).fit(X, target)


def _base(est) -> type:
    return next(c for c in type(est).__mro__ if c in EXPECTED_TASKS or c is FaceAttributes)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_predict_and_onnx_go_through_the_declared_head(case, faces, tmp_path):
    est = _fit(case, faces)
    X = faces[0][:9]
    task, head = est.task_, est.output_head_
    assert isinstance(head, heads.OutputHead)
    outputs = est.predict_outputs(X)
    assert list(outputs) == list(head.names)
    assert {t.output for t in task.tasks} <= set(head.names)
    base = _base(est)
    if base is FaceAttributes:
        assert task.kind == "multi-task" and [t.name for t in task.tasks] == est.tasks_
        assert task.classes == {t: c for t, c in est.classes_.items()}
        pred, proba = est.predict(X), est.predict_proba(X)
        for t in task.tasks:
            if t.kind == "regression":
                np.testing.assert_array_equal(pred[t.name], outputs[t.output])
            else:
                assert (pred[t.name] == est.classes_[t.name][outputs[t.output].argmax(1)]).all()
                np.testing.assert_array_equal(proba[t.name], outputs[t.output])
    else:
        kind, expected = EXPECTED_TASKS[base]
        assert task.kind == kind
        assert [(t.name, t.kind, t.output) for t in task.tasks] == expected
        if kind == "classification":
            assert task.classes.tolist() == est.classes_.tolist()
            np.testing.assert_array_equal(est.predict_proba(X), outputs["probabilities"])
            assert (est.predict(X) == est.classes_[outputs["probabilities"].argmax(1)]).all()
        if "age" in outputs:
            age = est.predict(X) if kind == "regression" else est.predict_age(X)
            assert age.dtype == np.float64
            np.testing.assert_array_equal(age, outputs["age"])
    # the graph: the same head, traced
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "model.onnx"
    names = skface.export_onnx(est, path)
    assert names == list(head.names)
    for n in (1, 9):
        got = dict(zip(names, ort.InferenceSession(str(path)).run(None, {"images": X[:n]}),
                       strict=True))
        for name in names:
            atol = 1e-3 if name == "age" else TOL
            np.testing.assert_allclose(got[name], outputs[name][:n], atol=atol)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["kind"] == task.kind
    assert [t["name"] for t in json.loads(meta["tasks"])] == [t.name for t in task.tasks]
    assert meta["estimator"] == type(est).__name__


def test_task_and_head_need_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    for est in (GenderClassifier(), MyAgeBinner(), FaceAttributes()):
        with pytest.raises(NotFittedError):
            est.task_  # noqa: B018
        with pytest.raises(NotFittedError):
            est.output_head_  # noqa: B018
        assert not hasattr(est, "task_")


def test_export_onnx_refuses_what_is_not_a_skface_estimator(tmp_path):
    pytest.importorskip("onnxscript")
    from sklearn.dummy import DummyClassifier

    foreign = DummyClassifier().fit([[0], [1]], [0, 1])
    foreign.n_outputs_ = 1
    with pytest.raises(TypeError, match="needs a fitted skface estimator"):
        skface.export_onnx(foreign, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- reports


@pytest.fixture
def labelled(synthetic_paths):
    from skface.datasets import load_utkface

    return load_utkface(Path(synthetic_paths[0]).parent)


REPORT_CASES = {  # maker, params, the frame's target column(s), the tasks reported
    "accelerated gender": ("AcceleratedGenderClassifier", {}, "gender", ["gender"]),
    "accelerated groups": ("AcceleratedAgeBinner", {}, "age", ["age_group", "age"]),
    "subclass gender": (MyGender, {}, "gender_name", ["gender"]),
    "subclass groups": (MyAgeBinner, {"head": "softmax"}, "age", ["age_group", "age"]),
    "subclass all": (MyFaceAttributes, {}, ["race", "age"], ["race", "age"]),
}


def _fit_pipeline(case: str, frame: pd.DataFrame):
    maker, params, column, _ = REPORT_CASES[case]
    if isinstance(maker, str):
        maker = _accelerated(maker)
    y = frame[column]
    if isinstance(column, list):
        y = y.astype({c: int for c in column if c != "age"})
    return make_pipeline(ImageLoader(size=24), maker(**FAST, **params)).fit(frame["path"], y)


def _expected_metrics(pipe, frame: pd.DataFrame) -> dict[str, float]:
    est = pipe[-1]
    X = pipe[:-1].transform(frame["path"])
    base = _base(est)
    if base is FaceAttributes:
        pred = est.predict(X)
        return {t: (np.abs(pred[t] - frame["age"]).mean() if t == "age"
                    else (pred[t].to_numpy() == frame[t].to_numpy()).mean())
                for t in pred.columns}
    if base is AgeBinner:
        groups = est.classes_[est.bin_encoder_.transform(frame["age"].to_numpy(float))]
        return {"age_group": (est.predict(X) == groups).mean(),
                "age": np.abs(est.predict_age(X) - frame["age"]).mean()}
    column = "gender_name" if est.classes_.dtype.kind in "OU" else "gender"
    return {"gender": (est.predict(X) == frame[column].to_numpy()).mean()}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_evaluate_model_reports_subclasses_from_their_declared_task(case, labelled, tmp_path):
    from skface._reports import evaluate_model

    pipe = _fit_pipeline(case, labelled)
    report = evaluate_model(pipe, labelled, tmp_path / "report", plots=False)
    assert list(report["tasks"]) == REPORT_CASES[case][3]
    assert report["estimator"] == type(pipe[-1]).__name__
    assert report["kind"] == pipe[-1].task_.kind
    for task, value in _expected_metrics(pipe, labelled).items():
        assert report["tasks"][task]["value"] == pytest.approx(value)
        assert report["tasks"][task]["n"] == len(labelled)
    table = pd.read_csv(tmp_path / "report" / "predictions.csv")
    assert [f"predicted_{t}" in table for t in report["tasks"]] == [True] * len(report["tasks"])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["accelerated gender", "subclass groups"])
def test_skface_evaluate_takes_subclasses(case, labelled, synthetic_dir, tmp_path, capsys):
    import joblib

    from skface._cli import main

    pipe = _fit_pipeline(case, labelled)
    model = tmp_path / "model.joblib"
    joblib.dump(pipe, model)
    out = tmp_path / "report"
    assert main(["evaluate", str(model), str(synthetic_dir), "-o", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert list(report["tasks"]) == REPORT_CASES[case][3]
    for task in report["tasks"]:
        assert printed.count(f"{task}: ") == 1


def test_evaluate_model_refuses_what_is_not_a_skface_estimator(labelled, tmp_path):
    from sklearn.dummy import DummyClassifier
    from sklearn.preprocessing import FunctionTransformer

    from skface._reports import evaluate_model

    pipe = make_pipeline(FunctionTransformer(lambda p: np.zeros((len(p), 1))),
                         DummyClassifier()).fit(labelled["path"], labelled["gender"])
    with pytest.raises(ValueError, match="expected a fitted skface estimator"):
        evaluate_model(pipe, labelled, tmp_path / "report", plots=False)
    assert not (tmp_path / "report").exists()


# --------------------------------------------------------------------------- surfaces

SURFACES = ("_onnx.py", "_reports.py", "_cli.py", "plots.py", "_safe_io.py", "_demo.py",
            "_draw.py", "_model_description.py", "_model_checks.py", "_cli_parser.py")


def _estimator_class_names() -> set[str]:
    from skface import _accelerate, _age_estimators, _classifiers, _multitask
    from skface._engine import FaceNetBase

    modules = (_classifiers, _age_estimators, _multitask, _accelerate)
    return {name for module in modules for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, FaceNetBase)}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _names_a_class(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in ("__name__", "__qualname__")
               for n in ast.walk(node))


@pytest.mark.parametrize("filename", SURFACES)
def test_no_surface_dispatches_on_an_estimators_class_name(filename):
    names = _estimator_class_names()
    assert {"GenderClassifier", "AgeBinner", "FaceAttributes",
            "AcceleratedAgeRegressor"} <= names
    tree = ast.parse((SKFACE / filename).read_text())
    docstrings = _docstrings(tree)
    problems = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            named = names & set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", node.value))
            if named:
                problems.append(f"line {node.lineno}: the string {node.value!r} names {named}")
        # a class's name compared, or looked up: dispatch on what a class is called
        if isinstance(node, ast.Compare) and _names_a_class(node):
            problems.append(f"line {node.lineno}: compares a class's __name__")
        if isinstance(node, ast.Subscript) and _names_a_class(node.slice):
            problems.append(f"line {node.lineno}: looks a class's __name__ up")
    assert not problems, f"{filename}: " + "; ".join(problems)


def test_each_command_line_target_trains_a_skface_estimator():
    from skface._cli_parser import TARGETS

    for target, (estimator, _) in TARGETS.items():
        assert issubclass(estimator(), skface._engine.FaceNetBase), target
