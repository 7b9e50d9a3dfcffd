"""FaceNetBase: the skorch ``NeuralNet`` every skface estimator subclasses.

The class is put together from one mixin per concern (see the package docstring); this
module holds its parameters, the resolution of ``device="auto"`` and
``precision="auto"``, building the network and the loss, what the outputs mean, and
pickling.
"""

from __future__ import annotations

import contextlib
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, Options, StrOptions
from skorch import NeuralNet
from torch import nn

from ..nets import get_model_builder
from ._callbacks import CallbacksMixin
from ._data import DataMixin
from ._fit import FitMixin
from ._module import FaceModule
from ._optim import OptimizerMixin
from ._params import ParametersMixin
from ._seeding import SeedingMixin
from ._signature import give_full_signature
from ._split import ValidationSplitMixin
from ._step import TrainingStepMixin

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


# The engine's parameters that define a fitted model, the only ones a safe model file
# stores: the network and its arguments, the loss (a fitted model carries its state) and
# test-time flipping. Every other parameter is a runtime or training setting (device,
# precision, workers, callbacks, optimiser, schedule, augmentation, verbosity).
MODEL_PARAMS = ("module", "module__", "criterion", "criterion__", "tta")


class FaceNetBase(ParametersMixin, OptimizerMixin, CallbacksMixin, DataMixin,
                  ValidationSplitMixin, SeedingMixin, TrainingStepMixin, FitMixin, NeuralNet):
    """Shared skorch engine of skface's estimators (not used directly).

    Subclasses set ``_stratify`` and implement ``_fit_target`` (learn the target
    encoding, return the number of network outputs), ``_encode_target`` and the
    prediction methods. See :class:`skface.GenderClassifier` for the parameters.

    The other hooks a subclass may override, each with a default in the mixin of its
    concern: ``_training_target``, ``_check_partial_fit_classes``, ``_check_fitted``,
    ``_forward_outputs`` (``_fit``); ``_strata`` (``_split``); ``_loss_target``,
    ``_sample_weights`` (``_step``); ``_valid_scores``, ``_valid_score``,
    ``_decode_target`` (``_callbacks``); ``_ordinal_outputs``, ``_TARGET_ATTRIBUTES``
    and ``initialize_criterion`` (here).
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
        give_full_signature(cls)

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


give_full_signature(FaceNetBase)
