"""Training throughput: skface's ``fit`` against a minimal hand-written PyTorch loop.

Both train the same network on the same uint8 images already in memory, with the same
batch size, optimiser (AdamW), loss and precision, in the same process, interleaved,
best of ``--repeat``. The plain loop is the fastest plain one for the machine: images
go to float per batch, channels_last memory, and bfloat16 autocast where the device
computes it natively (what skface's ``precision="auto"`` picks too).

For a like-for-like ratio skface runs with the work the plain loop does not do turned
off (``augment=False``, ``validation_fraction=0``, no early stopping); a further column
shows skface with its default augmentation on, to price that separately.

Rows: each estimator's default network at the default size, a deliberately tiny
network (where per-batch overhead shows), and the default network at 32, 64 and 128 px.
Target (issue 4): skface / plain >= 0.95 on CPU.

Run: ``python benchmarks/bench_train.py [--data DIR] [--n N] [--epochs 2] [--write]``
(``--quick`` for a smoke run of a few seconds; ``--device cuda`` on a GPU machine).
``--px 64 128 --precisions auto float32 --size-rows-only`` runs only the size rows, each
at each precision; ``--json PATH`` also writes the figures, with the docs' table cells.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

from skface import AgeBinner, AgeRegressor, GenderClassifier, ImageLoader, RaceClassifier
from skface.nets import get_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "UTKFace"
ESTIMATORS = {"age": AgeRegressor, "gender": GenderClassifier, "race": RaceClassifier,
              "bins": AgeBinner}


class TinyNet(nn.Module):
    """Two small convolutions and a linear layer: per-batch overhead dominates."""

    def __init__(self, *, n_outputs: int, in_channels: int = 3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, n_outputs))

    def forward(self, x):
        return self.body(x)


def load_images(data: Path | None, n: int, size: int, seed: int = 0):
    """``n`` uint8 images and their ages/genders/races: UTKFace when present, else synthetic."""
    if data is not None and data.is_dir():
        from skface.datasets import load_utkface

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = load_utkface(data)
        frame = frame.sort_values("path").sample(n=min(n, len(frame)), random_state=seed)
        X = ImageLoader(size=size).transform(frame["path"])
        return X, frame.reset_index(drop=True), "UTKFace"
    from skface.datasets import make_faces

    X, frame = make_faces(n, size=size, random_state=seed)
    return X, frame, "synthetic"


def targets(name: str, frame) -> np.ndarray:
    if name in ("age", "bins"):
        return frame["age"].to_numpy(dtype=float)
    return frame[name].to_numpy(dtype=int)


def plain_loop(net: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
               lr: float, loss_fn: nn.Module, device: str, dtype, resident: bool = False) -> None:
    """The minimal fast loop: what a careful user writes by hand.

    ``resident=True`` moves all images to the device first (the no-starvation limit
    on a GPU; the same as the plain loop on a CPU).
    """
    net = net.to(device).to(memory_format=torch.channels_last)
    loss_fn = loss_fn.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    kind = torch.device(device).type
    if resident:
        Xt, yt = Xt.to(device), yt.to(device)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), device=Xt.device)
        for start in range(0, len(Xt), batch_size):
            idx = order[start:start + batch_size]
            xb = Xt[idx].to(device, non_blocking=True).permute(0, 3, 1, 2).float()
            xb = ((xb / 255.0 - 0.5) / 0.25).contiguous(memory_format=torch.channels_last)
            yb = yt[idx].to(device, non_blocking=True)
            if dtype is not None:
                with torch.autocast(kind, dtype=dtype):
                    out = net(xb)
            else:
                out = net(xb)
            loss = loss_fn(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if kind == "cuda":
        torch.cuda.synchronize()


def measure(name: str, module, X, frame, *, epochs: int, batch_size: int, repeat: int,
            device: str, precision: str) -> dict:
    y = targets(name, frame)
    cls = ESTIMATORS[name]
    common = dict(module=module, max_epochs=epochs, batch_size=batch_size, verbose=0,
                  random_state=0, device=device, precision=precision)
    lean = cls(**common, augment=False, validation_fraction=0, early_stopping=False)
    default_aug = cls(**common, validation_fraction=0, early_stopping=False)
    # the plain loop trains on what skface's network sees: its encoded targets
    probe = cls(**{**common, "max_epochs": 1}, augment=False, validation_fraction=0,
                early_stopping=False).fit(X[:batch_size], y[:batch_size])
    y_enc = probe._encode_target(y)
    n_out = probe.n_outputs_
    loss_fn = copy.deepcopy(probe.criterion_)  # the same loss, as a plain module
    dtype = probe.precision_
    builder = module if not isinstance(module, str) else None

    def new_net():
        if builder is not None:
            return builder(n_outputs=n_out, in_channels=X.shape[3])
        return get_model(module, n_outputs=n_out, in_channels=X.shape[3])

    runs = {
        "plain": lambda: plain_loop(new_net(), X, y_enc, epochs=epochs, batch_size=batch_size,
                                    lr=lean.lr, loss_fn=loss_fn, device=probe.device_,
                                    dtype=dtype),
        "skface": lambda: lean.fit(X, y),
        **({"resident": lambda: plain_loop(
            new_net(), X, y_enc, epochs=epochs, batch_size=batch_size, lr=lean.lr,
            loss_fn=loss_fn, device=probe.device_, dtype=dtype, resident=True)}
           if probe.device_.startswith("cuda") else {}),
        "skface+augment": lambda: default_aug.fit(X, y),
    }
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeat):
        for key, run in runs.items():
            torch.manual_seed(0)
            t0 = time.perf_counter()
            run()
            best[key] = min(best[key], time.perf_counter() - t0)
    rate = {k: len(X) * epochs / v for k, v in best.items()}
    return {"rate": rate, "ratio": rate["skface"] / rate["plain"],
            "precision": "float32" if dtype is None else str(dtype).replace("torch.", "")}


HISTORY_SECTION = "Training throughput (benchmarks/bench_train.py)"
HISTORY_INTRO = (
    "Images/s of fit: skface against a minimal hand-written PyTorch loop over the "
    "same network, the same uint8 images in memory, batch size, AdamW, loss and "
    "precision (channels_last; bfloat16 autocast where native), same process, "
    "interleaved, best of repeats. skface runs with augmentation, validation and "
    "early stopping off for the ratio; '+augment' prices its default "
    "augmentation; 'resident' (GPU only) is the plain loop over images already "
    "on the GPU, the limit where data cannot starve it. Target: ratio >= 0.95.")
HISTORY_COLUMNS = [
    "date", "machine", "device", "versions", "estimator", "network", "px",
    "images x epochs", "data", "precision", "plain img/s", "skface img/s",
    "skface+augment img/s", "resident img/s", "skface / plain", "command"]


def history_cells(device_label: str, name: str, net: str, px: int, n: int, epochs: int,
                  source: str, r: dict) -> list[str]:
    """One row of the docs' table, in ``HISTORY_COLUMNS`` order."""
    rate = r["rate"]
    return [_report.today(), _report.machine(), device_label,
            _report.versions("torch", "skorch", "skface"), name, net, str(px),
            f"{n} x {epochs}", source, r["precision"], f"{rate['plain']:.0f}",
            f"{rate['skface']:.0f}", f"{rate['skface+augment']:.0f}",
            f"{rate['resident']:.0f}" if "resident" in rate else "",
            f"{r['ratio']:.2f}", f"`{_report.command()}`"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=None,
                        help="images at 64 px, scaled by px (default 2048; 16384 on CUDA)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=ImageLoader().size,
                        help="image size of the per-estimator rows")
    parser.add_argument("--px", type=int, nargs="+", default=[32, 64, 128],
                        help="image sizes of the size rows (gender, default network)")
    parser.add_argument("--precisions", nargs="+", default=None,
                        choices=["auto", "float32", "bfloat16", "float16"],
                        help="run every size row at each of these precisions (default: "
                             "auto, and float32 too at 64 px and above on CUDA)")
    parser.add_argument("--size-rows-only", action="store_true",
                        help="leave out the per-estimator and tiny-network rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--write", action="store_true", help="append the figures to docs")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the figures (and the docs' table cells) here")
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    gpu = device.startswith("cuda")
    if args.n is None:
        args.n = 16384 if gpu else 2048
    if args.quick:
        args.n, args.epochs, args.repeat = 256, 1, 1
    rows = []
    if not args.size_rows_only:
        rows += [(name, "skfacenet", args.size, "auto") for name in ESTIMATORS]
        rows += [("gender", "tiny", args.size, "auto")]
    size_px = [px for px in args.px if args.size_rows_only or px != args.size]
    if args.precisions is not None:
        rows += [("gender", "skfacenet", px, p) for px in size_px for p in args.precisions]
    else:
        rows += [("gender", "skfacenet", px, "auto") for px in size_px]
        if gpu:  # with and without mixed precision
            rows += [("gender", "skfacenet", px, "float32") for px in args.px if px >= 64]
    if args.quick:
        rows = [*rows[:2], ("gender", "tiny", 32, "auto")]
    cache: dict = {}
    gpu_name = torch.cuda.get_device_name() if gpu else ""
    device_label = f"{device} {gpu_name}".strip()
    print(f"{_report.machine()}; device {device_label}; "
          f"torch {torch.__version__}; "
          f"{torch.get_num_threads()} threads")
    print(f"{'estimator':<10}{'network':<11}{'px':>4}{'images':>7}{'precision':>10}"
          f"{'plain/s':>9}{'skface/s':>10}{'+augment/s':>11}{'ratio':>7}"
          + (f"{'resident/s':>11}" if gpu else ""))
    results = []
    for name, net, px, precision in rows:
        n = max(256, int(args.n * (64 / px) ** 2)) if not args.quick else args.n
        if (n, px) not in cache:
            cache[(n, px)] = load_images(args.data, n, px)
        X, frame, source = cache[(n, px)]
        module = TinyNet if net == "tiny" else net
        r = measure(name, module, X, frame, epochs=args.epochs, batch_size=args.batch_size,
                    repeat=args.repeat, device=device, precision=precision)
        rate = r["rate"]
        print(f"{name:<10}{net:<11}{px:>4}{len(X):>7}{r['precision']:>10}{rate['plain']:>9.0f}"
              f"{rate['skface']:>10.0f}{rate['skface+augment']:>11.0f}{r['ratio']:>7.2f}"
              + (f"{rate['resident']:>11.0f}" if gpu else ""), flush=True)
        results.append((name, net, px, len(X), source, r))
        if args.json is not None:  # rewritten after every row: a cut-short run keeps its rows
            args.json.write_text(json.dumps({
                "section": HISTORY_SECTION, "columns": HISTORY_COLUMNS,
                "device": device_label, "epochs": args.epochs, "repeat": args.repeat,
                "rows": [{"estimator": e, "network": nt, "px": p, "images": k, "data": src,
                          "precision": res["precision"], "rate": res["rate"],
                          "ratio": res["ratio"],
                          "cells": history_cells(device_label, e, nt, p, k, args.epochs,
                                                 src, res)}
                         for e, nt, p, k, src, res in results]}, indent=1))
    worst = min(r["ratio"] for *_, r in results)
    print(f"lowest skface / plain = {worst:.2f} (target >= 0.95): "
          + ("met" if worst >= 0.95 else "MISSED"))
    if args.write and not args.quick:
        for name, net, px, n, source, r in results:
            _report.append_history(
                HISTORY_SECTION, HISTORY_INTRO, HISTORY_COLUMNS,
                history_cells(device_label, name, net, px, n, args.epochs, source, r))
        print(f"appended to {_report.DOCS}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
