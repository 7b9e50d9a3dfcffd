"""Losses beside the heads: what each kind of output trains on.

:class:`SmoothedCrossEntropy` for class logits, :class:`AgeDistributionLoss` for one
logit per year of age (DEX with label distributions), :class:`OrdinalLoss` for CORAL's
cumulative logits, and :class:`UncertaintyWeightedLoss` for several tasks side by side.
Targets arrive encoded (class indices, standardised ages). Only torch is imported here,
and the class table of model files (a loss a model file may name registers itself).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._registry import safe_class

__all__ = [
    "AGE_LOSSES",
    "AgeDistributionLoss",
    "OrdinalLoss",
    "SmoothedCrossEntropy",
    "UncertaintyWeightedLoss",
    "smoothed_entropy",
]

# what a multi-task model's age output learns: "dex" (one output per year) or "l1"
AGE_LOSSES = ("dex", "l1")


@safe_class("criterion")
class SmoothedCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy with label smoothing 0.1 by default: the classifiers' loss.

    Parameters
    ----------
    label_smoothing : float, default=0.1
        Share of the target spread evenly over the classes
        (``criterion__label_smoothing``).
    **kwargs
        Every other argument of ``torch.nn.CrossEntropyLoss``.
    """

    def __init__(self, label_smoothing: float = 0.1, **kwargs):
        super().__init__(label_smoothing=label_smoothing, **kwargs)


@safe_class("criterion")
class AgeDistributionLoss(nn.Module):
    """Age as a distribution over one-year classes (DEX with label distributions).

    KL divergence to a Gaussian of width ``sigma`` years centred on the true age
    (cross-entropy less the target's entropy, so a perfect prediction costs 0),
    plus ``l1_weight`` times the L1 distance (in standard deviations of the training
    ages) between the expected age under the predicted distribution and the true age
    (the DLDL-v2 recipe). Targets arrive standardised, as :class:`~skface.AgeRegressor`
    encodes them.

    Parameters
    ----------
    y_mean, y_scale : float
        Mean and standard deviation of the training ages, which standardised them.
    sigma : float, default=2.0
        Width in years of the Gaussian label distribution (``criterion__sigma``).
    l1_weight : float, default=1.0
        Weight of the L1 distance of the expected age (``criterion__l1_weight``).
    """

    def __init__(self, y_mean: float, y_scale: float, sigma: float = 2.0,
                 l1_weight: float = 1.0):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"criterion__sigma must be positive (years), got {sigma!r}")
        self.y_mean, self.y_scale = float(y_mean), float(y_scale)
        self.sigma, self.l1_weight = float(sigma), float(l1_weight)
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of logits over one class per year against standardised ages.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_outputs)
            One logit per year of age, 0 upwards.
        y : torch.Tensor of shape (n_samples,) or (n_samples, 1)
            True ages, standardised.

        Returns
        -------
        loss : torch.Tensor
            The mean over the batch, or one loss per sample when ``reduction`` is
            ``"none"`` (sample weights).
        """
        ages = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype)
        years = y.reshape(-1, 1).to(logits.dtype) * self.y_scale + self.y_mean
        target = torch.softmax(-((ages[None, :] - years) ** 2) / (2 * self.sigma**2), dim=1)
        log_p = torch.log_softmax(logits, dim=1)
        # KL divergence to the label distribution: cross-entropy less the target's own
        # entropy, so that a perfect prediction costs 0 (same gradients as cross-entropy)
        kl = (target * (torch.log(target.clamp_min(1e-30)) - log_p)).sum(dim=1)
        expected = (log_p.exp() * ages).sum(dim=1)
        l1 = (expected - years[:, 0]).abs() / self.y_scale
        loss = kl + self.l1_weight * l1
        return loss if self.reduction == "none" else loss.mean()


@safe_class("criterion")
class OrdinalLoss(nn.Module):
    """Binary cross-entropy on cumulative targets ``y > k``, summed over k (CORAL).

    The loss of :class:`~skface.AgeBinner` with ``head="ordinal"``: one logit per
    threshold between consecutive groups.
    """

    def __init__(self):
        super().__init__()
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The summed binary cross-entropies of the cumulative logits.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_outputs)
            One logit per threshold: the group is above threshold k.
        y : torch.Tensor of shape (n_samples,)
            True group codes, 0 upwards.

        Returns
        -------
        loss : torch.Tensor
            The mean over the batch, or one loss per sample when ``reduction`` is
            ``"none"`` (sample weights).
        """
        k = torch.arange(logits.shape[1], device=logits.device)
        targets = (y.long()[:, None] > k[None, :]).float()
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss = loss.sum(dim=1)
        return loss if self.reduction == "none" else loss.mean()



