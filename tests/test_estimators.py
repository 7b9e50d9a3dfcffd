"""The estimators: learning, prediction in the user's labels, persistence, tuning, errors."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skface import (
    AgeBinner,
    AgeRegressor,
    FaceAttributes,
    GenderClassifier,
    ImageLoader,
    RaceClassifier,
    UTKFaceLabelDecoder,
    image_cache_info,
)
from skface.exceptions import LabelError

FAST_BATCH = 128  # the estimators' default batch size, which learning_params keeps


@pytest.fixture(scope="module")
def faces(synthetic_faces):
    """1,200 synthetic 32 px faces: 900 to train, 300 held out."""
    X, y = synthetic_faces(1200, random_state=1)
    return X[:900], y.iloc[:900].reset_index(drop=True), X[900:], y.iloc[900:].reset_index(
        drop=True)


# ------------------------------------------------------------------------- learning


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_gender_classifier_learns_and_keeps_the_users_labels(faces, learning_params):
    X, y, Xv, yv = faces
    clf = GenderClassifier(**learning_params).fit(X, y["gender_name"].astype(str))
    assert clf.classes_.tolist() == ["female", "male"]
    assert set(clf.predict(Xv)) <= {"female", "male"}
    chance = DummyClassifier().fit(X, y["gender"]).score(Xv, yv["gender"])
    assert clf.score(Xv, yv["gender_name"].astype(str)) > max(0.75, chance + 0.2)
    proba = clf.predict_proba(Xv)
    assert proba.shape == (len(Xv), 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert "valid_acc" in clf.history_[-1] and len(clf.history_) >= 2


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_race_classifier_learns_five_codes(faces, learning_params):
    X, y, Xv, yv = faces
    clf = RaceClassifier(**learning_params).fit(X, y["race"])
    assert clf.classes_.tolist() == [0, 1, 2, 3, 4]
    assert clf.score(Xv, yv["race"].astype(int)) > 0.45  # chance is 0.2


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_age_regressor_beats_the_mean(faces, learning_params):
    X, y, Xv, yv = faces
    reg = AgeRegressor(**learning_params).fit(X, y["age"])
    pred = reg.predict(Xv)
    baseline = np.abs(DummyRegressor().fit(X, y["age"]).predict(Xv) - yv["age"]).mean()
    assert np.abs(pred - yv["age"]).mean() < 0.75 * baseline
    assert pred.min() >= 0 and pred.max() <= 116
    assert reg.score(Xv, yv["age"]) > 0.3  # R², scikit-learn's regressor convention
    assert "valid_mae" in reg.history_[-1]


@pytest.mark.slow  # trains long enough to show it learns
@pytest.mark.parametrize("head", ["years", "softmax", "ordinal"])
def test_age_binner_predicts_groups_and_expected_ages(faces, head, learning_params):
    X, y, Xv, yv = faces
    # the synthetic age signal is weak: 20 epochs, and a margin of about three standard
    # errors of a 300-image accuracy over the majority group's share
    binner = AgeBinner(bins="decades", head=head, **{**learning_params, "max_epochs": 20}).fit(
        X, y["age"])
    assert binner.classes_.tolist()[:3] == ["0-9", "10-19", "20-29"]
    proba = binner.predict_proba(Xv)
    assert proba.shape == (len(Xv), 10) and np.allclose(proba.sum(1), 1, atol=1e-4)
    assert set(binner.predict(Xv)) <= set(binner.classes_)
    majority = pd.Series(binner.bin_encoder_.transform(y["age"])).value_counts().max() / len(y)
    assert binner.score(Xv, yv["age"]) > majority + 0.06
    mae = np.abs(binner.predict_age(Xv) - yv["age"]).mean()
    assert mae < 0.75 * np.abs(yv["age"] - y["age"].mean()).mean()


def test_age_binner_years_head_sums_year_probabilities_per_group(faces):
    X, y, Xv, _ = faces
    binner = AgeBinner(bins=[0, 18, 40, np.inf], max_epochs=1, verbose=0,
                       random_state=0).fit(X[:200], y["age"][:200])
    assert binner.n_outputs_ == 117
    out = binner._forward_outputs(Xv[:20])
    years = torch.softmax(torch.from_numpy(out).double(), dim=1).numpy()
    expected = np.stack([years[:, :18].sum(1), years[:, 18:40].sum(1), years[:, 40:].sum(1)], 1)
    np.testing.assert_allclose(binner.predict_proba(Xv[:20]), expected, atol=1e-6)
    # the head computes in float32 (as the ONNX graph does): ages agree to float32 rounding
    np.testing.assert_allclose(binner.predict_age(Xv[:20]), years @ np.arange(117), rtol=1e-6,
                               atol=1e-4)
    assert (binner.predict(Xv[:20]) == binner.classes_[expected.argmax(1)]).all()


def test_age_binner_rejects_unknown_head(faces):
    X, y, _, _ = faces
    with pytest.raises(ValueError, match=r"'head' parameter of AgeBinner .*'years'.*Got 'coral'"):
        AgeBinner(head="coral", max_epochs=1, verbose=0).fit(X[:50], y["age"][:50])


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_face_attributes_predicts_all_three_and_learns_task_weights(faces, learning_params):
    X, y, Xv, yv = faces
    y3 = y[["age", "gender", "race"]].astype({"gender": int, "race": int})
    model = FaceAttributes(**learning_params).fit(X, y3)
    pred = model.predict(Xv)
    assert list(pred.columns) == ["age", "gender", "race"] and len(pred) == len(Xv)
    assert (pred["gender"] == yv["gender"].astype(int)).mean() > 0.7
    assert (pred["race"] == yv["race"].astype(int)).mean() > 0.4
    weights = model.task_weights_
    assert set(weights) == {"age", "gender", "race"}
    assert any(abs(w - 1.0) > 0.01 for w in weights.values())  # the weights moved
    assert model.score(Xv, yv[["age", "gender", "race"]].astype({"gender": int, "race": int})) > 0.4



# ------------------------------------------------------------------------- distillation


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_distillation_trains_on_the_teachers_probabilities(faces, learning_params):
    """With distill_weight=1 the student learns what the teacher says, not y: a teacher
    fitted on swapped labels makes the student predict swapped labels."""
    X, y, Xv, yv = faces
    g = y["gender"].astype(int).to_numpy()
    liar = GenderClassifier(**learning_params).fit(X, 1 - g)
    assert (liar.predict(Xv) != yv["gender"].astype(int)).mean() > 0.75
    student = GenderClassifier(**learning_params, teacher=liar, distill_weight=1.0).fit(X, g)
    assert (student.predict(Xv) == liar.predict(Xv)).mean() > 0.8
    # the target: column 0 the label, then (1 - w) * one-hot + w * teacher probabilities
    half = GenderClassifier(**learning_params, teacher=liar, distill_weight=0.25)
    half.classes_ = np.array([0, 1])
    target = half._training_target(X, g)
    np.testing.assert_array_equal(target[:, 0], g)
    expected = 0.75 * np.eye(2)[g] + 0.25 * liar.predict_proba(X)
    np.testing.assert_allclose(target[:, 1:], expected, atol=1e-6)
    # the validation accuracy is still measured against the labels
    plain = GenderClassifier(**learning_params).fit(X, g)
    assert student.history_[-1]["valid_acc"] < 0.3 < 0.7 < plain.history_[-1]["valid_acc"]


def test_distillation_from_the_multi_task_net(faces, learning_params, fitted_model):
    X, y, _, _ = faces
    X, y = X[:300], y[:300]
    y3 = y[["age", "gender", "race"]].astype({"gender": int, "race": int})
    teacher = fitted_model("FaceAttributes")
    race = RaceClassifier(**{**learning_params, "max_epochs": 2}, teacher=teacher).fit(
        X, y3["race"])
    target = race._training_target(X, y3["race"])
    assert target.shape == (len(X), 1 + 5)
    np.testing.assert_allclose(target[:, 1:],
                               0.5 * np.eye(5)[y3["race"]] + 0.5 * teacher.predict_proba(X)["race"],
                               atol=1e-6)
    # clone copies a teacher unfitted, unless it is frozen
    from sklearn.frozen import FrozenEstimator

    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        clone(race).fit(X, y3["race"])
    frozen = clone(race.set_params(teacher=FrozenEstimator(teacher), max_epochs=1))
    assert frozen.fit(X, y3["race"]).teacher.estimator is teacher


def test_distillation_rejects_mismatched_teachers(faces, learning_params):
    X, y, _, _ = faces
    g = y["gender"].astype(int)
    named = GenderClassifier(**{**learning_params, "max_epochs": 1}).fit(
        X, y["gender_name"].astype(str))
    with pytest.raises(ValueError, match=r"teacher's classes \['female', 'male'\] differ"):
        GenderClassifier(**learning_params, teacher=named).fit(X, g)
    with pytest.raises(ValueError, match="distill_weight"):
        GenderClassifier(**learning_params, teacher=named, distill_weight=1.5).fit(X, g)
    with pytest.raises(TypeError, match="predict_proba"):
        GenderClassifier(**learning_params, teacher="gender.joblib").fit(X, g)
    three = FaceAttributes(**{**learning_params, "max_epochs": 1}).fit(X, y[["age"]])
    with pytest.raises(ValueError, match="not 'gender'"):
        GenderClassifier(**learning_params, teacher=three).fit(X, g)

@pytest.mark.parametrize(("age_loss", "outputs"), [("dex", 117 + 2 + 5), ("l1", 1 + 2 + 5)])
def test_face_attributes_age_head(faces, age_loss, outputs):
    X, y, Xv, _ = faces
    y3 = y[["age", "gender", "race"]].astype({"gender": int, "race": int})[:200]
    model = FaceAttributes(max_epochs=1, verbose=0, random_state=0,
                           criterion__age_loss=age_loss).fit(X[:200], y3)
    assert model.n_outputs_ == outputs
    ages = model.predict(Xv[:20])["age"]
    assert ages.between(0, 116).all() and ages.nunique() > 1


def test_face_attributes_rejects_unknown_age_loss(faces):
    X, y, _, _ = faces
    y3 = y[["age", "gender"]].astype({"gender": int})[:50]
    with pytest.raises(ValueError, match="criterion__age_loss"):
        FaceAttributes(max_epochs=1, verbose=0, criterion__age_loss="mse").fit(X[:50], y3)


def test_registered_default_network_trains(faces):
    X, y, Xv, _ = faces
    clf = GenderClassifier(max_epochs=1, verbose=0, random_state=0).fit(X[:200], y["gender"][:200])
    assert clf.module_.net.__class__.__name__ == "SkfaceNet"
    assert clf.predict(Xv[:5]).shape == (5,)


def test_float_images_give_the_same_predictions_as_uint8(faces, fitted_model):
    _, _, Xv, _ = faces
    clf = fitted_model("GenderClassifier")
    np.testing.assert_array_equal(clf.predict_proba(Xv / 255.0), clf.predict_proba(Xv))
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*float_max=255"):
        clf.predict(Xv.astype(np.float32))  # 0-255 floats: read in [0, 1], never guessed


def test_greyscale_input(faces, learning_params):
    X, y, Xv, _ = faces
    grey = X[:300].mean(axis=3, keepdims=True).astype(np.uint8)
    clf = GenderClassifier(**{**learning_params, "max_epochs": 1}).fit(grey, y["gender"][:300])
    assert clf.image_shape_ == (32, 32, 1)
    with pytest.raises(ValueError, match="1 channel"):
        clf.predict(Xv)


# ------------------------------------------------------------------------- engine


def test_same_random_state_gives_identical_predictions(faces, learning_params):
    X, y, Xv, _ = faces
    X, age = X[:300], y["age"][:300]
    a = AgeRegressor(**{**learning_params, "max_epochs": 3}).fit(X, age).predict(Xv)
    b = AgeRegressor(**{**learning_params, "max_epochs": 3}).fit(X, age).predict(Xv)
    np.testing.assert_array_equal(a, b)
    state = torch.random.get_rng_state()
    AgeRegressor(**{**learning_params, "max_epochs": 1}).fit(X, age)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched


def test_verbose_zero_is_silent_and_one_prints_epochs(faces, capsys, learning_params):
    X, y, _, _ = faces
    GenderClassifier(**{**learning_params, "max_epochs": 2}).fit(X[:300], y["gender"][:300])
    assert capsys.readouterr().out == ""
    GenderClassifier(**{**learning_params, "max_epochs": 2, "verbose": 1}).fit(
        X[:300], y["gender"][:300])
    assert "valid_acc" in capsys.readouterr().out


def test_early_stopping_restores_the_best_epoch(faces, learning_params):
    X, y, _, _ = faces
    # a learning rate this high makes the validation score bounce, so stopping triggers
    clf = GenderClassifier(**{**learning_params, "max_epochs": 40, "lr": 0.3, "patience": 2},
                           early_stopping=True).fit(X, y["gender"])
    n = len(clf.history_)
    assert n < 40
    stopper = dict(clf.callbacks_)["early_stopping"]
    assert stopper.monitor == "valid_acc"  # what the classifier is judged on
    assert stopper.best_epoch_ == n - 2  # stopped `patience` epochs after the best one
    assert clf.history_[stopper.best_epoch_ - 1, "valid_acc_best"]


def test_early_stopping_is_off_by_default_and_its_patience_follows_the_schedule():
    from sklearn.base import clone

    assert GenderClassifier().early_stopping is False
    on = GenderClassifier(early_stopping=True)
    monitors = {}
    for est in (on, AgeRegressor(early_stopping=True), FaceAttributes(early_stopping=True)):
        stopper = dict(est._default_callbacks)["early_stopping"]
        monitors[type(est).__name__] = (stopper.monitor, stopper.lower_is_better)
        assert stopper.patience == 9  # a quarter of the 36 default epochs
    assert monitors == {"GenderClassifier": ("valid_acc", False),
                        "AgeRegressor": ("valid_mae", True),
                        "FaceAttributes": ("valid_loss", True)}
    long = clone(on).set_params(max_epochs=72)
    assert dict(long._default_callbacks)["early_stopping"].patience == 18
    short = clone(on).set_params(max_epochs=12, patience=3)
    assert dict(short._default_callbacks)["early_stopping"].patience == 3
    assert "early_stopping" not in dict(GenderClassifier()._default_callbacks)


def test_auto_device_and_precision_resolve(faces, learning_params):
    X, y, _, _ = faces
    clf = GenderClassifier(**{**learning_params, "max_epochs": 1}).fit(X[:100], y["gender"][:100])
    assert clf.device == "auto"  # the parameter is never rewritten
    assert clf.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    fp32 = GenderClassifier(**{**learning_params, "max_epochs": 1, "precision": "float32"}).fit(
        X[:100], y["gender"][:100])
    assert fp32.precision_ is None
    with pytest.raises(ValueError, match="precision"):
        GenderClassifier(**{**learning_params, "precision": "int8"}).fit(X[:100], y["gender"][:100])


def test_read_only_images_train_without_copy_or_warning(faces):
    """ImageLoader's cached output and joblib's memory maps are read-only arrays."""
    import warnings

    X, y, _, _ = faces
    X = X[:200].copy()
    X.flags.writeable = False
    before = X.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = GenderClassifier(max_epochs=1, verbose=0, random_state=0,
                               augment=True).fit(X, y["gender"][:200])
        clf.predict(X)
    assert not [w for w in caught if "writable" in str(w.message)]
    np.testing.assert_array_equal(X, before)


def test_a_prediction_does_not_depend_on_its_batch(faces, learning_params):
    X, y, Xv, _ = faces
    clf = GenderClassifier(**{**learning_params, "module": "skfacenet", "max_epochs": 1}).fit(
        X[:200], y["gender"][:200])
    together = clf.predict_proba(Xv[:8])
    alone = np.concatenate([clf.predict_proba(Xv[i:i + 1]) for i in range(8)])
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_flip_averaging_follows_set_params_on_a_fitted_model(faces, fitted_model):
    _, _, Xv, _ = faces
    clf = fitted_model("GenderClassifier")  # a copy: set_params below changes it
    with_tta = clf.predict_proba(Xv[:40])
    plain = clf.set_params(tta=False).predict_proba(Xv[:40])
    mirrored = clf.predict_proba(Xv[:40, :, ::-1])
    logits = np.log(plain) + np.log(mirrored)  # the mean of the two outputs, up to a constant
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum(1, keepdims=True)
    np.testing.assert_allclose(with_tta, expected, atol=1e-5)
    assert not np.allclose(with_tta, plain, atol=1e-5)
    np.testing.assert_allclose(clf.set_params(tta=True).predict_proba(Xv[:40]), with_tta)


def test_augmentation_runs_on_the_batch_and_only_in_training(tiny_module):
    from skface._engine import FaceModule

    module = FaceModule(tiny_module(n_outputs=2), augment={"flip": True, "shift": 0.1,
                                                           "rotate": 10, "brightness": 0.2})
    x = torch.randint(0, 256, (8, 32, 32, 3), dtype=torch.uint8)
    module.eval()
    np.testing.assert_array_equal(module(x).detach().numpy(), module(x).detach().numpy())
    torch.manual_seed(0)
    seen = module._augment(module._to_float(x))
    assert seen.shape == (8, 3, 32, 32) and not torch.allclose(seen, module._to_float(x))


def test_saturation_changes_colour_not_the_grey_image(tiny_module):
    from skface._engine._module import _LUMA, FaceModule

    module = FaceModule(tiny_module(n_outputs=2), augment={"saturation": 0.5})
    x = module._to_float(torch.randint(0, 256, (64, 16, 16, 3), dtype=torch.uint8))
    torch.manual_seed(0)
    seen = module._augment(x)
    luma = lambda t: (t * _LUMA).sum(1)  # noqa: E731
    torch.testing.assert_close(luma(seen), luma(x))  # brightness per pixel is kept
    grey = luma(x)[:, None]
    factor = ((seen - grey) / (x - grey)).flatten(1).nanmedian(1).values  # per image
    assert factor.min() >= 0.5 - 1e-4 and factor.max() <= 1.5 + 1e-4
    assert factor.max() - factor.min() > 0.3  # random per image
    # greyscale images pass through unchanged
    g = module._to_float(torch.randint(0, 256, (4, 16, 16, 1), dtype=torch.uint8))
    torch.testing.assert_close(module._augment(g), g)
    assert "saturation" in GenderClassifier(augment={"saturation": 0.3})._augment_spec()


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_age_as_a_distribution_over_years(faces, learning_params):
    X, y, Xv, yv = faces
    reg = AgeRegressor(**{**learning_params, "criterion": "dex"}).fit(X, y["age"])
    assert reg.n_outputs_ == 117  # one class per year 0..116
    pred = reg.predict(Xv)
    baseline = np.abs(DummyRegressor().fit(X, y["age"]).predict(Xv) - yv["age"]).mean()
    assert np.abs(pred - yv["age"]).mean() < 0.75 * baseline
    # the prediction is the expected age under the softmax over the 117 classes
    out = reg.forward(Xv[:4], training=False).float()
    expected = (torch.softmax(out.double(), 1) * torch.arange(117)).sum(1).numpy()
    np.testing.assert_allclose(pred[:4], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="sigma"):
        AgeRegressor(**{**learning_params, "criterion": "dex", "criterion__sigma": 0}).fit(
            X, y["age"])


def test_age_distribution_loss_is_smallest_at_the_true_age():
    from skface.nets.losses import AgeDistributionLoss

    loss = AgeDistributionLoss(y_mean=30.0, y_scale=10.0)
    y = torch.tensor([[0.5]])  # 35 years, standardised
    ages = torch.arange(117.0)
    right = loss(-((ages - 35) ** 2)[None] / 8, y)
    wrong = loss(-((ages - 55) ** 2)[None] / 8, y)
    assert right < wrong


@pytest.mark.slow  # trains long enough to show it learns
@pytest.mark.parametrize("levers", [{"mixup": 0.4}, {"cutmix": 1.0}, {"mixup": 0.2, "cutmix": 1.0}])
def test_mixing_augmentations_still_learn(faces, levers, learning_params):
    X, y, Xv, yv = faces
    clf = GenderClassifier(**learning_params, **levers).fit(X, y["gender"])
    chance = DummyClassifier().fit(X, y["gender"]).score(Xv, yv["gender"])
    assert clf.score(Xv, yv["gender"]) > max(0.7, chance + 0.15)


def test_mixing_blends_images_and_losses(faces, learning_params):
    X, y, _, _ = faces
    clf = AgeRegressor(**{**learning_params, "max_epochs": 1, "mixup": 0.4}).fit(
        X[:64], y["age"][:64])
    seen = []
    clf.infer = lambda x, **kw: seen.append(x) or clf.module_(x)
    Xb = torch.from_numpy(X[:16])
    yb = torch.zeros(16, 1)
    torch.manual_seed(0)
    clf.train_step_single((Xb, yb))
    mixed = seen[0]
    assert mixed.dtype == torch.float32 and mixed.shape == Xb.shape
    assert float(mixed.max()) <= 1.0
    assert not torch.allclose(mixed, Xb.float() / 255)  # blended with partners
    with pytest.raises(ValueError, match="mixup"):
        GenderClassifier(**{**learning_params, "mixup": -1}).fit(X[:50], y["gender"][:50])


@pytest.mark.slow  # ten epochs on 900 images, to show it learns
def test_weight_averaging_is_what_predicts(faces, learning_params):
    X, y, Xv, yv = faces
    clf = GenderClassifier(**{**learning_params, "ema_decay": 0.9, "early_stopping": False}).fit(
        X, y["gender"])
    assert clf.score(Xv, yv["gender"]) > 0.7
    ema = dict(clf.callbacks_)["ema"]
    assert ema.updates_ == 10 * -(-(len(X) - round(0.1 * len(X))) // FAST_BATCH)
    # the averaged weights differ from a fit without averaging, same seed
    plain = GenderClassifier(**{**learning_params, "early_stopping": False}).fit(X, y["gender"])
    assert not np.allclose(clf.predict_proba(Xv), plain.predict_proba(Xv), atol=1e-3)
    # an average that barely looks back equals the raw weights: same training path
    tiny = GenderClassifier(**{**learning_params, "ema_decay": 1e-9, "early_stopping": False}).fit(
        X, y["gender"])
    np.testing.assert_allclose(tiny.predict_proba(Xv), plain.predict_proba(Xv), atol=1e-4)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(Xv), clf.predict_proba(Xv))
    with pytest.raises(ValueError, match="ema_decay"):
        GenderClassifier(**{**learning_params, "ema_decay": 1.5}).fit(X[:50], y["gender"][:50])


# ------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("cls", [GenderClassifier, AgeRegressor, AgeBinner])
def test_pickled_model_predicts_identically(faces, cls, fitted_model):
    _, _, Xv, _ = faces
    model = fitted_model(cls.__name__)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(Xv), model.predict(Xv))
    assert again.device == "auto"


def test_joblib_pipeline_loads_in_a_fresh_process_and_predicts_from_paths(
        tmp_path, synthetic_paths, learning_params):
    y = UTKFaceLabelDecoder(["gender"]).fit_transform(synthetic_paths)["gender"]
    pipe = make_pipeline(ImageLoader(size=32),
                         GenderClassifier(**{**learning_params, "max_epochs": 2}))
    pipe.fit(synthetic_paths, y)
    model_file = tmp_path / "gender.joblib"
    joblib.dump(pipe, model_file)
    code = textwrap.dedent(f"""
        import joblib, json, sys
        model = joblib.load({str(model_file)!r})
        print(json.dumps(model.predict({synthetic_paths[:5]!r}).tolist()))
        print("torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == str(pipe.predict(synthetic_paths[:5]).tolist()).replace("'", '"')


# ------------------------------------------------------------------------- tuning


def test_grid_search_over_a_pipeline_decodes_once(synthetic_paths, learning_params):
    y = UTKFaceLabelDecoder(["gender"]).fit_transform(synthetic_paths)["gender"]
    pipe = make_pipeline(ImageLoader(size=32),
                         GenderClassifier(**{**learning_params, "max_epochs": 2}))
    grid = {"genderclassifier__lr": [1e-3, 3e-3], "genderclassifier__batch_size": [16, 32]}
    search = GridSearchCV(pipe, grid, cv=3).fit(synthetic_paths, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.predict(synthetic_paths[:3]).shape == (3,)
    assert image_cache_info().decodes == len(synthetic_paths)


@pytest.mark.slow
def test_grid_search_with_worker_processes(synthetic_paths, learning_params):
    y = UTKFaceLabelDecoder(["gender"]).fit_transform(synthetic_paths)["gender"]
    pipe = make_pipeline(ImageLoader(size=32),
                         GenderClassifier(**{**learning_params, "max_epochs": 1}))
    grid = {"genderclassifier__lr": [1e-3, 3e-3]}
    serial = GridSearchCV(pipe, grid, cv=2).fit(synthetic_paths, y)
    parallel = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(synthetic_paths, y)
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])


