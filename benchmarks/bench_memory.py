"""Peak memory of fitting from paths, against the bytes of the decoded pixels.

Each size runs in a fresh process: ``make_pipeline(ImageLoader(size=64),
GenderClassifier(max_epochs=1))`` fitted on the first ``n`` UTKFace images (sorted
names). Reported: the process's resident memory after importing everything and
a warm-up fit on 256 images (baseline, its peak: interpreter, torch, the model and the
workspace of full training and validation batches), its peak while
fitting on ``n`` images, the uint8 pixel bytes ``n * 64 * 64 * 3``, and
``(peak - baseline) / pixel bytes``. Target (issue 4): peak <= 2 x pixel bytes plus
the model on the whole folder (the largest ``n``), growing linearly in ``n`` (the
slope per image and the largest deviation from a straight line are printed).

Run: ``python benchmarks/bench_memory.py [--data DIR] [--sizes 2000 5000 10000 18981] [--write]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"

CHILD = _report.CHILD_MEMORY_HELPERS + r"""
import json, os, resource, sys, warnings
import numpy as np
from sklearn.pipeline import make_pipeline
from skface import GenderClassifier, ImageLoader

data, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = sorted(p for p in os.listdir(data) if p.endswith(".jpg"))[:n]
paths = [os.path.join(data, p) for p in names]
y = np.arange(len(paths)) % 2
def model(**kw):
    return make_pipeline(ImageLoader(size=size),
                         GenderClassifier(max_epochs=1, verbose=0, random_state=0, **kw))
# warm-up fit on 256 images: imports, kernels, and the workspace of full training and
# validation batches (activations, gradients, optimiser state, float32 evaluation of
# 128 images with flip averaging), with negligible pixels
model(validation_fraction=0.5).fit(paths[:256], y[:256])
import skface; skface.clear_image_cache()
import gc; gc.collect()
base = status_mib("VmHWM")
reset_peak()  # the high-water mark, from here on
model().fit(paths, y)
peak = status_mib("VmHWM")
print(json.dumps({"n": len(paths), "baseline": base, "peak": peak}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 18981])
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no image folder at {args.data}; pass --data", file=sys.stderr)
        return 2
    rows = []
    print(f"{_report.machine()}; fit from paths at {args.size} px, 1 epoch, fresh process each")
    print(f"{'images':>7}{'baseline MiB':>14}{'peak MiB':>10}{'pixels MiB':>12}"
          f"{'growth/pixels':>15}")
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.data), str(n),
                              str(args.size)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        pixels = r["n"] * args.size * args.size * 3 / 2**20
        r["pixels"] = pixels
        r["ratio"] = (r["peak"] - r["baseline"]) / pixels
        rows.append(r)
        print(f"{r['n']:>7}{r['baseline']:>14.0f}{r['peak']:>10.0f}{pixels:>12.0f}"
              f"{r['ratio']:>15.2f}", flush=True)
    if len(rows) > 1:
        n = np.array([r["n"] for r in rows], float)
        peak = np.array([r["peak"] for r in rows])
        slope, icept = np.polyfit(n, peak, 1)
        resid = float(np.abs(peak - (slope * n + icept)).max())
        per_image = slope * 2**20 / (args.size * args.size * 3)
        print(f"linear fit: {slope * 1024:.1f} KiB per image = {per_image:.2f} x its pixel "
              f"bytes, largest deviation from the line {resid:.0f} MiB")
    # The target is for the whole folder (the largest n); the smaller sizes show that the
    # growth is linear. At small n the ratio is dominated by a fixed few tens of MiB of
    # training workspace that the 256-image warm-up does not reach (more batch shapes,
    # allocator high-water marks), not by anything that grows with n.
    full = max(rows, key=lambda r: r["n"])
    print(f"(peak - baseline) / pixel bytes at {full['n']} images = {full['ratio']:.2f} "
          "(target <= 2): " + ("met" if full["ratio"] <= 2 else "MISSED"))
    if args.write:
        for r in rows:
            _report.append_history(
                "Memory while fitting (benchmarks/bench_memory.py)",
                "Peak resident memory (VmHWM) of a fresh process fitting "
                "make_pipeline(ImageLoader(size=64), GenderClassifier(max_epochs=1)) on the "
                "first n UTKFace images, against its peak in a warm-up fit on 256 images "
                "(interpreter, torch, the model and its training workspace) and the uint8 "
                "pixel bytes. Target: peak - baseline <= 2 x "
                "pixel bytes, linear in n.",
                ["date", "machine", "versions", "images", "px", "baseline MiB", "peak MiB",
                 "pixels MiB", "(peak - baseline) / pixels", "command"],
                [_report.today(), _report.machine(), _report.versions("torch", "skface"),
                 r["n"], args.size, f"{r['baseline']:.0f}", f"{r['peak']:.0f}",
                 f"{r['pixels']:.0f}", f"{r['ratio']:.2f}", f"`{_report.command()}`"],
            )
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
