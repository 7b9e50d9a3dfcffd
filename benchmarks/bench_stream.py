"""Streaming folders larger than memory: peak memory stays flat from 20k to 200k images.

Each row runs in a fresh process: ``make_pipeline(ImageLoader(size=32, lazy=True),
GenderClassifier(module="basic_cnn", max_epochs=1))`` fitted (10% held out for
validation, as by default) on ``n`` paths, the UTKFace files repeated as often as
needed (sorted names, cycled). Reported: resident memory after importing everything
and a warm-up fit on 256 images (baseline), the peak while fitting on ``n`` (VmHWM),
the uint8 pixel bytes an in-memory fit would hold, the growth ``peak - baseline``, and
the fit's images per second. For contrast, ``--eager`` sizes run the same fit with
``ImageLoader(size=32)`` (decoded into memory). Target (issue 7): the streaming peak does
not grow with ``n`` (the slope per image, in bytes, is printed; a path string costs
about 150 bytes, which is the only per-image state kept).

Run: ``python benchmarks/bench_stream.py [--data DIR] [--sizes 20000 50000 100000 200000]
[--eager 20000 50000] [--write]``
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
import itertools, json, os, sys, time
import numpy as np
from sklearn.pipeline import make_pipeline
from skface import GenderClassifier, ImageLoader

data, n, size, lazy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "lazy"
names = sorted(p for p in os.listdir(data) if p.endswith(".jpg"))
paths = [os.path.join(data, p) for p in itertools.islice(itertools.cycle(names), n)]
y = np.arange(len(paths)) % 2
def model():
    return make_pipeline(ImageLoader(size=size, lazy=lazy, cache=False),
                         GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0,
                                          random_state=0))
model().fit(paths[:256], y[:256])     # warm-up: imports, kernels, batch workspace
import gc; gc.collect()
base = status_mib("VmHWM")
reset_peak()  # the high-water mark, from here on
t = time.perf_counter()
model().fit(paths, y)
seconds = time.perf_counter() - t
peak = status_mib("VmHWM")
print(json.dumps({"n": len(paths), "baseline": base, "peak": peak, "seconds": seconds}))
"""


def _run(data: Path, n: int, size: int, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(data), str(n), str(size), mode],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["mode"] = mode
    r["pixels"] = n * size * size * 3 / 2**20
    r["growth"] = r["peak"] - r["baseline"]
    r["rate"] = n / r["seconds"]
    return r


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 50000, 100000, 200000])
    parser.add_argument("--eager", type=int, nargs="*", default=[20000, 50000],
                        help="sizes also fitted in memory, for contrast")
    parser.add_argument("--size", type=int, default=32, help="image size in pixels")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no image folder at {args.data}; pass --data", file=sys.stderr)
        return 2
    print(f"{_report.machine()}; basic_cnn at {args.size} px, 1 epoch, fresh process each")
    print(f"{'mode':>6}{'images':>8}{'baseline MiB':>14}{'peak MiB':>10}{'growth MiB':>12}"
          f"{'pixels MiB':>12}{'img/s':>8}")
    rows = []
    jobs = [("lazy", n) for n in args.sizes] + [("eager", n) for n in args.eager]
    for mode, n in jobs:
        r = _run(args.data, n, args.size, mode)
        rows.append(r)
        print(f"{mode:>6}{n:>8}{r['baseline']:>14.0f}{r['peak']:>10.0f}{r['growth']:>12.0f}"
              f"{r['pixels']:>12.0f}{r['rate']:>8.0f}", flush=True)
    lazy = [r for r in rows if r["mode"] == "lazy"]
    verdict = ""
    if len(lazy) > 1:
        n = np.array([r["n"] for r in lazy], float)
        peak = np.array([r["peak"] for r in lazy])
        slope = np.polyfit(n, peak, 1)[0] * 2**20  # bytes per image
        spread = float(peak.max() - peak.min())
        pixel_bytes = args.size * args.size * 3
        verdict = (f"streaming: {slope:.0f} bytes per image ({slope / pixel_bytes:.3f} x its "
                   f"pixel bytes), peaks within {spread:.0f} MiB from {int(n.min())} to "
                   f"{int(n.max())} images")
        print(verdict)
    if args.write:
        for r in rows:
            _report.append_history(
                "Streaming folders larger than memory (benchmarks/bench_stream.py)",
                "Peak resident memory (VmHWM) of a fresh process fitting "
                "make_pipeline(ImageLoader(size=32, lazy=True), "
                "GenderClassifier(module='basic_cnn', max_epochs=1)) on n paths (the "
                "UTKFace files cycled), against its peak in a warm-up fit on 256 images; "
                "'eager' rows decode into memory instead (ImageLoader(size=32)), for "
                "contrast. Target: the lazy peak stays flat as n grows.",
                ["date", "machine", "versions", "mode", "images", "px", "baseline MiB",
                 "peak MiB", "growth MiB", "pixels MiB", "fit img/s", "command"],
                [_report.today(), _report.machine(), _report.versions("torch", "skface"),
                 r["mode"], r["n"], args.size, f"{r['baseline']:.0f}", f"{r['peak']:.0f}",
                 f"{r['growth']:.0f}", f"{r['pixels']:.0f}", f"{r['rate']:.0f}",
                 f"`{_report.command()}`"],
            )
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
