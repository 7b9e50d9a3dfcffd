"""Route agreement: the same pictures passed as paths, PIL images, arrays or face crops.

A ``make_pipeline(ImageLoader(size), FaceAttributes())`` is trained briefly on real
UTKFace images (or taken from ``--model``, a file ``skface train`` or ``save_model``
writes), then predicts the same ``--n`` held-out crops, none of them seen in training,
by every route a picture can take to the network:

- ``path``: the file's path (JPEG decoded in draft mode): the reference;
- ``PIL image, opened``: ``Image.open(path)``, not yet decoded;
- ``PIL image, decoded``: ``Image.open(path).convert("RGB")``, as a webcam frame or an
  image built in memory is;
- ``array``: that image as a ``(h, w, 3)`` uint8 array (OpenCV frames, video frames);
- ``face crop``: the whole crop cut and resized as :class:`~skface.FaceCropper` cuts a
  detected face (``annotate_image``, ``annotate_video``, the demo);
- ``array, unreduced (former)``: the array resized from full resolution with no
  reduction first, as images in memory were before every route shared one reduction
  (the figure to compare the others with);
- ``analyze(...)``: ``skface.analyze(images, model, detect=False)`` with the paths (the
  reference of the analyze rows), the decoded PIL images and the arrays.

For each route: the mean and largest absolute age difference from the reference, and
the share of gender and race labels that differ from it.

Run: ``python benchmarks/bench_routes.py [--data DIR] [--n 300] [--train 3000]
[--epochs 4] [--size 48] [--model FILE] [--write] [--quiet]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

import skface
from skface import FaceAttributes, ImageLoader, UTKFaceLabelDecoder
from skface._face_cropper import crop_resized
from skface._labels import TASKS
from skface.exceptions import MalformedFileNameWarning

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"


def image_paths(data: Path, n: int, tmp: Path) -> tuple[list[str], str]:
    """``n`` well-named images spread over the sorted folder, or synthetic faces."""
    if data.is_dir():
        with warnings.catch_warnings():  # the few malformed names are left out
            warnings.simplefilter("ignore", MalformedFileNameWarning)
            paths = sorted(skface.datasets.load_utkface(data)["path"].astype(str))
        step = max(1, len(paths) // n)
        return paths[::step][:n], "UTKFace"
    frame = skface.datasets.make_faces(n, size=200, directory=tmp / "faces", random_state=0)
    return sorted(frame["path"].astype(str)), "synthetic"


def route_inputs(paths: list[str], size: int) -> dict[str, list]:
    """The pictures at ``paths`` as each route receives them."""
    decoded = [Image.open(p).convert("RGB") for p in paths]
    crops = []
    for im in decoded:  # the whole crop framed as FaceCropper frames a face
        w, h = im.size
        side = min(w, h)
        crops.append(crop_resized(im, ((w - side) // 2, (h - side) // 2, side), size))
    former = []
    for im in decoded:  # how an image in memory used to reach the network: no reduction
        w, h = im.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        former.append(np.asarray(im.resize((size, size), Image.Resampling.BILINEAR, box=box,
                                           reducing_gap=None)))
    return {
        "array, unreduced (former)": former,
        "PIL image, opened": [Image.open(p) for p in paths],
        "PIL image, decoded": decoded,
        "array": [np.asarray(im) for im in decoded],
        "face crop": crops,
    }


def _as_frame(pred) -> pd.DataFrame:
    return pred if isinstance(pred, pd.DataFrame) else pd.DataFrame(pred, columns=list(TASKS))


def compare(reference: pd.DataFrame, other: pd.DataFrame) -> dict[str, float]:
    out = {}
    if "age" in reference:
        diff = np.abs(reference["age"].to_numpy(float) - other["age"].to_numpy(float))
        out["age mean"], out["age max"] = float(diff.mean()), float(diff.max())
    for task in ("gender", "race"):
        if task in reference:
            out[f"{task} flipped"] = float(np.mean(
                reference[task].astype(str).to_numpy() != other[task].astype(str).to_numpy()))
    return out


def train_model(paths: list[str], size: int, epochs: int, quiet: bool):
    y = UTKFaceLabelDecoder(columns=TASKS).transform(paths)
    model = make_pipeline(
        ImageLoader(size=size),
        FaceAttributes(max_epochs=epochs, verbose=0 if quiet else 1, random_state=0))
    return model.fit(paths, y)


def run_routes(model, paths: list[str]) -> dict[str, dict[str, float]]:
    """Per route, its disagreement with the path route."""
    size = int(model[0].size) if hasattr(model, "steps") else int(model.image_shape_[0])
    reference = _as_frame(model.predict(paths))
    results = {}
    for name, images in route_inputs(paths, size).items():
        results[name] = compare(reference, _as_frame(model.predict(images)))
    by_path = skface.analyze(paths, model, detect=False)
    for name in ("PIL image, decoded", "array"):
        images = route_inputs(paths, size)[name]
        results[f"analyze({name})"] = compare(by_path, skface.analyze(images, model,
                                                                      detect=False))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=300, help="held-out crops compared")
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--model", type=Path, default=None,
                        help="a fitted model file (skface train, save_model or joblib)")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        every, source = image_paths(args.data, args.n + args.train, Path(tmp))
        held_out = every[::max(1, len(every) // args.n)][:args.n]
        kept = set(held_out)
        train = [p for p in every if p not in kept][:args.train]
        t0 = time.perf_counter()
        if args.model is not None:
            from skface._safe_io import load_model_file

            model, trained = load_model_file(args.model), f"model {args.model.name}"
        else:
            model = train_model(train, args.size, args.epochs, args.quiet)
            trained = f"FaceAttributes, {len(train)} images x {args.epochs} epochs"
        fit_s = time.perf_counter() - t0
        results = run_routes(model, held_out)
    size = int(model[0].size) if hasattr(model, "steps") else args.size
    print(f"{_report.machine()}; torch {torch.__version__}; {source} images, {size} px; "
          f"{trained} ({fit_s:.0f} s); {len(held_out)} held-out crops")
    print(f"{'route':<30}{'age mean':>10}{'age max':>10}{'gender flipped':>16}"
          f"{'race flipped':>14}")
    for name, r in results.items():
        print(f"{name:<30}{r.get('age mean', float('nan')):>10.3f}"
              f"{r.get('age max', float('nan')):>10.2f}"
              f"{100 * r.get('gender flipped', float('nan')):>15.1f}%"
              f"{100 * r.get('race flipped', float('nan')):>13.1f}%")
    if args.write:
        for name, r in results.items():
            _report.append_history(
                "Route agreement (benchmarks/bench_routes.py)",
                "The same held-out UTKFace crops predicted by path (the reference) and "
                "as PIL images, arrays, FaceCropper's crops and through analyze(detect="
                "False): mean and largest absolute age difference in years, and the share "
                "of gender and race labels that differ from the path's.",
                ["date", "machine", "versions", "data", "px", "model", "crops", "route",
                 "age mean diff", "age max diff", "gender flipped", "race flipped",
                 "command"],
                [_report.today(), _report.machine(), _report.versions("torch", "skface"),
                 source, size, trained, len(held_out), name,
                 f"{r.get('age mean', float('nan')):.3f}",
                 f"{r.get('age max', float('nan')):.2f}",
                 f"{100 * r.get('gender flipped', float('nan')):.1f}%",
                 f"{100 * r.get('race flipped', float('nan')):.1f}%",
                 f"`{_report.command()}`"],
            )
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
