"""Tuning on a real local Ray runtime (127.0.0.1) through Ray's joblib backend: the same
results as a serial search, and each image decoded once per worker process."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import joblib
import joblib.pool
import numpy as np
import pytest

from ._search_helpers import _search, assert_same_as_serial_and_decoded_once_per_worker

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory):
    """A local Ray runtime with two CPUs on the loopback interface, shut down afterwards.

    Ray rewrites ``_node_ip_address="127.0.0.1"`` to the machine's routable address and
    listens on every interface unless its "cluster" mode is off, so that mode is switched off
    here (for this process and, through the environment, for the processes Ray starts). The
    runtime authenticates with a random token held in the environment, so that nothing is
    written to ``~/.ray``, and its files go to a pytest temporary folder. Ray's workers get
    the driver's working directory on their path but not pytest's root, so the repository is
    put on their ``PYTHONPATH`` for them to unpickle the scorers of ``tests._search_helpers``.
    """
    pickling_pool_bases = joblib.pool.PicklingPool.__bases__
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        mp.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False, raising=False)
        mp.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setenv("PYTHONPATH", str(REPO), prepend=os.pathsep)
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 _temp_dir=str(tmp_path_factory.mktemp("ray")), log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()
            # Ray's joblib backend rebases joblib's PicklingPool onto Ray's Pool: undo that
            # so that later tests get joblib's own multiprocessing backend back.
            joblib.pool.PicklingPool.__bases__ = pickling_pool_bases


@pytest.mark.slow
def test_grid_search_on_a_local_ray_runtime_equals_the_serial_one(ray_runtime, synthetic_paths):
    from ray.util.joblib import register_ray

    y = np.arange(len(synthetic_paths)) % 2
    serial = _search(1).fit(synthetic_paths, y)
    register_ray()
    with joblib.parallel_backend("ray"):
        remote = _search(-1).fit(synthetic_paths, y)
    assert_same_as_serial_and_decoded_once_per_worker(remote, serial, len(synthetic_paths))
