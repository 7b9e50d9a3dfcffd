"""LazyImages: file paths that behave like an image array, decoded when read."""

from __future__ import annotations

import numbers

import numpy as np

from ._image_batches import load_images
from ._imaging import DecodeSpec

__all__ = ["LazyImages"]


class LazyImages:
    """Image files that act as a ``(n, size, size, channels)`` uint8 array.

    Nothing is decoded when the object is made: images are decoded when they are
    read (``images.take(idx)``, ``images[i]``), without the process-wide decode
    cache, so memory does not grow with the number of files. skface's estimators
    train on it batch by batch, decoding the next batches in background threads
    while the current one trains; ``ImageLoader(lazy=True)`` returns one, so a
    Pipeline keeps its usual shape for folders larger than memory.

    Made by :class:`~skface.ImageLoader` (``lazy=True``); not usually built by hand.

    Parameters
    ----------
    paths : list of str
        Image file paths, validated as :class:`~skface.ImageLoader` validates them.
    spec : DecodeSpec
        How each file is decoded (size, colour, framing).
    n_jobs : int or None, default=None
        Decoding threads per batch; ``None`` uses every CPU.

    Attributes
    ----------
    paths : list of str
        The files, in order.
    shape : tuple of int
        ``(n, size, size, channels)``, known without decoding.
    dtype : numpy.dtype
        Always uint8.

    Notes
    -----
    Indexing with a slice, an array of ints or a boolean mask gives another
    ``LazyImages`` (nothing decoded), so cross-validation splits stay lazy.
    ``np.asarray(images)`` decodes every file into memory (use it only when they
    fit). An unreadable file raises :class:`~skface.exceptions.ImageLoadError` when
    the batch holding it is read, naming the file; to find such files before a long
    fit, run :func:`skface.datasets.check_images` on the paths first.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, paths: list[str], spec: DecodeSpec, n_jobs: int | None = None):
        self.paths = list(paths)
        self.spec = spec
        self.n_jobs = n_jobs

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.spec.size, self.spec.size, self.spec.channels)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"LazyImages(<{len(self)} files>, shape={self.shape})"

    def take(self, indices) -> np.ndarray:
        """Decode the images at ``indices`` into one array.

        Parameters
        ----------
        indices : sequence of int
            Positions of the images (a 1-D sequence; negative positions count from
            the end).

        Returns
        -------
        images : ndarray of shape (len(indices), height, width, channels), dtype uint8
            The decoded images, in the order of ``indices``.
        """
        idx = np.asarray(indices, dtype=np.intp).reshape(-1)
        n = len(self.paths)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for {n} images")
        picked = [self.paths[i] for i in idx.tolist()]
        if not picked:
            return np.empty((0, *self.shape[1:]), dtype=np.uint8)
        return load_images(picked, self.spec, n_jobs=self.n_jobs, use_cache=False)

    def __getitem__(self, key):
        """One image (decoded) for an int; a ``LazyImages`` subset for anything else."""
        if isinstance(key, tuple):  # images[idx, ...] as scikit-learn's indexing writes it
            if len(key) == 0 or any(k is not Ellipsis and k != slice(None) for k in key[1:]):
                raise IndexError(
                    "LazyImages can only be indexed along the first axis (images); decode "
                    "them first (np.asarray) to index pixels")
            key = key[0]
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            return self.take([key])[0]
        if isinstance(key, slice):
            return self.subset(np.arange(len(self))[key])
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (len(self),):
                raise IndexError(
                    f"boolean index of shape {key.shape} does not match {len(self)} images")
            key = np.flatnonzero(key)
        if key.ndim != 1 or key.dtype.kind not in "iu":
            raise IndexError(
                "LazyImages can be indexed by an int, a slice, or a 1-D array of ints or "
                f"booleans; got {key!r}")
        return self.subset(key)

    def subset(self, indices) -> LazyImages:
        """The images at ``indices``, still undecoded (used by cross-validation).

        Parameters
        ----------
        indices : sequence of int or of bool
            Positions of the images, or a boolean mask over them.

        Returns
        -------
        LazyImages
            The selected images, decoded only when read.
        """
        idx = np.asarray(indices).reshape(-1)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return LazyImages([self.paths[i] for i in idx.tolist()], self.spec, self.n_jobs)

    def __array__(self, dtype=None, copy=None):
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __reduce__(self):
        return (LazyImages, (self.paths, self.spec, self.n_jobs))
