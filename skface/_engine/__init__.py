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

One concern per file:

- ``_arrays``: :func:`check_images_array`, the check of every image input;
- ``_module``: :class:`FaceModule` (on-device preprocessing and augmentation),
  ``DEFAULT_AUGMENT`` and the dropout layers that draw from the fit's own generator;
- ``_batches``: the batch iterator (in-memory and streamed images), glibc's
  ``malloc_trim``, and the helpers for targets with sample weights;
- ``_schedule``: the warm-up and cosine learning-rate schedule;
- ``_stopping``: early stopping that stops once every callback saw the epoch;
- ``_ema``: the exponential moving average of the weights;
- ``_log``: the per-epoch table, coloured only on a terminal;
- ``_base``: :class:`FaceNetBase`, the ``NeuralNet`` subclass.
"""

from __future__ import annotations

from ._arrays import check_images_array
from ._base import MODEL_PARAMS, FaceNetBase
from ._batches import BatchIterator
from ._ema import WeightEMA
from ._log import EpochLog
from ._module import DEFAULT_AUGMENT, FaceModule, GeneratorSlot, SlotDropout
from ._schedule import WarmupCosine
from ._stopping import DeferredEarlyStopping, StopWhenAsked

__all__ = ["DEFAULT_AUGMENT", "MODEL_PARAMS", "FaceModule", "FaceNetBase", "check_images_array"]

# A pickled model names each class by its module and name. Models pickled before the
# engine was a package name these classes ``skface._engine.<name>`` (they load, as this
# package has every one of them); new pickles name them the same way, so that the
# files do not depend on which file of the package defines a class. Every class whose
# instances a fitted model holds (its module, dropout layers, generator slot and
# callbacks) is listed here; tests/test_engine.py checks that a pickled model names no
# other path inside the package.
_PICKLED = (
    FaceModule,
    FaceNetBase,
    BatchIterator,
    DeferredEarlyStopping,
    EpochLog,
    GeneratorSlot,
    SlotDropout,
    StopWhenAsked,
    WarmupCosine,
    WeightEMA,
)
for _cls in _PICKLED:
    _cls.__module__ = __name__
del _cls

# the names models pickled before these classes had public names refer to
_BatchIterator = BatchIterator
_EarlyStopping = DeferredEarlyStopping
_GeneratorSlot = GeneratorSlot
_SlotDropout = SlotDropout
_StopWhenAsked = StopWhenAsked
_WarmupCosine = WarmupCosine
_WeightEMA = WeightEMA
