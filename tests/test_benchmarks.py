"""The benchmark scripts run: their CPU path, on synthetic images, in a few seconds."""

from __future__ import annotations

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
