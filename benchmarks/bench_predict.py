"""Prediction from paths through a joblib-loaded pipeline: latency of one image, throughput.

A ``make_pipeline(ImageLoader(), GenderClassifier())`` with the default network is
fitted briefly (the weights do not change the cost), saved with ``joblib.dump`` and
loaded back; loading is excluded. Latency: ``predict([path])`` on images the process
has not decoded before (decode included), median and 95th percentile. Throughput:
``predict`` on 1,000 paths, decode cache cleared first.
Target (issue 4): <= 20 ms for one image on this CPU.

Run: ``python benchmarks/bench_predict.py [--data DIR] [--write]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

import skface
from skface import GenderClassifier, ImageLoader

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"


def image_paths(data: Path, n: int, tmp: Path) -> tuple[list[str], str]:
    if data.is_dir():
        names = sorted(p for p in os.listdir(data) if p.endswith(".jpg"))
        return [str(data / p) for p in names[:n]], "UTKFace"
    from skface.datasets import make_faces

    frame = make_faces(n, size=200, directory=tmp / "faces", random_state=0)
    return frame["path"].astype(str).tolist(), "synthetic"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--single", type=int, default=100, help="single-image calls timed")
    parser.add_argument("--batch", type=int, default=1000, help="paths in the batch call")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.single, args.batch = 10, 50
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_fit = 256
        paths, source = image_paths(args.data, n_fit + args.single + args.batch, tmp)
        fit_paths = paths[:n_fit]
        single = paths[n_fit:n_fit + args.single]
        batch = paths[n_fit + args.single:]
        y = np.arange(n_fit) % 2
        pipe = make_pipeline(ImageLoader(), GenderClassifier(max_epochs=1, verbose=0,
                                                             random_state=0))
        pipe.fit(fit_paths, y)
        model_file = tmp / "gender.joblib"
        joblib.dump(pipe, model_file)
        model = joblib.load(model_file)
        model.predict(fit_paths[:2])  # first call pays one-time set-up (oneDNN kernels)
        skface.clear_image_cache()
        times = []
        for p in single:
            t0 = time.perf_counter()
            model.predict([p])
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1000
        skface.clear_image_cache()
        t0 = time.perf_counter()
        model.predict(batch)
        rate = len(batch) / (time.perf_counter() - t0)
    median, p95 = float(np.median(ms)), float(np.percentile(ms, 95))
    size = model[0].size
    print(f"{_report.machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{source} images, {size} px, default network, tta on")
    print(f"one image from its path: median {median:.1f} ms, p95 {p95:.1f} ms "
          f"({len(single)} calls; target <= 20 ms: {'met' if median <= 20 else 'MISSED'})")
    print(f"{len(batch)} paths in one call: {rate:.0f} images/s (decode included)")
    if args.write and not args.quick:
        _report.append_history(
            "Prediction (benchmarks/bench_predict.py)",
            "A joblib-loaded make_pipeline(ImageLoader(), GenderClassifier()) with the "
            "default network predicting from paths (load excluded, decode included, images "
            "not seen before). Target: one image <= 20 ms on this CPU.",
            ["date", "machine", "versions", "data", "px", "one image median ms",
             "one image p95 ms", "batch", "batch img/s", "command"],
            [_report.today(), _report.machine(), _report.versions("torch", "skface"),
             source, size, f"{median:.1f}", f"{p95:.1f}", len(batch), f"{rate:.0f}",
             f"`{_report.command()}`"],
        )
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
