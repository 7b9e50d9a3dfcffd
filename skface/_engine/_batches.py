"""Batches gathered by index from one tensor, and the helpers for weighted targets.

Targets travel as one array, or as ``{"target": ..., "weight": ...}`` when the fit has
sample weights; :func:`select_rows` and :func:`split_weight` handle both.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import warnings

import numpy as np
import torch
from torch.utils.data import Subset

from .._lazy_images import LazyImages


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


def select_rows(y, take):
    """``take`` applied to the targets, or to each part of weighted targets."""
    if y is None:
        return None
    if isinstance(y, dict):
        return {k: take(v) for k, v in y.items()}
    return take(y)


def split_weight(y):
    """``(targets, sample weights or None)`` of a batch's or a dataset's targets."""
    if isinstance(y, dict):
        return y["target"], y["weight"]
    return y, None


@contextlib.contextmanager
def loss_reduction(criterion, reduction: str):
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


class BatchIterator:
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
        return Xb, select_rows(self.y, lambda t: t.index_select(0, idx))

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
            yield self.X[sl], select_rows(self.y, lambda t, sl=sl: t[sl])