def test_set_params_and_clone_reach_the_network():
    clf = GenderClassifier(module="skfacenet", module__width=8, optimizer__weight_decay=0.05)
    twin = clone(clf)
    assert twin.get_params()["module__width"] == 8
    twin.set_params(module__width=16, lr=1e-4)
    assert twin.module__width == 16 and twin.lr == 1e-4 and clf.module__width == 8


# ------------------------------------------------------------------------- repr


def _network_estimators() -> list[str]:
    """Every estimator with a network that skface exports (the Accelerated ones too)."""
    import skface
    from skface._engine import FaceNetBase

    return sorted(n for n in skface.__all__ if isinstance(getattr(skface, n), type)
                  and issubclass(getattr(skface, n), FaceNetBase))


NETWORK_ESTIMATORS = _network_estimators()


def _estimator_class(name: str) -> type:
    import skface

    return getattr(skface, name)


def test_every_network_estimator_is_in_the_repr_tests():
    assert len(NETWORK_ESTIMATORS) == 10 and "AcceleratedFaceAttributes" in NETWORK_ESTIMATORS


@pytest.mark.parametrize("name", NETWORK_ESTIMATORS)
def test_repr_shows_only_the_parameters_that_differ_from_the_defaults(name):
    cls = _estimator_class(name)
    assert repr(cls()) == f"{name}()"
    assert repr(cls(lr=1e-3)) == f"{name}(lr=0.001)"
    text = repr(cls(lr=1e-3, max_epochs=3, module__width=8, verbose=0))
    assert text == f"{name}(lr=0.001, max_epochs=3, module__width=8, verbose=0)"
    for leak in ("_params_to_validate", "DataLoader", "Dataset", "uninitialized", "module_="):
        assert leak not in text
    # eval-like: evaluating it gives an estimator with the same parameters
    again = eval(text, {name: cls})
    assert again.get_params(deep=False) == cls(
        lr=1e-3, max_epochs=3, module__width=8, verbose=0).get_params(deep=False)