def smoothed_entropy(k: int, smoothing: float) -> float:
    """Entropy (nats) of a one-hot target over ``k`` classes smoothed by ``smoothing``."""
    hit, miss = 1 - smoothing + smoothing / k, smoothing / k
    return -(hit * math.log(hit) if hit > 0 else 0.0) - (
        (k - 1) * miss * math.log(miss) if miss > 0 else 0.0)


@safe_class("criterion")
class UncertaintyWeightedLoss(nn.Module):
    """Sum of task losses weighted by learned homoscedastic uncertainty.

    ``loss = sum_t exp(-s_t) * L_t + s_t`` with one learned ``s_t`` (a log variance)
    per task (Kendall, Gal and Cipolla, 2018): a task whose loss stays high gets a
    lower weight, and the ``+ s_t`` term stops every weight from shrinking to zero.

    Parameters
    ----------
    slices : dict of str to (int, int)
        Output columns of each task.
    label_smoothing : float, default=0.1
        For the classification tasks.
    age_loss : {"dex", "l1"}, default="dex"
        ``"dex"``: the age head has one output per year 0..116 and learns
        :class:`AgeDistributionLoss` (as :class:`~skface.AgeRegressor`'s default); ``"l1"``: one
        output, L1 on the standardised age.
    sigma : float, default=2.0
        Width in years of the age label distribution (``"dex"`` only).
    y_mean, y_scale : float, default=0.0, 1.0
        Mean and standard deviation of the training ages (set by
        :class:`~skface.FaceAttributes`).
    """

    def __init__(self, slices: dict, label_smoothing: float = 0.1, age_loss: str = "dex",
                 sigma: float = 2.0, y_mean: float = 0.0, y_scale: float = 1.0):
        super().__init__()
        if age_loss not in AGE_LOSSES:
            raise ValueError(
                f"criterion__age_loss must be one of {list(AGE_LOSSES)}, got {age_loss!r}")
        self.slices = dict(slices)
        self.label_smoothing = label_smoothing
        self.age_loss = age_loss
        self.log_vars = nn.Parameter(torch.zeros(len(self.slices)))
        self.dex = AgeDistributionLoss(y_mean, y_scale, sigma=sigma)
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def task_losses(self, out: torch.Tensor, y: torch.Tensor,
                    reduction: str = "mean") -> list[torch.Tensor]:
        """Each task's loss, averaged over the batch (or per sample with "none").

        Parameters
        ----------
        out : torch.Tensor of shape (n_samples, n_outputs)
            Raw outputs, each task in its columns of ``slices``.
        y : torch.Tensor of shape (n_samples, n_tasks)
            Encoded targets, one column per task in the order of ``slices``.
        reduction : {"mean", "none"}, default="mean"
            Average over the batch, or one loss per sample.

        Returns
        -------
        losses : list of torch.Tensor
            One loss per task, in the order of ``slices``.
        """
        losses = []
        self.dex.reduction = reduction
        for j, (task, (a, b)) in enumerate(self.slices.items()):
            target = y[:, j]
            if task == "age" and self.age_loss == "dex":
                losses.append(self.dex(out[:, a:b], target))
            elif task == "age":
                losses.append(nn.functional.l1_loss(out[:, a], target.float(),
                                                    reduction=reduction))
            else:
                # less the smoothed target's entropy (a KL divergence): a task's loss
                # then measures its difficulty, not the floor label smoothing sets
                losses.append(nn.functional.cross_entropy(
                    out[:, a:b], target.long(), label_smoothing=self.label_smoothing,
                    reduction=reduction) - smoothed_entropy(b - a, self.label_smoothing))
        return losses

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The task losses weighted by their learned uncertainty, plus the log variances.

        Parameters
        ----------
        out : torch.Tensor of shape (n_samples, n_outputs)
            Raw outputs, each task in its columns of ``slices``.
        y : torch.Tensor of shape (n_samples, n_tasks)
            Encoded targets, one column per task in the order of ``slices``.

        Returns
        -------
        loss : torch.Tensor
            The mean over the batch, or one loss per sample when ``reduction`` is
            ``"none"`` (sample weights).
        """
        losses = torch.stack(self.task_losses(out, y, self.reduction), dim=0)
        weights = torch.exp(-self.log_vars)
        if self.reduction == "none":  # (tasks, batch) -> one loss per sample
            return (weights[:, None] * losses + self.log_vars[:, None]).sum(dim=0)
        return (weights * losses + self.log_vars).sum()

