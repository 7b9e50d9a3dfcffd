"""The shared engine keeps skorch's and scikit-learn's contracts.

Each test uses the ordinary tools an experienced skorch or scikit-learn user reaches
for (callbacks, LR schedulers, checkpoints, scorers, iterator settings, predefined
validation sets, incremental fits) on a tiny network and random images.
"""

from __future__ import annotations

import io
import pickle
import re
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    LoadInitState,
    LRScheduler,
)
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader

from skface import AgeBinner, AgeRegressor, FaceAttributes, GenderClassifier, RaceClassifier

ESTIMATORS = [GenderClassifier, RaceClassifier, AgeRegressor, AgeBinner, FaceAttributes]


class TinyNet(nn.Module):
    """The smallest network following the registry's contract."""

    def __init__(self, *, n_outputs: int, in_channels: int = 3, width: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.head(self.features(x))


FAST = {"module": TinyNet, "max_epochs": 3, "verbose": 0, "random_state": 0,
        "batch_size": 16}


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)


@pytest.fixture
def genders():
    return np.arange(64) % 2


class Recorder(Callback):
    """Learning rates of every training batch, first rows of every training batch,
    validation indices of every epoch, and the epochs it saw."""

    def initialize(self):
        self.lrs, self.first_rows, self.valid_indices, self.epochs = [], [], [], []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs.append([g["lr"] for g in net.optimizer_.param_groups])
            self.first_rows.append(batch[0][:2].clone())

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        self.epochs.append(len(net.history))
        if dataset_valid is not None and hasattr(dataset_valid, "indices"):
            self.valid_indices.append(np.asarray(dataset_valid.indices).copy())


def recorded(net) -> Recorder:
    return dict(net.callbacks_)["rec"]


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(("name", "value"), [
    ("max_epochs", 0), ("max_epochs", -3), ("max_epochs", 2.5), ("batch_size", 0),
    ("batch_size", -2), ("lr", 0.0), ("lr", -1e-3), ("validation_fraction", 1.5),
    ("validation_fraction", 1.0), ("validation_fraction", -0.1), ("patience", 0),
    ("warmup_epochs", -1), ("mixup", -0.2), ("cutmix", -1), ("ema_decay", 1.0),
    ("ema_decay", 0), ("precision", "fp8"), ("augment", "yes"), ("tta", "no"),
    ("random_state", "seed"),
])
def test_parameters_are_validated_before_any_image_is_touched(Estimator, name, value):
    est = Estimator(**{**FAST, name: value})
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of {Estimator.__name__}"):
        est.fit("these are not images", None)  # the images would fail later, and differently


@pytest.mark.parametrize("augment", [{"nosuch": 1}, {"shift": -0.1}, {"flip": 0.5},
                                     {"rotate": float("nan")}])
def test_augment_dict_contents_are_validated(augment):
    with pytest.raises(ValueError, match="'augment' parameter of GenderClassifier"):
        GenderClassifier(**FAST, augment=augment).fit("not images", None)


def test_classifier_constraints_cover_distillation():
    with pytest.raises(InvalidParameterError, match="distill_weight"):
        GenderClassifier(**FAST, distill_weight=1.5).fit("x", None)
    with pytest.raises(InvalidParameterError, match="teacher"):
        GenderClassifier(**FAST, teacher="a string").fit("x", None)


def test_the_engine_docstring_lists_every_skorch_method_it_overrides():
    from skorch import NeuralNet

    import skface._engine as engine
    from skface._engine import FaceNetBase

    skorch_names = {name for cls in NeuralNet.__mro__ if cls.__module__.startswith("skorch")
                    for name in vars(cls)} - {"__doc__", "__module__", "__dict__", "__weakref__"}
    overridden = {name for cls in FaceNetBase.__mro__ if cls.__module__.startswith("skface")
                  for name in vars(cls) if name in skorch_names}
    doc = engine.__doc__.split("What FaceNetBase overrides", 1)[1]
    listed = {}
    for names, reason in re.findall(r"^- (``.+?``(?:, ``.+?``)*)(.*?):", doc, flags=re.M):
        for name in re.findall(r"``(\w+)``", names):
            listed[name] = "(private" in reason
    assert set(listed) == overridden
    private = {name for name in overridden if name.startswith("_") and not name.endswith("__")}
    assert {name for name, marked in listed.items() if marked} == private


def _split_as_drawn_before(n, fraction, seed, strata):
    """The engine's validation split as it was drawn before it used skorch's ValidSplit."""
    from sklearn.model_selection import train_test_split

    n_valid = round(n * fraction)
    rng = np.random.RandomState(seed)
    if strata is None:
        perm = rng.permutation(n)
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    try:
        train, valid = train_test_split(np.arange(n), test_size=n_valid, random_state=rng,
                                        stratify=strata)
    except ValueError:
        train, valid = train_test_split(np.arange(n), test_size=n_valid, random_state=rng)
    return np.sort(train), np.sort(valid)


@pytest.mark.parametrize("Estimator", [GenderClassifier, AgeRegressor])
@pytest.mark.parametrize(("n", "fraction"), [(64, 0.1), (10, 0.25), (9, 0.5), (5, 0.5),
                                             (40, 0.2), (7, 1 / 3)])
