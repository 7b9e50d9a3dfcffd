"""Early stopping that lets every callback see the final epoch before training ends."""

from __future__ import annotations

from skorch.callbacks import Callback, EarlyStopping


class DeferredEarlyStopping(EarlyStopping):
    """skorch's EarlyStopping, whose stop waits until every other callback has run.

    It keeps its bookkeeping (misses, best weights) where skorch places it, but
    instead of raising from ``on_epoch_end`` (which would skip the log printer and the
    user's callbacks for the final epoch) it asks :class:`StopWhenAsked`, the last
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


class StopWhenAsked(Callback):
    """Last callback of an epoch: ends training when early stopping asked for it."""

    def on_epoch_end(self, net, **kwargs):
        if any(getattr(cb, "stop_requested_", False) for _, cb in net.callbacks_):
            raise KeyboardInterrupt