@pytest.mark.parametrize("name", NETWORK_ESTIMATORS)
def test_the_signature_gives_every_parameter_and_its_default(name):
    import inspect

    cls = _estimator_class(name)
    params = cls().get_params(deep=False)
    signature = inspect.signature(cls).parameters
    named = {k: p.default for k, p in signature.items() if p.kind is p.KEYWORD_ONLY
             or p.kind is p.POSITIONAL_OR_KEYWORD}
    assert set(params) == set(named), set(params) ^ set(named)
    for key, default in named.items():
        assert params[key] is default or params[key] == default, key
    assert "_params_to_validate" not in cls(module__width=8).get_params()


def _fitted(name: str, synthetic_faces, registered_fast_params):
    cls = _estimator_class(name)
    X, y = synthetic_faces(16, size=32)
    base = name.removeprefix("Accelerated")
    target = {"GenderClassifier": y["gender"], "RaceClassifier": y["race"],
              "AgeRegressor": y["age"], "AgeBinner": y["age"],
              "FaceAttributes": y[["age", "gender", "race"]]}[base]
    extra = {}
    if name.startswith("Accelerated"):
        accelerate = pytest.importorskip("accelerate")
        extra["accelerator"] = accelerate.Accelerator(cpu=True)
    model = cls(**registered_fast_params, lr=1e-3, batch_size=8, **extra)
    return model.fit(X, target)