@pytest.mark.parametrize("rare", [False, True])
def test_the_validation_split_keeps_its_size_and_draws(Estimator, n, fraction, rare):
    labels = np.arange(n) % 2
    if rare:
        labels[0] = 2  # a class with one image: the split cannot be stratified
    est = Estimator(**FAST, validation_fraction=fraction)
    est._split_seed_ = 12345
    est.classes_ = np.unique(labels)  # what fit learns before it splits
    X = np.zeros((n, 4, 4, 3), np.uint8)
    y_enc = labels.astype(np.float32)
    train, valid = est.get_split_datasets(X, y_enc)
    strata = est._strata(y_enc) if est._stratify else None
    expected = _split_as_drawn_before(n, fraction, 12345, strata)
    assert len(valid) == round(n * fraction)  # round, not ceil as a float ValidSplit takes
    np.testing.assert_array_equal(train.indices, expected[0])
    np.testing.assert_array_equal(valid.indices, expected[1])


# --------------------------------------------------------------------------- schedule


def test_schedule_counts_the_real_training_iterator(images, genders):
    net = GenderClassifier(**{**FAST, "batch_size": 128, "max_epochs": 4},
                           iterator_train__batch_size=8, validation_fraction=0.0,
                           callbacks=[("rec", Recorder())]).fit(images, genders)
    lrs = np.array(recorded(net).lrs)[:, 0]
    assert len(lrs) == 4 * 8  # 64 images in batches of 8, four epochs
    peak = lrs.max()
    assert peak == pytest.approx(net.lr)
    # the cosine spans all four epochs: no epoch trains at a learning rate of zero
    per_epoch = lrs.reshape(4, 8)
    assert (per_epoch.max(axis=1) > 1e-3 * peak).all()
    assert lrs[-1] < 0.05 * peak


def test_schedule_spans_the_epochs_fit_is_asked_for(images, genders):
    net = GenderClassifier(**{**FAST, "max_epochs": 36}, validation_fraction=0.0,
                           callbacks=[("rec", Recorder())])
    net.fit(images, genders, epochs=2)
    lrs = np.array(recorded(net).lrs)[:, 0]
    assert len(net.history_) == 2
    # one epoch of warm-up, then a cosine that ends with the second epoch
    steps = len(lrs) // 2
    t = np.arange(steps)
    cosine = 0.5 * (1 + np.cos(np.pi * t / steps))
    np.testing.assert_allclose(lrs, net.lr * np.r_[(t + 1) / steps, cosine])


def test_a_user_lr_scheduler_replaces_the_built_in_schedule(images, genders):
    net = GenderClassifier(**FAST, lr=1e-2, validation_fraction=0.0, callbacks=[
        ("step", LRScheduler(StepLR, step_size=1, gamma=0.1)), ("rec", Recorder())])
    net.fit(images, genders)
    lrs = np.array(recorded(net).lrs)[:, 0].reshape(3, -1)
    assert np.allclose(lrs[:, 0], [1e-2, 1e-3, 1e-4])
    assert np.allclose(lrs, lrs[:, :1])  # constant within each epoch, as StepLR says
    assert "lr_schedule" not in dict(net.callbacks_)


def test_the_built_in_schedule_keeps_each_param_groups_own_rate(images, genders):
    net = GenderClassifier(**FAST, lr=1e-2, validation_fraction=0.0,
                           optimizer__param_groups=[("net.features.*", {"lr": 1e-5})],
                           callbacks=[("rec", Recorder())]).fit(images, genders)
    groups = net.optimizer_.param_groups
    features = {id(p) for p in net.module_.net.features.parameters()}
    own = [all(id(p) in features for p in g["params"]) for g in groups]
    lrs = np.array(recorded(net).lrs)
    assert any(own) and not all(own)
    peak = lrs.max(axis=0)
    np.testing.assert_allclose(peak, np.where(own, 1e-5, 1e-2))
    np.testing.assert_allclose(lrs / peak, np.repeat(lrs[:, :1] / peak[0], len(peak), axis=1))


def test_partial_fit_continues_the_schedule_streams_and_split(images, genders):
    net = GenderClassifier(**{**FAST, "max_epochs": 4, "random_state": None},
                           early_stopping=False, validation_fraction=0.25,
                           callbacks=[("rec", Recorder())])
    net.fit(images, genders, epochs=2)
    rec = recorded(net)
    first_call = list(rec.lrs)
    net.partial_fit(images, genders, epochs=2)
    second_call = rec.lrs[len(first_call):]
    # no second warm-up: the second call starts a new cycle at the initial rate
    assert first_call[0][0] < 0.5 * net.lr  # the first call warmed up
    assert second_call[0][0] == pytest.approx(net.lr)
    # the random stream goes on: the second call does not replay the first's batches
    n = len(first_call)
    assert not torch.equal(rec.first_rows[0], rec.first_rows[n])
    # the validation split is kept, although random_state is None
    assert all(np.array_equal(rec.valid_indices[0], v) for v in rec.valid_indices)


def test_partial_fit_within_a_plan_continues_its_cosine(images, genders):
    net = GenderClassifier(**{**FAST, "max_epochs": 4}, validation_fraction=0.0,
                           callbacks=[("rec", Recorder())])
    net.partial_fit(images, genders, epochs=1)  # plans one epoch: warm-up then decay
    net.set_params(max_epochs=4)
    rec = recorded(net)
    n = len(rec.lrs)
    net.partial_fit(images, genders)  # the one-epoch plan ended: a new four-epoch cycle
    lrs = np.array(rec.lrs[n:])[:, 0]
    assert len(lrs) == 4 * n
    assert np.all(np.diff(lrs) <= 1e-12)  # decaying from the start, never warming up


def _lrs_of_the_next_call(net, train) -> np.ndarray:
    """Learning rates of every optimiser step that ``train()`` takes, per group."""
    seen = []
    step = net.optimizer_.step

    def recording(*args, **kwargs):
        seen.append([g["lr"] for g in net.optimizer_.param_groups])
        return step(*args, **kwargs)

    net.optimizer_.step = recording
    try:
        train()
    finally:
        if net.optimizer_.step is recording:
            del net.optimizer_.step
    return np.array(seen)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start", "partial_fit mid-plan"])
@pytest.mark.parametrize("param", ["lr", "optimizer__lr"])
@pytest.mark.parametrize("new_lr", [1e-5, 5e-2])
def test_the_next_training_call_plans_from_the_learning_rate_set_now(images, genders, how,
                                                                     param, new_lr):
    net = GenderClassifier(**{**FAST, "max_epochs": 2}, validation_fraction=0.0)
    if how == "partial_fit mid-plan":
        net.set_params(max_epochs=4)
    net.fit(images, genders, epochs=1 if how.endswith("mid-plan") else None)
    net.set_params(**{param: new_lr})
    if how == "warm_start":
        net.set_params(warm_start=True)
        lrs = _lrs_of_the_next_call(net, lambda: net.fit(images, genders))
    else:
        lrs = _lrs_of_the_next_call(net, lambda: net.partial_fit(images, genders, epochs=1))
    assert len(lrs) and lrs.max() <= new_lr * (1 + 1e-9), (lrs.max(), new_lr)
    assert lrs.max() >= 0.1 * new_lr  # the new rate, not zero


def test_a_learning_rate_set_between_calls_keeps_each_groups_ratio(images, genders):
    net = GenderClassifier(**FAST, lr=1e-2, validation_fraction=0.0,
                           optimizer__param_groups=[("net.features.*", {"lr": 1e-5})])
    net.fit(images, genders)
    net.set_params(optimizer__param_groups=[("net.features.*", {"lr": 1e-6})], lr=1e-3)
    lrs = _lrs_of_the_next_call(net, lambda: net.partial_fit(images, genders, epochs=1))
    features = {id(p) for p in net.module_.net.features.parameters()}
    own = [all(id(p) in features for p in g["params"]) for g in net.optimizer_.param_groups]
    np.testing.assert_allclose(lrs.max(axis=0), np.where(own, 1e-6, 1e-3), rtol=1e-6)


def test_one_groups_rate_set_between_calls_is_the_one_it_trains_at(images, genders):
    net = GenderClassifier(**FAST, validation_fraction=0.0).fit(images, genders)
    net.set_params(optimizer__param_groups__0__lr=1e-6)
    lrs = _lrs_of_the_next_call(net, lambda: net.partial_fit(images, genders, epochs=1))
    assert lrs[:, 0].max() <= 1e-6 * (1 + 1e-9)
    np.testing.assert_allclose(lrs[:, 1:].max(axis=0), net.lr)


