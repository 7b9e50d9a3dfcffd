"""VGG16 with torchvision's parameter layout, and the loader of local pretrained weights.

The loader (:func:`_read_weights`, :func:`_load_weights`) is shared with
:mod:`skface.nets.resnet`. skface never downloads anything: pretrained weights are a
file the user saved themselves.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ._api import register_model

__all__ = ["VGG16"]

# torchvision's configuration "D": channels of each 3x3 conv, "M" for a 2x2 max-pool.
_VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"
)
_N_BLOCKS = 5


def _read_weights(weights: str | os.PathLike) -> tuple[Path, dict[str, torch.Tensor]]:
    """Read a local state dict with ``torch.load(weights_only=True, map_location="cpu")``.

    Raises
    ------
    FileNotFoundError
        If there is no such file (skface never downloads weights).
    ValueError
        If the file cannot be read as a mapping of names to tensors.
    """
    path = Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {str(path)!r} not found; skface never downloads weights: "
            "pass the path of a state dict you saved yourself (e.g. torchvision's .pth file)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in several types
        raise ValueError(f"cannot read a state dict from {str(path)!r}: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{str(path)!r} does not hold a state dict (a mapping of parameter names to "
            f"tensors) but a {type(state).__name__}"
        )
    return path, dict(state)


def _shorten(keys: Collection[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _load_weights(
    module: nn.Module,
    path: Path,
    state: dict[str, torch.Tensor],
    *,
    skip: tuple[str, ...],
    first_conv: str,
    keep_fresh: Collection[str] = (),
) -> None:
    """Copy ``state`` into ``module``, checking that the keys and shapes match.

    Parameters
    ----------
    module : torch.nn.Module
        The network to load into.
    path : pathlib.Path
        The file ``state`` came from (named in error messages).
    state : dict of str to torch.Tensor
        The state dict read from ``path``.
    skip : tuple of str
        Key prefixes (e.g. ``"fc."``) ignored on both sides: the freshly initialised head.
    first_conv : str
        Key of the first convolution's weight. Its channel count is adapted: RGB weights
        are summed over the channel axis for a 1-channel network, 1-channel weights are
        repeated (divided by 3) for an RGB network.
    keep_fresh : collection of str, optional
        Keys of the network that may be absent from ``state``; they keep their
        initialisation.

    Raises
    ------
    ValueError
        Naming the file and the keys, if keys are missing, unexpected or of the wrong shape.
    """
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    own = module.state_dict()
    expected = {k for k in own if not k.startswith(skip)}

    weight = state.get(first_conv)
    if weight is not None and first_conv in own and weight.ndim == 4:
        want = own[first_conv].shape[1]
        if weight.shape[1] == 3 and want == 1:
            state[first_conv] = weight.sum(dim=1, keepdim=True)
        elif weight.shape[1] == 1 and want == 3:
            state[first_conv] = weight.repeat(1, 3, 1, 1) / 3

    missing = {
        k
        for k in expected - state.keys() - set(keep_fresh)
        # checkpoints saved before torch 0.4.1 lack the BatchNorm batch counters
        if not k.endswith("num_batches_tracked")
    }
    unexpected = state.keys() - own.keys()
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, network {tuple(own[k].shape)})"
        for k in sorted(state.keys() & own.keys())
        if state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing from the file: {_shorten(missing)}")
    if unexpected:
        problems.append(f"in the file but not in the network: {_shorten(unexpected)}")
    if mismatched:
        problems.append(f"of different shapes: {_shorten(mismatched)}")
    if problems:
        raise ValueError(
            f"cannot load weights from {str(path)!r} into {type(module).__name__}: keys "
            + "; keys ".join(problems)
        )
    module.load_state_dict(state, strict=False)


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
        Path of a LOCAL state dict in torchvision's format, such as ``vgg16-397923af.pth``
        saved from torchvision: skface never downloads weights, fetch them yourself (e.g.
        ``torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict()`` on a machine
        with torchvision, then ``torch.save``). It is read with
        ``torch.load(weights_only=True, map_location="cpu")``. The ImageNet output layer
        ``classifier.6`` (1000 classes) is skipped and stays freshly initialised; with
        ``pooling="avg"`` the whole ``classifier`` is skipped. With ``in_channels=1``, RGB
        weights of the first convolution are summed over the channel axis. Any other
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
            path, state = _read_weights(weights)
            skip = ("classifier.6.",) if pooling == "flatten" else ("classifier.",)
            _load_weights(self, path, state, skip=skip, first_conv="features.0.weight")
        if trainable_blocks is not None:
            for block in self.blocks()[: _N_BLOCKS - trainable_blocks]:
                block.requires_grad_(False)

    def _init_weights(self) -> None:
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def blocks(self) -> list[nn.Sequential]:
        """The five convolutional blocks, each ending with its max-pool (views of ``features``)."""
        out, start = [], 0
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.MaxPool2d):
                out.append(self.features[start : i + 1])
                start = i + 1
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
