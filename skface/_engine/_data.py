"""Datasets and batch iterators: in-memory and streamed images go through the engine's
own batch iterator unless a custom dataset, iterator or DataLoader option asks for
skorch's path."""

from __future__ import annotations

import math

import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader, Subset

from ._batches import BatchIterator


class DataMixin:
    """Datasets and iterators of :class:`~skface._engine.FaceNetBase`."""

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
        return BatchIterator(dataset, batch_size, shuffle=shuffle,
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

    def _world_size(self) -> int:
        """Processes that share each epoch's training batches (data parallel)."""
        return 1