def test_partial_fit_classes(images):
    y = np.arange(64) % 2  # only two of three races in the first chunk
    net = RaceClassifier(**FAST).partial_fit(images, y, classes=[0, 1, 2])
    assert net.classes_.tolist() == [0, 1, 2]
    assert net.predict_proba(images).shape == (64, 3)
    net.partial_fit(images, (np.arange(64) % 3), classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes \[0, 1\] differ"):
        net.partial_fit(images, y, classes=[0, 1])


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_is_quiet_and_last(images, genders, capsys):
    class Mine(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.history.record("mine", len(net.history))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "training interrupted" warning
        net = GenderClassifier(**{**FAST, "max_epochs": 50, "verbose": 1}, patience=1,
                               early_stopping=True, lr=1e-9,
                               callbacks=[("mine", Mine())]).fit(images, genders)
    n = len(net.history_)
    assert n < 50
    assert net.history_[:, "mine"] == list(range(1, n + 1))  # user callbacks saw every epoch
    out = capsys.readouterr().out
    assert "Stopping since valid_acc has not improved" in out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == n  # the log printer printed the final epoch too


def test_a_users_early_stopping_does_not_warn_either(images, genders):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = GenderClassifier(**{**FAST, "max_epochs": 50}, early_stopping=False, lr=1e-9,
                               callbacks=[EarlyStopping(patience=1)]).fit(images, genders)
    assert len(net.history_) < 50


# --------------------------------------------------------------------------- the epoch table


class _Terminal(io.StringIO):
    """Standard output that says it is a terminal."""

    def isatty(self):
        return True


def _fit_printing(images, genders, **params):
    GenderClassifier(**{**FAST, "max_epochs": 2, "verbose": 1, **params}).fit(images, genders)


def test_the_epoch_table_is_plain_when_stdout_is_not_a_terminal(images, genders, capsys,
                                                                 monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    _fit_printing(images, genders)
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0].split() == ["epoch", "left", "train_loss", "valid_acc", "valid_loss",
                                "dur"]
    rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
    assert [r[:2] for r in rows] == [["1/2", rows[0][1]], ["2/2", "0s"]]
    assert all(len(r) == 6 for r in rows)
    assert all(float(v) >= 0 for r in rows for v in r[2:])  # plain numbers


@pytest.mark.parametrize(("params", "no_color", "coloured"), [
    ({}, None, True),
    ({"callbacks__print_log__color": False}, None, False),
    ({}, "1", False),
    ({"callbacks__print_log__sink": []}, None, False),  # a sink of one's own: plain text
])
def test_a_terminal_gets_the_coloured_table_unless_told_otherwise(
        images, genders, monkeypatch, params, no_color, coloured):
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    sink = params.get("callbacks__print_log__sink")
    if sink is not None:
        params = {**params, "callbacks__print_log__sink": sink.append}
    _fit_printing(images, genders, **params)
    out = terminal.getvalue() if sink is None else "\n".join(sink)
    assert "valid_loss" in out and ("\x1b[" in out) is coloured


def test_colour_can_be_asked_for_where_it_would_not_be(images, genders, capsys):
    _fit_printing(images, genders, callbacks__print_log__color=True)
    assert "\x1b[" in capsys.readouterr().out


# --------------------------------------------------------------------------- skorch


def test_checkpoint_and_load_init_state_resume_with_device_auto(images, genders, tmp_path):
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    params = {**FAST, "early_stopping": False}  # the last epoch is the one checkpointed
    net = GenderClassifier(**params, callbacks=[checkpoint, LoadInitState(checkpoint)])
    net.fit(images, genders)
    assert net.device == "auto"
    again = GenderClassifier(**params, callbacks=[checkpoint, LoadInitState(checkpoint)])
    again.fit(images, genders)  # starts from the checkpoint written by the first fit
    assert len(again.history_) == 2 * FAST["max_epochs"]
    fresh = GenderClassifier(**FAST).fit(images, genders)
    fresh.load_params(f_params=str(tmp_path / "params.pt"))
    np.testing.assert_allclose(fresh.predict_proba(images), again.predict_proba(images),
                               rtol=1e-5, atol=1e-6)
    fresh.set_params(module__width=6)  # re-initialises the network on the resolved device
    assert fresh.module_.net.head.in_features == 6


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_initialize_before_fit_says_what_to_do(Estimator):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match=r"fit or partial_fit.*load_params"):
        Estimator(**FAST).initialize()


def _targets(kind: str, n: int = 64):
    import pandas as pd

    ages = np.linspace(1, 80, n)
    return {"gender": np.arange(n) % 2, "race": np.arange(n) % 5, "age": ages,
            "table": pd.DataFrame({"age": ages, "gender": np.arange(n) % 2,
                                   "race": np.arange(n) % 5})}[kind]


# (estimator, the target the weights were trained for, another target of the same kind)
TARGET_MISMATCHES = {
    "age scale": (AgeRegressor, lambda: _targets("age"), lambda: _targets("age") + 7),
    "age scale of the l1 head": (lambda **kw: AgeRegressor(**kw, criterion="l1"),
                                 lambda: _targets("age"), lambda: _targets("age")[::-1] * 0.5),
    "other labels": (GenderClassifier, lambda: _targets("gender"),
                     lambda: np.where(_targets("gender") == 1, "m", "f")),
    "labels in another order": (RaceClassifier, lambda: _targets("race"),
                                lambda: 4 - _targets("race") + 10),
    "age groups of other ages": (AgeBinner, lambda: _targets("age"),
                                 lambda: _targets("age") * 0.5),
    "tasks' age scale": (FaceAttributes, lambda: _targets("table"),
                         lambda: _targets("table").assign(age=lambda d: d["age"] + 3)),
    "tasks' labels": (FaceAttributes, lambda: _targets("table"),
                      lambda: _targets("table").assign(race=lambda d: d["race"] % 3)),
}


@pytest.mark.parametrize("case", sorted(TARGET_MISMATCHES))
def test_load_params_refuses_weights_trained_for_another_target(images, tmp_path, case):
    make, trained_for, other = TARGET_MISMATCHES[case]
    source = make(**{**FAST, "max_epochs": 1}).fit(images, trained_for())
    source.save_params(f_params=tmp_path / "params.pt")
    dummy = make(**{**FAST, "max_epochs": 1}).fit(images[:32], other()[:32])
    before = {k: v.clone() for k, v in dummy.module_.state_dict().items()
              if isinstance(v, torch.Tensor)}
    with pytest.raises(ValueError, match="trained for another target"):
        dummy.load_params(f_params=tmp_path / "params.pt")
    after = dummy.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing half-loaded
    same = make(**{**FAST, "max_epochs": 1, "random_state": 1}).fit(images, trained_for())
    same.load_params(f_params=tmp_path / "params.pt")
    X = images[:8]
    if isinstance(source.predict(X), np.ndarray):
        np.testing.assert_array_equal(same.predict(X), source.predict(X))


def test_save_params_writes_plain_tensors_that_carry_the_target(images, genders, tmp_path):
    """The target travels as a tensor: safetensors files and code that reads every
    weight as a tensor keep working."""
    pytest.importorskip("safetensors")
    # channels_last=False: safetensors stores contiguous tensors only
    source = GenderClassifier(**{**FAST, "max_epochs": 1}, channels_last=False).fit(
        images, genders)
    assert all(isinstance(v, torch.Tensor) for v in source.module_.state_dict().values())
    source.save_params(f_params=tmp_path / "p.safetensors", use_safetensors=True)
    other = GenderClassifier(**{**FAST, "max_epochs": 1}, channels_last=False).fit(
        images, np.where(genders, 5, 7))
    with pytest.raises(ValueError, match="trained for another target"):
        other.load_params(f_params=tmp_path / "p.safetensors", use_safetensors=True)
    same = GenderClassifier(**{**FAST, "max_epochs": 1, "random_state": 3},
                            channels_last=False).fit(images, genders)
    same.load_params(f_params=tmp_path / "p.safetensors", use_safetensors=True)
    np.testing.assert_array_equal(same.predict_proba(images[:8]), source.predict_proba(images[:8]))


def test_load_params_refuses_weights_of_another_image_size(images, genders, tmp_path):
    source = GenderClassifier(**{**FAST, "max_epochs": 1}).fit(images, genders)
    source.save_params(f_params=tmp_path / "params.pt")
    wide = np.zeros((64, 24, 24, 3), dtype=np.uint8)
    other = GenderClassifier(**{**FAST, "max_epochs": 1}).fit(wide, genders)
    with pytest.raises(ValueError, match="image_shape"):
        other.load_params(f_params=tmp_path / "params.pt")


@pytest.mark.parametrize("use_caching", [True, False])
@pytest.mark.parametrize("labels", ["codes", "names"])
def test_epoch_scoring_with_scikit_learn_scorers(images, genders, use_caching, labels):
    y = genders if labels == "codes" else np.array(["female", "male"])[genders]
    net = GenderClassifier(**FAST, callbacks=[
        EpochScoring("accuracy", name="acc", use_caching=use_caching)]).fit(images, y)
    assert np.allclose(net.history_[:, "acc"], net.history_[:, "valid_acc"])


def test_epoch_scoring_of_a_regressor_is_in_years(images):
    ages = np.linspace(10, 70, 64)
    net = AgeRegressor(**FAST, callbacks=[
        EpochScoring("neg_mean_absolute_error", name="nmae", use_caching=False)])
    net.fit(images, ages)
    assert np.allclose(np.negative(net.history_[:, "nmae"]), net.history_[:, "valid_mae"],
                       rtol=1e-4)
    assert max(net.history_[:, "valid_mae"]) < 60


def test_iterator_settings_are_honoured(images, genders):
    class Count(Callback):
        def initialize(self):
            self.train_batches = 0
            return self

        def on_batch_begin(self, net, training=False, **kwargs):
            self.train_batches += training

    net = GenderClassifier(**{**FAST, "max_epochs": 1}, validation_fraction=0.0,
                           iterator_train__drop_last=True, callbacks=[("n", Count())])
    net.fit(images[:33], genders[:33])
    assert dict(net.callbacks_)["n"].train_batches == 2  # 33 images, batches of 16

    net = GenderClassifier(**{**FAST, "max_epochs": 2}, validation_fraction=0.0,
                           iterator_train__shuffle=False, callbacks=[("rec", Recorder())])
    net.fit(images, genders)
    rows = recorded(net).first_rows
    assert torch.equal(rows[0], torch.from_numpy(images[:2]))
    assert torch.equal(rows[0], rows[len(rows) // 2])


def test_a_custom_iterator_and_dataset_are_used(images, genders):
    calls = {"iterator": 0, "getitem": 0}

    class MyLoader(DataLoader):
        def __init__(self, *args, **kwargs):
            calls["iterator"] += 1
            super().__init__(*args, **kwargs)

    class MyDataset(Dataset):
        def __getitem__(self, i):
            calls["getitem"] += 1
            return super().__getitem__(i)

    net = GenderClassifier(**FAST, iterator_train=MyLoader, dataset=MyDataset)
    net.fit(images, genders)
    assert calls["iterator"] >= 1 and calls["getitem"] >= 64
    assert net.predict(images).shape == (64,)


def test_predefined_split_gets_encoded_targets(images):
    ages = np.linspace(10, 70, 64)
    valid = Dataset(images[:16], ages[:16])
    net = AgeRegressor(**FAST, train_split=predefined_split(valid)).fit(images, ages)
    assert max(net.history_[:, "valid_mae"]) < 60  # years, not standardised units
    names = np.array(["female", "male"])[np.arange(64) % 2]
    clf = GenderClassifier(**FAST, train_split=predefined_split(Dataset(images[:16],
                                                                        names[:16])))
    clf.fit(images, names)
    assert 0 <= clf.history_[-1, "valid_acc"] <= 1


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unfitted_estimators_raise_not_fitted(Estimator, images):
    est = Estimator(**FAST)
    methods = [m for m in ("predict", "predict_proba", "predict_age") if hasattr(est, m)]
    for method in methods:
        with pytest.raises(NotFittedError):
            getattr(est, method)(images)


def test_a_regressor_has_no_predict_proba(images):
    reg = AgeRegressor(**FAST).fit(images, np.linspace(10, 70, 64))
    assert not hasattr(reg, "predict_proba")


def test_set_params_after_fit_reaches_partial_fit(images, genders):
    net = GenderClassifier(**FAST).fit(images, genders)
    assert net.module_.augment is not None
    net.set_params(augment=False, tta=False, precision="float32")
    net.partial_fit(images, genders, epochs=1)
    assert net.module_.augment is None
    assert net.module_.tta is False
    assert net.precision_ is None


def test_random_state_none_follows_numpy_global_seed(images, genders):
    params = {**FAST, "random_state": None, "max_epochs": 1}
    np.random.seed(3)  # noqa: NPY002 - the legacy global seed is what is tested
    a = GenderClassifier(**params).fit(images, genders).predict_proba(images)
    np.random.seed(3)  # noqa: NPY002
    b = GenderClassifier(**params).fit(images, genders).predict_proba(images)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sample_weight_is_accepted_by_every_estimator(Estimator, images):
    rng = np.random.default_rng(1)
    y = {
        GenderClassifier: np.arange(64) % 2, RaceClassifier: np.arange(64) % 3,
        AgeRegressor: rng.uniform(1, 80, 64), AgeBinner: rng.uniform(1, 80, 64),
    }.get(Estimator)
    if Estimator is FaceAttributes:
        import pandas as pd

        y = pd.DataFrame({"age": rng.uniform(1, 80, 64), "gender": np.arange(64) % 2,
                          "race": np.arange(64) % 3})
    est = Estimator(**{**FAST, "max_epochs": 1}).fit(images, y, sample_weight=np.ones(64))
    assert np.isfinite(est.history_[-1, "train_loss"])


def _trained_on_one_class(images, **params):
    y = np.arange(64) % 2
    weight = np.where(y == 1, 1.0, 0.0)  # class 0 carries no weight at all
    net = GenderClassifier(**{**FAST, "max_epochs": 8, "lr": 1e-2}, validation_fraction=0.0,
                           augment=False, **params)
    return net.fit(images, y, sample_weight=weight if not params else None)


def test_sample_weight_changes_what_is_learned(images):
    net = _trained_on_one_class(images)
    assert (net.predict(images) == 1).mean() > 0.9  # only class 1 was ever rewarded


def test_class_weight(images):
    net = _trained_on_one_class(images, class_weight={0: 0.0, 1: 1.0})
    assert (net.predict(images) == 1).mean() > 0.9
    balanced = GenderClassifier(**FAST, class_weight="balanced")
    balanced.fit(images, (np.arange(64) % 8 == 0).astype(int))
    with pytest.raises(InvalidParameterError, match="class_weight"):
        GenderClassifier(**FAST, class_weight="even").fit("x", None)


@pytest.mark.parametrize("weight", [np.ones(3), -np.ones(64), np.zeros(64),
                                    np.full(64, np.nan), np.array(["a"] * 64)])
def test_bad_sample_weight_is_refused(images, weight):
    with pytest.raises((ValueError, TypeError), match="sample_weight must"):
        GenderClassifier(**FAST).fit(images, np.arange(64) % 2, sample_weight=weight)


# --------------------------------------------------------------------------- details


def test_weight_decay_spares_biases_norms_thresholds_and_task_weights(images):
    net = FaceAttributes(**{**FAST, "max_epochs": 1}, optimizer__weight_decay=0.05)
    import pandas as pd

    y = pd.DataFrame({"age": np.linspace(1, 80, 64), "gender": np.arange(64) % 2,
                      "race": np.arange(64) % 3})
    net.fit(images, y)
    for group in net.optimizer_.param_groups:
        dims = {p.dim() for p in group["params"]}
        assert group["weight_decay"] == (0.0 if dims == {1} else 0.05), dims
    vectors = {id(p) for g in net.optimizer_.param_groups if g["weight_decay"] == 0
               for p in g["params"]}
    assert id(net.criterion_.log_vars) in vectors
    binner = AgeBinner(**{**FAST, "max_epochs": 1}, head="ordinal").fit(
        images, np.linspace(1, 80, 64))
    assert id(binner.module_.ordinal_bias) in {
        id(p) for g in binner.optimizer_.param_groups if g["weight_decay"] == 0
        for p in g["params"]}


@pytest.mark.parametrize("how", ["set_params after fit", "set_params then partial_fit",
                                 "set_params on a warm start"])
@pytest.mark.parametrize("Estimator", [GenderClassifier, FaceAttributes])
def test_weight_decay_set_after_fit_still_spares_the_vectors(images, how, Estimator):
    import pandas as pd

    y = (np.arange(64) % 2 if Estimator is GenderClassifier else pd.DataFrame(
        {"age": np.linspace(1, 80, 64), "gender": np.arange(64) % 2,
         "race": np.arange(64) % 3}))
    net = Estimator(**{**FAST, "max_epochs": 1}).fit(images, y)
    net.set_params(optimizer__weight_decay=0.05)
    if how == "set_params then partial_fit":
        net.partial_fit(images, y, epochs=1)
    elif how == "set_params on a warm start":
        net.set_params(warm_start=True).fit(images, y)
    for group in net.optimizer_.param_groups:
        dims = {p.dim() for p in group["params"]}
        assert group["weight_decay"] == (0.0 if dims == {1} else 0.05), (how, dims)


def test_a_perfect_age_distribution_costs_nothing():
    from skface.nets.losses import AgeDistributionLoss, UncertaintyWeightedLoss

    loss = AgeDistributionLoss(0.0, 1.0, sigma=2.0, l1_weight=0.0)
    ages = torch.tensor([[30.0], [5.0]])
    years = torch.arange(117.0)
    target = torch.softmax(-((years[None] - ages) ** 2) / 8.0, dim=1).clamp_min(1e-30)
    assert float(loss(torch.log(target), ages)) == pytest.approx(0.0, abs=1e-5)
    multi = UncertaintyWeightedLoss({"age": (0, 117), "gender": (117, 119)},
                                    label_smoothing=0.1)
    smoothed = torch.tensor([[0.95, 0.05]])
    out = torch.cat([torch.log(target[:1]), torch.log(smoothed)], dim=1)
    y = torch.tensor([[30.0, 0.0]])
    assert all(float(t) == pytest.approx(0.0, abs=1e-5) for t in multi.task_losses(out, y))


def test_ordinal_predict_agrees_with_predict_proba(images):
    binner = AgeBinner(**FAST, head="ordinal").fit(images, np.linspace(1, 80, 64))
    proba = binner.predict_proba(images)
    np.testing.assert_array_equal(binner.predict(images), binner.classes_[proba.argmax(1)])


def test_a_network_declares_its_own_normalisation(images, genders):
    class ImageNetTiny(TinyNet):
        input_mean = (0.485, 0.456, 0.406)
        input_std = (0.229, 0.224, 0.225)

    net = GenderClassifier(**{**FAST, "module": ImageNetTiny, "max_epochs": 1})
    net.fit(images, genders)
    np.testing.assert_allclose(net.module_.input_mean.flatten(), ImageNetTiny.input_mean)
    state = net.module_.state_dict()
    assert "input_std" in state  # saved with the weights
    seen = {}
    net.module_.net.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    net.predict(images[:1])
    x = images[:1].astype(np.float32) / 255
    expected = (x - np.array(ImageNetTiny.input_mean)) / np.array(ImageNetTiny.input_std)
    np.testing.assert_allclose(seen["x"].permute(0, 2, 3, 1).numpy(), expected, atol=1e-5)


def test_float16_training_scales_the_loss(images, genders):
    net = GenderClassifier(**{**FAST, "max_epochs": 2}, precision="float16", device="cpu")
    net.fit(images, genders)
    assert net.precision_ is torch.float16
    assert net._grad_scaler_.get_scale() > 0
    assert np.isfinite(net.history_[:, "train_loss"]).all()


class DropoutNet(TinyNet):
    def __init__(self, *, n_outputs: int, in_channels: int = 3, width: int = 4):
        super().__init__(n_outputs=n_outputs, in_channels=in_channels, width=width)
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(width, n_outputs))


@pytest.mark.timeout(300)
def test_equal_seeds_give_equal_fits_in_parallel_threads(images, genders):
    from concurrent.futures import ThreadPoolExecutor

    params = {**FAST, "module": DropoutNet, "max_epochs": 2, "mixup": 0.2}

    def fit(_):
        net = GenderClassifier(**params).fit(images, genders)
        return net.predict_proba(images)

    serial = fit(None)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(fit, range(3)))
    for proba in results:
        np.testing.assert_array_equal(proba, serial)


# ------------------------------------------------------------------------- pickles

# Every engine name a pickled model can reference, as "skface._engine.<name>" (a pickle
# names classes by module and qualified name).
ENGINE_PICKLE_NAMES = ("FaceModule", "FaceNetBase", "SlotDropout", "GeneratorSlot",
                       "BatchIterator", "WarmupCosine", "DeferredEarlyStopping",
                       "StopWhenAsked", "WeightEMA", "EpochLog")


def _fitted_with_every_engine_part(images, genders):
    """A model holding each engine class a fitted model can hold: the module, its
    dropout layers and generator slot, and the built-in callbacks."""
    return GenderClassifier(**{**FAST, "module": DropoutNet}, ema_decay=0.9,
                            early_stopping=True, patience=1).fit(images, genders)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_pickled_model_names_engine_classes_by_the_package_path(images, genders, protocol):
    net = _fitted_with_every_engine_part(images, genders)
    held = {type(net.module_), net.module_._slot.__class__,
            *(type(m) for m in net.module_.modules()), *(type(cb) for _, cb in net.callbacks_)}
    engine = {cls.__name__ for cls in held if cls.__module__.startswith("skface._engine")}
    assert {"FaceModule", "SlotDropout", "GeneratorSlot", "WarmupCosine", "WeightEMA",
            "DeferredEarlyStopping", "StopWhenAsked", "EpochLog"} <= engine, sorted(engine)
    # skorch pickles the module through torch.save, whose (uncompressed) archive sits
    # in the pickle as bytes: every class reference, nested or not, is in the bytes
    data = pickle.dumps(net, protocol=protocol)
    paths = set(re.findall(rb"skface\._engine[\w.]*", data))
    # no path inside the package: moving a class between its files keeps files loading
    assert paths == {b"skface._engine"}, sorted(paths)
    for name in engine:
        assert name.encode() in data


@pytest.mark.parametrize("name", ENGINE_PICKLE_NAMES)
@pytest.mark.parametrize("protocol", [0, 4])
def test_pickles_naming_the_engine_module_load(name, protocol):
    from skface import _engine

    if protocol == 0:  # GLOBAL opcode: "c<module>\n<name>\n"
        data = b"cskface._engine\n" + name.encode() + b"\n."
    else:  # STACK_GLOBAL: module and name pushed as strings
        data = (b"\x80\x04" + b"\x8c" + bytes([len("skface._engine")]) + b"skface._engine"
                + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93.")
    loaded = pickle.loads(data)
    assert loaded is getattr(_engine, name)
    assert loaded.__module__ == "skface._engine"


def test_a_model_pickled_with_the_engine_module_paths_loads_and_trains(images, genders):
    net = _fitted_with_every_engine_part(images, genders)
    data = pickle.dumps(net)
    for name in ("FaceModule", "SlotDropout", "GeneratorSlot", "WarmupCosine"):
        assert b"skface._engine" in data and name.encode() in data
    loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.predict_proba(images), net.predict_proba(images))
    assert type(loaded.module_) is type(net.module_)
    loaded.partial_fit(images, genders)  # the callbacks and random streams work on
    assert len(loaded.history_) > len(net.history_)


# --------------------------------------------------------------- AgeBinner and CV tools

AGES = np.random.default_rng(3).integers(1, 85, 64).astype(float)  # whole years, as in UTKFace


@pytest.mark.parametrize("head", ["years", "softmax", "ordinal"])
def test_age_binner_is_not_a_classifier_of_its_ages(head):
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, check_cv

    binner = AgeBinner(**FAST, head=head)
    assert not is_classifier(binner)
    tags = binner.__sklearn_tags__()
    assert tags.estimator_type is None and tags.target_tags.required
    # so the default CV splits the ages as they are, never stratified on exact ages
    assert isinstance(check_cv(3, AGES, classifier=is_classifier(binner)), KFold)


@pytest.mark.parametrize("bins", ["decades", "life_stages", [0, 18, 40, np.inf]])
def test_age_binner_cross_val_predict_keeps_the_ages(images, bins):
    from sklearn.model_selection import KFold, cross_val_predict

    # the ages reach every fold's fit as they are: each fold's model bins the true ages,
    # so its groups are those of the whole data (the binning does not depend on the fold)
    seen = []

    class Spy(AgeBinner):
        def fit(self, X, y=None, **fit_params):
            seen.append(np.asarray(y).copy())
            return super().fit(X, y, **fit_params)

    full = AgeBinner(**FAST, bins=bins, head="softmax").fit(images, AGES)
    groups = cross_val_predict(Spy(**FAST, bins=bins, head="softmax"), images, AGES, cv=2)
    assert groups.shape == (len(AGES),) and set(groups) <= set(full.classes_)
    for fold, (train, _) in zip(seen, KFold(2).split(images), strict=True):
        np.testing.assert_array_equal(fold, AGES[train])


def test_age_binner_scores_in_cv_tools_are_group_scores(images):
    from sklearn.metrics import balanced_accuracy_score, log_loss
    from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skface import make_task_scorer

    binner = AgeBinner(**FAST, bins="decades")
    default = cross_val_score(binner, images, AGES, cv=2, error_score="raise")
    assert np.all((default >= 0) & (default <= 1))
    scores = cross_validate(binner, images, AGES, cv=2, error_score="raise", scoring={
        "acc": make_task_scorer("age_group"),
        "bal": make_task_scorer("age_group", balanced_accuracy_score),
        "nll": make_task_scorer("age_group", log_loss, response_method="predict_proba",
                                greater_is_better=False),
        "mae": make_task_scorer("age"),
    })
    np.testing.assert_allclose(scores["test_acc"], default)
    assert np.all(scores["test_nll"] < 0) and np.all(scores["test_mae"] < 0)
    assert np.all(np.isfinite(scores["test_bal"]))
    # a Pipeline ending with the model, and a search choosing by the group score
    search = GridSearchCV(make_pipeline(FunctionTransformer(), AgeBinner(**FAST, bins="decades")),
                          {"agebinner__lr": [1e-3, 3e-3]}, cv=2, error_score="raise",
                          scoring=make_task_scorer("age_group")).fit(images, AGES)
    assert 0 <= search.best_score_ <= 1


def test_task_scorer_reads_a_label_table_for_a_multi_task_model(images):
    import pandas as pd
    from sklearn.model_selection import cross_val_score

    from skface import make_task_scorer

    y = pd.DataFrame({"age": AGES, "gender": np.arange(64) % 2, "race": np.arange(64) % 3})
    scores = cross_val_score(FaceAttributes(**FAST), images, y, cv=2, error_score="raise",
                             scoring=make_task_scorer("gender"))
    assert np.all((scores >= 0) & (scores <= 1))
    model = FaceAttributes(**FAST).fit(images, y)
    with pytest.raises(ValueError, match="no column 'gender'"):
        make_task_scorer("gender")(model, images, y.drop(columns="gender"))
    with pytest.raises(KeyError, match="no task 'age_group'"):
        make_task_scorer("age_group")(model, images, y)
    with pytest.raises(ValueError, match="regression"):
        make_task_scorer("age", response_method="predict_proba")(model, images, y)
    with pytest.raises(ValueError, match="response_method"):
        make_task_scorer("age", response_method="decision_function")



def test_multi_task_epoch_table_scores_every_task(images):
    import pandas as pd

    y = pd.DataFrame({"age": AGES, "gender": np.arange(64) % 2,
                      "race": np.array(["White", "Black", "Asian", "Indian"])[np.arange(64) % 4]})

    def gender_acc(net, X, y_valid):  # what a user would write, on the decoded labels
        truth = np.asarray(y_valid)[:, 1]
        return float((net.predict(X)["gender"].to_numpy() == truth).mean())

    def age_mae(net, X, y_valid):
        truth = np.asarray(y_valid)[:, 0].astype(float)
        return float(np.abs(net.predict(X)["age"].to_numpy() - truth).mean())

    net = FaceAttributes(**FAST, callbacks=[EpochScoring(gender_acc, name="mine_gender"),
                                            EpochScoring(age_mae, name="mine_age")]).fit(images, y)
    np.testing.assert_allclose(net.history_[:, "valid_gender_acc"], net.history_[:, "mine_gender"])
    np.testing.assert_allclose(net.history_[:, "valid_age_mae"], net.history_[:, "mine_age"],
                               rtol=1e-4)
    assert all(0 <= v <= 1 for v in net.history_[:, "valid_race_acc"])
    only_age = FaceAttributes(**FAST).fit(images, y[["age"]])
    last = only_age.history_[-1]
    assert "valid_age_mae" in last and "valid_race_acc" not in last
