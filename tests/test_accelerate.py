"""Training through Hugging Face accelerate (skorch's AccelerateMixin): the same result as
the plain estimator, mixed precision, a fitted model that pickles and predicts without
accelerate, and real data parallel training in two processes (torchrun, gloo on CPU)."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

accelerate = pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

import skface  # noqa: E402
from skface import ImageLoader  # noqa: E402


@pytest.fixture(scope="module")
def accelerate_params(registered_fast_params):
    """Two epochs in batches of 8: several optimizer steps for each comparison."""
    return {**registered_fast_params, "max_epochs": 2, "batch_size": 8}


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one configuration per process: start and leave each test clean."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture
def faces(synthetic_paths):
    from skface.datasets import load_utkface

    frame = load_utkface(os.path.dirname(synthetic_paths[0]))
    return ImageLoader(size=24).fit_transform(frame["path"]), frame


def test_float32_through_accelerate_equals_the_plain_estimator(faces, accelerate_params):
    X, frame = faces
    y = frame["gender"].to_numpy()
    plain = skface.GenderClassifier(precision="float32", **accelerate_params).fit(X, y)
    model = skface.AcceleratedGenderClassifier(
        accelerator=accelerate.Accelerator(cpu=True), **accelerate_params).fit(X, y)
    np.testing.assert_allclose(model.predict_proba(X), plain.predict_proba(X), atol=1e-6)
    assert type(model.module_) is type(plain.module_)  # unwrapped after training


@pytest.mark.slow  # bfloat16 on a CPU is slow
@pytest.mark.parametrize("name,target", [
    ("AcceleratedGenderClassifier", "gender"), ("AcceleratedRaceClassifier", "race"),
    ("AcceleratedAgeRegressor", "age"), ("AcceleratedAgeBinner", "age"),
    ("AcceleratedFaceAttributes", ["age", "gender", "race"]),
])
def test_every_estimator_trains_in_bf16_and_pickles_without_its_accelerator(
        faces, name, target, accelerate_params):
    X, frame = faces
    y = frame[target]
    cls = getattr(skface, name)
    model = cls(accelerator=accelerate.Accelerator(cpu=True, mixed_precision="bf16"),
                **accelerate_params)
    model.fit(X, y)
    back = pickle.loads(pickle.dumps(model))
    assert back.accelerator is None and back.device is None
    expected, got = model.predict(X), back.predict(X)
    if isinstance(expected, np.ndarray) and expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    elif hasattr(expected, "columns"):
        assert got.equals(expected)
    else:
        np.testing.assert_array_equal(got, expected)
    # trains further once given a new accelerator
    back.set_params(accelerator=accelerate.Accelerator(cpu=True), max_epochs=1)
    assert back.fit(X, y).predict(X).shape[0] == len(X)


def test_without_an_accelerator_fit_says_what_to_pass(faces, accelerate_params):
    X, frame = faces
    model = skface.AcceleratedGenderClassifier(**accelerate_params)
    assert clone(model).get_params()["accelerator"] is None
    with pytest.raises(ValueError, match=r"accelerator=accelerate\.Accelerator"):
        model.fit(X, frame["gender"])


LAUNCHED = textwrap.dedent("""
    import hashlib, json, os, sys
    import joblib
    from accelerate import Accelerator
    from skorch.callbacks import Callback
    from skface import AcceleratedGenderClassifier, ImageLoader
    from skface.datasets import load_utkface

    class Seen(Callback):  # the images each process trains on in the first epoch
        def initialize(self):
            self.images_ = []
            return self
        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training and len(net.history) == 1:
                self.images_ += [hashlib.sha1(x.numpy().tobytes()).hexdigest()
                                 for x in batch[0]]

    data, out = sys.argv[1], sys.argv[2]
    frame = load_utkface(data)
    X = ImageLoader(size=24).fit_transform(frame["path"])
    accelerator = Accelerator(cpu=True)
    model = AcceleratedGenderClassifier(
        accelerator=accelerator, module="basic_cnn", max_epochs=2, batch_size=4, verbose=0,
        callbacks=[("seen", Seen())])          # no random_state: the seed is shared
    model.fit(X, frame["gender"].to_numpy())
    state = model.module_.state_dict()
    digest = hashlib.sha1(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()
    with open(os.path.join(out, f"rank{accelerator.process_index}.json"), "w") as f:
        json.dump({"world": accelerator.num_processes, "weights": digest,
                   "seen": dict(model.callbacks_)["seen"].images_,
                   "unwrapped": type(model.module_).__name__}, f)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:  # without the script's own callback, to load elsewhere
        model.callbacks_ = [(n, cb) for n, cb in model.callbacks_ if n != "seen"]
        model.callbacks = None
        joblib.dump(model, os.path.join(out, "model.joblib"))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_data_parallel_in_two_processes_shares_batches_and_syncs_weights(
        synthetic_dir, tmp_path):
    import joblib

    script = tmp_path / "launched.py"
    script.write_text(LAUNCHED)
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(script), str(synthetic_dir), str(out)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    seen = [set(r["seen"]) for r in ranks]
    # 40 images, 4 held out: 9 batches of 4, the first 8 shared out 4 and 4, disjoint
    assert [len(r["seen"]) for r in ranks] == [16, 16] and not seen[0] & seen[1]
    assert ranks[0]["weights"] == ranks[1]["weights"]  # DDP kept the copies equal
    assert ranks[0]["unwrapped"] == "FaceModule"
    model = joblib.load(out / "model.joblib")
    X = ImageLoader(size=24).fit_transform(sorted(str(p) for p in synthetic_dir.iterdir()))
    assert model.accelerator is None and set(model.predict(X)) <= {0, 1}
    # and in a fresh process where accelerate cannot even be imported, without a GPU
    paths = [str(p) for p in sorted(synthetic_dir.iterdir())]
    code = ("import sys; sys.modules['accelerate'] = None\n"
            "import joblib, numpy as np\n"
            "from skface import ImageLoader\n"
            f"X = ImageLoader(size=24).fit_transform({paths!r})\n"
            f"model = joblib.load({str(out / 'model.joblib')!r})\n"
            f"np.save({str(tmp_path / 'fresh.npy')!r}, model.predict_proba(X))\n")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=300, env=env)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"), model.predict_proba(X),
                               rtol=1e-5)


@pytest.mark.parametrize("verbose", [0, 1])
def test_the_epoch_table_follows_verbose(faces, capsys, verbose, accelerate_params):
    X, frame = faces
    skface.AcceleratedGenderClassifier(
        accelerator=accelerate.Accelerator(cpu=True), **{**accelerate_params, "verbose": verbose}
    ).fit(X, frame["gender"].to_numpy())
    out = capsys.readouterr().out
    assert ("train_loss" in out) is bool(verbose)
