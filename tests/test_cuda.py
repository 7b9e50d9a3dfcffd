"""The CUDA path. Runs only where a CUDA GPU is present (never in CI here)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from skface import AgeRegressor, GenderClassifier
from skface.datasets import make_faces

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.fixture(scope="module")
def faces():
    return make_faces(400, size=32, random_state=0)


def test_auto_device_trains_on_cuda_with_bf16(faces):
    X, y = faces
    clf = GenderClassifier(max_epochs=2, verbose=0, random_state=0).fit(X, y["gender"])
    assert clf.device_ == "cuda"
    assert next(clf.module_.parameters()).is_cuda
    assert clf.precision_ == (torch.bfloat16 if torch.cuda.is_bf16_supported() else None)
    assert set(clf.predict(X[:10])) <= {0, 1}


def test_cuda_model_predicts_the_same_on_cpu_in_a_process_without_cuda(faces, tmp_path):
    X, y = faces
    reg = AgeRegressor(max_epochs=2, verbose=0, random_state=0, precision="float32").fit(
        X, y["age"])
    path = tmp_path / "age.pkl"
    path.write_bytes(pickle.dumps(reg))
    np.save(tmp_path / "X.npy", X[:20])
    code = textwrap.dedent(f"""
        import pickle, warnings, numpy as np
        warnings.simplefilter("ignore")
        model = pickle.loads(open({str(path)!r}, "rb").read())
        assert model.device_ == "cpu", model.device_
        np.save({str(tmp_path / "cpu.npy")!r}, model.predict(np.load({str(tmp_path / "X.npy")!r})))
    """)
    env = {"CUDA_VISIBLE_DEVICES": ""}
    import os

    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **env})
    np.testing.assert_allclose(np.load(tmp_path / "cpu.npy"), reg.predict(X[:20]), atol=1e-3)
