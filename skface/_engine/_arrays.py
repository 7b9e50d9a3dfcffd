"""Input checks: the image arrays every estimator takes."""

from __future__ import annotations

import os

import numpy as np
import torch


def check_images_array(X, *, name: str) -> np.ndarray:
    """Validate image input and return it as a uint8 ``(n, h, w, c)`` array.

    uint8 arrays are passed through without a copy. Float arrays in ``[0, 1]`` are
    scaled by 255; float arrays with values above 1 are taken to be in ``[0, 255]``;
    either way they are rounded to uint8 once, here.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, (str, bytes, os.PathLike)) or np.asarray(X).dtype.kind in "OUS":
        raise TypeError(
            f"{name} expects images as a uint8 array of shape (n, height, width, channels), "
            "got file paths or other objects. Load image files in a Pipeline:\n"
            f"    make_pipeline(ImageLoader(size=64), {name}())"
        )
    X = np.asarray(X)
    if X.ndim == 3:
        raise ValueError(
            f"{name} expects a batch of images of shape (n, height, width, channels); got "
            f"shape {X.shape}. For a single greyscale image batch add the channel axis "
            "(X[..., None]); for one image add the batch axis (X[None])."
        )
    if X.ndim != 4:
        raise ValueError(
            f"{name} expects images of shape (n, height, width, channels); got an array of "
            f"shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} got no images (an array of shape {X.shape}).")
    if X.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name} expects 1 (greyscale) or 3 (RGB) channels last; got shape {X.shape}. "
            "ImageLoader(color='rgb' or 'grayscale') gives the right layout."
        )
    if X.dtype == np.uint8:
        return X
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} expects uint8 or float images, got dtype {X.dtype}.")
    Xf = X.astype(np.float32, copy=False)
    if not np.isfinite(Xf).all():
        raise ValueError(f"{name}: the images contain NaN or infinite values.")
    lo, hi = float(Xf.min()), float(Xf.max())
    if lo < 0 or hi > 255:
        raise ValueError(
            f"{name} expects pixel values in [0, 1] or [0, 255]; got values from {lo:g} to "
            f"{hi:g}. Rescale the images (or pass the uint8 output of ImageLoader)."
        )
    scale = 255.0 if hi <= 1.0 else 1.0
    return np.clip(np.rint(Xf * scale), 0, 255).astype(np.uint8)

