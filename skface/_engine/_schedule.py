"""The built-in learning-rate schedule: linear warm-up, then cosine decay."""

from __future__ import annotations

import math

from skorch.callbacks import Callback


class WarmupCosine(Callback):
    """Per-batch learning rate: linear warm-up, then cosine decay to zero.

    The schedule is planned when training starts, from the batches the training
    iterator really yields per epoch and the epochs this call really runs (``fit``'s
    ``epochs=`` or ``max_epochs``). Each parameter group's own initial learning rate is
    scaled, so groups set with ``optimizer__param_groups`` keep their ratios; each
    training call takes the rates as the parameters give them then (a learning rate
    set with ``set_params`` between calls is the one the next call scales).
    ``partial_fit`` and warm-start fits continue the plan where it stopped; once it
    has ended, the next call starts a new cosine cycle over its own epochs, from the
    initial rates and without warm-up.
    """

    def __init__(self, warmup_epochs: float = 1.0):
        self.warmup_epochs = warmup_epochs

    def initialize(self):
        self.step_ = 0
        self.total_ = 0
        self.start_ = 0
        self.warmup_steps_ = 0.0
        self.base_lrs_ = None
        self.plan_pending_ = False
        return self

    def on_train_begin(self, net, **kwargs):
        self.plan_pending_ = True

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if not self.plan_pending_:
            return
        self.plan_pending_ = False
        steps = max(1, net._train_batches_per_epoch(dataset_train))
        epochs = net._planned_epochs()
        # each training call starts from the rates the parameters give now (the
        # engine writes them into the groups before training), so that a learning
        # rate set between calls is the one this call scales
        self.base_lrs_ = [float(g["lr"]) for g in net.optimizer_.param_groups]
        if self.step_ < self.total_:
            return  # continue the plan that is under way
        first = self.total_ == 0
        self.start_ = self.step_
        self.total_ = self.step_ + steps * epochs
        self.warmup_steps_ = self.warmup_epochs * steps if first else 0.0

    def _factor(self) -> float:
        t = self.step_ - self.start_
        if t < self.warmup_steps_:
            return (t + 1) / self.warmup_steps_
        span = max(1.0, self.total_ - self.start_ - self.warmup_steps_)
        progress = min(1.0, (t - self.warmup_steps_) / span)
        return 0.5 * (1 + math.cos(math.pi * progress))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training or self.base_lrs_ is None:
            return
        factor = self._factor()
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=False):
            group["lr"] = base * factor
        self.step_ += 1