@pytest.mark.parametrize("name", NETWORK_ESTIMATORS)
def test_a_fitted_estimators_repr_is_its_parameters_too(name, synthetic_faces,
                                                        registered_fast_params):
    model = _fitted(name, synthetic_faces, registered_fast_params)
    text = repr(model)
    assert text.startswith(f"{name}(") and text.endswith(")")
    assert "lr=0.001" in text and "batch_size=8" in text and "module='basic_cnn'" in text
    for leak in ("_params_to_validate", "DataLoader", "Dataset", "initialized", "module_",
                 "Conv2d", "(net)"):
        assert leak not in text
    if not name.startswith("Accelerated"):  # (the accelerator is not printed as an eval)
        assert text == repr(clone(model))
    # in a Pipeline, and in scikit-learn's HTML display in notebooks
    pipe = make_pipeline(ImageLoader(size=32), model)
    assert f"{name}(" in repr(pipe) and "_params_to_validate" not in repr(pipe)
    for shown in (model, clone(model), pipe):
        html = shown._repr_html_()
        assert name in html and "_params_to_validate" not in html
        assert set(shown._repr_mimebundle_()) >= {"text/plain", "text/html"}
    assert "fitted" in model._repr_html_()


def test_a_subclass_signature_and_repr_start_from_its_own_defaults():
    import inspect

    class Quick(GenderClassifier):
        def __init__(self, module="basic_cnn", *args, max_epochs=2, **kwargs):
            super().__init__(module, *args, max_epochs=max_epochs, **kwargs)

    class Quicker(Quick):  # no __init__ of its own
        pass

    class Fixed(GenderClassifier):  # takes nothing else
        def __init__(self, module="basic_cnn", lr=0.01):
            super().__init__(module, lr=lr)

    assert repr(Quick()) == "Quick()" and repr(Quicker()) == "Quicker()"
    assert repr(Quick(max_epochs=36, lr=1e-3)) == "Quick(lr=0.001, max_epochs=36)"
    assert repr(Quicker(module="skfacenet")) == "Quicker(module='skfacenet')"
    signature = inspect.signature(Quicker)
    assert signature.parameters["max_epochs"].default == 2
    assert signature.parameters["lr"].default == 2e-3
    assert str(inspect.signature(Fixed)) == "(module='basic_cnn', lr=0.01)"
    assert Quicker(lr=0.1).get_params()["max_epochs"] == 2


