"""ImageLoader: file paths in, uint8 pixel arrays out."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._image_batches import (
    check_files_exist,
    format_failures,
    load_images,
    resolve_threads,
    run_chunked,
)
from ._image_files import DecodeFailure
from ._imaging import RESAMPLE_FILTERS, DecodeSpec, convert_image_object, is_image_object
from ._lazy_images import LazyImages
from ._registry import safe_class
from ._utils import MAX_IMAGE_SIDE
from .exceptions import ImageLoadError

__all__ = ["ImageLoader", "check_paths"]


def check_paths(X, *, caller: str = "ImageLoader", images: bool = False) -> list:
    """Validate a 1-D collection of file paths and return them as a list of str.

    Accepts lists, tuples, numpy arrays, pandas Series and Index of ``str`` or
    path-like objects, and 2-D inputs with a single column (a one-column
    DataFrame, an ``(n, 1)`` array) or a DataFrame with a ``path`` column.

    With ``images=True``, images held in memory are accepted too and returned as
    they are: PIL images and ``(height, width[, channels])`` pixel arrays as
    elements, and a whole batch as one ``(n, height, width[, channels])`` array.

    Raises
    ------
    TypeError
        For a single string, images instead of paths, or elements that are not paths.
    ValueError
        For an empty collection, an empty path, a path with a NUL byte, or a 2-D
        input with several columns.
    """
    if images:
        from PIL import Image

        if isinstance(X, Image.Image):
            raise TypeError(
                f"{caller} expects a list of images, got a single PIL image; wrap it in a "
                "list: [image].")
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim in (3, 4):
            if X.ndim == 3 and X.shape[-1] in (1, 2, 3, 4):
                raise TypeError(
                    f"{caller} got one array of shape {X.shape}, which looks like a single "
                    "image; pass a batch: image[None] or [image] (a 3-D array is read as a "
                    "batch of greyscale images).")
            if X.shape[0] == 0:
                raise ValueError(f"{caller} got an empty batch of images (shape {X.shape}).")
            return list(X)
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{caller} expects a list of file paths, got a single path {X!r}; "
            f"wrap it in a list: [{X!r}]."
        )
    if isinstance(X, pd.DataFrame):
        if "path" in X.columns:
            X = X["path"]
        elif X.shape[1] == 1:
            X = X.iloc[:, 0]
        else:
            raise ValueError(
                f"{caller} got a DataFrame with columns {list(X.columns)}; pass the column of "
                "file paths (for example frame['path'])."
            )
    if isinstance(X, (pd.Series, pd.Index)):
        values = X.to_numpy(dtype=object)
    elif isinstance(X, np.ndarray):
        values = X
    else:
        try:
            items = list(X)
            if images and any(is_image_object(v) for v in items):
                values = np.empty(len(items), dtype=object)  # keep each image whole
                for i, v in enumerate(items):
                    values[i] = v
            else:
                values = np.asarray(items, dtype=object)
        except TypeError:
            raise TypeError(
                f"{caller} expects a 1-D list of file paths, got {type(X).__name__}."
            ) from None
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        hint = ""
        if values.ndim == 4 or (values.ndim == 3 and np.issubdtype(values.dtype, np.number)):
            hint = (
                " This looks like images already loaded: pass them to the estimator "
                "directly, or to ImageLoader, which takes images as well as paths."
            )
        raise TypeError(
            f"{caller} expects a 1-D list of file paths, got an array of shape "
            f"{values.shape}.{hint}"
        )
    if values.shape[0] == 0:
        raise ValueError(
            f"{caller} got an empty list of paths; pass at least one image file "
            "(check the folder or the filter that built the list)."
        )
    out = []
    for i, v in enumerate(values):
        if isinstance(v, (str, np.str_)):
            if not v:
                raise ValueError(f"{caller}: path at position {i} is an empty string.")
            path = str(v)
        elif isinstance(v, os.PathLike):
            path = os.fsdecode(os.fspath(v))
        elif isinstance(v, bytes):  # a file name that is not valid UTF-8, as os.listdir(b".")
            if not v:
                raise ValueError(f"{caller}: path at position {i} is empty.")
            path = os.fsdecode(v)
        elif images and is_image_object(v):
            out.append(v)
            continue
        else:
            raise TypeError(
                f"{caller} expects file paths; element at position {i} is {v!r} "
                f"({type(v).__name__}). Pass "
                + ("a path (str, bytes or pathlib.Path), a PIL image or a pixel array "
                   if images else "a path (str, bytes or pathlib.Path) ")
                + "for every image; drop missing entries from X and y together."
            )
        if "\x00" in path:
            raise ValueError(
                f"{caller}: path at position {i}, {path!r}, contains a NUL byte (\\x00), "
                "which no file name can hold; fix the path (a label table saved as UTF-16, "
                "or a corrupt one, gives such paths)."
            )
        out.append(path)
    return out


class ImageArrayOutput:
    """``set_output`` for transformers whose output is a batch of images.

    scikit-learn's ``set_output(transform="pandas")`` turns a transformer's 2-D
    output into a DataFrame; an image batch ``(n, height, width, channels)`` is no
    table, so it stays a numpy array (or LazyImages) whatever the setting. The method
    exists so that ``Pipeline.set_output`` (which calls it on every step) configures
    the tabular steps of a pipeline that starts from images.
    """

    def set_output(self, *, transform: str | None = None):
        """Accept scikit-learn's output setting; image batches stay arrays.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            The output container asked for the pipeline's tabular steps.

        Returns
        -------
        self
            The transformer, unchanged.
        """
        if transform not in (None, "default", "pandas", "polars"):
            raise ValueError(
                f"{type(self).__name__}.set_output: transform must be 'default', 'pandas', "
                f"'polars' or None, got {transform!r}.")
        return self

    def _output_image_shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output's pixels, one per value of an image, in array order.

        The output is a batch of images, not a table; its features are the pixel
        values in the order ``X.reshape(len(X), -1)`` lays them out (row, then
        column, then channel): ``"<transformer>_r<row>_c<column>_ch<channel>"``,
        such as ``"imageloader_r0_c0_ch0"`` (channels in RGB order, one channel for
        greyscale). So ``pipeline[:-1].get_feature_names_out()`` works for a
        pipeline that loads images before its model.

        Parameters
        ----------
        input_features : None or array-like of str, default=None
            Ignored: the input is one image (or path) per sample, not columns.

        Returns
        -------
        feature_names_out : ndarray of str objects of shape (height * width * channels,)
            The pixel names.
        """
        height, width, channels = self._output_image_shape()
        prefix = type(self).__name__.lower()
        rows, cols, chans = np.meshgrid(np.arange(height), np.arange(width),
                                        np.arange(channels), indexing="ij")
        names = [f"{prefix}_r{r}_c{c}_ch{k}"
                 for r, c, k in zip(rows.ravel().tolist(), cols.ravel().tolist(),
                                    chans.ravel().tolist(), strict=True)]
        return np.asarray(names, dtype=object)


