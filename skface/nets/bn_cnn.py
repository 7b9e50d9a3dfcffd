"""BatchNormCNN: five conv-BN-ReLU layers with max-pooling and a global-pooling head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._api import register_model
from ._common import init_weights

__all__ = ["BatchNormCNN"]


@register_model("bn_cnn")
class BatchNormCNN(nn.Module):
    """Five 3x3 conv-BN-ReLU layers, each but the last followed by a 2x2 max-pool.

    After the convolutions: global average pooling, then either dropout and the output
    layer (``hidden=None``) or a small dense layer with ReLU and dropout before it.
    The last convolution runs at 1/16 of the input size (2x2 for 32 px inputs).

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    widths : sequence of int, default=(32, 64, 128, 256, 256)
        Output channels of the convolutions; its length is the number of conv layers
        (a max-pool follows each but the last).
    dropout : float, default=0.3
        Dropout probability in the head.
    hidden : int, default=None
        Units of a dense layer between the pooled features and the output layer;
        None for none.

    See Also
    --------
    skface.nets.BasicCNN : The same idea without batch normalisation.
    skface.nets.SkfaceNet : skface's default network.

    References
    ----------
    .. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network
       Training by Reducing Internal Covariate Shift", ICML 2015.
       https://arxiv.org/abs/1502.03167
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128, 256, 256),
        dropout: float = 0.3,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        if len(widths) == 0:
            raise ValueError("widths must name at least one conv layer")
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            layers += [
                nn.Conv2d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if hidden is not None:
            head += [nn.Linear(channels, hidden), nn.ReLU(inplace=True)]
            channels = hidden
        head += [nn.Dropout(dropout), nn.Linear(channels, n_outputs)]
        self.head = nn.Sequential(*head)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
