"""VGG16 with torchvision's parameter layout; pretrained weights load from a file or a URL."""

from __future__ import annotations

import os
from typing import Literal

import torch
from torch import nn

from ._api import register_model
from ._common import IMAGENET_MEAN, IMAGENET_STD, init_weights, load_weights, read_weights

__all__ = ["VGG16"]

# torchvision's configuration "D": channels of each 3x3 conv, "M" for a 2x2 max-pool.
_VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"
)
_N_BLOCKS = 5


@register_model("vgg16")
class VGG16(nn.Module):
    """VGG16 (configuration D) with torchvision's parameter names.

    Thirteen 3x3 convolutions with ReLU in five blocks, each ending in a 2x2 max-pool
    (``features.0`` ... ``features.30``), then a head. The parameter names match
    torchvision's ``vgg16`` (``features.0.weight`` ... ``features.28.bias``,
    ``classifier.0/3/6``), so a torchvision state dict loads. Works on any input from
    32 px: the head pools adaptively.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    weights : str or os.PathLike, default=None
        A state dict in torchvision's format: the path of a local file, such as
        ``vgg16-397923af.pth`` saved from torchvision (e.g.
        ``torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict()`` on a machine
        with torchvision, then ``torch.save``), or a URL with the file's SHA-256 in its
        fragment, ``"https://host/vgg16-397923af.pth#sha256=<64 hex digits>"``
        (``http://`` and ``file://`` too), downloaded once into skface's cache
        (``$SKFACE_CACHE_DIR/weights``, else ``$XDG_CACHE_HOME/skface/weights`` or
        ``~/.cache/skface/weights``) and verified before each use; ``SKFACE_OFFLINE=1``
        uses the cache only. A URL without its SHA-256 is refused. The file is read with
        ``torch.load(weights_only=True, map_location="cpu")``. The ImageNet output layer
        ``classifier.6`` (1000 classes) is skipped and stays freshly initialised; with
        ``pooling="avg"`` the whole ``classifier`` is skipped. With ``in_channels=1``,
        RGB weights of the first convolution are summed over the channel axis. Any other
        missing, unexpected or misshapen key raises a ``ValueError`` naming the file and
        the keys. None starts from random weights.
    trainable_blocks : int, default=None
        Freeze (``requires_grad=False``) every convolutional block but the last
        ``trainable_blocks`` of the five; 0 freezes all of them. The head is always
        trainable. None trains everything.
    pooling : {"avg", "flatten"}, default="avg"
        ``"avg"``: global average pooling, then dropout and one 512 -> ``n_outputs``
        linear layer (``classifier.1``); far cheaper. ``"flatten"``: torchvision's head,
        ``AdaptiveAvgPool2d((7, 7))`` then 25088 -> 4096 -> 4096 -> ``n_outputs`` with
        ReLU and dropout (``classifier.0/3/6``; 120 M parameters); with ``weights`` the
        first two of its layers are loaded.
    dropout : float, default=0.5
        Dropout probability in the head.

    See Also
    --------
    skface.nets.ResNet18 : Residual network, also loading torchvision weights.
    skface.nets.SkfaceNet : skface's default, far cheaper network.

    References
    ----------
    .. [1] K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for
       Large-Scale Image Recognition", ICLR 2015. https://arxiv.org/abs/1409.1556
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        weights: str | os.PathLike | None = None,
        trainable_blocks: int | None = None,
        pooling: Literal["avg", "flatten"] = "avg",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if pooling not in ("avg", "flatten"):
            raise ValueError(f"pooling must be 'avg' or 'flatten', got {pooling!r}")
        if trainable_blocks is not None and not 0 <= trainable_blocks <= _N_BLOCKS:
            raise ValueError(
                f"trainable_blocks must be None or between 0 and {_N_BLOCKS}, "
                f"got {trainable_blocks!r}"
            )
        layers: list[nn.Module] = []
        channels = in_channels
        for item in _VGG16_CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        if pooling == "flatten":
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, n_outputs),
            )
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, n_outputs))
        self._init_weights()
        if weights is not None:
            path, state = read_weights(weights)
            skip = ("classifier.6.",) if pooling == "flatten" else ("classifier.",)
            load_weights(self, path, state, skip=skip, first_conv="features.0.weight")
            # the pretrained filters expect inputs normalised as in ImageNet training
            self.input_mean, self.input_std = IMAGENET_MEAN, IMAGENET_STD
        if trainable_blocks is not None:
            for block in self.blocks()[: _N_BLOCKS - trainable_blocks]:
                block.requires_grad_(False)

    def _init_weights(self) -> None:
        # torchvision's initialisation
        init_weights(self, linear_std=0.01)

    def blocks(self) -> list[nn.Sequential]:
        """The five convolutional blocks, each ending with its max-pool.

        Returns
        -------
        list of nn.Sequential
            Views of ``features``, first block first.
        """
        out, start = [], 0
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.MaxPool2d):
                out.append(self.features[start : i + 1])
                start = i + 1
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
