"""BasicCNN: a plain conv-ReLU-max-pool network, the usual first CNN for faces."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._api import register_model
from ._common import init_weights

__all__ = ["BasicCNN"]


@register_model("basic_cnn")
class BasicCNN(nn.Module):
    """A plain convolutional network: conv-ReLU-max-pool blocks, then a dense head.

    Each block is a 3x3 convolution (padding 1), ReLU and a 2x2 max-pool. The feature
    map is then average-pooled adaptively to a ``grid`` x ``grid`` map, so any input
    size works, flattened, and passed through a dense layer with ReLU, dropout and the
    output layer. No batch normalisation: a baseline to compare other networks with.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    widths : sequence of int, default=(32, 64, 128)
        Output channels of each block; its length is the number of blocks.
    hidden : int, default=256
        Units of the dense layer.
    dropout : float, default=0.5
        Dropout probability after the dense layer.
    grid : int, default=4
        Side of the pooled feature map that is flattened (``widths[-1] * grid**2``
        inputs to the dense layer).

    See Also
    --------
    skface.nets.BatchNormCNN : The same idea with batch normalisation.
    skface.nets.SkfaceNet : skface's default network.
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        hidden: int = 256,
        dropout: float = 0.5,
        grid: int = 4,
    ) -> None:
        super().__init__()
        if len(widths) == 0:
            raise ValueError("widths must name at least one block")
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * grid * grid, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_outputs),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))
