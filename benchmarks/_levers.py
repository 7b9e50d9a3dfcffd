"""Levers screened by ``bench_accuracy.py --lever``, built on skface's public API only.

Each lever is priced as it would run for a user: the time of everything it trains is
counted, and test-time levers report their prediction cost beside their figure.

- ``progressive:PX:FRACTION``: progressive resizing. The first ``FRACTION`` of the
  epochs train on the batch downsampled to ``PX`` pixels (after augmentation, with
  antialiasing), the rest at the loader's size; validation and prediction always at
  the loader's size. A skorch callback and a forward pre-hook on the network.
- ``snapshot:K``: a snapshot ensemble. ``max_epochs`` split into ``K`` cosine cycles
  (a ``fit`` and ``K - 1`` ``partial_fit`` calls, each a new cycle without warm-up),
  a copy of the model kept after each; predictions average the ``K`` snapshots.
- ``oof:K``: out-of-fold distillation. ``K`` ``FaceAttributes`` teachers, each fitted
  on all training folds but one, give probabilities on the fold they did not see; the
  student distils from those (``teacher=``). The teachers' time is counted.
- ``children:W``: sample weight ``W`` for training faces under 15 years.
- ``crop:F``: a tighter face crop. Images decode at ``size / F`` pixels and the central
  ``size`` x ``size`` are kept (``F`` of the side), for training and prediction alike,
  so the network sees the face larger at the same cost.
- ``multicrop``: test-time averaging over five crops (the whole face and four corner
  crops of 90% of its side, each resized back) on top of flip averaging.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from skorch.callbacks import Callback

CHILD_AGE = 15  # gender errors concentrate under this age


class ProgressiveResize(Callback):
    """Train the first ``fraction`` of the epochs on batches resized to ``size`` px."""

    def __init__(self, size: int, fraction: float):
        self.size = size
        self.fraction = fraction

    def initialize(self):
        self.small_ = False
        self.handle_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        inner = net.module_.net

        def pre_hook(module, args):
            if not (module.training and self.small_):
                return None
            x = args[0]
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              antialias=True, align_corners=False)
            return (x.contiguous(memory_format=torch.channels_last),)

        self.handle_ = inner.register_forward_pre_hook(pre_hook)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # 1-based: skorch adds the epoch's row first
        self.small_ = epoch <= round(self.fraction * net.max_epochs)

    def on_train_end(self, net, **kwargs):
        if self.handle_ is not None:
            self.handle_.remove()
            self.handle_ = None
        self.small_ = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state["handle_"] = None
        return state


def parse(spec: str | None) -> tuple[str | None, list[str]]:
    if not spec:
        return None, []
    name, *args = spec.split(":")
    if name not in {"progressive", "snapshot", "oof", "children", "multicrop", "crop"}:
        raise SystemExit(f"unknown lever {spec!r}")
    return name, args


def fit_params_for(lever: str | None, args: list[str], params: dict) -> dict:
    """Estimator parameters a lever adds."""
    if lever == "progressive":
        size, fraction = int(args[0]), float(args[1])
        return {**params, "callbacks": [("progressive", ProgressiveResize(size, fraction))]}
    return params


class CenterCrop(TransformerMixin, BaseEstimator):
    """Keep the central ``size`` x ``size`` pixels of a batch of image arrays."""

    def __init__(self, size: int = 48):
        self.size = size

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X)
        h, w = X.shape[1:3]
        if h < self.size or w < self.size:
            raise ValueError(f"images of {h}x{w} px are smaller than the crop of {self.size}")
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return np.ascontiguousarray(X[:, top:top + self.size, left:left + self.size])


def crop_steps(size: int, fraction: float) -> list:
    """An ImageLoader decoding at ``size / fraction`` px, then the central ``size`` px."""
    from skface import ImageLoader

    if not 0 < fraction <= 1:
        raise SystemExit(f"--lever crop:F needs 0 < F <= 1, got {fraction}")
    return [ImageLoader(size=round(size / fraction)), CenterCrop(size)]


def child_weights(ages: np.ndarray, weight: float) -> np.ndarray:
    return np.where(np.asarray(ages) < CHILD_AGE, weight, 1.0).astype(np.float64)


def snapshot_fit(pipe, X_paths, y, cycles: int, sample_weight=None):
    """Fit ``pipe`` as ``cycles`` cosine cycles; the fitted snapshots, and seconds."""
    model = pipe[-1]
    epochs = model.max_epochs // cycles
    t0 = time.perf_counter()
    X = pipe[0].fit_transform(X_paths)
    model.set_params(max_epochs=epochs)
    model.fit(X, y, sample_weight=sample_weight)
    snapshots = [copy.deepcopy(pipe)]
    for _ in range(cycles - 1):
        model.partial_fit(X, y, sample_weight=sample_weight, epochs=epochs)
        snapshots.append(copy.deepcopy(pipe))
    return snapshots, time.perf_counter() - t0


def ensemble_proba(snapshots, paths) -> np.ndarray:
    return np.mean([s.predict_proba(paths) for s in snapshots], axis=0)


class OOFTeacher(BaseEstimator):
    """A fitted 'teacher' whose probabilities are the out-of-fold ones, in ``X``'s order."""

    def __init__(self, proba: np.ndarray | None = None, classes: np.ndarray | None = None):
        self.proba = proba
        self.classes = classes
        # set at construction: it is "fitted" from the start (the teachers ran first)
        self.proba_ = proba
        self.classes_ = classes

    def fit(self, X, y=None):
        return self

    def predict_proba(self, X):
        if len(X) != len(self.proba_):
            raise ValueError("out-of-fold probabilities are for the training images only")
        return self.proba_


def oof_teacher(train, task: str, folds: int, params: dict, size, fit_timed):
    """``folds`` FaceAttributes teachers; out-of-fold probabilities of ``task``; seconds."""
    from sklearn.model_selection import StratifiedKFold

    from skface import FaceAttributes

    y3 = train[["age", "gender", "race"]].astype({"age": float, "gender": int, "race": int})
    proba, seconds, classes = None, 0.0, None
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    for fit_idx, out_idx in splitter.split(train, train[task]):
        teacher, s = fit_timed(FaceAttributes(random_state=0, **params), train.iloc[fit_idx],
                               y3.iloc[fit_idx], size)
        seconds += s
        p = teacher.predict_proba(train["path"].iloc[out_idx])[task]
        p = np.asarray(p, dtype=np.float64)
        if proba is None:
            proba = np.zeros((len(train), p.shape[1]))
            classes = np.asarray(teacher[-1].classes_[task])
        proba[out_idx] = p
    return OOFTeacher(proba, classes), seconds


def multicrop_proba(pipe, paths, crop: float = 0.9) -> tuple[np.ndarray, float]:
    """Mean probabilities over five crops (whole, four corners); seconds taken."""
    X = pipe[0].transform(paths)
    model = pipe[-1]
    t0 = time.perf_counter()
    arr = torch.from_numpy(np.asarray(X))  # (n, h, w, c) uint8
    h, w = arr.shape[1:3]
    ch, cw = round(h * crop), round(w * crop)
    views = [np.asarray(X)]
    for top, left in ((0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw)):
        part = arr[:, top:top + ch, left:left + cw].permute(0, 3, 1, 2).float()
        part = F.interpolate(part, size=(h, w), mode="bilinear", antialias=False,
                             align_corners=False)
        views.append(part.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    out = [np.asarray(model.predict_proba(np.ascontiguousarray(v))) for v in views]
    return np.mean(out, axis=0), time.perf_counter() - t0
