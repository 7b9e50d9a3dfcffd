"""SkfaceNet: skface's default network, small and fast on CPU at 48-64 px."""

from __future__ import annotations

import torch
from torch import nn

from ._api import register_model
from ._common import init_weights

__all__ = ["SkfaceNet"]


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


@register_model("skfacenet")
class SkfaceNet(nn.Module):
    """skface's default network: four conv-BN-ReLU stages, global pooling, a linear head.

    Stage ``i`` has ``width * 2**i`` channels: one 3x3 conv-BN-ReLU in the first two
    stages, two in the last two, and a 2x2 max-pool after each stage; then global
    average pooling, dropout and one linear layer. Six convolutions in all (about
    1.1 M parameters at ``width=32``). Chosen for accuracy per CPU-minute on 48-64 px
    faces; it uses only operations that are fast in ``channels_last`` memory format
    under bfloat16 autocast on CPU. Works on any input from 32 px (16 px at least).

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    width : int, default=32
        Channels of the first stage; each stage doubles them (32, 64, 128, 256).
    dropout : float, default=0.2
        Dropout probability before the linear layer.

    See Also
    --------
    skface.nets.BatchNormCNN : A similar, fixed five-layer network.
    skface.nets.ResNet18 : Deeper and far slower, for larger budgets.
    """

    def __init__(
        self, *, n_outputs: int, in_channels: int = 3, width: int = 32, dropout: float = 0.2
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        layers: list[nn.Module] = []
        channels = in_channels
        for stage, n_convs in enumerate((1, 1, 2, 2)):
            out = width * 2**stage
            for _ in range(n_convs):
                layers += _conv_bn_relu(channels, out)
                channels = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, n_outputs),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
