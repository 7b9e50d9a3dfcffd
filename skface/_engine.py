"""The one training engine every skface estimator shares.

A thin layer over :class:`skorch.NeuralNet`:

- input: uint8 images ``(n, h, w, c)`` stay uint8 until a batch is on the device;
  batches are gathered by index from one tensor (no per-sample ``__getitem__``);
- on the device, inside the module: conversion to float, batched augmentation
  (flip, shift/scale/rotation, brightness/contrast, saturation), normalisation, channels_last,
  and test-time flip averaging;
- ``device="auto"`` (CUDA when present), bfloat16 autocast on CUDA and on CPUs that
  compute bfloat16 natively, AdamW with warm-up and cosine decay, early stopping on a
  seeded validation split that restores the best weights, ``random_state``.

Estimators subclass :class:`FaceNetBase` and say only how ``y`` is encoded and decoded,
which loss they use and how many outputs the network needs.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import Dataset
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._lazy_images import LazyImages
from .nets import get_model_builder

__all__ = ["DEFAULT_AUGMENT", "FaceModule", "FaceNetBase", "check_images_array"]

DEFAULT_AUGMENT = {
    "flip": True,  # horizontal flip with probability 1/2
    "shift": 0.08,  # translation, fraction of the image side
    "scale": 0.10,  # zoom in or out by up to this fraction
    "rotate": 10.0,  # degrees
    "brightness": 0.2,  # additive, fraction of the full range
    "contrast": 0.2,  # multiplicative around the image mean
    "saturation": 0.0,  # colour: blend with the grey image by 1 +- this (RGB only); off
}
# Normalisation: images in [0, 1] are mapped to roughly zero mean and unit variance.
# A network may declare its own (``input_mean``/``input_std`` attributes, one value or
# one per channel), as ImageNet-pretrained weights need ImageNet's statistics.
_MEAN, _STD = 0.5, 0.25
# ITU-R BT.601 luma weights (Pillow's "L" conversion), for the saturation augmentation.
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


# --------------------------------------------------------------------------- input checks


def check_images_array(X, *, name: str) -> np.ndarray:
    """Validate image input and return it as a uint8 ``(n, h, w, c)`` array.

    uint8 arrays are passed through without a copy. Float arrays in ``[0, 1]`` are
    scaled by 255; float arrays with values above 1 are taken to be in ``[0, 255]``;
    either way they are rounded to uint8 once, here.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes, os.PathLike)) or np.asarray(X).dtype.kind in "OUS":
        raise TypeError(
            f"{name} expects images as a uint8 array of shape (n, height, width, channels), "
            "got file paths or other objects. Load image files in a Pipeline:\n"
            f"    make_pipeline(ImageLoader(size=64), {name}())"
        )
    X = np.asarray(X)
    if X.ndim == 3:
        raise ValueError(
            f"{name} expects a batch of images of shape (n, height, width, channels); got "
            f"shape {X.shape}. For a single greyscale image batch add the channel axis "
            "(X[..., None]); for one image add the batch axis (X[None])."
        )
    if X.ndim != 4:
        raise ValueError(
            f"{name} expects images of shape (n, height, width, channels); got an array of "
            f"shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} got no images (an array of shape {X.shape}).")
    if X.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} expects 1 (greyscale) or 3 (RGB) channels last; got shape {X.shape}. "
            "ImageLoader(color='rgb' or 'grayscale') gives the right layout."
        )
    if X.dtype == np.uint8:
        return X
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} expects uint8 or float images, got dtype {X.dtype}.")
    Xf = X.astype(np.float32, copy=False)
    if not np.isfinite(Xf).all():
        raise ValueError(f"{name}: the images contain NaN or infinite values.")
    lo, hi = float(Xf.min()), float(Xf.max())
    if lo < 0 or hi > 255:
        raise ValueError(
            f"{name} expects pixel values in [0, 1] or [0, 255]; got values from {lo:g} to "
            f"{hi:g}. Rescale the images (or pass the uint8 output of ImageLoader)."
        )
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.clip(np.rint(Xf * scale), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the module


_INIT_LOCK = threading.Lock()  # weight initialisation uses torch's global generator


class _GeneratorSlot:
    """Holds the per-fit generator a FaceModule shares with its dropout layers (never
    pickled: generators belong to one fit)."""

    __slots__ = ("generator",)

    def __init__(self):
        self.generator: torch.Generator | None = None

    def __reduce__(self):
        return (_GeneratorSlot, ())


class _SlotDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask from the fit's own generator when one is set."""

    def __init__(self, p: float, slot: _GeneratorSlot):
        super().__init__(p)
        self._slot = slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = self._slot.generator
        if not self.training or self.p == 0 or gen is None or gen.device != x.device:
            return super().forward(x)
        if self.p == 1:
            return x * 0
        keep = torch.rand(x.shape, device=x.device, generator=gen) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class FaceModule(nn.Module):
    """uint8 images in, network outputs out; preprocessing runs on the device.

    Parameters
    ----------
    net : nn.Module
        A network from :mod:`skface.nets` (float NCHW in, ``(batch, k)`` out).
    augment : dict or None
        Augmentation strengths (see ``DEFAULT_AUGMENT``); applied in training mode only.
    tta : bool
        In evaluation mode, average the outputs for the image and its mirror image.
    channels_last : bool
        Feed the network channels_last tensors (faster convolutions on CPU and GPU).
    ordinal_outputs : int or array-like
        When given, the network has one output ``g(x)`` and the module returns
        ``g(x) + b_k`` for ``K - 1`` learned thresholds (CORAL). An int gives the
        number of thresholds, initialised to zero; an array their initial values
        (e.g. the logits of ``P(y > k)`` in the training data).
    """

    def __init__(self, net: nn.Module, *, augment: dict | None = None, tta: bool = False,
                 channels_last: bool = True, ordinal_outputs=0):
        super().__init__()
        self.net = net
        self.augment = dict(augment) if augment else None
        self.tta = tta
        self.channels_last = channels_last
        mean = torch.as_tensor(getattr(net, "input_mean", _MEAN), dtype=torch.float32)
        std = torch.as_tensor(getattr(net, "input_std", _STD), dtype=torch.float32)
        # saved with the weights, so that a model loaded without its pretrained-weights
        # file normalises as it was trained
        self.register_buffer("input_mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("input_std", std.reshape(1, -1, 1, 1))
        # Random draws of the augmentation and of the network's dropout; None draws
        # from torch's global generator. The engine sets a generator of its own for
        # each fit, so that fits in parallel threads do not disturb each other.
        self._slot = _GeneratorSlot()
        for parent in [net, *net.modules()]:
            for name, child in list(parent.named_children()):
                if type(child) is nn.Dropout:
                    setattr(parent, name, _SlotDropout(child.p, self._slot))
        init = torch.as_tensor(ordinal_outputs, dtype=torch.float32)
        if init.dim() == 0:
            init = torch.zeros(int(init))
        self.ordinal_outputs = len(init)
        if self.ordinal_outputs:
            self.ordinal_bias = nn.Parameter(init.clone())

    @property
    def generator(self) -> torch.Generator | None:
        """The generator of the augmentation and dropout draws (None: torch's global)."""
        slot = self.__dict__.get("_slot")
        return None if slot is None else slot.generator

    @generator.setter
    def generator(self, value: torch.Generator | None) -> None:
        if "_slot" not in self.__dict__:  # pickled before the engine seeded per fit
            self.__dict__["_slot"] = _GeneratorSlot()
        self.__dict__["_slot"].generator = value

    # State entries with a default: weights saved before networks declared their input
    # statistics lack them, and each holds one value or one per channel.
    optional_state = {"input_mean": _MEAN, "input_std": _STD}

    def __setstate__(self, state):
        super().__setstate__(state)
        buffers = self.__dict__.get("_buffers", {})
        for name, default in self.optional_state.items():
            if name not in buffers:  # pickled before networks declared their statistics
                buffers[name] = torch.full((1, 1, 1, 1), default)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, default in self.optional_state.items():
            # weights saved before networks declared their statistics used the defaults
            saved = state_dict.setdefault(prefix + name, torch.full((1, 1, 1, 1), default))
            if saved.shape != self._buffers[name].shape:  # one value or one per channel
                self._buffers[name] = torch.empty_like(saved)
        return super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected a batch of NHWC images, got shape {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2)  # NHWC memory seen as NCHW: already channels_last
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
        if not self.channels_last:
            x = x.contiguous()
        return x

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        a = self.augment
        n = x.shape[0]
        dev = x.device
        gen = self.generator if (self.generator is not None
                                 and self.generator.device == dev) else None

        def rand(*shape):
            return torch.rand(*shape, device=dev, generator=gen)

        if a.get("shift") or a.get("scale") or a.get("rotate"):
            angle = (rand(n) * 2 - 1) * math.radians(a.get("rotate", 0.0))
            scale = 1 + (rand(n) * 2 - 1) * a.get("scale", 0.0)
            shift = (rand(n, 2) * 2 - 1) * (2 * a.get("shift", 0.0))
            cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
            theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                                 torch.stack([sin, cos, shift[:, 1]], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                              align_corners=False)
        if a.get("flip"):
            flip = rand(n) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if a.get("contrast"):
            c = 1 + (rand(n, 1, 1, 1) * 2 - 1) * a["contrast"]
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * c + mean
        if a.get("brightness"):
            x = x + (rand(n, 1, 1, 1) * 2 - 1) * a["brightness"]
        if a.get("saturation") and x.shape[1] == 3:
            s = 1 + (rand(n, 1, 1, 1) * 2 - 1) * a["saturation"]
            grey = (x * _LUMA.to(dev)).sum(dim=1, keepdim=True)
            x = grey + (x - grey) * s
        return x

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.ordinal_outputs:
            out = out[:, :1] + self.ordinal_bias
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_float(x)
        if self.training and self.augment:
            x = self._augment(x)
        mean, std = self.input_mean, self.input_std
        if mean.shape[1] != x.shape[1]:  # per-channel statistics for a greyscale input
            mean, std = mean.mean(dim=1, keepdim=True), std.mean(dim=1, keepdim=True)
        x = (x - mean) / std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.training or not self.tta:
            return self._net(x)
        return (self._net(x) + self._net(x.flip(3))) / 2


# --------------------------------------------------------------------------- batches


def _as_tensor(X) -> torch.Tensor:
    """``torch.from_numpy`` without a copy, read-only arrays included.

    ImageLoader's output (shared with its cache) and joblib's memory maps are
    read-only; batches are gathered from them by ``index_select``, which copies, so
    nothing ever writes through the shared tensor.
    """
    X = np.asarray(X)
    if any(stride < 0 for stride in X.strides):  # e.g. X[:, :, ::-1]; torch refuses those
        X = np.ascontiguousarray(X)
    if X.flags.writeable:
        return torch.from_numpy(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library is not glibc."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # macOS, Windows, musl
        return None


def _release_freed_memory() -> None:
    """Hand memory freed by decoding back to the system (glibc only; else a no-op).

    Decoding batch after batch frees and reallocates many mid-sized buffers; glibc keeps
    the freed pages, so without this the resident memory of a long streaming fit creeps
    up (measured by benchmarks/bench_stream.py: +90 MiB over 200,000 images at 32 px)
    although nothing is kept.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _target_tensor(y) -> torch.Tensor:
    return y if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y))


def _select_rows(y, take):
    """``take`` applied to the targets, or to each part of weighted targets."""
    if y is None:
        return None
    if isinstance(y, dict):
        return {k: take(v) for k, v in y.items()}
    return take(y)


def _split_weight(y):
    """``(targets, sample weights or None)`` of a batch's or a dataset's targets."""
    if isinstance(y, dict):
        return y["target"], y["weight"]
    return y, None


@contextlib.contextmanager
def _reduction(criterion, reduction: str):
    """Let a loss module return one loss per sample for a while."""
    if not hasattr(criterion, "reduction"):
        raise TypeError(
            f"sample weights need a loss with a 'reduction' attribute (as torch's losses "
            f"have); {type(criterion).__name__} has none.")
    before = criterion.reduction
    criterion.reduction = reduction
    try:
        yield
    finally:
        criterion.reduction = before


class _BatchIterator:
    """Batches gathered by index from one in-memory tensor: no per-sample Python work.

    For :class:`~skface.LazyImages` (files decoded when read) the batches are decoded
    instead, ``prefetch`` batches ahead in a background thread, so that decoding the
    next batch overlaps training on the current one and memory holds only a few
    batches.
    """

    prefetch = 2

    def __init__(self, dataset, batch_size: int, shuffle: bool, drop_last: bool = False,
                 generator: torch.Generator | None = None):
        indices = None
        while isinstance(dataset, Subset):
            idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
            indices = idx if indices is None else idx[indices]
            dataset = dataset.dataset
        X, y = dataset.X, dataset.y
        self.X = X if isinstance(X, (torch.Tensor, LazyImages)) else _as_tensor(X)
        # y: the encoded targets, or {"target": ..., "weight": ...} with sample weights
        self.y = None if y is None else (
            {k: _target_tensor(v) for k, v in y.items()} if isinstance(y, dict)
            else _target_tensor(y))
        self.indices = indices
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.shard: tuple[int, int] | None = None

    def _n_rows(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.X)

    def _n_batches(self) -> int:
        if self.drop_last:
            return self._n_rows() // self.batch_size
        return math.ceil(self._n_rows() / self.batch_size)

    def __len__(self) -> int:
        if self.shard is None:
            return self._n_batches()
        return self._n_batches() // self.shard[1]

    def _index_batches(self):
        n = self._n_rows()
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, self._n_batches() * self.batch_size, self.batch_size):
            idx = torch.arange(start, min(start + self.batch_size, n))
            if order is not None:
                idx = order[idx]
            if self.indices is not None:
                idx = self.indices[idx]
            yield idx

    def _my_batches(self):
        """This process's batches: all of them, or with ``shard = (rank, world)`` every
        ``world``-th one from ``rank`` on, the same number in every process (data
        parallel training; the last ``< world`` batches of an epoch are left out)."""
        batches = self._index_batches()
        if self.shard is None:
            return batches
        rank, world = self.shard
        kept = itertools.islice(batches, (self._n_batches() // world) * world)
        return (idx for k, idx in enumerate(kept) if k % world == rank)

    def _gathered(self, idx: torch.Tensor):
        if isinstance(self.X, LazyImages):
            Xb = torch.from_numpy(self.X.take(idx.numpy()))
        else:
            Xb = self.X.index_select(0, idx)
        return Xb, _select_rows(self.y, lambda t: t.index_select(0, idx))

    def _iter_lazy(self):
        from concurrent.futures import ThreadPoolExecutor

        batches = self._my_batches()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skface-decode") as pool:
            pending = [pool.submit(self._gathered, idx)
                       for idx in itertools.islice(batches, self.prefetch)]
            try:
                served = 0
                while pending:
                    served += 1
                    if served % 32 == 0:
                        _release_freed_memory()
                    batch = pending.pop(0).result()
                    nxt = next(batches, None)
                    if nxt is not None:
                        pending.append(pool.submit(self._gathered, nxt))
                    yield batch
            finally:  # stopped early (an error, or the consumer broke off)
                for future in pending:
                    future.cancel()

    def __iter__(self):
        if isinstance(self.X, LazyImages):
            yield from self._iter_lazy()
            return
        if self.shuffle or self.indices is not None or self.shard is not None:
            for idx in self._my_batches():
                yield self._gathered(idx)
            return
        # in order: views, no copies
        for start in range(0, self._n_batches() * self.batch_size, self.batch_size):
            sl = slice(start, start + self.batch_size)
            yield self.X[sl], _select_rows(self.y, lambda t, sl=sl: t[sl])


class _WarmupCosine(Callback):
    """Per-batch learning rate: linear warm-up, then cosine decay to zero.

    The schedule is planned when training starts, from the batches the training
    iterator really yields per epoch and the epochs this call really runs (``fit``'s
    ``epochs=`` or ``max_epochs``). Each parameter group's own initial learning rate is
    scaled, so groups set with ``optimizer__param_groups`` keep their ratios.
    ``partial_fit`` and warm-start fits continue the plan where it stopped; once it
    has ended, the next call starts a new cosine cycle over its own epochs, from the
    initial rates and without warm-up.
    """

    def __init__(self, warmup_epochs: float = 1.0):
        self.warmup_epochs = warmup_epochs

    def initialize(self):
        self.step_ = 0
        self.total_ = 0
        self.start_ = 0
        self.warmup_steps_ = 0.0
        self.base_lrs_ = None
        self.plan_pending_ = False
        return self

    def on_train_begin(self, net, **kwargs):
        self.plan_pending_ = True

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if not self.plan_pending_:
            return
        self.plan_pending_ = False
        steps = max(1, net._train_batches_per_epoch(dataset_train))
        epochs = net._planned_epochs()
        groups = net.optimizer_.param_groups
        if self.base_lrs_ is None or len(self.base_lrs_) != len(groups):
            self.base_lrs_ = [float(g.get("initial_lr", g["lr"])) for g in groups]
        if self.step_ < self.total_:
            return  # continue the plan that is under way
        first = self.total_ == 0
        self.start_ = self.step_
        self.total_ = self.step_ + steps * epochs
        self.warmup_steps_ = self.warmup_epochs * steps if first else 0.0

    def _factor(self) -> float:
        t = self.step_ - self.start_
        if t < self.warmup_steps_:
            return (t + 1) / self.warmup_steps_
        span = max(1.0, self.total_ - self.start_ - self.warmup_steps_)
        progress = min(1.0, (t - self.warmup_steps_) / span)
        return 0.5 * (1 + math.cos(math.pi * progress))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training or self.base_lrs_ is None:
            return
        factor = self._factor()
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=False):
            group["lr"] = base * factor
        self.step_ += 1


class _EarlyStopping(EarlyStopping):
    """skorch's EarlyStopping, whose stop waits until every other callback has run.

    It keeps its bookkeeping (misses, best weights) where skorch places it, but
    instead of raising from ``on_epoch_end`` (which would skip the log printer and the
    user's callbacks for the final epoch) it asks :class:`_StopWhenAsked`, the last
    callback, to stop training.
    """

    def on_train_begin(self, net, **kwargs):
        self.stop_requested_ = False
        return super().on_train_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self.stop_requested_ = True


class _StopWhenAsked(Callback):
    """Last callback of an epoch: ends training when early stopping asked for it."""

    def on_epoch_end(self, net, **kwargs):
        if any(getattr(cb, "stop_requested_", False) for _, cb in net.callbacks_):
            raise KeyboardInterrupt


class _WeightEMA(Callback):
    """Exponential moving average of the weights (and batch-norm statistics).

    Updated after every training step; the averaged weights are the ones validated,
    checkpointed by early stopping and kept at the end of training.
    """

    def __init__(self, decay: float = 0.999):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        self.shadow_ = [t.detach().clone() for t in self._tensors(net)]
        self.raw_ = None
        self.updates_ = 0

    @staticmethod
    def _tensors(net):
        return [t for t in net.module_.state_dict().values() if t.is_floating_point()]

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        self.updates_ += 1
        # warm-up of the decay, so the first epochs are not dominated by the init
        decay = min(self.decay, (1 + self.updates_) / (10 + self.updates_))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow_, self._tensors(net), 1 - decay)

    def _swap_in(self, net):
        if self.raw_ is None:
            live = self._tensors(net)
            self.raw_ = [t.detach().clone() for t in live]
            with torch.no_grad():
                torch._foreach_copy_(live, self.shadow_)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:  # first validation batch of the epoch: validate the average
            self._swap_in(net)

    def on_epoch_begin(self, net, **kwargs):
        if self.raw_ is not None:  # back to the raw weights for training
            with torch.no_grad():
                torch._foreach_copy_(self._tensors(net), self.raw_)
            self.raw_ = None

    def on_train_end(self, net, **kwargs):
        self._swap_in(net)  # keep the average (early stopping then restores its best)
        self.raw_ = None
        self.shadow_ = None


# --------------------------------------------------------------------------- the base

_CRITERIA = {
    "l1": nn.L1Loss,
    "mse": nn.MSELoss,
    "huber": nn.HuberLoss,
    "cross_entropy": nn.CrossEntropyLoss,
}


def _bf16_supported_on_cpu() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class FaceNetBase(NeuralNet):
    """Shared skorch engine of skface's estimators (not used directly).

    Subclasses set ``_stratify`` and implement ``_fit_target`` (learn the target
    encoding, return the number of network outputs), ``_encode_target`` and the
    prediction methods. See :class:`skface.GenderClassifier` for the parameters.
    """

    _stratify = False
    _valid_score_name: str | None = None

    # Validated once at the start of every fit and partial_fit, before any image is
    # touched (skorch's own ``_validate_params`` checks parameter names only).
    _parameter_constraints: dict = {
        "module": [str, type, nn.Module, callable],
        "criterion": [str, type, nn.Module, callable, None],
        "optimizer": [type, callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "train_split": [None, callable],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "augment": ["boolean", dict],
        "tta": ["boolean"],
        "precision": [StrOptions({"auto", "float32", "bfloat16", "float16"})],
        "channels_last": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [None, Interval(Integral, 1, None, closed="left")],
        "warmup_epochs": [Interval(Real, 0, None, closed="left")],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "cutmix": [Interval(Real, 0, None, closed="left")],
        "ema_decay": [None, Interval(Real, 0, 1, closed="neither")],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        module="skfacenet",
        *args,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr: float = 2e-3,
        max_epochs: int = 36,
        batch_size: int = 128,
        train_split=None,
        device: str | None = "auto",
        verbose: int = 1,
        random_state=None,
        augment=True,
        tta: bool = True,
        precision: str = "auto",
        channels_last: bool = True,
        validation_fraction: float = 0.1,
        early_stopping: bool = False,
        patience: int | None = None,
        warmup_epochs: float = 1.0,
        mixup: float = 0.0,
        cutmix: float = 0.0,
        ema_decay: float | None = None,
        **kwargs,
    ):
        super().__init__(
            module, *args, criterion=criterion, optimizer=optimizer, lr=lr,
            max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
            device=device, verbose=verbose, **kwargs,
        )
        self.random_state = random_state
        self.augment = augment
        self.tta = tta
        self.precision = precision
        self.channels_last = channels_last
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.warmup_epochs = warmup_epochs
        self.mixup = mixup
        self.cutmix = cutmix
        self.ema_decay = ema_decay

    # ----------------------------------------------------------------- resolved settings

    def _resolve_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    @contextlib.contextmanager
    def _on_device(self):
        """Let skorch's own code see the resolved device while it runs."""
        user = self.device
        self.device = getattr(self, "device_", None) or self._resolve_device()
        try:
            yield
        finally:
            self.device = user

    def _resolve_precision(self, device: str) -> torch.dtype | None:
        p = self.precision
        kind = torch.device(device).type if device else "cpu"
        if p == "float32":
            return None
        if p == "float16":
            return torch.float16
        if p == "bfloat16":
            return torch.bfloat16
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        return torch.bfloat16 if kind == "cpu" and _bf16_supported_on_cpu() else None

    def _augment_spec(self) -> dict | None:
        if isinstance(self.augment, dict):
            return {**dict.fromkeys(DEFAULT_AUGMENT, 0), **self.augment}
        return dict(DEFAULT_AUGMENT) if self.augment else None

    def _check_parameters(self) -> None:
        """Validate the parameters against ``_parameter_constraints`` (and the contents
        of an ``augment`` dict), raising ``ValueError``/``TypeError`` that name them."""
        constraints = {}
        for cls in reversed(type(self).__mro__):
            constraints.update(getattr(cls, "_parameter_constraints", None) or {})
        params = {k: v for k, v in self.get_params(deep=False).items() if k in constraints}
        validate_parameter_constraints(constraints, params, caller_name=type(self).__name__)
        if isinstance(self.augment, dict):
            unknown = set(self.augment) - set(DEFAULT_AUGMENT)
            if unknown:
                raise ValueError(
                    f"The 'augment' parameter of {type(self).__name__} has unknown key(s) "
                    f"{sorted(unknown)}; known: {sorted(DEFAULT_AUGMENT)}.")
            for key, value in self.augment.items():
                ok = isinstance(value, bool) if key == "flip" else (
                    isinstance(value, Real) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= 0)
                if not ok:
                    kind = "True or False" if key == "flip" else "a finite number >= 0"
                    raise ValueError(
                        f"The 'augment' parameter of {type(self).__name__}: {key!r} must be "
                        f"{kind}, got {value!r}.")
        self._check_iterator_params()

    def _check_iterator_params(self) -> None:
        """Refuse iterator settings that neither the fast batch path nor skorch's
        DataLoader path could honour."""
        for prefix in ("iterator_train", "iterator_valid"):
            kwargs = self.get_params_for(prefix)
            if "batch_size" in kwargs:
                value = kwargs["batch_size"]
                if (isinstance(value, bool) or not isinstance(value, Integral)
                        or not (value >= 1 or value == -1)):
                    raise ValueError(
                        f"The '{prefix}__batch_size' parameter of {type(self).__name__} must "
                        f"be an int >= 1 (or -1 for one batch), got {value!r}.")

    # ----------------------------------------------------------------- initialisation

    def initialize(self):
        self.device_ = self._resolve_device()
        self.precision_ = self._resolve_precision(self.device_)
        with self._on_device():
            return super().initialize()

    def load_params(self, *args, **kwargs):
        # skorch maps the saved tensors to ``self.device``: let it see the resolved one
        with self._on_device():
            return super().load_params(*args, **kwargs)

    def set_params(self, **kwargs):
        # setting module__*/criterion__*/optimizer__* re-initialises on ``self.device``
        if not getattr(self, "initialized_", False):
            return super().set_params(**kwargs)
        with self._on_device():
            out = super().set_params(**kwargs)
        if "device" in kwargs:
            self.device_ = self._resolve_device()
        return out

    def _user_lr_scheduler(self) -> bool:
        """Whether the user's callbacks include an LR scheduler (skorch's LRScheduler)."""
        for item in self.callbacks or []:
            cb = item[1] if isinstance(item, tuple) else item
            if isinstance(cb, LRScheduler) or (
                    isinstance(cb, type) and issubclass(cb, LRScheduler)):
                return True
        return False

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        if self._valid_score_name and self._uses_validation():
            scoring = EpochScoring(self._valid_score, name=self._valid_score_name,
                                   lower_is_better=self._valid_score_name.endswith("mae"),
                                   use_caching=True)
            callbacks.insert(-1, (self._valid_score_name, scoring))
        if not self._user_lr_scheduler():  # the user's scheduler replaces the built-in one
            callbacks.insert(-1, ("lr_schedule", _WarmupCosine(self.warmup_epochs)))
        if self.ema_decay:
            callbacks.insert(-1, ("ema", _WeightEMA(self.ema_decay)))
        if self.early_stopping and self._uses_validation():
            monitor = self._stopping_monitor()
            stopper = _EarlyStopping(monitor=monitor, patience=self._patience(),
                                     lower_is_better=monitor.endswith(("loss", "mae")),
                                     load_best=True, sink=self._sink)
            callbacks.insert(-1, ("early_stopping", stopper))
        return callbacks

    def _stopping_monitor(self) -> str:
        """What early stopping watches: the estimator's own validation score (accuracy,
        MAE in years), which is what it is judged on, or the validation loss."""
        return self._valid_score_name or "valid_loss"

    def _patience(self) -> int:
        """``patience``, or by default a quarter of ``max_epochs`` (at least 8), so that
        a long cosine schedule is not cut while its learning rate is still high."""
        if self.patience is not None:
            return int(self.patience)
        return max(8, int(self.max_epochs) // 4)

    def initialize_callbacks(self):
        super().initialize_callbacks()
        # skorch stops training by raising from EarlyStopping.on_epoch_end, which skips
        # every callback after it; the built-in early stopping only asks, and this last
        # callback stops, once the log printer and the user's callbacks saw the epoch.
        self.callbacks_.append(("stop_when_asked", _StopWhenAsked()))
        return self

    def _stopped_early(self) -> bool:
        """Whether an EarlyStopping callback (the built-in one or the user's) ended
        training, as opposed to a real interruption."""
        return any(isinstance(cb, EarlyStopping)
                   and getattr(cb, "misses_", 0) >= cb.patience
                   for _, cb in getattr(self, "callbacks_", []))

    def _sink(self, message: str) -> None:
        if self.verbose:
            print(message)

    def _world_size(self) -> int:
        """Processes that share each epoch's training batches (data parallel)."""
        return 1

    def _validate_params(self):
        """scikit-learn's parameter constraints, then skorch's check of the argument
        names (which needs the prefixes that ``initialize`` registers)."""
        self._check_parameters()
        if "module" in self.prefixes_:
            super()._validate_params()

    def _uses_validation(self) -> bool:
        return bool(self.train_split) or (self.validation_fraction or 0) > 0

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        module = self.module
        builder = get_model_builder(module) if isinstance(module, str) else module
        if isinstance(builder, nn.Module):
            net = builder
        else:
            net = builder(n_outputs=self.n_outputs_, in_channels=self.image_shape_[2], **kwargs)
        self.module_ = FaceModule(
            net, augment=self._augment_spec(), tta=self.tta, channels_last=self.channels_last,
            ordinal_outputs=self._ordinal_outputs(),
        )
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _ordinal_outputs(self):
        return 0

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimiser arguments, with weight decay only where it belongs.

        Decoupled weight decay (AdamW) is meant for weight matrices and filters, not
        for biases, batch-norm scales and shifts, CORAL thresholds or the multi-task
        loss's log variances (all one-dimensional): each parameter group without a
        ``weight_decay`` of its own is split in two, the one-dimensional parameters
        getting ``weight_decay=0``.
        """
        import inspect

        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        try:
            decays = "weight_decay" in inspect.signature(getattr(self, prefix)).parameters
        except (TypeError, ValueError):
            decays = False
        if not decays or not args:
            return args, kwargs
        groups = []
        for group in args[0]:
            if not isinstance(group, dict) or "weight_decay" in group:
                groups.append(group)
                continue
            params = list(group["params"])
            matrices = [p for p in params if p.dim() > 1]
            vectors = [p for p in params if p.dim() <= 1]
            if matrices:
                groups.append({**group, "params": matrices})
            if vectors:
                groups.append({**group, "params": vectors, "weight_decay": 0.0})
        return (groups, *args[1:]), kwargs

    def initialize_criterion(self):
        if isinstance(self.criterion, str):
            try:
                cls = _CRITERIA[self.criterion.lower()]
            except KeyError:
                raise ValueError(
                    f"unknown criterion {self.criterion!r}; use one of {sorted(_CRITERIA)} or "
                    "a torch loss class") from None
            self.criterion_ = cls(**self.get_params_for("criterion"))
            return self
        return super().initialize_criterion()

    # ----------------------------------------------------------------- data

    def get_dataset(self, X, y=None):
        if isinstance(X, (torch.utils.data.Dataset, Subset)):
            return X
        if self.dataset is not Dataset:  # the user's own dataset class: skorch's path
            return super().get_dataset(X, y)
        return Dataset(X, y)

    _FAST_ITERATOR_PARAMS = frozenset({"batch_size", "shuffle", "drop_last"})

    def get_iterator(self, dataset, training=False):
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = self.iterator_train if training else self.iterator_valid
        base = dataset
        while isinstance(base, Subset):
            base = base.dataset
        fast = (iterator is DataLoader and type(base) is Dataset
                and set(kwargs) <= self._FAST_ITERATOR_PARAMS)
        if not fast:  # a custom iterator or dataset, or DataLoader options: skorch's path
            return super().get_iterator(dataset, training=training)
        batch_size = kwargs.get("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = max(1, len(dataset))
        shuffle = bool(kwargs.get("shuffle", training))
        return _BatchIterator(dataset, batch_size, shuffle=shuffle,
                              drop_last=bool(kwargs.get("drop_last", False)),
                              generator=getattr(self, "_cpu_generator_", None))

    def _train_batches_per_epoch(self, dataset_train) -> int:
        """Optimiser steps per epoch: the length of the real training iterator."""
        if dataset_train is None:
            return 1
        try:
            return len(self.get_iterator(dataset_train, training=True))
        except TypeError:  # an iterator without a length (iterable datasets)
            return max(1, math.ceil(len(dataset_train) / self.batch_size))

    def _planned_epochs(self) -> int:
        """Epochs of the current ``fit``/``partial_fit`` call."""
        return getattr(self, "_loop_epochs_", None) or self.max_epochs

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        if self.train_split:
            train, valid = super().get_split_datasets(X, y, **fit_params)
            return train, self._encoded_valid(valid, dataset)
        frac = self.validation_fraction or 0.0
        n = len(dataset)
        n_valid = round(n * frac)
        if n_valid < 1 or n - n_valid < 1:
            return dataset, None
        # the split is drawn once per fit: partial_fit and warm starts keep it
        rng = np.random.RandomState(self._split_seed_)
        y_np = self._strata(_split_weight(dataset.y)[0]) if self._stratify else None
        if y_np is not None:
            from sklearn.model_selection import train_test_split

            idx = np.arange(n)
            try:
                tr, va = train_test_split(idx, test_size=n_valid, random_state=rng,
                                          stratify=y_np)
            except ValueError:  # a class too rare to stratify
                tr, va = train_test_split(idx, test_size=n_valid, random_state=rng)
        else:
            perm = rng.permutation(n)
            va, tr = perm[:n_valid], perm[n_valid:]
        return Subset(dataset, np.sort(tr)), Subset(dataset, np.sort(va))

    def _encoded_valid(self, valid, dataset):
        """A validation set the train_split made itself (``predefined_split``) holds the
        user's images and labels: check and encode them as the training data is."""
        if valid is None:
            return None
        base = valid
        while isinstance(base, Subset):
            base = base.dataset
        if base is dataset or type(base) is not Dataset:
            return valid  # a part of the training data (encoded already), or the user's own
        X = self._check_X(base.X, reset=False)
        if base.y is None:
            raise ValueError(f"{type(self).__name__}: the validation set given by train_split "
                             "has no labels (y is None).")
        self._check_lengths(X, base.y)
        encoded = Dataset(X, self._encode_target(base.y))
        return Subset(encoded, valid.indices) if isinstance(valid, Subset) else encoded

    def _strata(self, y_enc):
        """Labels to stratify the validation split on (the encoded targets by default)."""
        return np.asarray(y_enc)

    # ----------------------------------------------------------------- steps

    def _autocast(self, training: bool = True):
        dtype = getattr(self, "precision_", None)
        kind = torch.device(self.device_).type if self.device_ else "cpu"
        if dtype is None or (not training and kind == "cpu" and self.precision == "auto"):
            # On CPU, oneDNN's bfloat16 kernels pay off for training batches but are
            # far slower than float32 for small inference batches (one image: about
            # 20x on the AVX512-BF16 EPYC this was measured on), so "auto" evaluates
            # and predicts in float32 there, which also keeps a prediction independent
            # of the batch it is computed in.
            return contextlib.nullcontext()
        return torch.autocast(kind, dtype=dtype)

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device_)
        module = self.module_
        if isinstance(module, nn.parallel.DistributedDataParallel):  # accelerate, DDP
            module = module.module
        if isinstance(module, FaceModule):
            # read at every call, so that set_params(tta=...) on a fitted model applies
            module.tta = bool(self.tta)
        with self._autocast(self.module_.training):
            return self.module_(x, **fit_params)

    def _check_mixing(self) -> tuple[float, float]:
        return float(self.mixup), float(self.cutmix)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        loss, y_pred = self._train_loss(batch, **fit_params)
        scaler = self._grad_scaler()
        (loss if scaler is None else scaler.scale(loss)).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _grad_scaler(self):
        """float16 training scales the loss so small gradients do not underflow
        (``torch.amp.GradScaler``); None for every other precision."""
        if getattr(self, "precision_", None) is not torch.float16:
            return None
        scaler = getattr(self, "_grad_scaler_", None)
        kind = torch.device(self.device_).type
        if scaler is None or getattr(scaler, "_device", kind) != kind:
            scaler = self._grad_scaler_ = torch.amp.GradScaler(kind)
        return scaler

    def _step_optimizer(self, step_fn):
        scaler = self._grad_scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()  # zero the gradients, forward, scaled backward
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))  # unscales; skips steps with inf/NaN
        scaler.update()
        return None

    def _train_loss(self, batch, **fit_params):
        """Loss of one training batch (mixup or cutmix applied when asked), not yet
        back-propagated; returns ``(loss, y_pred)``."""
        mixup, cutmix = self._check_mixing()
        Xi, yi = batch
        if not (mixup or cutmix):
            y_pred = self.infer(Xi, **fit_params)
            return self.get_loss(y_pred, yi, X=Xi, training=True), y_pred
        X = to_tensor(Xi, device=self.device_)
        X = X.float().div_(255.0) if X.dtype == torch.uint8 else X.float()
        n = X.shape[0]
        gen = getattr(self, "_cpu_generator_", None)
        use_cut = cutmix > 0 and (mixup == 0 or bool(torch.rand((), generator=gen) < 0.5))
        alpha = cutmix if use_cut else mixup
        # Beta(a, a) from two Gamma(a) draws, so that the fit's own generator is used
        g1, g2 = (float(torch._standard_gamma(torch.tensor(alpha), generator=gen))
                  for _ in range(2))
        lam = g1 / (g1 + g2) if g1 + g2 > 0 else 0.5
        perm = torch.randperm(n, generator=gen).to(X.device)
        if use_cut:  # paste a box of the partner image; lam = share of the own image
            h, w = X.shape[1], X.shape[2]
            ch, cw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
            top = int(torch.randint(0, h - ch + 1, (), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (), generator=gen))
            X = X.clone()
            X[:, top:top + ch, left:left + cw] = X[perm, top:top + ch, left:left + cw]
            lam = 1.0 - (ch * cw) / (h * w)
        else:
            X = lam * X + (1 - lam) * X[perm]
        y_pred = self.infer(X, **fit_params)
        y = _select_rows(yi, lambda t: to_tensor(t, device=y_pred.device))
        partner = _select_rows(y, lambda t: t[perm.to(t.device)])
        loss = lam * self.get_loss(y_pred, y, X=X, training=True) + (1 - lam) * self.get_loss(
            y_pred, partner, X=X, training=True)
        return loss, y_pred

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true, weight = _split_weight(y_true)
        y_true = self._loss_target(to_tensor(y_true, device=y_pred.device))
        if weight is None:
            return self.criterion_(y_pred.float(), y_true)
        with _reduction(self.criterion_, "none"):
            losses = self.criterion_(y_pred.float(), y_true)
        weight = to_tensor(weight, device=y_pred.device).float()
        losses = losses.reshape(len(weight), -1).mean(dim=1)
        return (losses * weight).mean()

    def _loss_target(self, y_true: torch.Tensor) -> torch.Tensor:
        """What the criterion compares the outputs with (the encoded targets)."""
        return y_true

    def _sample_weights(self, y, sample_weight) -> np.ndarray | None:
        """Per-sample weights of a fit: ``sample_weight`` (and classifiers'
        ``class_weight``), or None when every sample counts the same."""
        if sample_weight is None:
            return None
        name = type(self).__name__
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "fiu" or w.dtype == bool:
            raise TypeError(f"{name}: sample_weight must hold numbers, got dtype {w.dtype}.")
        w = w.astype(np.float64)
        if w.ndim != 1 or len(w) != len(y):
            raise ValueError(f"{name}: sample_weight must have shape ({len(y)},), one weight "
                             f"per image; got shape {w.shape}.")
        if not np.isfinite(w).all() or (w < 0).any() or not w.any():
            raise ValueError(f"{name}: sample_weight must be finite and non-negative, and not "
                             "all zero.")
        return w.astype(np.float32)

    def _weighted(self, y_enc, weights):
        if weights is None:
            return y_enc
        return {"target": y_enc, "weight": np.asarray(weights, dtype=np.float32)}

    def _valid_score(self, net, X, y):
        raise NotImplementedError

    def _decode_target(self, y_enc):
        """Encoded targets back in the labels ``y`` was given in (for callbacks)."""
        return y_enc

    def notify(self, method_name, **cb_kwargs):
        """Callbacks see targets in the user's labels, not the encoded training targets.

        The network trains on encoded targets (class indices, standardised ages); a
        skorch ``EpochScoring`` with a scikit-learn scorer compares ``predict`` (in the
        user's labels) with the targets it is given, so batches and datasets handed to
        callbacks carry the decoded targets.
        """
        if method_name == "on_batch_end" and cb_kwargs.get("batch") is not None:
            Xb, yb = cb_kwargs["batch"]
            yb = _split_weight(yb)[0]
            if yb is not None:
                cb_kwargs = {**cb_kwargs, "batch": (Xb, self._decode_target(
                    yb.detach().cpu().numpy() if isinstance(yb, torch.Tensor) else yb))}
        elif method_name == "on_epoch_end":
            cb_kwargs = {key: self._decoded_dataset(value) if key.startswith("dataset_")
                         else value for key, value in cb_kwargs.items()}
        return super().notify(method_name, **cb_kwargs)

    def _decoded_dataset(self, dataset):
        base, indices = dataset, None
        while isinstance(base, Subset):
            idx = np.asarray(base.indices)
            indices = idx if indices is None else idx[indices]
            base = base.dataset
        if type(base) is not Dataset or base.y is None:
            return dataset
        decoded = Dataset(base.X, self._decode_target(np.asarray(_split_weight(base.y)[0])))
        return decoded if indices is None else Subset(decoded, indices)

    # ----------------------------------------------------------------- seeding

    def _seed(self) -> int:
        """A seed drawn from ``random_state`` (numpy's global RandomState when None,
        so that ``np.random.seed`` makes unseeded fits repeatable)."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _start_streams(self) -> None:
        """Random streams of a new fit: one seed for the validation split (kept by
        partial_fit), one generator that every training call continues."""
        seed = self._seed()
        self._split_seed_ = seed
        self._rng_state_ = torch.Generator().manual_seed(seed).get_state()

    @contextlib.contextmanager
    def _seeded(self):
        """One training call's randomness, drawn from the fit's own stream.

        Shuffling, augmentation, mixup and dropout draw from generators of this fit,
        so that fits in parallel threads do not disturb each other; weight
        initialisation draws from torch's global generator, seeded from the same
        stream while a lock keeps other fits from touching it (see ``fit``).
        Consecutive calls (partial_fit, warm starts) continue the stream instead of
        replaying it. Random draws a custom network makes from torch's global
        generator while training are not seeded.
        """
        if getattr(self, "_rng_state_", None) is None:
            self._start_streams()
        stream = torch.Generator()
        stream.set_state(self._rng_state_)
        call_seed = int(torch.randint(0, 2**62, (1,), generator=stream))
        self._rng_state_ = stream.get_state()
        self._cpu_generator_ = torch.Generator().manual_seed(call_seed + 1)
        device = torch.device(getattr(self, "device_", None) or self._resolve_device())
        module_gen = None
        if device.type == "cuda":
            module_gen = torch.Generator(device=device).manual_seed(call_seed + 2)
        elif device.type == "cpu":
            module_gen = torch.Generator().manual_seed(call_seed + 2)
        try:
            self._module_generator_ = module_gen
            yield
        finally:
            self._cpu_generator_ = None
            self._module_generator_ = None
            module = getattr(self, "module_", None)
            if isinstance(module, FaceModule):
                module.generator = None

    # ----------------------------------------------------------------- fit and predict

    def _check_X(self, X, *, reset: bool) -> np.ndarray | LazyImages:
        if isinstance(X, (torch.utils.data.Dataset, Subset)) and not reset:
            return X  # skorch's scorers pass the validation dataset itself
        if not isinstance(X, LazyImages):  # LazyImages: uint8 by construction
            X = check_images_array(X, name=type(self).__name__)
        if reset:
            self.image_shape_ = tuple(int(v) for v in X.shape[1:])
        elif tuple(X.shape[1:]) != tuple(self.image_shape_):
            h, w, c = self.image_shape_
            raise ValueError(
                f"{type(self).__name__} was fitted on {h}x{w} images with {c} channel(s); got "
                f"images of shape {X.shape[1:]}. Load them the same way, e.g. "
                f"ImageLoader(size={h}, color={'grayscale' if c == 1 else 'rgb'!r})."
            )
        return X

    @staticmethod
    def _check_lengths(X, y) -> None:
        if y is None:
            raise ValueError("y is required: pass the labels to fit.")
        n_y = len(y)
        if n_y != len(X):
            raise ValueError(
                f"X has {len(X)} images but y has {n_y} labels; they must match one to one.")

    def _refresh_module_settings(self) -> None:
        """Apply parameters set with ``set_params`` after fitting (augmentation,
        precision, test-time flips, memory layout) to the next training call."""
        module = self.module_
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        if isinstance(module, FaceModule):
            module.augment = self._augment_spec()
            module.tta = bool(self.tta)
            module.channels_last = bool(self.channels_last)
            module.generator = getattr(self, "_module_generator_", None)
        self.precision_ = self._resolve_precision(self.device_)

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Fit the network on images ``X`` (uint8, ``(n, h, w, c)``) and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            uint8 images (float images in [0, 1] or [0, 255] are converted once).
        y : array-like
            The targets, of the kind the estimator describes.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each image in the training (and validation)
            loss; the loss is the mean of the weighted per-image losses.
        **fit_params : dict
            ``epochs=`` (train this many epochs instead of ``max_epochs``), or
            anything skorch passes on.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._check_parameters()
        warm = bool(self.warm_start and self.initialized_)
        X = self._check_X(X, reset=not warm)
        self._check_lengths(X, y)
        if not warm:
            self.n_outputs_ = self._fit_target(y)
            self._start_streams()
        y_enc = self._weighted(self._training_target(X, y), self._sample_weights(y, sample_weight))
        with self._seeded():
            if not warm:
                # weight initialisation draws from torch's global generator: seed it
                # from the fit's stream, one fit at a time
                init_seed = int(torch.randint(0, 2**62, (1,), generator=self._cpu_generator_))
                devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
                with _INIT_LOCK, torch.random.fork_rng(devices=devices):
                    torch.manual_seed(init_seed)
                    self.initialize()
            NeuralNet.partial_fit(self, X, y_enc, **fit_params)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self._loop_epochs_ = self.max_epochs if epochs is None else epochs
        self._refresh_module_settings()
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            if self._stopped_early():
                raise  # early stopping ended training: nothing to warn about
            # skorch stops training here and still runs on_train_end, where early
            # stopping restores the best epoch's weights: the model stays usable.
            done = len(self.history_)
            best = self._best_epoch()
            kept = (f"the weights of the best epoch ({best}) are kept" if best
                    else "the weights of the last epoch are kept")
            warnings.warn(
                f"{type(self).__name__}: training interrupted after {done} epoch(s); {kept}. "
                "The model can be used (and saved) as it is, or trained further with "
                "partial_fit.", UserWarning, stacklevel=2)
            raise
        finally:
            self._loop_epochs_ = None

    def _best_epoch(self) -> int | None:
        """Epoch (1-based) whose weights early stopping keeps, if it runs."""
        if not (self.early_stopping and self._uses_validation()):
            return None
        key = f"{self._stopping_monitor()}_best"
        best = [row["epoch"] for row in self.history_ if row.get(key)]
        return best[-1] if best else None

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train for more epochs, keeping the current weights (fits first if needed).

        The learning-rate schedule, the random streams and the validation split
        continue from the previous call.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            uint8 images.
        y : array-like
            The targets.
        classes : array-like, optional
            Classifiers: every label ``y`` may ever hold (required by scikit-learn's
            incremental-learning convention only on the first call; later calls must
            give the same classes).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each image in the loss.
        **fit_params : dict
            ``epochs=`` or anything skorch passes on.

        Returns
        -------
        self
            The estimator.
        """
        if not self.initialized_:
            self._partial_fit_classes_ = classes
            try:
                return self.fit(X, y, sample_weight=sample_weight, **fit_params)
            finally:
                self._partial_fit_classes_ = None
        self._check_parameters()
        self._check_partial_fit_classes(classes)
        X = self._check_X(X, reset=False)
        self._check_lengths(X, y)
        y_enc = self._weighted(self._training_target(X, y), self._sample_weights(y, sample_weight))
        with self._seeded():
            NeuralNet.partial_fit(self, X, y_enc, **fit_params)
        return self

    def _check_partial_fit_classes(self, classes) -> None:
        """Refuse ``classes`` that differ from the fitted ones (classifiers override)."""
        if classes is not None:
            raise ValueError(f"{type(self).__name__} is not a classifier: partial_fit takes "
                             "no classes.")

    def _training_target(self, X, y) -> np.ndarray:
        """The targets the network trains on (``_encode_target`` unless overridden)."""
        return self._encode_target(y)

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False)) and hasattr(self, "n_outputs_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def _forward_outputs(self, X) -> np.ndarray:
        """Network outputs for images ``X`` as float32 numpy, in evaluation mode."""
        self._check_fitted()
        X = self._check_X(X, reset=False)
        return self.forward(X, training=False).float().numpy()

    # ----------------------------------------------------------------- pickling

    def __setstate__(self, state):
        user_device = state.get("device")
        if user_device == "auto":
            state["device"] = state.get("device_", "cpu")
        super().__setstate__(state)
        if user_device == "auto":
            self.device_ = self.device
            self.device = "auto"
            if self.initialized_ and torch.device(self.device_).type == "cpu":
                self.precision_ = self._resolve_precision("cpu")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags
