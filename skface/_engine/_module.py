"""The on-device module: uint8 images in, network outputs out.

Conversion to float, batched augmentation (flip, shift/scale/rotation,
brightness/contrast, saturation), normalisation, channels_last and test-time flip
averaging run inside :class:`FaceModule`, on the device, so that images stay uint8
until a batch is there. Dropout layers of the network draw their masks from the fit's
own generator (:class:`SlotDropout`), so that fits in parallel threads do not disturb
each other.
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_AUGMENT = {
    "flip": True,  # horizontal flip with probability 1/2
    "shift": 0.08,  # translation, fraction of the image side
    "scale": 0.10,  # zoom in or out by up to this fraction
    "rotate": 10.0,  # degrees
    "brightness": 0.2,  # additive, fraction of the full range
    "contrast": 0.2,  # multiplicative around the image mean
    "saturation": 0.0,  # colour: blend with the grey image by 1 +- this (RGB only); off
}
# Normalisation: images in [0, 1] are mapped to roughly zero mean and unit variance.
# A network may declare its own (``input_mean``/``input_std`` attributes, one value or
# one per channel), as ImageNet-pretrained weights need ImageNet's statistics.
_MEAN, _STD = 0.5, 0.25
# ITU-R BT.601 luma weights (Pillow's "L" conversion), for the saturation augmentation.
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


class GeneratorSlot:
    """Holds the per-fit generator a FaceModule shares with its dropout layers (never
    pickled: generators belong to one fit)."""

    __slots__ = ("generator",)

    def __init__(self):
        self.generator: torch.Generator | None = None

    def __reduce__(self):
        return (GeneratorSlot, ())


class SlotDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask from the fit's own generator when one is set."""

    def __init__(self, p: float, slot: GeneratorSlot):
        super().__init__(p)
        self._slot = slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gen = self._slot.generator
        if not self.training or self.p == 0 or gen is None or gen.device != x.device:
            return super().forward(x)
        if self.p == 1:
            return x * 0
        keep = torch.rand(x.shape, device=x.device, generator=gen) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


def _meaning(saved: torch.Tensor) -> dict:
    """The target meaning a ``target_meaning`` buffer holds (JSON text as bytes)."""
    try:
        value = json.loads(bytes(saved.cpu().numpy().tobytes()).decode())
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"unreadable": True}
    return value if isinstance(value, dict) else {"unreadable": True}


def _describe(saved: torch.Tensor) -> str:
    parts = []
    for key, value in _meaning(saved).items():
        text = repr(value)
        parts.append(f"{key} {text if len(text) <= 60 else text[:57] + '...'}")
    return ", ".join(parts)


