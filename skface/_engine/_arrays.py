"""Input checks: the image arrays every estimator takes."""

from __future__ import annotations

import os

import numpy as np
import torch

from .._imaging import pixels_to_uint8


def check_images_array(X, *, name: str) -> np.ndarray:
    """Validate image input and return it as a uint8 ``(n, h, w, c)`` array.

    uint8 arrays are passed through without a copy. Other dtypes are converted once,
    here, at the scale their dtype sets (:func:`~skface._imaging.pixels_to_uint8`):
    floats in ``[0, 1]``, bool as 0/255, uint16 in 0..65535, other integers in
    0..255. The scale never depends on the values, so an image gives the same
    prediction alone or in any batch.
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
    try:  # the scale follows the dtype, never the values of this batch
        return pixels_to_uint8(X)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}.") from None
