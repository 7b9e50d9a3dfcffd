"""Reproducibility across processes, loading older model files, and a data folder that a
full train / evaluate / eda / predict run leaves byte for byte unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from skface._cli import main

FIT_AND_HASH = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    from skface import GenderClassifier
    from skface.datasets import make_faces
    X, y = make_faces(200, size=32, random_state=5)
    clf = GenderClassifier(module="skfacenet", module__width=8, max_epochs=3, verbose=0,
                           random_state=int(sys.argv[1])).fit(X[:150], y["gender"][:150])
    proba = clf.predict_proba(X[150:]).astype(np.float32)
    print(hashlib.sha256(proba.tobytes()).hexdigest())
""")


def _fit_in_fresh_process(seed: int) -> str:
    done = subprocess.run([sys.executable, "-c", FIT_AND_HASH, str(seed)], capture_output=True,
                          text=True, check=True, timeout=300)
    return done.stdout.strip()


@pytest.mark.slow
def test_same_random_state_gives_identical_predictions_in_fresh_processes():
    first, second = _fit_in_fresh_process(0), _fit_in_fresh_process(0)
    assert first == second
    assert _fit_in_fresh_process(1) != first  # and the seed matters


# A model file in save_model's format version 1, frozen here: a later skface that can no
# longer read what this release writes fails this test (see docs/deployment.md, "Versions").
# A file holds only the parameters that define the model (runtime settings are refused).
FORMAT_1_DESCRIPTION = {
    "format": "skface-model", "version": 1, "skface": "0.1.0.dev0", "pipeline": True,
    "steps": [
        {"class": "ImageLoader", "name": "imageloader", "fitted": {},
         "params": {"size": 16, "color": "rgb", "fit_mode": "crop", "fill": 0}},
        {"class": "GenderClassifier", "name": "genderclassifier",
         "params": {"module": "basic_cnn", "tta": True},
         "fitted": {"image_shape_": {"__tuple__": [16, 16, 3]},
                    "classes_": {"__ndarray__": ["female", "male"], "dtype": "object",
                                 "shape": [2]},
                    "n_outputs_": 2, "device_": "cpu"},
         "history": [{"__dict__": {"epoch": 1, "train_loss": 0.7}}]},
    ],
}


def test_a_format_1_model_file_keeps_loading(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    from skface import load_model
    from skface.datasets import make_faces
    from skface.nets import get_model

    torch.manual_seed(0)
    net = get_model("basic_cnn", n_outputs=2, in_channels=3)
    tensors = {f"1.module.net.{k}": v.contiguous() for k, v in net.state_dict().items()}
    path = tmp_path / "format1.safetensors"
    st.save_file(tensors, str(path), metadata={
        "format": "skface-model", "description": json.dumps(FORMAT_1_DESCRIPTION)})
    model = load_model(path)
    X = make_faces(4, size=16, random_state=0)[0]
    proba = model[-1].predict_proba(X)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(1), 1)
    assert set(model[-1].predict(X)) <= {"female", "male"}
    net.eval()
    with torch.no_grad():  # the weights in the file are the ones that predict
        x = (torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
        logits = (net(x) + net(x.flip(3))) / 2
    np.testing.assert_allclose(proba, torch.softmax(logits, 1).numpy(), atol=1e-5)


def _checksums(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_a_full_run_leaves_the_data_folder_unchanged(tmp_path, synthetic_dir, capsys):
    before = _checksums(synthetic_dir)
    listing = sorted(p.name for p in synthetic_dir.iterdir())
    model = tmp_path / "m.joblib"
    assert main(["train", str(synthetic_dir), "--size", "32", "--epochs", "1", "--network",
                 "basic_cnn", "-o", str(model), "-q"]) == 0
    assert main(["evaluate", str(model), str(synthetic_dir), "-o", str(tmp_path / "ev")]) == 0
    assert main(["eda", str(synthetic_dir), "-o", str(tmp_path / "eda"), "-q"]) == 0
    assert main(["predict", str(model), str(synthetic_dir), "-o", str(tmp_path / "p.csv")]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in synthetic_dir.iterdir()) == listing
    assert _checksums(synthetic_dir) == before


@pytest.mark.slow
def test_a_model_pickled_on_cuda_loads_and_predicts_on_a_cpu_only_machine(tmp_path):
    """Without a GPU here, the pickle is made to say what a CUDA fit leaves (device_ is
    "cuda"); a fresh process that sees no GPU must map it to the CPU and predict the same.
    tests/test_cuda.py does it for real on a GPU machine."""
    import joblib

    from skface import GenderClassifier
    from skface.datasets import make_faces

    X, y = make_faces(120, size=32, random_state=6)
    clf = GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0,
                           random_state=0).fit(X[:100], y["gender"][:100])
    expected = clf.predict_proba(X[100:])
    clf.device_ = "cuda"  # as fitted with device="auto" on a GPU machine
    joblib.dump(clf, tmp_path / "gpu.joblib")
    np.save(tmp_path / "X.npy", X[100:])
    code = textwrap.dedent(f"""
        import warnings, joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skorch notes that it maps CUDA to CPU
            clf = joblib.load({str(tmp_path / "gpu.joblib")!r})
        print(clf.device, clf.device_, next(clf.module_.parameters()).device)
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "p.npy")!r}, clf.predict_proba(X))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["auto", "cpu", "cpu"]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=1e-6)