class FaceModule(nn.Module):
    """uint8 images in, network outputs out; preprocessing runs on the device.

    Parameters
    ----------
    net : nn.Module
        A network from :mod:`skface.nets` (float NCHW in, ``(batch, k)`` out).
    augment : dict or None
        Augmentation strengths (see ``DEFAULT_AUGMENT``); applied in training mode only.
    tta : bool
        In evaluation mode, average the outputs for the image and its mirror image.
    channels_last : bool
        Feed the network channels_last tensors (faster convolutions on CPU and GPU).
    ordinal_outputs : int or array-like
        When given, the network has one output ``g(x)`` and the module returns
        ``g(x) + b_k`` for ``K - 1`` learned thresholds (CORAL). An int gives the
        number of thresholds, initialised to zero; an array their initial values
        (e.g. the logits of ``P(y > k)`` in the training data).
    """

    def __init__(self, net: nn.Module, *, augment: dict | None = None, tta: bool = False,
                 channels_last: bool = True, ordinal_outputs=0):
        super().__init__()
        self.net = net
        self.augment = dict(augment) if augment else None
        self.tta = tta
        self.channels_last = channels_last
        mean = torch.as_tensor(getattr(net, "input_mean", _MEAN), dtype=torch.float32)
        std = torch.as_tensor(getattr(net, "input_std", _STD), dtype=torch.float32)
        # saved with the weights, so that a model loaded without its pretrained-weights
        # file normalises as it was trained
        self.register_buffer("input_mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("input_std", std.reshape(1, -1, 1, 1))
        # Random draws of the augmentation and of the network's dropout; None draws
        # from torch's global generator. The engine sets a generator of its own for
        # each fit, so that fits in parallel threads do not disturb each other.
        self._slot = GeneratorSlot()
        for parent in [net, *net.modules()]:
            for name, child in list(parent.named_children()):
                if type(child) is nn.Dropout:
                    setattr(parent, name, SlotDropout(child.p, self._slot))
        init = torch.as_tensor(ordinal_outputs, dtype=torch.float32)
        if init.dim() == 0:
            init = torch.zeros(int(init))
        self.ordinal_outputs = len(init)
        if self.ordinal_outputs:
            self.ordinal_bias = nn.Parameter(init.clone())

    @property
    def generator(self) -> torch.Generator | None:
        """The generator of the augmentation and dropout draws (None: torch's global)."""
        return self._slot.generator

    @generator.setter
    def generator(self, value: torch.Generator | None) -> None:
        self._slot.generator = value

    # State entries with a default: weights saved before networks declared their input
    # statistics lack them, and each holds one value or one per channel.
    optional_state = {"input_mean": _MEAN, "input_std": _STD}

    # State entries derived from the estimator's fitted attributes, which the safe model
    # format rebuilds from them instead of storing.
    derived_state = frozenset({"target_meaning"})

    @property
    def target(self) -> dict | None:
        """What the outputs mean (labels, age scale, image size), as the estimator set it.

        Kept with the weights as the ``target_meaning`` buffer (the JSON text as bytes),
        so that ``save_params`` writes it and loading weights trained for another target
        is refused instead of misread.
        """
        saved = self._buffers.get("target_meaning")
        return None if saved is None else _meaning(saved)

    @target.setter
    def target(self, value: dict | None) -> None:
        if value is None:
            self._buffers.pop("target_meaning", None)
            return
        text = json.dumps(value, sort_keys=True, default=str).encode()
        self.register_buffer("target_meaning",
                             torch.frombuffer(bytearray(text), dtype=torch.uint8).clone())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "target_meaning"
        mine, theirs = self._buffers.get("target_meaning"), state_dict.get(key)
        if mine is not None and theirs is not None and not (
                theirs.shape == mine.shape and bool((theirs.cpu() == mine.cpu()).all())):
            raise ValueError(
                f"these weights were trained for another target ({_describe(theirs)}) than "
                f"this model's ({_describe(mine)}), so its outputs would be misread. Fit "
                "the model on the same labels before loading the weights, or keep models "
                "with skface.save_model or joblib, which carry what the weights mean.")
        if mine is not None:  # weights saved without one are taken as they are
            state_dict.setdefault(key, mine)
        for name, default in self.optional_state.items():
            # weights saved before networks declared their statistics used the defaults
            saved = state_dict.setdefault(prefix + name, torch.full((1, 1, 1, 1), default))
            if saved.shape != self._buffers[name].shape:  # one value or one per channel
                self._buffers[name] = torch.empty_like(saved)
        return super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _to_float(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected a batch of NHWC images, got shape {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2)  # NHWC memory seen as NCHW: already channels_last
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
        if not self.channels_last:
            x = x.contiguous()
        return x

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        a = self.augment
        n = x.shape[0]
        dev = x.device
        gen = self.generator if (self.generator is not None
                                 and self.generator.device == dev) else None

        def rand(*shape):
            return torch.rand(*shape, device=dev, generator=gen)

        if a.get("shift") or a.get("scale") or a.get("rotate"):
            angle = (rand(n) * 2 - 1) * math.radians(a.get("rotate", 0.0))
            scale = 1 + (rand(n) * 2 - 1) * a.get("scale", 0.0)
            shift = (rand(n, 2) * 2 - 1) * (2 * a.get("shift", 0.0))
            cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
            theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                                 torch.stack([sin, cos, shift[:, 1]], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                              align_corners=False)
        if a.get("flip"):
            flip = rand(n) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if a.get("contrast"):
            c = 1 + (rand(n, 1, 1, 1) * 2 - 1) * a["contrast"]
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * c + mean
        if a.get("brightness"):
            x = x + (rand(n, 1, 1, 1) * 2 - 1) * a["brightness"]
        if a.get("saturation") and x.shape[1] == 3:
            s = 1 + (rand(n, 1, 1, 1) * 2 - 1) * a["saturation"]
            grey = (x * _LUMA.to(dev)).sum(dim=1, keepdim=True)
            x = grey + (x - grey) * s
        return x

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.ordinal_outputs:
            out = out[:, :1] + self.ordinal_bias
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_float(x)
        if self.training and self.augment:
            x = self._augment(x)
        mean, std = self.input_mean, self.input_std
        if mean.shape[1] != x.shape[1]:  # per-channel statistics for a greyscale input
            mean, std = mean.mean(dim=1, keepdim=True), std.mean(dim=1, keepdim=True)
        x = (x - mean) / std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.training or not self.tta:
            return self._net(x)
        return (self._net(x) + self._net(x.flip(3))) / 2

