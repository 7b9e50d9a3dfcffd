"""One training step: autocast, mixup and cutmix, float16 loss scaling, and the loss
with per-sample weights."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from skorch.utils import to_tensor
from torch import nn

from ._batches import loss_reduction, select_rows, split_weight
from ._module import FaceModule


class TrainingStepMixin:
    """Training and evaluation steps of :class:`~skface._engine.FaceNetBase`."""

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
