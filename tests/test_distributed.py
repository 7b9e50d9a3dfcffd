"""Tuning on a real Dask cluster (127.0.0.1) through joblib's Dask backend: the same
results as a serial search, and each image decoded once per worker process."""

from __future__ import annotations

import os

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader, image_cache_info

distributed = pytest.importorskip("distributed")


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
    return GridSearchCV(pipe, grid, cv=2, refit=False, n_jobs=n_jobs,
                        scoring={"accuracy": _accuracy, "decodes": _decodes, "pid": _pid})


@pytest.mark.slow
def test_grid_search_on_a_local_dask_cluster_equals_the_serial_one(synthetic_paths):
    from dask.distributed import Client, LocalCluster

    y = np.arange(len(synthetic_paths)) % 2
    serial = _search(1).fit(synthetic_paths, y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            remote = _search(-1).fit(synthetic_paths, y)
    np.testing.assert_allclose(remote.cv_results_["mean_test_accuracy"],
                               serial.cv_results_["mean_test_accuracy"])
    pids = np.concatenate([remote.cv_results_[f"split{k}_test_pid"] for k in range(2)])
    decodes = np.concatenate([remote.cv_results_[f"split{k}_test_decodes"] for k in range(2)])
    assert os.getpid() not in set(pids.tolist())  # the fits ran on the workers
    for pid in np.unique(pids):  # a worker decodes each image at most once, however many fits
        assert decodes[pids == pid].max() <= len(synthetic_paths)
