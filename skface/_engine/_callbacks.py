"""The callbacks every fit runs and what they see.

The built-in callbacks (the epoch table, validation scores, the learning-rate schedule,
the weight average, early stopping that stops once every callback saw the epoch), and
the targets handed to callbacks in the user's labels instead of the encoded ones.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from skorch.callbacks import EarlyStopping, EpochScoring
from skorch.dataset import Dataset
from torch.utils.data import Subset

from ._batches import split_weight
from ._ema import WeightEMA
from ._log import EpochLog
from ._schedule import WarmupCosine
from ._stopping import DeferredEarlyStopping, StopWhenAsked


class CallbacksMixin:
    """Callbacks of :class:`~skface._engine.FaceNetBase`."""

    @property
    def _default_callbacks(self):
        # skorch's PrintLog colours the table even when it goes to a file or a pipe
        callbacks = [(name, EpochLog() if name == "print_log" else cb)
                     for name, cb in super()._default_callbacks]
        try:
            built_in = self._built_in_callbacks()
        except (TypeError, ValueError):
            # An invalid parameter value (patience="x"): get_params(deep=True), and so
            # set_params, still answer without the built-in callbacks (scikit-learn's
            # rule: only fit checks values); fit and partial_fit say which is wrong.
            built_in = []
        return [*callbacks[:-1], *built_in, callbacks[-1]]  # the log printer last

    def _built_in_callbacks(self) -> list[tuple[str, object]]:
        """The callbacks the parameters ask for: validation scores, the learning-rate
        schedule, the weight average and early stopping, in the order they run."""
        callbacks = []
        if self._uses_validation():
            for name, task in self._valid_scores():
                scoring = EpochScoring(functools.partial(self._valid_score, task=task),
                                       name=name, lower_is_better=name.endswith("mae"),
                                       use_caching=True)
                callbacks.append((name, scoring))
        if not self._user_lr_scheduler():  # the user's scheduler replaces the built-in one
            callbacks.append(("lr_schedule", WarmupCosine(self.warmup_epochs)))
        if self.ema_decay:
            callbacks.append(("ema", WeightEMA(self.ema_decay)))
        if self.early_stopping and self._uses_validation():
            monitor = self._stopping_monitor()
            stopper = DeferredEarlyStopping(monitor=monitor, patience=self._patience(),
                                            lower_is_better=monitor.endswith(("loss", "mae")),
                                            load_best=True, sink=self._sink)
            callbacks.append(("early_stopping", stopper))
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

    def _best_epoch(self) -> int | None:
        """Epoch (1-based) whose weights early stopping keeps, if it runs."""
        if not (self.early_stopping and self._uses_validation()):
            return None
        key = f"{self._stopping_monitor()}_best"
        best = [row["epoch"] for row in self.history_ if row.get(key)]
        return best[-1] if best else None

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