def test_a_pipeline_repr_shows_the_estimators_changed_parameters_only():
    pipe = make_pipeline(ImageLoader(size=32), GenderClassifier(lr=1e-3, max_epochs=3))
    assert repr(pipe) == (
        "Pipeline(steps=[('imageloader', ImageLoader(size=32)),\n"
        "                ('genderclassifier', GenderClassifier(lr=0.001, max_epochs=3))])")


def test_set_params_stores_an_invalid_value_and_fit_names_it(faces, fast_params):
    X, y, _, _ = faces
    clf = GenderClassifier(**fast_params, early_stopping=True)
    for bad in ({"patience": "soon"}, {"ema_decay": np.array([0.9, 0.99])},
                {"validation_fraction": "a tenth"}):
        clf.set_params(**bad)  # scikit-learn's rule: set_params only stores
        assert clf.get_params()[next(iter(bad))] is next(iter(bad.values()))
        with pytest.raises(ValueError, match=rf"'{next(iter(bad))}' parameter of GenderClassifier"):
            clf.fit(X[:16], y["gender"][:16])
        clf.set_params(**{k: GenderClassifier().get_params()[k] for k in bad})


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", [GenderClassifier, AgeRegressor, AgeBinner, FaceAttributes])
def test_paths_instead_of_images_show_the_pipeline_to_write(cls):
    with pytest.raises(TypeError, match=rf"make_pipeline\(ImageLoader\(size=64\), {cls.__name__}"):
        cls().fit(["a.jpg", "b.jpg"], [0, 1])


