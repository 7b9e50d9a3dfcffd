"""Streaming: ImageLoader(lazy=True) gives LazyImages, which estimators train on batch by
batch without decoding the whole set, to the same result as the in-memory array."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from skface import ImageLoader, LazyImages, image_cache_info
from skface.exceptions import ImageLoadError

torch = pytest.importorskip("torch")
from skface import AgeRegressor, GenderClassifier  # noqa: E402


def _labels(paths):
    return np.arange(len(paths)) % 2


@pytest.fixture
def lazy(synthetic_paths) -> LazyImages:
    return ImageLoader(size=24, lazy=True).fit_transform(synthetic_paths)


def test_lazy_images_act_like_the_decoded_array(synthetic_paths, lazy):
    eager = ImageLoader(size=24, cache=False).fit_transform(synthetic_paths)
    assert isinstance(lazy, LazyImages)
    assert lazy.shape == eager.shape and len(lazy) == len(eager) and lazy.dtype == np.uint8
    assert image_cache_info().decodes == len(synthetic_paths)  # the eager load only
    np.testing.assert_array_equal(lazy[3], eager[3])
    np.testing.assert_array_equal(lazy.take([5, 1, 5]), eager[[5, 1, 5]])
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    # slices, index arrays, masks and scikit-learn's X[idx, ...] stay lazy
    for key, expected in [(slice(2, 9, 3), eager[2:9:3]), (np.array([4, 0]), eager[[4, 0]]),
                          (np.arange(len(eager)) % 3 == 0, eager[::3]),
                          ((np.array([7, 2]), Ellipsis), eager[[7, 2]])]:
        part = lazy[key]
        assert isinstance(part, LazyImages)
        np.testing.assert_array_equal(np.asarray(part), expected)
    assert image_cache_info().images == 0  # lazy reads bypass the cache


def test_lazy_images_refuse_bad_indices_and_pickle_small(lazy):
    with pytest.raises(IndexError, match="out of range"):
        lazy.take([len(lazy)])
    with pytest.raises(IndexError, match="first axis"):
        lazy[:, 0]
    with pytest.raises(IndexError, match="does not match"):
        lazy[np.ones(3, dtype=bool)]
    blob = pickle.dumps(lazy)
    assert len(blob) < 200 * len(lazy)  # paths and settings, no pixels
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.take([0, 1]), lazy.take([0, 1]))


def test_missing_files_fail_at_transform_naming_them(synthetic_paths, tmp_path):
    gone = str(tmp_path / "gone.jpg")
    with pytest.raises(ImageLoadError, match=r"gone\.jpg") as err:
        ImageLoader(lazy=True).fit_transform([*synthetic_paths[:3], gone])
    assert [p for p, _ in err.value.failures] == [gone]


def test_a_corrupt_file_fails_the_fit_naming_it(synthetic_paths, tmp_path):
    paths = []
    for i, p in enumerate(synthetic_paths):
        paths.append(str(shutil.copy(p, tmp_path / f"{i}.jpg")))
    data = (tmp_path / "7.jpg").read_bytes()
    (tmp_path / "7.jpg").write_bytes(data[: len(data) // 3])
    X = ImageLoader(size=24, lazy=True).fit_transform(paths)  # exists: not decoded yet
    model = GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0, random_state=0)
    with pytest.raises(ImageLoadError, match=r"7\.jpg"):
        model.fit(X, _labels(paths))


@pytest.mark.parametrize("estimator", [
    GenderClassifier(module="basic_cnn", max_epochs=2, batch_size=8, verbose=0, random_state=0),
    AgeRegressor(module="basic_cnn", max_epochs=2, batch_size=8, verbose=0, random_state=0),
], ids=["gender", "age"])
def test_fit_on_lazy_images_equals_fit_in_memory(synthetic_paths, estimator, monkeypatch):
    from sklearn.base import clone

    y = _labels(synthetic_paths) if isinstance(estimator, GenderClassifier) else (
        20 + np.arange(len(synthetic_paths)) % 40)
    eager = ImageLoader(size=24, cache=False).fit_transform(synthetic_paths)
    expected = clone(estimator).fit(eager, y)

    sizes = []
    real_take = LazyImages.take

    def take(self, indices):
        sizes.append(len(indices))
        return real_take(self, indices)

    def refuse(*args, **kwargs):
        raise AssertionError("the whole LazyImages was decoded at once")

    monkeypatch.setattr(LazyImages, "take", take)
    monkeypatch.setattr(LazyImages, "__array__", refuse)
    X = ImageLoader(size=24, lazy=True).fit_transform(synthetic_paths)
    model = clone(estimator).fit(X, y)
    np.testing.assert_allclose(model.predict(X), expected.predict(eager), rtol=1e-5)
    assert max(sizes) <= estimator.batch_size  # batch by batch, never the whole set
    n_train = len(y) - round(len(y) * estimator.validation_fraction)
    assert sum(sizes) >= estimator.max_epochs * n_train  # every epoch decodes afresh


def test_grid_search_over_a_lazy_pipeline(synthetic_paths):
    y = _labels(synthetic_paths)
    pipe = make_pipeline(ImageLoader(size=24, lazy=True),
                         GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0,
                                          random_state=0))
    search = GridSearchCV(pipe, {"genderclassifier__lr": [1e-3, 3e-3]}, cv=2).fit(
        synthetic_paths, y)
    eager = GridSearchCV(pipe.set_params(imageloader__lazy=False),
                         {"genderclassifier__lr": [1e-3, 3e-3]}, cv=2).fit(synthetic_paths, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               eager.cv_results_["mean_test_score"])
    assert search.predict(synthetic_paths[:4]).shape == (4,)


def test_cross_validation_splits_lazy_images_without_decoding_them(lazy, synthetic_paths):
    seen = []
    real_subset = LazyImages.subset

    def subset(self, indices):
        out = real_subset(self, indices)
        seen.append(len(out))
        return out

    model = GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0, random_state=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LazyImages, "subset", subset)
        scores = cross_val_score(model, lazy, _labels(synthetic_paths), cv=2)
    assert scores.shape == (2,)
    assert sorted(seen) == [20, 20, 20, 20]  # train and test part of each split, lazily


def test_cli_train_stream_saves_a_streaming_pipeline(tmp_path, synthetic_paths, capsys):
    import joblib

    from skface._cli import main

    model = tmp_path / "gender.joblib"
    assert main(["train", "--synthetic", "60", "--size", "32", "--epochs", "1", "--network",
                 "basic_cnn", "--stream", "--target", "gender", "-o", str(model), "-q"]) == 0
    pipe = joblib.load(model)
    assert pipe.named_steps["imageloader"].lazy is True
    assert set(pipe.predict(synthetic_paths[:5])) <= {0, 1}
    capsys.readouterr()
    assert main(["predict", str(model), *synthetic_paths[:3]]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
