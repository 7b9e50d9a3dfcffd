"""ResNet-18 and ResNet-34 (basic blocks) with torchvision's parameter names."""

from __future__ import annotations

import os

import torch
from torch import nn

from ._api import register_model
from ._common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    FreezableBlocks,
    init_weights,
    load_weights,
    read_weights,
)

__all__ = ["ResNet", "ResNet18", "ResNet34"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut (a 1x1 conv-BN where the shape changes)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(FreezableBlocks):
    """Residual network of basic blocks with torchvision's parameter names.

    The stem (``conv1``, ``bn1``), four stages ``layer1`` ... ``layer4`` of 64, 128, 256
    and 512 channels (each but the first halving the resolution), global average
    pooling and ``fc``. Use :class:`~skface.nets.ResNet18` or :class:`~skface.nets.ResNet34`.

    Parameters
    ----------
    layers : sequence of 4 int
        Number of basic blocks in each stage.
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    small_input : bool, default=True
        True: a 3x3 stride-1 stem without max-pool, as the CIFAR ResNets, which suits
        32-64 px faces (the last stage sees 1/8 of the input size). False: the ImageNet
        stem, 7x7 stride-2 convolution and 3x3 stride-2 max-pool (1/32 of the input size
        at the last stage; far cheaper on large inputs).
    weights : str or os.PathLike, default=None
        A state dict in torchvision's format: the path of a local file (e.g.
        ``resnet18-f37072fd.pth`` saved from torchvision), or a URL with the file's
        SHA-256 in its fragment,
        ``"https://host/resnet18-f37072fd.pth#sha256=<64 hex digits>"`` (``http://`` and
        ``file://`` too), downloaded once into skface's cache
        (``$SKFACE_CACHE_DIR/weights``, else ``$XDG_CACHE_HOME/skface/weights`` or
        ``~/.cache/skface/weights``) and verified before each use; ``SKFACE_OFFLINE=1``
        uses the cache only. A URL without its SHA-256 is refused. The file is read with
        ``torch.load(weights_only=True, map_location="cpu")``. The ImageNet output layer
        ``fc`` is skipped and stays freshly initialised. With ``in_channels=1``, RGB
        weights of the first convolution are summed over the channel axis. With
        ``small_input=True``, a 7x7 ``conv1.weight`` in the file does not fit the 3x3
        stem: that one convolution keeps its random initialisation and everything else
        (``bn1`` included) is loaded. Any other missing, unexpected or misshapen key
        raises a ``ValueError`` naming the file and the keys.
    trainable_blocks : int, default=None
        Freeze every block but the last ``trainable_blocks`` of the five (the stem,
        ``layer1`` ... ``layer4``); 0 freezes all of them. Frozen parameters get
        ``requires_grad=False`` and frozen batch-norm layers stay in eval mode, so their
        running statistics are kept. ``fc`` is always trainable. None trains everything.

    See Also
    --------
    skface.nets.VGG16 : The other network that loads torchvision weights.
    skface.nets.SkfaceNet : skface's default, far cheaper network.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
       Recognition", CVPR 2016. https://arxiv.org/abs/1512.03385
    """

    def __init__(
        self,
        layers: tuple[int, int, int, int],
        *,
        n_outputs: int,
        in_channels: int = 3,
        small_input: bool = True,
        weights: str | os.PathLike | None = None,
        trainable_blocks: int | None = None,
    ) -> None:
        super().__init__()
        if trainable_blocks is not None and not 0 <= trainable_blocks <= 5:
            raise ValueError(
                f"trainable_blocks must be None or between 0 and 5, got {trainable_blocks!r}"
            )
        self.small_input = small_input
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        in_planes = 64
        for i, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(in_planes, planes, stride)]
            blocks += [BasicBlock(planes, planes) for _ in range(n_blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, n_outputs)
        self._init_weights()
        if weights is not None:
            path, state = read_weights(weights)
            keep_fresh: tuple[str, ...] = ()
            file_conv1 = state.get("conv1.weight")
            if small_input and file_conv1 is not None and file_conv1.shape[-1] != 3:
                del state["conv1.weight"]
                keep_fresh = ("conv1.weight",)
            load_weights(
                self, path, state, skip=("fc.",), first_conv="conv1.weight", keep_fresh=keep_fresh
            )
            # the pretrained filters expect inputs normalised as in ImageNet training
            self.input_mean, self.input_std = IMAGENET_MEAN, IMAGENET_STD
        self.freeze_blocks(trainable_blocks)

    def _init_weights(self) -> None:
        # torchvision's initialisation
        init_weights(self)

    def blocks(self) -> list[nn.Module]:
        """The five blocks counted by ``trainable_blocks``.

        Returns
        -------
        list of nn.Module
            The stem, ``layer1`` ... ``layer4``.
        """
        stem = nn.ModuleList([self.conv1, self.bn1])
        return [stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet18")
class ResNet18(ResNet):
    """ResNet-18: basic blocks (2, 2, 2, 2), 11 M parameters.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    small_input : bool, default=True
        3x3 stride-1 stem without max-pool (for 32-64 px faces); False for the ImageNet
        7x7/2 stem and max-pool. See :class:`~skface.nets.resnet.ResNet`.
    weights : str or os.PathLike, default=None
        Path of a local torchvision-format state dict, or a URL ending in
        ``#sha256=<64 hex digits>`` (downloaded once, cached, verified; ``fc`` skipped).
        See :class:`~skface.nets.resnet.ResNet`.
    trainable_blocks : int, default=None
        Freeze all but the last ``trainable_blocks`` of the five blocks.
        See :class:`~skface.nets.resnet.ResNet`.

    See Also
    --------
    ResNet34 : The deeper variant.
    skface.nets.SkfaceNet : skface's default, far cheaper network.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
       Recognition", CVPR 2016. https://arxiv.org/abs/1512.03385
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        small_input: bool = True,
        weights: str | os.PathLike | None = None,
        trainable_blocks: int | None = None,
    ) -> None:
        super().__init__(
            (2, 2, 2, 2),
            n_outputs=n_outputs,
            in_channels=in_channels,
            small_input=small_input,
            weights=weights,
            trainable_blocks=trainable_blocks,
        )


@register_model("resnet34")
class ResNet34(ResNet):
    """ResNet-34: basic blocks (3, 4, 6, 3), 21 M parameters.

    Parameters
    ----------
    n_outputs : int
        Size of the output layer.
    in_channels : int, default=3
        1 for greyscale, 3 for RGB input.
    small_input : bool, default=True
        3x3 stride-1 stem without max-pool (for 32-64 px faces); False for the ImageNet
        7x7/2 stem and max-pool. See :class:`~skface.nets.resnet.ResNet`.
    weights : str or os.PathLike, default=None
        Path of a local torchvision-format state dict, or a URL ending in
        ``#sha256=<64 hex digits>`` (downloaded once, cached, verified; ``fc`` skipped).
        See :class:`~skface.nets.resnet.ResNet`.
    trainable_blocks : int, default=None
        Freeze all but the last ``trainable_blocks`` of the five blocks.
        See :class:`~skface.nets.resnet.ResNet`.

    See Also
    --------
    ResNet18 : The shallower variant.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image
       Recognition", CVPR 2016. https://arxiv.org/abs/1512.03385
    """

    def __init__(
        self,
        *,
        n_outputs: int,
        in_channels: int = 3,
        small_input: bool = True,
        weights: str | os.PathLike | None = None,
        trainable_blocks: int | None = None,
    ) -> None:
        super().__init__(
            (3, 4, 6, 3),
            n_outputs=n_outputs,
            in_channels=in_channels,
            small_input=small_input,
            weights=weights,
            trainable_blocks=trainable_blocks,
        )
