"""FaceNetBase: the skorch ``NeuralNet`` every skface estimator subclasses.

Device and precision resolution, parameter constraints, the built-in callbacks, the
seeded validation split and random streams of each fit, sample weights, mixup and
cutmix, pickling, and the scikit-learn style ``repr``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import Dataset
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import DataLoader, Subset

from .._lazy_images import LazyImages
from ..exceptions import TrainingInterruptedWarning
from ..nets import get_model_builder
from ._arrays import check_images_array
from ._batches import BatchIterator, loss_reduction, select_rows, split_weight
from ._ema import WeightEMA
from ._log import EpochLog
from ._module import DEFAULT_AUGMENT, FaceModule
from ._schedule import WarmupCosine
from ._stopping import DeferredEarlyStopping, StopWhenAsked

_INIT_LOCK = threading.Lock()  # weight initialisation uses torch's global generator

_CRITERIA = {
    "l1": nn.L1Loss,
    "mse": nn.MSELoss,
    "huber": nn.HuberLoss,
    "cross_entropy": nn.CrossEntropyLoss,
}


def _full_signature(cls: type) -> inspect.Signature:
    """The signature of ``cls.__init__`` with every parameter it takes by name.

    An estimator's ``__init__`` names its own parameters and passes the others on as
    ``**kwargs``, down to skorch's ``NeuralNet.__init__``. scikit-learn reads the
    defaults from the signature (``repr`` shows only the parameters that differ from
    them, as does the HTML display in notebooks), so the signature lists them all:
    the first ``__init__`` along the MRO that names a parameter gives its default.
    """
    P = inspect.Parameter
    leading: list[inspect.Parameter] = []  # those before *args (module)
    named: dict[str, inspect.Parameter] = {}
    var_args = var_kwargs = None
    open_ = True  # every __init__ so far passes its positional arguments on as *args
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if not inspect.isfunction(init) or getattr(init, "_skface_forwards", False):
            continue
        params = list(inspect.signature(init).parameters.values())[1:]  # less self
        kinds = {p.kind for p in params}
        before = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        if open_ and before:
            leading = [p.replace(annotation=P.empty) for p in before]
        open_ = open_ and not before and P.VAR_POSITIONAL in kinds
        taken = {p.name for p in leading}
        for p in params:
            if p.kind is P.VAR_POSITIONAL:
                var_args = var_args or p
            elif p.kind is P.VAR_KEYWORD:
                var_kwargs = var_kwargs or p
            elif p.name not in taken and p.name not in named:
                named[p.name] = p.replace(kind=P.KEYWORD_ONLY, annotation=P.empty)
        if P.VAR_KEYWORD not in kinds:  # the chain of **kwargs ends here
            var_kwargs = None
            break
        if klass is NeuralNet:
            break
    params = [P("self", P.POSITIONAL_OR_KEYWORD), *leading,
              *([var_args] if var_args else []), *named.values(),
              *([var_kwargs] if var_kwargs else [])]
    return inspect.Signature(params)


def _give_full_signature(cls: type) -> None:
    """Attach :func:`_full_signature` to an ``__init__`` of ``cls``'s own."""
    if "__init__" not in cls.__dict__:  # a function of its own, not the parent's

        def __init__(self, *args, **kwargs):
            super(cls, self).__init__(*args, **kwargs)

        __init__._skface_forwards = True
        __init__.__module__ = cls.__module__
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
    cls.__init__.__signature__ = None  # read the function's own parameters
    cls.__init__.__signature__ = _full_signature(cls)


