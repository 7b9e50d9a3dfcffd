"""Training through Hugging Face accelerate: every estimator with skorch's AccelerateMixin.

``AcceleratedGenderClassifier(accelerator=Accelerator(mixed_precision="bf16"))`` trains
like :class:`~skface.GenderClassifier`, with accelerate placing the model, running
mixed precision and, when started by ``accelerate launch`` on several GPUs (or CPU
processes), training data parallel: each process takes its own share of every epoch's
batches and DDP averages the gradients. The fitted model is a plain skface estimator
again: it pickles, and loads and predicts on a machine without a GPU or accelerate's
runtime.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.hf import AccelerateMixin

from ._age_estimators import AgeBinner, AgeRegressor
from ._classifiers import GenderClassifier, RaceClassifier
from ._engine import FaceNetBase
from ._multitask import FaceAttributes
from ._utils import import_optional

__all__ = [
    "AcceleratedAgeBinner",
    "AcceleratedAgeRegressor",
    "AcceleratedFaceAttributes",
    "AcceleratedGenderClassifier",
    "AcceleratedRaceClassifier",
]

# One docstring for the five classes; its only substitution is the base estimator's
# name (tests/test_docstrings.py checks each class's docstring names its own base).
_DOC = """{base} trained through Hugging Face accelerate (skorch's ``AccelerateMixin``).

    Takes every parameter of :class:`~skface.{base}` plus ``accelerator``. Start
    the script with ``accelerate launch`` (after ``accelerate config``) to train data
    parallel on several GPUs; run it plainly for one device. Needs the ``accelerate``
    extra (``pip install "skface[accelerate]"``).

    Parameters
    ----------
    accelerator : accelerate.Accelerator
        Places the model and data (leave ``device=None``), sets mixed precision
        (``Accelerator(mixed_precision="bf16")`` or ``"fp16"``; skface's own
        ``precision`` parameter is then not used) and, under ``accelerate launch``,
        the processes that share the training. Required to fit; a fitted model that
        was pickled comes back with ``accelerator=None`` and predicts on the CPU (set
        a new one with ``set_params(accelerator=...)`` to train it further).
    device : None, default=None
        Must stay ``None``: the accelerator chooses the device.
    unwrap_after_train : bool, default=True
        Return the network to a plain module after ``fit``, so that the model
        pickles and predicts without accelerate. Leave it on.
    **kwargs
        Every parameter of :class:`~skface.{base}`. The per-epoch log prints from
        the main process only (``callbacks__print_log__sink="auto"``).

    See Also
    --------
    {base} : The same estimator, trained without accelerate.

    Notes
    -----
    Under ``accelerate launch --num_processes P`` each process trains on every P-th
    batch of an epoch (a shuffled order that all processes share, so the shares are
    disjoint; the last fewer-than-P batches of an epoch are left out) and evaluates
    the whole validation split itself, so that early stopping decides the same in
    every process. Save the model from the main process only
    (``if model.accelerator.is_main_process: joblib.dump(...)``). The learning-rate
    schedule counts the steps of one process.

    Examples
    --------
    >>> from accelerate import Accelerator  # doctest: +SKIP
    >>> from skface import Accelerated{base}, ImageLoader  # doctest: +SKIP
    >>> model = Accelerated{base}(accelerator=Accelerator(mixed_precision="bf16"))  # doctest: +SKIP
    """


def _print_on_main_process(*args, **kwargs):
    if import_optional("accelerate", "accelerate").PartialState().is_main_process:
        print(*args, **kwargs)


_print_on_main_process.prints_to_stdout = True  # the epoch table colours for a terminal


class _AcceleratedFace(AccelerateMixin):
    """What skface's engine needs on top of skorch's AccelerateMixin."""

    def __init__(self, *args, accelerator=None, device=None, **kwargs):
        super().__init__(*args, accelerator=accelerator, device=device, **kwargs)

    # ----------------------------------------------------------------- set-up

    def _require_accelerator(self):
        if self.accelerator is None:
            raise ValueError(
                f"{type(self).__name__} needs an accelerator to train: pass "
                "accelerator=accelerate.Accelerator(...) (for example "
                "Accelerator(mixed_precision='bf16')); or use the estimator without "
                "'Accelerated' in its name."
            )

    def initialize(self):
        # what FaceNetBase.initialize resolves; AccelerateMixin.initialize replaces it
        self._require_accelerator()
        self.device_ = self._resolve_device()
        self.precision_ = self._resolve_precision(self.device_)
        return super().initialize()

    def _initialize_callbacks(self):
        # like AccelerateMixin, print the log from the main process only; a module-level
        # function instead of the accelerator's bound method keeps the model picklable
        # without the accelerator
        if self.callbacks__print_log__sink != "auto":
            return FaceNetBase._initialize_callbacks(self)
        # print honours verbose=0 by itself; any other sink prints regardless. The
        # parameter stays "auto" (fit leaves parameters as they were set).
        self.callbacks__print_log__sink = _print_on_main_process if self.verbose else print
        try:
            return FaceNetBase._initialize_callbacks(self)
        finally:
            self.callbacks__print_log__sink = "auto"

    def _initialize_accelerator(self):
        # DDP refuses a module without trainable parameters, such as a plain loss: only
        # losses that learn (FaceAttributes' task weights) go through accelerate.
        plain = {}
        for name in self._criteria:
            criterion = getattr(self, name + "_", None)
            if isinstance(criterion, torch.nn.Module) and not any(
                    p.requires_grad for p in criterion.parameters()):
                plain[name] = criterion
                setattr(self, name + "_", None)
        try:
            return super()._initialize_accelerator()
        finally:
            for name, criterion in plain.items():
                setattr(self, name + "_", criterion.to(self.accelerator.device))

    def _validate_params(self):
        if self.accelerator is not None:
            super()._validate_params()
        else:
            FaceNetBase._validate_params(self)

    def _resolve_device(self) -> str:
        return str(self.accelerator.device) if self.accelerator is not None else "cpu"

    def _resolve_precision(self, device):
        return None  # the accelerator's mixed_precision decides

    def _world_size(self) -> int:
        return self.accelerator.num_processes if self.accelerator is not None else 1

    def _seed(self) -> int:
        """One seed for every process: the same validation split and batch order."""
        if self.random_state is not None or self._world_size() == 1:
            return super()._seed()
        utils = import_optional("accelerate.utils", "accelerate")
        seed = [int(np.random.default_rng().integers(0, 2**31 - 1))]
        utils.broadcast_object_list(seed, from_process=0)
        return seed[0]

    # ----------------------------------------------------------------- steps

    def get_iterator(self, dataset, training=False):
        if self.accelerator is None:  # a loaded model, predicting
            return FaceNetBase.get_iterator(self, dataset, training=training)
        iterator = super().get_iterator(dataset, training=training)
        if training and self._world_size() > 1:
            iterator.shard = (self.accelerator.process_index, self.accelerator.num_processes)
        return iterator

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        with self.accelerator.autocast():
            loss, y_pred = self._train_loss(batch, **fit_params)
            self.accelerator.backward(loss)
        return {"loss": loss, "y_pred": y_pred}

    def evaluation_step(self, batch, training=False):
        # Every process evaluates all of its input (nothing is sharded outside
        # training), so there is nothing to gather across processes.
        return FaceNetBase.evaluation_step(self, batch, training=training)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # AccelerateMixin unwraps a DDP-wrapped network here, before early stopping
        # restores its snapshot, whose keys still carry DDP's "module." prefix.
        for _, callback in self.callbacks_:
            weights = getattr(callback, "best_model_weights_", None)
            if isinstance(weights, dict) and weights and all(
                    k.startswith("module.") for k in weights):
                callback.best_model_weights_ = {
                    k[len("module."):]: v for k, v in weights.items()}
        return super().on_train_end(net, X=X, y=y, **kwargs)

    # ----------------------------------------------------------------- pickling

    def __getstate__(self):
        if getattr(self, "_wrapped_with_accelerator", False):
            raise RuntimeError(
                f"{type(self).__name__} cannot be pickled while its network is wrapped by "
                "accelerate (unwrap_after_train=False); fit with unwrap_after_train=True.")
        # accelerate's optimizer wrapper would make the file need accelerate to load
        wrapped = {}
        for name in self._optimizers:
            optimizer = getattr(self, name + "_", None)
            inner = getattr(optimizer, "optimizer", None)
            if isinstance(inner, torch.optim.Optimizer):
                wrapped[name] = optimizer
                setattr(self, name + "_", inner)
        try:
            state = super().__getstate__()
        finally:
            for name, optimizer in wrapped.items():
                setattr(self, name + "_", optimizer)
        state["accelerator"] = None  # it belongs to the training processes
        return state

    def __setstate__(self, state):
        import warnings

        from skorch.exceptions import DeviceWarning

        with warnings.catch_warnings():  # "Setting self.device = cpu": expected here
            warnings.simplefilter("ignore", DeviceWarning)
            super().__setstate__(state)
        self.device = None  # the parameter stays as given; the weights are on the CPU
        if getattr(self, "initialized_", False):
            self.device_ = "cpu"
            self.precision_ = None

    def save_params(self, *args, **kwargs):
        if self.accelerator is None:
            return FaceNetBase.save_params(self, *args, **kwargs)
        return super().save_params(*args, **kwargs)

    def load_params(self, *args, **kwargs):
        if self.accelerator is None:
            return FaceNetBase.load_params(self, *args, **kwargs)
        return super().load_params(*args, **kwargs)


def _accelerated(base: type[FaceNetBase]) -> type:
    cls = type(f"Accelerated{base.__name__}", (_AcceleratedFace, base), {
        "__module__": __name__,
        "__doc__": _DOC.format(base=base.__name__),
        "__qualname__": f"Accelerated{base.__name__}",
    })
    return cls


AcceleratedGenderClassifier = _accelerated(GenderClassifier)
AcceleratedRaceClassifier = _accelerated(RaceClassifier)
AcceleratedAgeRegressor = _accelerated(AgeRegressor)
AcceleratedAgeBinner = _accelerated(AgeBinner)
AcceleratedFaceAttributes = _accelerated(FaceAttributes)
