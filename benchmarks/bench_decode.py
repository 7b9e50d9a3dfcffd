"""Decode speed: ImageLoader against a bare Pillow draft-decode loop, in the same run.

Three ways to turn the same JPEG files into a (n, size, size, 3) uint8 array:

- ``bare draft loop``: the fastest plain Pillow loop, one thread: open, ``draft``
  (decode at 1/2, 1/4 or 1/8 scale), convert to RGB, resize, copy into the array;
- ``plain open+resize``: the same without draft mode;
- ``ImageLoader``: skface's loader with the cache off, with one thread and with its
  default threads; and a second, cached call.

Target: ImageLoader (default) >= 90% of the bare draft loop's images/s.

Run: ``python benchmarks/bench_decode.py [--data DIR] [--n N] [--size 64] [--write]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

import skface
from skface import ImageLoader

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"


def bare_draft_loop(paths, size):
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            im.draft("RGB", (size, size))
            out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    return out


def plain_open_resize(paths, size):
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i] = np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    return out


def loader(n_jobs):
    def run(paths, size):
        return ImageLoader(size=size, cache=False, n_jobs=n_jobs).transform(paths)
    return run


def cached(paths, size):
    return ImageLoader(size=size).transform(paths)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of JPEG images")
    parser.add_argument("--n", type=int, default=None, help="number of images (default: all)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats; best kept")
    parser.add_argument("--write", action="store_true", help="append the figures to docs")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no image folder at {args.data}; pass --data", file=sys.stderr)
        return 2
    paths = sorted(str(args.data / n) for n in os.listdir(args.data) if not n.startswith("."))
    paths = paths[: args.n] if args.n else paths
    for p in paths:  # warm the page cache so that no method pays for the disk
        Path(p).read_bytes()
    methods = {
        "bare draft loop": bare_draft_loop,
        "plain open+resize": plain_open_resize,
        "ImageLoader n_jobs=1": loader(1),
        "ImageLoader default": loader(None),
    }
    best = dict.fromkeys(methods, np.inf)
    for _ in range(args.repeat):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn(paths, args.size)
            best[name] = min(best[name], time.perf_counter() - t0)
    skface.clear_image_cache()
    cached(paths, args.size)
    t0 = time.perf_counter()
    cached(paths, args.size)
    best["ImageLoader cached"] = time.perf_counter() - t0
    assert skface.image_cache_info().decodes == len(paths)

    rate = {k: len(paths) / v for k, v in best.items()}
    base = rate["bare draft loop"]
    print(f"{len(paths)} images at {args.size} px, best of {args.repeat}; {_report.machine()}")
    print(f"{'method':<24}{'images/s':>10}{'vs bare':>9}")
    for name, r in rate.items():
        print(f"{name:<24}{r:>10.0f}{r / base:>9.2f}")
    ratio = rate["ImageLoader default"] / base
    print(f"ImageLoader default / bare draft loop = {ratio:.2f} (target >= 0.90): "
          + ("met" if ratio >= 0.9 else "MISSED"))
    if args.write:
        _report.append_history(
            "Image decoding (benchmarks/bench_decode.py)",
            "Images/s turning JPEG files into a uint8 array, same files and same run, page "
            "cache warm, best of interleaved repeats. Target: ImageLoader with its default "
            "threads >= 0.90 x the bare single-threaded Pillow draft loop.",
            ["date", "machine", "versions", "images", "px", "bare draft", "plain open+resize",
             "ImageLoader 1 thread", "ImageLoader default", "cached", "default / bare",
             "command"],
            [_report.today(), _report.machine(), _report.versions("PIL", "numpy", "skface"),
             len(paths), args.size, f"{rate['bare draft loop']:.0f}",
             f"{rate['plain open+resize']:.0f}", f"{rate['ImageLoader n_jobs=1']:.0f}",
             f"{rate['ImageLoader default']:.0f}", f"{rate['ImageLoader cached']:.0f}",
             f"{ratio:.2f}", f"`{_report.command()}`"],
        )
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
