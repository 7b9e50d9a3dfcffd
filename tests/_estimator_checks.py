"""scikit-learn's data-based estimator checks, adapted to images.

scikit-learn's ``check_estimator`` feeds 2-D float tables; skface's estimators take
batches of images ``(n, height, width, channels)`` (or paths, or ages), so the checks
that need data skip them all. The checks here are those of scikit-learn's that apply
(fit idempotence, subset and sample-order invariance, pickling, dtype and label-type
handling, shape consistency, unfitted use, parameters left alone, sample weights, empty
data), rewritten for tiny images, the way imbalanced-learn's ``estimator_checks.py``
rewrites them for its samplers. Which checks an estimator gets, and the data it gets,
follow from what it is (its tags and base classes), never from its name:
:func:`checks_for` yields them.

Each check is ``check(name, estimator, data)`` and raises AssertionError (or the
estimator's own error) on failure.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError

import skface
from skface._engine import FaceNetBase

# methods whose results the invariance checks compare, where an estimator has them
RESULT_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                  "predict_outputs", "predict_age", "transform")
# every method that needs a fitted estimator, where it has it
FITTED_METHODS = (*RESULT_METHODS, "score", "inverse_transform")

N_SAMPLES = 24
IMAGE_SIZE = 16  # the smallest make_faces draws


class CheckData:
    """The data every check draws from: tiny synthetic faces, their labels, their files.

    Parameters
    ----------
    folder : Path
        Where the faces are written as UTKFace-named files (for the transformers that
        read paths).
    """

    def __init__(self, folder: Path):
        self.X, self.labels = skface.datasets.make_faces(
            N_SAMPLES, size=IMAGE_SIZE, random_state=0)
        self.X.setflags(write=False)  # no check may change the shared images
        self.labels = self.labels.reset_index(drop=True)
        # two race groups that every split holds (the synthetic race codes are 0..4)
        self.labels["race"] = (np.arange(N_SAMPLES) % 3).astype(np.int64)
        self.labels["gender"] = (np.arange(N_SAMPLES) % 2).astype(np.int64)
        frame = skface.datasets.make_faces(N_SAMPLES, size=IMAGE_SIZE, random_state=0,
                                           directory=folder)
        self.paths = [str(p) for p in frame["path"]]
        self._fitted: dict[str, object] = {}

    # -------------------------------------------------------------- what to feed

    def target(self, estimator, rows=slice(None)):
        """The ``y`` an estimator of this kind learns from."""
        kind = target_kind(estimator)
        labels = self.labels.iloc[rows].reset_index(drop=True)
        if kind == "table":
            return labels[["age", "gender", "race"]]
        if kind == "labels":
            # three classes, or two for a classifier whose task has two (its tags say)
            multi = estimator.__sklearn_tags__().classifier_tags.multi_class
            return labels["race" if multi else "gender"].to_numpy()
        return labels["age"].to_numpy(dtype=np.float64)

    def inputs(self, estimator):
        """The ``X`` of a transformer, or the images of a network."""
        kind = input_kind(estimator)
        if kind == "ages":
            return self.labels["age"].to_numpy(dtype=np.float64)
        if kind == "paths":
            return list(self.paths)
        return self.X

    def fit(self, estimator, X=None, y=None, **fit_params):
        """Fit ``estimator`` on the shared data (or on ``X``/``y``), silently."""
        X = self.inputs(estimator) if X is None else X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", skface.exceptions.SyntheticModelWarning)
            if input_kind(estimator) == "ages":
                return estimator.fit(X)
            if not is_network(estimator) and not estimator.__sklearn_tags__(
                    ).target_tags.required:
                return estimator.fit(X)
            y = self.target(estimator) if y is None else y
            return estimator.fit(X, y, **fit_params)

    def fitted(self, name: str, estimator):
        """A fitted clone of ``estimator``, fitted once per check run and shared by the
        checks that only read it (each gets its own copy)."""
        key = f"{name}:{estimator!r}"
        if key not in self._fitted:
            self._fitted[key] = pickle.dumps(self.fit(clone(estimator)))
        return pickle.loads(self._fitted[key])


def is_network(estimator) -> bool:
    return isinstance(estimator, FaceNetBase)


def target_kind(estimator) -> str:
    """``"table"`` (a label table), ``"labels"`` (class labels) or ``"ages"`` (years)."""
    tags = estimator.__sklearn_tags__()
    if tags.target_tags.multi_output and not tags.target_tags.single_output:
        return "table"
    if is_classifier(estimator):
        return "labels"
    return "ages"


def input_kind(estimator) -> str:
    """``"images"`` (networks), ``"paths"`` (file readers) or ``"ages"`` (a target
    transformer: it is fitted on ``y``)."""
    if is_network(estimator):
        return "images"
    tags = estimator.__sklearn_tags__()
    if tags.input_tags.string:
        return "paths"
    if tags.target_tags.one_d_labels:
        return "ages"
    raise ValueError(f"no data-based checks know how to feed {type(estimator).__name__}")


def _methods(estimator, names=RESULT_METHODS) -> list[str]:
    return [m for m in names if hasattr(estimator, m)]


def _results(estimator, X, methods=None) -> dict[str, np.ndarray]:
    """Every result method's output on ``X`` as flat arrays, keyed by method (and key)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skface.exceptions.SyntheticModelWarning)
        for method in methods or _methods(estimator):
            value = getattr(estimator, method)(X)
            if isinstance(value, dict):
                out.update({f"{method}[{k}]": np.asarray(v) for k, v in value.items()})
            elif isinstance(value, pd.DataFrame):
                out.update({f"{method}[{c}]": value[c].to_numpy() for c in value.columns})
            else:
                out[method] = np.asarray(value)
    return out


def _assert_same(a: dict, b: dict, what: str, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys(), (what, sorted(a), sorted(b))
    for key in a:
        if a[key].dtype.kind in "fc":
            np.testing.assert_allclose(a[key], b[key], atol=atol, err_msg=f"{what}: {key}")
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{what}: {key}")


def _take(values, index):
    if isinstance(values, list):
        return [values[i] for i in index]
    if isinstance(values, (pd.DataFrame, pd.Series)):
        return values.iloc[index].reset_index(drop=True)
    return values[index]


def _rows(results: dict, index) -> dict:
    return {k: v[index] for k, v in results.items()}


# --------------------------------------------------------------------------- every estimator


def check_estimators_unfitted(name, estimator, data):
    """Every method that needs a fit raises NotFittedError before it (scikit-learn's
    ``check_estimators_unfitted``, for every such method, ``score`` included)."""
    if not estimator.__sklearn_tags__().requires_fit:
        data.fit(estimator)  # a stateless transformer: fit only validates
        return
    X, y = data.inputs(estimator), data.target(estimator)
    for method in _methods(estimator, FITTED_METHODS):
        args = (X, y) if method == "score" else (X,)
        with pytest.raises(NotFittedError):
            getattr(clone(estimator), method)(*args)


def check_fit_returns_self(name, estimator, data):
    assert data.fit(estimator) is estimator


def check_fit_idempotent(name, estimator, data):
    """Fitting twice with the same data and seed gives the same results."""
    X = data.inputs(estimator)
    first = _results(data.fit(clone(estimator)), X)
    again = data.fit(data.fit(clone(estimator)))  # refitted, not trained further
    _assert_same(first, _results(again, X), "refit")


def check_methods_subset_invariance(name, estimator, data):
    """Results on a few samples equal the same rows of results on all of them."""
    model = data.fitted(name, estimator)
    X = data.inputs(estimator)
    whole = _results(model, X)
    for part in (np.arange(0, 5), np.arange(7, 19), np.array([3])):
        _assert_same(_rows(whole, part), _results(model, _take(X, part)), "subset")


def check_methods_sample_order_invariance(name, estimator, data):
    """Shuffling the samples shuffles the results alike."""
    model = data.fitted(name, estimator)
    X = data.inputs(estimator)
    order = np.random.default_rng(0).permutation(len(X))
    _assert_same(_rows(_results(model, X), order), _results(model, _take(X, order)), "order")


def check_estimators_pickle(name, estimator, data):
    """A fitted estimator gives the same results after a pickle round trip."""
    model = data.fitted(name, estimator)
    X = data.inputs(estimator)
    before = _results(model, X)
    again = pickle.loads(pickle.dumps(model))
    _assert_same(before, _results(again, X), "pickle")


def check_dont_overwrite_parameters(name, estimator, data):
    """fit leaves the parameters as they were set."""
    before = {k: repr(v) for k, v in estimator.get_params(deep=False).items()}
    data.fit(estimator)
    after = {k: repr(v) for k, v in estimator.get_params(deep=False).items()}
    assert before == after


def check_estimators_empty_data(name, estimator, data):
    """Fitting on no sample raises ValueError."""
    X = data.inputs(estimator)
    with pytest.raises(ValueError):
        data.fit(estimator, X=_take(X, np.arange(0)), y=_take(data.target(estimator),
                                                               np.arange(0)))


# --------------------------------------------------------------------------- transformers


def check_feature_names_out_match_the_output(name, estimator, data):
    """``get_feature_names_out`` names one feature per value of a sample's output."""
    model = data.fitted(name, estimator)
    out = model.transform(data.inputs(estimator))
    names = model.get_feature_names_out()
    width = len(out.columns) if isinstance(out, pd.DataFrame) else int(
        np.prod(np.shape(out)[1:]))
    assert len(names) == width == len(set(names))
    assert all(isinstance(n, str) for n in names)


# --------------------------------------------------------------------------- networks


def check_image_shape_consistency(name, estimator, data):
    """The fitted image shape is kept; other shapes, tables and y of another length are
    refused with ValueError (scikit-learn's n_features_in_ checks, for images)."""
    model = data.fitted(name, estimator)
    assert tuple(model.image_shape_) == data.X.shape[1:]
    X = data.X
    for wrong in (X[:, :8], X[..., :1], X.reshape(len(X), -1)):
        with pytest.raises(ValueError):
            _results(model, wrong, ["predict"])
    with pytest.raises(ValueError):
        data.fit(clone(estimator), X=X.reshape(len(X), -1))
    with pytest.raises(ValueError):
        data.fit(clone(estimator), X=X[:-1])


def check_dtype_and_layout_invariance(name, estimator, data):
    """Read-only, non-contiguous and differently typed copies of the same pixel values
    give the same results."""
    model = data.fitted(name, estimator)
    X = data.X
    base = _results(model, X)
    wide = np.zeros((*X.shape[:3], 6), dtype=np.uint8)
    wide[..., ::2] = X
    variants = {
        "writable copy": X.copy(),
        "not contiguous": wide[..., ::2],
        "Fortran order": np.asfortranarray(X),
        "int64": X.astype(np.int64),
    }
    for what, variant in variants.items():
        _assert_same(base, _results(model, variant), what)
    unit = X.astype(np.float64) / 255.0
    _assert_same(_results(model, unit), _results(model, unit.astype(np.float32)),
                 "float32 and float64")


def check_label_types(name, estimator, data):
    """Labels of any type give the same model, and results in that type: codes, text,
    categoricals (classifiers and label tables); int or float years (ages)."""
    X = data.X
    kind = target_kind(estimator)
    codes = data.target(estimator)
    base = _results(data.fit(clone(estimator)), X)
    if kind == "ages":
        model = data.fit(clone(estimator), y=np.asarray(codes).astype(np.int64))
        _assert_same(base, _results(model, X), "int ages")
        return
    names = np.array(["a", "b", "c", "d", "e"], dtype=object)
    if kind == "labels":
        variants = {"text": names[codes], "categorical": pd.Series(names[codes],
                                                                 dtype="category"),
                    "float codes": np.asarray(codes, dtype=np.float64)}
    else:
        text = codes.copy()
        text["race"] = names[text["race"].to_numpy()]
        variants = {"text": text, "float codes": codes.astype({"gender": np.float64})}
    for what, y in variants.items():
        model = data.fit(clone(estimator), y=y)
        results = _results(model, X)
        for key in base:
            if base[key].dtype.kind in "fc" and results[key].dtype.kind in "fc":
                np.testing.assert_allclose(results[key], base[key], atol=1e-5, err_msg=what)
        predicted = model.predict(X)
        column = predicted["race"] if kind == "table" else pd.Series(predicted)
        given = y["race"] if kind == "table" else pd.Series(np.asarray(y))
        assert set(column.tolist()) <= set(given.tolist()), what


def check_classifiers_regression_target(name, estimator, data):
    """A continuous target is refused as scikit-learn's classifiers refuse it."""
    kind = target_kind(estimator)
    if kind not in ("labels", "table"):
        return
    continuous = data.labels["age"].to_numpy(dtype=np.float64) + 0.5
    y = continuous
    if kind == "table":
        y = data.target(estimator).astype({"race": np.float64})
        y["race"] = continuous
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        data.fit(clone(estimator), y=y)


def check_score_counts_unseen_labels_as_errors(name, estimator, data):
    """``score`` is mean accuracy: a true label the model never saw is an error, not an
    exception (a cross-validation test fold may hold a class its training fold lacks)."""
    if target_kind(estimator) != "labels":
        return
    model = data.fitted(name, estimator)
    X = data.X
    y = np.asarray(data.target(estimator)).copy()
    unseen = int(np.max(model.classes_)) + 1
    y[:4] = unseen
    predicted = model.predict(X)
    expected = float(np.mean(predicted == y))
    assert model.score(X, y) == pytest.approx(expected)


def check_sample_weights_ones(name, estimator, data):
    """Weights of one give the model of no weights."""
    X = data.X
    plain = _results(data.fit(clone(estimator)), X)
    weighted = data.fit(clone(estimator), sample_weight=np.ones(len(X)))
    _assert_same(plain, _results(weighted, X), "sample_weight=1", atol=1e-4)


COMMON_CHECKS: tuple[Callable, ...] = (
    check_estimators_unfitted,
    check_fit_returns_self,
    check_fit_idempotent,
    check_methods_subset_invariance,
    check_methods_sample_order_invariance,
    check_estimators_pickle,
    check_dont_overwrite_parameters,
    check_estimators_empty_data,
)
NETWORK_CHECKS: tuple[Callable, ...] = (
    check_image_shape_consistency,
    check_dtype_and_layout_invariance,
    check_label_types,
    check_classifiers_regression_target,
    check_score_counts_unseen_labels_as_errors,
    check_sample_weights_ones,
)
TRANSFORMER_CHECKS: tuple[Callable, ...] = (check_feature_names_out_match_the_output,)

ALL_CHECKS = COMMON_CHECKS + NETWORK_CHECKS + TRANSFORMER_CHECKS


def checks_for(estimator) -> Iterator[Callable]:
    """The checks that apply to ``estimator``, by what it is."""
    yield from COMMON_CHECKS
    if is_network(estimator):
        yield from NETWORK_CHECKS
    elif input_kind(estimator) != "ages" and hasattr(estimator, "transform"):
        yield from TRANSFORMER_CHECKS  # a transformer of X (not of the target)