def _bf16_supported_on_cpu() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# The engine's parameters that define a fitted model, the only ones a safe model file
# stores: the network and its arguments, the loss (a fitted model carries its state) and
# test-time flipping. Every other parameter is a runtime or training setting (device,
# precision, workers, callbacks, optimiser, schedule, augmentation, verbosity).
MODEL_PARAMS = ("module", "module__", "criterion", "criterion__", "tta")


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

    # scikit-learn's repr, ``GenderClassifier(lr=0.001)``: the parameters that differ
    # from their defaults, fitted or not (skorch's lists the module and its layers)
    __repr__ = BaseEstimator.__repr__

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _give_full_signature(cls)

    def _get_param_names(self):
        # skorch's private bookkeeping (_params_to_validate, AccelerateMixin's
        # _wrapped_with_accelerator) is not a parameter: get_params, clone and repr
        # leave it out, and each new instance sets its own
        return [k for k in super()._get_param_names() if not k.startswith("_")]

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
        if not (hasattr(self, "n_outputs_") and hasattr(self, "image_shape_")):
            raise NotFittedError(
                f"{type(self).__name__} builds its network from what fit learns: the "
                "number of outputs from the targets and the image size from the images. "
                "Call fit or partial_fit (which initialise it), then load_params to "
                "restore saved weights; to keep a model with what its weights mean, use "
                "skface.save_model and load_model, or joblib.")
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
        optimizer_keys = [k for k in kwargs if k == "lr" or k.startswith("optimizer__")]
        for key in optimizer_keys:
            name = key[len("optimizer__"):]
            group = re.fullmatch(r"param_groups__([0-9]+)__(.+)", name)
            if group:  # one live group's setting, until the optimiser is built again
                vars(self).setdefault("_group_settings_", {})[
                    (int(group[1]), group[2])] = kwargs[key]
            elif key != "lr":
                # skorch's setter writes the optimiser's groups only: keep it a
                # parameter, so that get_params and the next optimiser say it too
                vars(self)[key] = kwargs[key]
        if "optimizer__param_groups" in kwargs:
            self.initialize_optimizer()  # other groups: the optimiser is built anew
        elif optimizer_keys:
            self._apply_optimizer_params()
        return out

    def initialize_optimizer(self, *args, **kwargs):
        self._group_settings_ = {}
        return super().initialize_optimizer(*args, **kwargs)

    def _apply_optimizer_params(self) -> None:
        """Write the optimiser settings the parameters give now into its groups.

        skorch's setter writes ``lr`` and ``optimizer__<name>`` into every parameter
        group, and the built-in schedule leaves the last epoch's rate in them: each
        group gets back what :meth:`get_params_for_optimizer` plans for it (weight decay
        stays off the one-dimensional parameters, groups keep their own rates). With
        the user's own LR scheduler, the rates are left to it.
        """
        optimizer = getattr(self, "optimizer_", None)
        if optimizer is None:
            return
        args, kwargs = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params())
        planned = list(args[0]) if args else []
        if len(planned) != len(optimizer.param_groups):
            return  # the network changed shape: initialize_optimizer plans afresh
        keep_lr = self._user_lr_scheduler()
        overrides = getattr(self, "_group_settings_", {})
        for i, (group, plan) in enumerate(zip(optimizer.param_groups, planned, strict=True)):
            settings = {**kwargs, **({k: v for k, v in plan.items() if k != "params"}
                                     if isinstance(plan, dict) else {})}
            settings.update({name: v for (j, name), v in overrides.items() if j == i})
            for key, value in settings.items():
                if key in group and not (keep_lr and key == "lr"):
                    group[key] = value

    def _get_params_callbacks(self, deep=True):
        # The built-in callbacks depend on parameter values (patience, ema_decay, ...).
        # With an invalid one, get_params(deep=True), and so set_params, still answer
        # (scikit-learn's rule: only fit checks values), without the callbacks' own
        # parameters; fit and partial_fit say which value is wrong.
        try:
            return super()._get_params_callbacks(deep=deep)
        except (TypeError, ValueError):
            return {}

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
        # skorch's PrintLog colours the table even when it goes to a file or a pipe
        callbacks = [(name, EpochLog() if name == "print_log" else cb)
                     for name, cb in super()._default_callbacks]
        if self._uses_validation():
            for name, task in self._valid_scores():
                scoring = EpochScoring(functools.partial(self._valid_score, task=task),
                                       name=name, lower_is_better=name.endswith("mae"),
                                       use_caching=True)
                callbacks.insert(-1, (name, scoring))
        if not self._user_lr_scheduler():  # the user's scheduler replaces the built-in one
            callbacks.insert(-1, ("lr_schedule", WarmupCosine(self.warmup_epochs)))
        if self.ema_decay:
            callbacks.insert(-1, ("ema", WeightEMA(self.ema_decay)))
        if self.early_stopping and self._uses_validation():
            monitor = self._stopping_monitor()
            stopper = DeferredEarlyStopping(monitor=monitor, patience=self._patience(),
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
        self.callbacks_.append(("stop_when_asked", StopWhenAsked()))
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
        self.module_.target = self._target_meaning()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _ordinal_outputs(self):
        return 0

    # fitted attributes that say what the network's outputs mean
    _TARGET_ATTRIBUTES = ("image_shape_", "n_outputs_", "tasks_", "classes_", "slices_",
                          "y_mean_", "y_scale_")

    def _target_meaning(self) -> dict:
        """What the outputs mean, as plain values saved with the weights: the image
        shape, the number of outputs, the labels, the tasks and the age scale."""
        return {key.rstrip("_"): _plain(getattr(self, key))
                for key in self._TARGET_ATTRIBUTES if hasattr(self, key)}

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
        y_np = self._strata(split_weight(dataset.y)[0]) if self._stratify else None
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
            # 20x slower on a CPU with AVX512-BF16), so "auto" evaluates
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
        mixup, cutmix = float(self.mixup), float(self.cutmix)  # validated in fit
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
        y = select_rows(yi, lambda t: to_tensor(t, device=y_pred.device))
        partner = select_rows(y, lambda t: t[perm.to(t.device)])
        loss = lam * self.get_loss(y_pred, y, X=X, training=True) + (1 - lam) * self.get_loss(
            y_pred, partner, X=X, training=True)
        return loss, y_pred

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true, weight = split_weight(y_true)
        y_true = self._loss_target(to_tensor(y_true, device=y_pred.device))
        if weight is None:
            return self.criterion_(y_pred.float(), y_true)
        with loss_reduction(self.criterion_, "none"):
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

    def _valid_scores(self) -> list[tuple[str, str | None]]:
        """``(column of the history, task)`` of each score printed per epoch; the main
        task (None) under ``_valid_score_name`` by default."""
        return [(self._valid_score_name, None)] if self._valid_score_name else []

    def _valid_score(self, net, X, y, task: str | None = None):
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
            yb = split_weight(yb)[0]
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
        decoded = Dataset(base.X, self._decode_target(np.asarray(split_weight(base.y)[0])))
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
        self._apply_optimizer_params()  # the schedule plans from the rates as set now
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
                "partial_fit.", TrainingInterruptedWarning, stacklevel=2)
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
        _warn_if_synthetic(self)
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


def _plain(value):
    """``value`` as plain Python values (lists, numbers, strings), comparable with ==."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _warn_if_synthetic(est) -> None:
    """Warn when a model whose ``training_data_`` says synthetic faces predicts."""
    described = getattr(est, "training_data_", None)
    if isinstance(described, dict) and described.get("synthetic"):
        import warnings

        from .._utils import printable
        from ..exceptions import SyntheticModelWarning

        warnings.warn(
            f"{type(est).__name__} was trained on synthetic cartoon faces "
            f"({printable(str(described.get('source') or 'skface.datasets.make_faces'))}), "
            "not on photos of people: its predictions on real faces mean nothing. Train it "
            "on a labelled folder of face photos (skface train FOLDER).",
            SyntheticModelWarning, stacklevel=4)


_give_full_signature(FaceNetBase)
