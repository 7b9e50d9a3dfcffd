"""Exponential moving average of the weights, as a skorch callback."""

from __future__ import annotations

import torch
from skorch.callbacks import Callback


class WeightEMA(Callback):
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

