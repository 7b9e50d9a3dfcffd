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

Estimators subclass :class:`FaceEstimator` (``_task``), which adds a target to the engine
(``skface._targets``: what ``y`` is, how it is encoded and decoded, the network's width,
the loss, the output head and the declared tasks); each estimator says which target it
learns, and adds only what is its own (a classifier's teacher and class weights...).

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
- ``_signature``: the full ``__init__`` signature scikit-learn reads the defaults from;
- ``_params``: the checks of the parameters' values and what ``get_params`` lists;
- ``_optim``: optimiser settings set before or after a fit, and weight decay;
- ``_callbacks``: the built-in callbacks, and targets decoded for callbacks;
- ``_data``: datasets and batch iterators;
- ``_split``: the seeded, stratified validation split (skorch's ``ValidSplit``);
- ``_step``: one training step (autocast, mixup, cutmix, float16 loss scaling,
  weighted loss);
- ``_seeding``: the random streams of a fit;
- ``_fit``: ``fit``, ``partial_fit`` and the checks of their inputs;
- ``_base``: :class:`FaceNetBase`, the ``NeuralNet`` subclass made of the mixins
  above: its parameters, device and precision, network, loss and pickling;
- ``_task``: the task contract (:class:`Task`, :class:`EstimatorTask`) and
  :class:`FaceEstimator`, the engine with a target that every estimator subclasses.

What FaceNetBase overrides of skorch's ``NeuralNet``, and why (the three private to
skorch are marked; ``tests/test_engine.py`` checks that this list is complete):

- ``__init__``: the engine's own parameters, with skface's defaults;
- ``__repr__``: scikit-learn's repr (the parameters that differ from their defaults);
- ``__setstate__``: a model pickled with ``device="auto"`` loads where it is opened;
- ``__sklearn_is_fitted__``: fitted means the network and its target are built;
- ``_default_callbacks`` (private; skorch's ``NeuralNetClassifier`` overrides it too):
  the built-in callbacks, and the epoch table plain when not on a terminal;
- ``_step_optimizer`` (private; skorch's ``AccelerateMixin`` overrides it too): float16
  loss scaling, whose ``GradScaler.step`` takes no closure;
- ``_validate_params`` (private): skorch's check of the argument names shadows
  scikit-learn's check of ``_parameter_constraints``, which this runs too;
- ``fit``, ``partial_fit``: image and target checks, target encoding, sample weights
  and seeded streams around skorch's training;
- ``fit_loop``: the epochs of this call for the schedule, and a warning when training
  is interrupted;
- ``get_dataset``, ``get_iterator``: uint8 images gathered by index in batches;
- ``get_loss``: the estimator's loss target and per-sample weights;
- ``get_params``: skorch's private bookkeeping attributes are not parameters;
- ``get_params_for_optimizer``: no weight decay on one-dimensional parameters;
- ``get_split_datasets``: the validation split from ``validation_fraction``, and a
  ``train_split``'s own validation set encoded;
- ``infer``: autocast, and test-time flipping as set now;
- ``initialize``: the resolved device and precision; refused before fit;
- ``initialize_callbacks``: early stopping that stops once every callback saw the epoch;
- ``initialize_criterion``: losses named by a string;
- ``initialize_module``: the network wrapped in :class:`FaceModule`;
- ``initialize_optimizer``: per-group settings start afresh with each optimiser;
- ``load_params``: the saved tensors go to the resolved device;
- ``notify``: callbacks see targets in the user's labels;
- ``set_params``: optimiser settings reach a fitted model's parameter groups;
- ``train_step_single``: mixup, cutmix and float16 loss scaling.
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

# A pickled model names each class by its module and name. Every class whose instances
# a fitted model holds (its module, dropout layers, generator slot and callbacks) is
# named ``skface._engine.<name>``, so that pickled models do not depend on which file of
# the package defines a class; tests/test_engine.py checks that a pickled model names
# no other path inside the package.
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

