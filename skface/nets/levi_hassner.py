"""LeviHassner: the age and gender network of Levi and Hassner (2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._api import register_model
from ._common import init_weights

__all__ = ["LeviHassner"]


def _auto_stride(size: int) -> int:
    """First-convolution stride that keeps the feature maps near the original's."""
    if size >= 128:
        return 4
    if size >= 64:
        return 2
    return 1


@register_model("levi_hassner")
class LeviHassner(nn.Module):
    """The three-convolution age and gender network of Levi and Hassner (2015).

    ``conv1`` 7x7, 96 channels -> ReLU -> max-pool 3/2 -> local response norm;
    ``conv2`` 5x5 (padding 2), 256 -> ReLU -> max-pool 3/2 -> local response norm;
    ``conv3`` 3x3 (padding 1), 384 -> ReLU -> max-pool 3/2; then FC 512 -> ReLU ->
    dropout -> FC 512 -> ReLU -> dropout -> FC ``n_outputs``. Local response norms are
    ``LocalResponseNorm(5, alpha=1e-4, beta=0.75)``.

    Changes from the original, which took 227 px crops, so that any input from 32 to
    224 px works:

    - The stride of ``conv1`` (4 in the original) is chosen per batch from the input's
      smaller side: 4 from 128 px, 2 from 64 px, 1 below. The three max-pools need at
      least 21 px after ``conv1`` at stride 4 (63 px inputs); these thresholds keep the
      last feature map at 2-7 px for inputs of 32-224 px, close to the original's 6 px.
      The stride does not change any parameter's shape; pass ``first_stride`` to fix it.
    - An ``AdaptiveAvgPool2d(grid)`` before the first FC layer gives it a fixed
      ``384 * grid**2`` inputs. At 227 px with stride 4 the map is already 6x6, so with
      the default ``grid=6`` the network is the original there.
    - Max-pools round down (PyTorch's default) where Caffe rounded up.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    dropout : float, default=0.5
        Dropout probability after each of the two hidden FC layers.
    first_stride : int, default=None
        Stride of ``conv1``; None chooses it from the input size as described above.
        A fixed stride fails on inputs too small for it (4 needs at least 63 px).
    grid : int, default=6
        Side of the adaptively pooled map fed to the first FC layer.

    See Also
    --------
    skface.nets.SkfaceNet : skface's default network, faster on small inputs.

    References
    ----------
    .. [1] G. Levi and T. Hassner, "Age and Gender Classification using Convolutional
       Neural Networks", IEEE CVPR Workshops (AMFG) 2015.
       https://talhassner.github.io/home/publication/2015_CVPR
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        dropout: float = 0.5,
        first_stride: int | None = None,
        grid: int = 6,
    ) -> None:
        super().__init__()
        if first_stride is not None and first_stride < 1:
            raise ValueError(f"first_stride must be None or positive, got {first_stride!r}")
        self.first_stride = first_stride
        self.conv1 = nn.Conv2d(in_channels, 96, 7, stride=4)
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
            nn.Conv2d(96, 256, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75),
            nn.Conv2d(256, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(grid)
        self.classifier = nn.Sequential(
            nn.Linear(384 * grid * grid, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, n_outputs),
        )
        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.first_stride or _auto_stride(min(x.shape[-2:]))
        x = F.conv2d(x, self.conv1.weight, self.conv1.bias, stride=stride)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
