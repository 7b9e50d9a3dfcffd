"""Face knowledge on UTKFace: face-recognition descriptors, the pretrained networks, and
their combinations (skface's stacks), on bench_accuracy.py's fixed split.

The split is bench_accuracy.py's (``train_test_split(test_size=0.2, random_state=0)``
over the well-named images sorted by path); ``--tune`` screens on its dev split (a
fifth of the train part, ``random_state=1``) and never reads the test part.

Embedding every image is the slow part (about 60-110 ms of one CPU core per image), so
the descriptors are computed once and kept in ``--cache`` (a folder outside the
repository; by default ``~/.cache/skface/benchmarks``), keyed by file, size and
modification time; the CPU seconds they cost are kept with them and counted in every
row's total.

Run: ``python benchmarks/bench_knowledge.py --data ../shared/datasets/UTKFace [--tune]
[--write]``; ``--stage features`` only computes the descriptors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_accuracy  # noqa: E402  (the split)

from skface import FaceEmbedder  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skface" \
    / "benchmarks"


def _key(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def descriptors(paths: list[str], cache: Path, align: bool = True, n_jobs: int | None = None
                ) -> tuple[np.ndarray, float]:
    """Descriptors of ``paths`` (computing the missing ones) and the CPU seconds that all
    of them cost when they were computed."""
    cache.mkdir(parents=True, exist_ok=True)
    store = cache / f"utkface_descriptors_{'aligned' if align else 'square'}.npz"
    known: dict[str, tuple[np.ndarray, float]] = {}
    if store.exists():
        with np.load(store, allow_pickle=False) as f:
            for k, d, s in zip(f["keys"], f["descriptors"], f["seconds"], strict=True):
                known[str(k)] = (d, float(s))
    keys = [_key(p) for p in paths]
    missing = [p for p, k in zip(paths, keys, strict=True) if k not in known]
    if missing:
        t0 = time.perf_counter()
        found = FaceEmbedder(align=align, n_jobs=n_jobs, cache=False,
                             progress=True).fit_transform(missing)
        wall = time.perf_counter() - t0
        # the embedding processes keep every core busy: CPU time is wall time x cores
        per_image = wall * (os.cpu_count() or 1) / len(missing)
        print(f"embedded {len(missing)} images in {wall:.0f} s "
              f"({per_image * 1000:.0f} CPU-ms each)", flush=True)
        for p, d in zip(missing, found, strict=True):
            known[_key(p)] = (d, per_image)
        all_keys = sorted(known)
        tmp = store.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(all_keys), descriptors=np.stack(
            [known[k][0] for k in all_keys]), seconds=np.array([known[k][1] for k in all_keys]))
        os.replace(tmp, store)
    X = np.stack([known[k][0] for k in keys])
    return X, float(sum(known[k][1] for k in keys))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench_accuracy.DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--stage", choices=["features", "all"], default="all")
    parser.add_argument("--square", action="store_true",
                        help="FaceEmbedder(align=False) instead of the aligned default")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    train, test = bench_accuracy.split(args.data, args.limit, args.tune)
    paths = sorted(set(train["path"]) | set(test["path"]))
    X, seconds = descriptors(paths, args.cache, align=not args.square)
    print(f"{len(paths)} descriptors, {seconds:.0f} CPU-s in all")
    if args.stage == "features":
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
