"""Tuning on a real Dask cluster (127.0.0.1) through joblib's Dask backend: the same
results as a serial search, and each image decoded once per worker process."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

from ._search_helpers import _search, assert_same_as_serial_and_decoded_once_per_worker

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_grid_search_on_a_local_dask_cluster_equals_the_serial_one(synthetic_paths):
    from dask.distributed import Client, LocalCluster

    y = np.arange(len(synthetic_paths)) % 2
    serial = _search(1).fit(synthetic_paths, y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_backend("dask"):
            remote = _search(-1).fit(synthetic_paths, y)
    assert_same_as_serial_and_decoded_once_per_worker(remote, serial, len(synthetic_paths))