@safe_class("step", params=("size", "color", "fit_mode", "resample", "fill", "float_max"))
class ImageLoader(ImageArrayOutput, TransformerMixin, BaseEstimator):
    """Load image files into a uint8 array, ready for skface's estimators.

    In-memory images (PIL images and pixel arrays of any size) are accepted as well
    as paths, so a fitted Pipeline predicts from photos already in memory.

    Each path becomes a ``(size, size, channels)`` block of a single uint8 array:
    JPEGs are decoded at reduced scale when the target is small (draft mode),
    files are decoded in threads, EXIF orientation is applied, and any Pillow
    mode (greyscale, palette, RGBA, CMYK, 16-bit) is converted correctly. Pixels
    are never converted to float.

    Decoded images are memoised per process, keyed by file identity (device,
    inode, size, modification time) and these parameters, so a grid search that
    refits a Pipeline many times decodes each file once. The cache is bounded
    (see :func:`~skface.set_image_cache_limit`) and can be turned off with
    ``cache=False``; :func:`~skface.image_cache_info` counts hits and decodes.
    With the cache on, the returned array is read-only: the cache holds views of
    it rather than a second copy of the pixels (``X.copy()`` gives a writable one).

    The transformer is stateless: ``fit`` only validates its input.

    Parameters
    ----------
    size : int, default=48
        Side of the square output image, in pixels, from 1 to 1024 (the networks
        of :mod:`skface.nets` take 32 px and up). 48 is the default because, for the
        same CPU time, more epochs at 48 px beat fewer at 64 px on UTKFace (see
        docs/benchmarks.md).
    color : {"rgb", "grayscale"}, default="rgb"
        Three colour channels, or a single luminance channel (the output then
        has shape ``(n, size, size, 1)``).
    fit_mode : {"crop", "pad", "stretch"}, default="crop"
        How a non-square image becomes square: ``"crop"`` keeps the central
        square, ``"pad"`` scales the long side to ``size`` and fills the rest with
        ``fill``, ``"stretch"`` scales each side independently.
    resample : {"bilinear", "bicubic", "lanczos", "box", "hamming", "nearest"}, \
            default="bilinear"
        Pillow's resampling filter (antialiased when shrinking).
    fill : int or tuple of 3 int, default=0
        Grey level or RGB colour for padding and for transparent pixels.
    max_pixels : int or None, default=None
        Largest ``width * height`` accepted; bigger files are refused as possible
        decompression bombs. ``None`` uses ``PIL.Image.MAX_IMAGE_PIXELS``
        (about 89 million).
    cache : bool, default=True
        Whether to use the process-wide cache of decoded images. With ``False``
        every call decodes its files and returns a writable array.
    float_max : float, default=1.0
        The value of white in floating-point images (in-memory float arrays and float
        TIFF or PFM files): their pixels in ``[0, float_max]`` are scaled to 0..255,
        and an image with values outside that range is refused. The default reads
        floats in ``[0, 1]``; ``float_max=255`` reads floats on the 0-255 scale. The
        scale of other dtypes is fixed: uint8 as it is, bool as 0/255, uint16 from
        0..65535, other integers in 0..255. It never depends on an image's values.
    n_jobs : int or None, default=None
        Number of decoding threads. ``None`` or ``-1`` uses every CPU. Threads,
        not processes: Pillow releases the GIL while decoding.
    lazy : bool, default=False
        Return a :class:`~skface.LazyImages` instead of decoding: the paths, checked
        to exist, that skface's estimators decode batch by batch while they train
        and predict (next batches decoded in background threads). Memory then stays
        flat however many images there are; use it for folders larger than memory.
        Files are decoded once per epoch instead of once per process.

    See Also
    --------
    skface.datasets.load_utkface : Paths and labels of a UTKFace folder.
    skface.datasets.check_images : Find unreadable files before training.
    skface.image_cache_info : Counters of the decoded-image cache.

    Notes
    -----
    Only regular files in JPEG (MPO included), PNG, WebP, GIF, BMP, TIFF or
    PPM/PGM/PBM/PFM are decoded; any other content (EPS, PDF, SVG, other Pillow
    formats, text) is refused whatever the file's name, so no other decoder ever
    runs on an untrusted file, and named pipes, devices and folders are refused
    without being opened. Animated images (GIF, WebP) give their first frame.
    16-bit greyscale images are scaled from 0-65535 to 0-255, 32-bit integer TIFFs
    from their declared range (0 to 2**31 - 1 when signed, negative values black);
    floating-point images (TIFF, PFM) are read in [0, ``float_max``] and refused
    outside it. Relative paths are resolved against the
    current working directory when ``transform`` runs. Unreadable files raise
    :class:`~skface.exceptions.ImageLoadError`, which names every failing file
    and the reason: nothing is skipped, so X and y never fall out of step.

    Examples
    --------
    >>> import tempfile
    >>> from skface import ImageLoader
    >>> from skface.datasets import make_faces
    >>> frame = make_faces(4, directory=tempfile.mkdtemp(), random_state=0)
    >>> ImageLoader(size=32).fit_transform(frame["path"]).shape
    (4, 32, 32, 3)
    >>> ImageLoader(size=32, color="grayscale").fit_transform(frame["path"]).dtype
    dtype('uint8')
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, MAX_IMAGE_SIDE, closed="both")],
        "color": [StrOptions({"rgb", "grayscale"})],
        "fit_mode": [StrOptions({"crop", "pad", "stretch"})],
        "resample": [StrOptions(set(RESAMPLE_FILTERS))],
        "fill": [Interval(Integral, 0, 255, closed="both"), tuple, list],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
        "float_max": [Interval(Real, 0, None, closed="neither")],
        "cache": ["boolean"],
        "n_jobs": [Integral, None],
        "lazy": ["boolean"],
    }

    def __init__(
        self,
        size: int = 48,
        *,
        color: str = "rgb",
        fit_mode: str = "crop",
        resample: str = "bilinear",
        fill: int | tuple[int, int, int] = 0,
        max_pixels: int | None = None,
        float_max: float = 1.0,
        cache: bool = True,
        n_jobs: int | None = None,
        lazy: bool = False,
    ):
        self.size = size
        self.color = color
        self.fit_mode = fit_mode
        self.resample = resample
        self.fill = fill
        self.max_pixels = max_pixels
        self.float_max = float_max
        self.cache = cache
        self.n_jobs = n_jobs
        self.lazy = lazy

    def _spec(self) -> DecodeSpec:
        self._validate_params()
        fill = self.fill
        if isinstance(fill, (tuple, list)):
            if len(fill) != 3 or not all(
                isinstance(v, Integral) and not isinstance(v, bool) and 0 <= v <= 255
                for v in fill
            ):
                raise ValueError(
                    f"fill must be an int or 3 ints in 0..255 (an RGB colour), got {fill!r}"
                )
            fill_rgb = tuple(int(v) for v in fill)
        else:
            fill_rgb = (int(fill),) * 3
        if self.color == "grayscale" and len(set(fill_rgb)) > 1:
            # one luminance value, computed as Pillow does for RGB -> L
            r, g, b = fill_rgb
            fill_rgb = (round((r * 299 + g * 587 + b * 114) / 1000),) * 3
        return DecodeSpec(
            size=int(self.size),
            grayscale=self.color == "grayscale",
            fit_mode=self.fit_mode,
            resample=self.resample,
            fill=fill_rgb,
            max_pixels=None if self.max_pixels is None else int(self.max_pixels),
            float_max=float(self.float_max),
        )

    def fit(self, X, y=None):
        """Validate the parameters and the paths; nothing is decoded or learned.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Image file paths, in-memory images (PIL images or pixel arrays, of any
            size), or a mix.
        y : None
            Ignored.

        Returns
        -------
        self : ImageLoader
        """
        self._spec()
        check_paths(X, images=True)
        return self

    def transform(self, X) -> np.ndarray | LazyImages:
        """Decode the images (or, with ``lazy=True``, check they exist and defer decoding).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Image file paths (str or path-like), in-memory images (PIL images, or
            uint8 arrays of shape ``(height, width)``, ``(height, width, 1)``, RGB
            ``(..., 3)`` or RGBA ``(..., 4)``, of any size), or a mix; one array of
            shape ``(n_samples, height, width[, channels])`` is a batch. In-memory
            images are converted as decoded files are (mode, fit mode, resampling,
            transparency) and are not cached.

        Returns
        -------
        images : ndarray of shape (n_samples, size, size, channels), dtype uint8, \
                or LazyImages
            A ``LazyImages`` of that shape when ``lazy=True``.

        Raises
        ------
        ImageLoadError
            Naming every file that is missing, empty, not an image, truncated or
            too large, with the reason. With ``lazy=True`` only missing, empty and
            unreadable files are found here; the others when their batch is read.
        """
        spec = self._spec()
        items = check_paths(X, images=True)
        in_memory = [i for i, v in enumerate(items) if not isinstance(v, str)]
        if not in_memory:
            if self.lazy:
                check_files_exist(items)
                return LazyImages(items, spec, n_jobs=self.n_jobs)
            return load_images(items, spec, n_jobs=self.n_jobs, use_cache=self.cache)
        if self.lazy:
            raise ValueError(
                "ImageLoader(lazy=True) reads files batch by batch; it got images held in "
                f"memory (position {in_memory[0]} is a {type(items[in_memory[0]]).__name__}). "
                "Use lazy=False for in-memory images.")
        return self._convert(items, in_memory, spec)

    def _convert(self, items: list, in_memory: list[int], spec: DecodeSpec) -> np.ndarray:
        """Decode the paths and convert the in-memory images of a mixed batch."""
        out = np.empty((len(items), spec.size, spec.size, spec.channels), dtype=np.uint8)
        failures: list[tuple[str, str]] = []
        paths = [i for i, v in enumerate(items) if isinstance(v, str)]
        if paths:
            try:
                out[paths] = load_images([items[i] for i in paths], spec, n_jobs=self.n_jobs,
                                         use_cache=self.cache)
            except ImageLoadError as exc:
                failures.extend(exc.failures)

        def work(chunk):
            bad = []
            for i in chunk:
                try:
                    out[i] = convert_image_object(items[i], spec)
                except DecodeFailure as exc:
                    bad.append((f"image at position {i}", str(exc)))
            return bad

        for bad in run_chunked(work, in_memory, resolve_threads(self.n_jobs)):
            failures.extend(bad)
        if failures:
            raise ImageLoadError(format_failures(failures, len(items)), failures)
        return out

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray | LazyImages:
        """Decode the images (same as ``transform``: there is nothing to learn).

        Parameters
        ----------
        X : array-like of shape (n_samples,)
            Image file paths (str or path-like).
        y : None
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        images : ndarray of shape (n_samples, size, size, channels), dtype uint8, \
                or LazyImages
            As ``transform`` returns them.
        """
        return self.transform(X)

    def _output_image_shape(self) -> tuple[int, int, int]:
        spec = self._spec()
        return spec.size, spec.size, spec.channels

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags
