"""scikit-learn's API rules, checked on every estimator skface exports.

The estimators are discovered from ``skface.__all__`` (and the ``__all__`` of the public
modules it lists), as imbalanced-learn's ``all_estimators`` does, so a new estimator is
checked as soon as it is exported; a test below fails for an estimator class that skface
defines without exporting it.

scikit-learn's own checks run where they need no data: skface's estimators take images,
file paths or target vectors, not the 2-D float arrays its data-based checks feed in.
Those data-based checks that apply are adapted to tiny images in
``tests/_estimator_checks.py`` and run over the same discovered estimators.
Expected failures are listed in EXPECTED_FAILED_CHECKS and EXPECTED_FAILED_DATA_CHECKS
by check and estimator kind, each with its reason.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils import estimator_checks as ec
from skorch import NeuralNet
from skorch.hf import AccelerateMixin

import skface
from skface import AgeBinEncoder

from . import _estimator_checks as _checks
from .conftest import TinyNet


def all_estimators() -> list[tuple[str, type]]:
    """``(name, class)`` of every scikit-learn estimator that skface exports, sorted."""
    modules = [skface, *(getattr(skface, n) for n in skface.__all__
                         if inspect.ismodule(getattr(skface, n)))]
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (inspect.isclass(obj) and issubclass(obj, BaseEstimator)
                    and not inspect.isabstract(obj)):
                found[name] = obj
    return sorted(found.items())


ESTIMATORS = all_estimators()


def estimator_kinds(cls: type) -> set[str]:
    """What an estimator is built on: every one is a scikit-learn estimator; skface's
    networks are skorch NeuralNets; the Accelerated ones train through skorch's
    AccelerateMixin."""
    kinds = {"scikit-learn"}
    if issubclass(cls, NeuralNet):
        kinds.add("skorch")
    if issubclass(cls, AccelerateMixin):
        kinds.add("accelerate")
    return kinds


# Non-default parameters where that exercises more; every estimator is also checked with
# its defaults. Optional: an estimator missing here is still checked.
MORE_PARAMETERS: dict[str, list[dict]] = {
    "ImageLoader": [
        {"size": 32, "color": "grayscale", "fit_mode": "pad", "fill": (1, 2, 3), "cache": False},
    ],
    "FaceCropper": [{"size": 64, "margin": 0.2, "multiple": "all", "no_face": "full"},
                    {"detector": "yunet", "min_confidence": 0.7}],
    "UTKFaceLabelDecoder": [{"columns": ("race",), "labels": "names"}],
    "AgeBinEncoder": [{"bins": "balanced", "n_bins": 4}, {"bins": [0, 18, 65, np.inf]}],
    "GenderClassifier": [
        {"module": "bn_cnn", "module__dropout": 0.1, "optimizer__weight_decay": 0.05},
    ],
    "AgeRegressor": [{"criterion": "huber", "augment": {"flip": True}}],
    "AgeBinner": [{"bins": "balanced", "n_bins": 5, "head": "ordinal"}],
}


# Arguments an estimator cannot be built without (scikit-learn's stacking takes its
# members): each estimator is built with these plus the parameters of its case.
REQUIRED_PARAMETERS: dict[str, Callable[[], dict]] = {
    "FaceStackingClassifier": lambda: {
        "task": "gender", "estimators": [("pretrained", skface.PretrainedGenderClassifier())],
        "final_estimator": LogisticRegression(), "cv": 2},
    "FaceStackingRegressor": lambda: {
        "task": "age", "estimators": [("pretrained", skface.PretrainedAgeRegressor())],
        "final_estimator": Ridge(), "cv": 2},
}


def _build(cls: type, **params):
    return cls(**{**REQUIRED_PARAMETERS.get(cls.__name__, dict)(), **params})


def _instance_id(cls: type, params: dict) -> str:
    return f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


# (class, params), one per estimator with its defaults, then the extra parameter sets;
# the accelerate variants need accelerate only to fit, not to be built.
CASES = [(cls, {}) for _, cls in ESTIMATORS] + [
    (cls, params) for name, cls in ESTIMATORS for params in MORE_PARAMETERS.get(name, [])]
INSTANCES = [pytest.param(_build(cls, **params), id=_instance_id(cls, params))
             for cls, params in CASES]

DATA_FREE_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_parameters_default_constructible,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_mixin_order,
    ec.check_do_not_raise_errors_in_init_or_set_params,
]

# (estimator kind, check name) -> why every estimator of that kind fails that check. Add
# an entry, with its reason, rather than skip a check silently; a check that passes
# again fails its test until the entry is removed.
EXPECTED_FAILED_CHECKS: dict[tuple[str, str], str] = {
    ("skorch", "check_no_attributes_set_in_init"): (
        "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_ and "
        "stores dunder parameters (module__*, optimizer__*) as attributes; skface follows "
        "skorch's subclassing rules and forwards **kwargs to it unchanged"
    ),
    ("skorch", "check_do_not_raise_errors_in_init_or_set_params"): (
        "skorch's set_params builds the callbacks as soon as `callbacks` or a "
        "`callbacks__*` parameter (the Accelerated estimators' callbacks__print_log__sink) "
        "is set, from the values of the others, so a value that fit would refuse can raise "
        "there; set_params of any other parameter only stores it, and fit checks it"
    ),
    ("accelerate", "check_get_params_invariance"): (
        "skorch's AccelerateMixin stores callbacks__print_log__sink='auto' (resolved to the "
        "main process's print in initialize), while get_params(deep=True) reports the "
        "PrintLog callback's own default, print; skorch's behaviour, kept as it is"
    ),
    ("accelerate", "check_parameters_default_constructible"): (
        "the same: AccelerateMixin's signature declares callbacks__print_log__sink='auto' "
        "and stores it unchanged, while get_params(deep=True), which this check reads, "
        "reports the PrintLog callback's own default, print"
    ),
}

# BaseEstimator subclasses with public names that skface defines but does not export,
# with why they are not checked on their own.
INTERNAL_BASES: dict[str, str] = {
    "skface._engine.FaceNetBase": "the shared engine the network estimators subclass; it "
                                  "encodes no target and is not used directly",
    "skface._engine._task.FaceEstimator": "the engine with a target: each estimator says "
                                          "which target it learns; not used directly",
}


def expected_failure(cls: type, check_name: str) -> str | None:
    reasons = [EXPECTED_FAILED_CHECKS.get((kind, check_name)) for kind in estimator_kinds(cls)]
    return next((r for r in reasons if r), None)


def _id(obj) -> str:
    return getattr(obj, "__name__", None) or repr(obj)


@pytest.mark.parametrize("estimator", INSTANCES)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=_id)
def test_data_free_sklearn_checks(estimator, check):
    name = type(estimator).__name__
    reason = expected_failure(type(estimator), check.__name__)
    if reason:
        with pytest.raises((AssertionError, AttributeError, TypeError)):
            check(name, clone(estimator))
        pytest.xfail(reason)  # it failed as documented; if it passes, remove the entry
    check(name, clone(estimator))


@pytest.mark.parametrize("estimator", INSTANCES)
def test_tags_declare_non_tabular_input(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.two_d_array is False


@pytest.mark.parametrize("estimator", INSTANCES)
def test_pickle_round_trip_keeps_parameters(estimator):
    again = pickle.loads(pickle.dumps(estimator))
    assert repr(again) == repr(estimator)


def test_fitted_age_bin_encoder_pickles_with_its_state():
    enc = AgeBinEncoder("balanced", n_bins=3).fit([1, 2, 3, 10, 20, 30, 40, 50, 60])
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(again.bin_edges_, enc.bin_edges_)
    np.testing.assert_array_equal(again.transform([5, 45]), enc.transform([5, 45]))


# --------------------------------------------------------------------------- coverage


def _defined_estimator_classes() -> dict[str, type]:
    """Every BaseEstimator subclass with a public name defined in any skface module."""
    found = {}
    for info in pkgutil.walk_packages(skface.__path__, "skface."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, BaseEstimator) and obj.__module__.startswith("skface")
                    and not obj.__name__.startswith("_")):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_estimator_class_skface_defines_is_exported_and_so_checked():
    defined = _defined_estimator_classes()
    exported = {cls for _, cls in ESTIMATORS}
    unchecked = sorted(name for name, cls in defined.items()
                       if cls not in exported and name not in INTERNAL_BASES)
    assert not unchecked, (
        f"estimator classes the common checks do not see: {unchecked}; export them in "
        "skface.__all__ (or a public module's __all__), or name them in INTERNAL_BASES "
        "with a reason")
    assert set(INTERNAL_BASES) <= set(defined), "INTERNAL_BASES names a class that is gone"
    assert len(exported) == len(ESTIMATORS) > 0


def test_expected_failures_and_extra_parameters_name_what_exists():
    kinds = set().union(*(estimator_kinds(cls) for _, cls in ESTIMATORS))
    checks = {check.__name__ for check in DATA_FREE_CHECKS}
    for kind, check in EXPECTED_FAILED_CHECKS:
        assert kind in kinds and check in checks, (kind, check)
    assert set(MORE_PARAMETERS) <= {name for name, _ in ESTIMATORS}
    assert set(REQUIRED_PARAMETERS) <= {name for name, _ in ESTIMATORS}


# --------------------------------------------------------------------------- data-based checks
# scikit-learn's checks that need data, adapted to tiny images (tests/_estimator_checks.py),
# run over every discovered estimator with the parameters below.

# Parameters the data-based checks fit with, by what an estimator is: the tests' tiny
# network for one epoch (fast), and what an estimator needs to fit at all here.
DATA_CHECK_PARAMETERS_BY_KIND: dict[str, Callable[[], dict]] = {
    "skorch": lambda: {"module": TinyNet, "max_epochs": 1, "verbose": 0,
                       "random_state": 0, "batch_size": 8},
    "accelerate": lambda: {"accelerator": _cpu_accelerator()},
}
# Parameters some estimators need for the synthetic data (none of them is a check).
DATA_CHECK_PARAMETERS: dict[str, dict] = {
    # the cartoon faces are no photos: crop the whole picture where no face is found
    "FaceCropper": {"no_face": "full"},
}

# (estimator kind, check name) -> why every estimator of that kind fails that check; run
# as strict expected failures, so a check that starts passing fails until removed here.
EXPECTED_FAILED_DATA_CHECKS: dict[tuple[str, str], str] = {}


def _cpu_accelerator():
    import accelerate

    return accelerate.Accelerator(cpu=True)


def _data_check_instance(cls: type):
    params = {}
    for kind in sorted(estimator_kinds(cls)):  # scikit-learn, skorch, then accelerate
        if kind in DATA_CHECK_PARAMETERS_BY_KIND:
            params.update(DATA_CHECK_PARAMETERS_BY_KIND[kind]())
    params.update(DATA_CHECK_PARAMETERS.get(cls.__name__, {}))
    return _build(cls, **params)


# The data-based checks fit each estimator several times: the default suite runs them
# for one classifier and one regressor, the slow suite for the others (the Accelerate
# twins included).
FAST_DATA_CHECKS = ("GenderClassifier", "AgeRegressor")


def _data_check_cases():
    for name, cls in ESTIMATORS:
        for check in _checks.checks_for(_build(cls)):  # what the class is, by its defaults
            reason = next((EXPECTED_FAILED_DATA_CHECKS[(kind, check.__name__)]
                           for kind in estimator_kinds(cls)
                           if (kind, check.__name__) in EXPECTED_FAILED_DATA_CHECKS), None)
            marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
            if name not in FAST_DATA_CHECKS:  # a classifier and a regressor by default
                marks.append(pytest.mark.slow)
            yield pytest.param(cls, check, id=f"{name}-{check.__name__}", marks=marks)


@pytest.fixture(scope="module")
def check_data(tmp_path_factory):
    return _checks.CheckData(tmp_path_factory.mktemp("estimator-checks"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("cls", "check"), list(_data_check_cases()))
def test_data_based_sklearn_checks(cls, check, check_data):
    if "accelerate" in estimator_kinds(cls):
        pytest.importorskip("accelerate")
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    estimator = _data_check_instance(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # validation splits of tiny data
        check(cls.__name__, estimator, check_data)


def test_data_based_checks_cover_every_estimator_and_name_what_exists():
    covered = {cls for cls, _ in ((p.values[0], p.values[1]) for p in _data_check_cases())}
    assert covered == {cls for _, cls in ESTIMATORS}
    kinds = set().union(*(estimator_kinds(cls) for _, cls in ESTIMATORS))
    names = {check.__name__ for check in _checks.ALL_CHECKS}
    for kind, check in EXPECTED_FAILED_DATA_CHECKS:
        assert kind in kinds and check in names, (kind, check)
    assert set(DATA_CHECK_PARAMETERS) <= {name for name, _ in ESTIMATORS}