@pytest.mark.parametrize(
    ("X", "words"),
    [
        (np.zeros((4, 8, 8), np.uint8), "channel axis"),
        (np.zeros((4, 8, 8, 2), np.uint8), "1 \\(greyscale\\) or 3"),
        (np.zeros((0, 8, 8, 3), np.uint8), "no images"),
        (np.full((4, 8, 8, 3), 300.0), "outside \\[0, 1\\].*float_max=255"),
        (np.full((4, 8, 8, 3), -0.5), "outside \\[0, 1\\].*float_max=255"),
        (np.full((4, 8, 8, 3), np.nan), "NaN"),
    ],
)
def test_bad_image_arrays(X, words, learning_params):
    with pytest.raises(ValueError, match=words):
        GenderClassifier(**learning_params).fit(X, [0, 1, 0, 1][: len(X)])


def test_label_problems_are_named(faces, learning_params, fitted_model):
    X, y, _, _ = faces
    with pytest.raises(ValueError, match="900 images but y has 899"):
        GenderClassifier(**learning_params).fit(X, y["gender"][:-1])
    with pytest.raises(LabelError, match="missing"):
        GenderClassifier(**learning_params).fit(X[:3], [0, None, 1])
    with pytest.raises(LabelError, match="between 0 and 116"):
        AgeRegressor(**learning_params).fit(X[:3], [3, 200, 5])
    with pytest.raises(ValueError, match="at least two classes"):
        GenderClassifier(**learning_params).fit(X[:3], [1, 1, 1])
    clf = fitted_model("GenderClassifier")
    with pytest.raises(LabelError, match=r"\[7\] were not seen in fit"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="fitted on 32x32"):
        clf.predict(np.zeros((2, 40, 40, 3), np.uint8))
    with pytest.raises(TypeError, match="DataFrame"):
        FaceAttributes(**learning_params).fit(X, y["age"])


def test_ctrl_c_during_fit_keeps_the_best_weights_and_says_so(faces, learning_params):
    import copy

    from skorch.callbacks import Callback

    class InterruptAt(Callback):
        def __init__(self, epoch):
            self.epoch = epoch

        def on_train_begin(self, net, **kwargs):
            self.states = {}

        def on_epoch_end(self, net, **kwargs):
            epoch = len(net.history_)
            self.states[epoch] = copy.deepcopy(net.module_.state_dict())
            if epoch == self.epoch:
                raise KeyboardInterrupt  # what Ctrl-C raises

    X, y, Xv, _ = faces
    stopper = InterruptAt(4)
    clf = GenderClassifier(**{**learning_params, "max_epochs": 10, "lr": 0.05}, early_stopping=True,
                           callbacks=[("interrupt", stopper)])
    with pytest.warns(UserWarning, match=r"interrupted after 4 epoch\(s\); the weights of the "
                                         r"best epoch \((\d)\) are kept") as caught:
        clf.fit(X[:400], y["gender"][:400])
    best = int(re.search(r"best epoch \((\d)\)", str(caught[0].message)).group(1))
    assert best == dict(clf.callbacks_)["early_stopping"].best_epoch_
    kept = clf.module_.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in stopper.states[best].items())
    assert clf.predict(Xv[:5]).shape == (5,)  # usable as it is
