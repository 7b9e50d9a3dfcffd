"""Shared by the network families: weight initialisation and loading pretrained weights.

Pretrained weights are a local file (for example torchvision's ``vgg16-397923af.pth``)
or a URL carrying the file's SHA-256, downloaded once into a cache and verified by
:mod:`skface.nets._download`; either way the file is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import nn

from ._download import fetch_weights, is_url


def init_weights(module: nn.Module, *, linear_std: float | None = None) -> None:
    """Kaiming-normal convolutions (fan-out, ReLU), zero conv biases, unit batch norms.

    With ``linear_std``, linear layers get N(0, linear_std) weights and zero biases (as
    torchvision's VGG does); otherwise PyTorch's default for them is kept.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


def read_weights(weights: str | os.PathLike) -> tuple[Path, dict[str, torch.Tensor]]:
    """Read a state dict with ``torch.load(weights_only=True, map_location="cpu")``.

    Parameters
    ----------
    weights : str or os.PathLike
        The path of a local file, or a URL with the file's SHA-256 in its fragment
        (``"https://host/file.pth#sha256=<64 hex digits>"``; ``http://`` and
        ``file://`` too), fetched into the cache and verified first (see
        :func:`skface.nets._download.fetch_weights`).

    Returns
    -------
    path : pathlib.Path
        The file read (for a URL, its copy in the cache).
    state : dict of str to torch.Tensor
        The state dict.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or a URL's file is not in the cache with
        ``SKFACE_OFFLINE=1``.
    ValueError
        If the file cannot be read as a mapping of names to tensors, or a URL is
        refused (no SHA-256, another scheme) or its file does not match its SHA-256.
    OSError
        If a URL's file cannot be downloaded.
    """
    if is_url(weights):
        path = fetch_weights(str(weights))
    else:
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights file {str(path)!r} not found: pass the path of a state dict "
                "(e.g. torchvision's .pth file), or a URL with its SHA-256 "
                "('https://host/file.pth#sha256=<64 hex digits>')"
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


# ImageNet's channel statistics: networks loading ImageNet-pretrained weights declare
# them as ``input_mean``/``input_std``, and the engine normalises their input with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_weights(
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


class FreezableBlocks(nn.Module):
    """Base of networks whose ``trainable_blocks`` freezes their first blocks.

    A subclass defines ``blocks()`` (its blocks, first first) and calls
    :meth:`freeze_blocks` at the end of ``__init__``. Frozen parameters get
    ``requires_grad=False`` and frozen batch norms stay in eval mode, so their running
    statistics are kept.
    """

    def freeze_blocks(self, trainable_blocks: int | None) -> None:
        """Freeze every block but the last ``trainable_blocks``.

        Frozen blocks stop receiving gradients and keep their batch norms in
        evaluation mode while the network trains.

        Parameters
        ----------
        trainable_blocks : int or None
            How many of the last blocks keep training; ``None`` freezes nothing.
        """
        self._frozen: list[nn.Module] = []
        if trainable_blocks is None:
            return
        blocks = self.blocks()
        self._frozen = blocks[: len(blocks) - trainable_blocks]
        for block in self._frozen:
            block.requires_grad_(False)
        self.train(self.training)

    def blocks(self) -> list[nn.Module]:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def train(self, mode: bool = True):
        """Set training mode, keeping the batch norms of frozen blocks in eval mode.

        Parameters
        ----------
        mode : bool, default=True
            Training (True) or evaluation (False) mode.

        Returns
        -------
        nn.Module
            The network itself.
        """
        super().train(mode)
        for block in getattr(self, "_frozen", ()):
            for m in block.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.train(False)
        return self
