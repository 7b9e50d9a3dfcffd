"""A small grid search shared by the tests that tune on a cluster through a joblib backend
(tests/test_distributed.py for Dask, tests/test_ray.py for Ray), and the checks on it.

The scorers live in this importable module (not in a test file) so that the workers unpickle
them by reference; besides the accuracy they report the worker's process id and how many
images that process has decoded so far."""

from __future__ import annotations

import os

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader, image_cache_info

CV = 2


def _accuracy(estimator, X, y):
    return float((estimator.predict(X) == np.asarray(y)).mean())


def _decodes(estimator, X, y):
    return image_cache_info().decodes


def _pid(estimator, X, y):
    return os.getpid()


def _search(n_jobs):
    pipe = make_pipeline(ImageLoader(size=24), GenderClassifier(
        module="basic_cnn", max_epochs=2, verbose=0, random_state=0))
    grid = {"genderclassifier__lr": [1e-3, 3e-3], "genderclassifier__batch_size": [16, 32]}
    return GridSearchCV(pipe, grid, cv=CV, refit=False, n_jobs=n_jobs,
                        scoring={"accuracy": _accuracy, "decodes": _decodes, "pid": _pid})


def assert_same_as_serial_and_decoded_once_per_worker(remote, serial, n_images):
    """The remote search scored like the serial one, its fits ran in processes other than
    this one, and no worker process decoded an image twice, however many fits it ran."""
    np.testing.assert_allclose(remote.cv_results_["mean_test_accuracy"],
                               serial.cv_results_["mean_test_accuracy"])
    pids = np.concatenate([remote.cv_results_[f"split{k}_test_pid"] for k in range(CV)])
    decodes = np.concatenate([remote.cv_results_[f"split{k}_test_decodes"] for k in range(CV)])
    assert os.getpid() not in set(pids.tolist())  # the fits ran on the workers
    for pid in np.unique(pids):  # a worker decodes each image at most once, however many fits
        assert decodes[pids == pid].max() <= n_images
