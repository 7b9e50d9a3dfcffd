"""analyze: photos in, one named row per face out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ._choices import ON_ERROR
from ._face_cropper import FaceCropper
from ._face_detectors import FACE_CROP_COVER, FACE_CROP_MAX_SIDE, import_backend, is_face_crop
from ._image_files import DecodeFailure, image_extensions
from ._image_loader import ImageLoader
from ._imaging import image_size, is_image_object, object_to_rgb, read_rgb
from ._utils import quoted_some
from .exceptions import FaceDetectionError, ImageLoadError, MissingDependencyError

__all__ = ["DETECT_CHOICES", "NO_MODEL_NOTE", "analyze", "check_detect", "crop_labeller",
           "default_cropper", "face_label", "image_files", "pretrained_model",
           "resolve_predictor", "takes_image_paths"]

_CHUNK = 64  # inputs read, detected and predicted together: memory stays bounded

NO_MODEL_NOTE = ("age and gender from skface's pretrained models (no training); race is not "
                 "predicted: it needs a model trained on your labels (skface train --target "
                 "race, or skface.make_stack('race'))")
"""What a table predicted without a model says about it (``attrs["notes"]``)."""


DETECT_CHOICES = ("auto", True, False)
"""The values of ``detect`` (``analyze``, ``annotate_image``, the demo, the CLI)."""


def check_detect(detect) -> bool | str:
    """``detect`` as given, after checking that it is ``"auto"``, True or False."""
    if isinstance(detect, (bool, np.bool_)):
        return bool(detect)
    if isinstance(detect, str) and detect == "auto":
        return detect
    raise ValueError(
        f"detect must be 'auto', True or False, got {detect!r}: 'auto' finds the faces "
        "and takes an image that is a face crop already as one face, True always finds "
        "the faces, False predicts on each whole image.")


def pretrained_model():
    """The model that predicts when none is given: age and gender from dlib's pretrained
    networks (:class:`~skface.PretrainedFaceAttributes`), with no training."""
    from skface import PretrainedFaceAttributes

    return PretrainedFaceAttributes()


def takes_image_paths(model) -> bool:
    """Whether ``model`` predicts from image files itself: a Pipeline (as ``skface
    train`` writes, starting from paths), or an estimator that says it takes strings
    (scikit-learn's ``input_tags.string``), as the pretrained estimators do."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils import get_tags

    if isinstance(model, Pipeline):
        return True
    try:
        return bool(get_tags(model).input_tags.string)
    except (AttributeError, TypeError, ValueError):
        return False


def image_files(folder: str) -> tuple[list[str], list[str]]:
    """The image files of a folder (sorted) and the names of the other entries.

    Hidden entries are left out; an image file is one whose suffix names a format
    skface decodes. The other entries (text files, sub-folders...) are returned so
    that a caller can say what it did not read.
    """
    suffixes = image_extensions()
    images, others = [], []
    for name in sorted(os.listdir(folder)):
        if name.startswith("."):
            continue
        path = os.path.join(folder, name)
        if os.path.splitext(name)[1].lower() in suffixes and not os.path.isdir(path):
            images.append(path)
        else:
            others.append(name)
    return images, others


def _inputs(images) -> list[tuple[str, Any]]:
    """``(name, source)`` of every input: a path, or an in-memory image."""
    from PIL import Image

    if isinstance(images, (str, os.PathLike)):
        path = os.fspath(images)
        if os.path.isdir(path):
            found, _ = image_files(path)
            if not found:
                raise ValueError(
                    f"{path!r} holds no image file (skface reads JPEG, PNG, WebP, GIF, BMP, "
                    "TIFF and PPM files); pass a folder of photos or a list of files.")
            return [(p, p) for p in found]
        return [(path, path)]
    if isinstance(images, Image.Image) or (
            isinstance(images, np.ndarray) and images.dtype != object and images.ndim in (2, 3)
            and not (images.ndim == 3 and images.shape[-1] > 4)):
        return [("image at position 0", images)]
    if isinstance(images, np.ndarray) and images.dtype != object and images.ndim in (3, 4):
        return [(f"image at position {i}", im) for i, im in enumerate(images)]
    if isinstance(images, pd.DataFrame):
        if "path" not in images.columns:
            raise ValueError(
                f"analyze got a DataFrame with columns {list(images.columns)}; pass one with "
                "a 'path' column, or the list of files.")
        images = images["path"]
    if isinstance(images, (pd.Series, pd.Index)):
        images = images.tolist()
    if not isinstance(images, Iterable):
        raise TypeError(
            f"analyze takes file paths, a folder, PIL images or pixel arrays; got "
            f"{type(images).__name__}.")
    out = []
    for i, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            path = os.fspath(item)
            if os.path.isdir(path):  # a folder among the inputs: its image files
                out.extend((p, p) for p in image_files(path)[0])
            else:
                out.append((path, path))
        elif isinstance(item, bytes):
            path = os.fsdecode(item)
            out.append((path, path))
        elif isinstance(item, Image.Image) or is_image_object(item):
            out.append((f"image at position {i}", item))
        else:
            raise TypeError(
                f"analyze: element {i} is {item!r} ({type(item).__name__}), neither a file "
                "path nor an image (PIL image or pixel array).")
    if not out:
        raise ValueError("analyze got no image; pass at least one file or image.")
    return out


def _read(source, max_pixels: int | None, float_max: float = 1.0) -> np.ndarray:
    if isinstance(source, str):
        if os.path.isdir(source):
            raise DecodeFailure("a folder, not an image file")
        return read_rgb(source, max_pixels=max_pixels)
    return object_to_rgb(source, max_pixels=max_pixels, float_max=float_max)


def resolve_predictor(model) -> tuple[Any, ImageLoader, list, FaceCropper | None]:
    """``(final estimator, loader, steps between, the model's own cropper)`` of a model.

    The loader turns in-memory images (whole photos or face crops) into the input
    the final estimator was fitted on: the model's own ImageLoader when it starts
    with one, else one at the size and channels the estimator was fitted on.
    """
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    final, middle = steps[-1], steps[:-1]
    if not (hasattr(final, "task_") and hasattr(final, "predict_outputs")):
        raise TypeError(
            f"analyze needs a fitted skface model (or a Pipeline ending with one); got "
            f"{type(final).__name__}.")
    cropper = None
    shape = getattr(final, "image_shape_", None)
    if middle and isinstance(middle[0], ImageLoader):
        loader, middle = middle[0], middle[1:]
        if loader.lazy:  # analyze hands it images in memory, which need no streaming
            from sklearn.base import clone

            loader = clone(loader).set_params(lazy=False)
    else:
        if middle and isinstance(middle[0], FaceCropper):
            cropper, middle = middle[0], middle[1:]
        if shape is None:
            raise ValueError(
                "cannot tell which image size the model takes: it has no image_shape_; "
                "fit it, or pass a Pipeline that starts with its ImageLoader.")
        loader = ImageLoader(size=int(shape[0]),
                             color="grayscale" if int(shape[2]) == 1 else "rgb")
    return final, loader, middle, cropper


def default_cropper(model, detector: str = "haar") -> FaceCropper:
    """The FaceCropper that finds every face for ``model``: its Pipeline's own
    FaceCropper, else one at the model's size, with ``multiple="all"`` and ``detector``."""
    from sklearn.base import clone

    _, loader, _, own = resolve_predictor(model)
    if own is not None:
        return clone(own).set_params(multiple="all", detector=detector)
    return FaceCropper(size=int(loader.size), multiple="all", detector=detector)


def _columns(tasks, codes: bool) -> list[tuple]:
    """``(task, column, kind, probability columns)`` for every task of the model."""
    out = []
    all_names = [n for t in tasks if t.classes is not None
                 for n in (t.classes if codes else t.names)]
    unique = len(set(map(str, all_names))) == len(all_names)
    for t in tasks:
        if t.classes is None:
            out.append((t, t.name, "regression", []))
            continue
        shown = [str(c) for c in t.classes] if codes else t.names
        if unique and not codes:
            probs = [f"p({n})" for n in shown]
        else:
            probs = [f"p({t.name}={n})" for n in shown]
        out.append((t, t.name, "classification", probs))
    return out


def _values(columns: list[tuple], outputs: dict, j: int, codes: bool) -> dict:
    """The predictions of row ``j`` of ``outputs``: task columns and probabilities."""
    row = {}
    for task, column, kind, probs in columns:
        values = outputs[task.output][j]
        if kind == "regression":
            row[column] = round(float(values), 1)
        else:
            label = task.classes[int(np.argmax(values))]
            row[column] = label if codes else task.named([label])[0]
            for p, v in zip(probs, values, strict=True):
                row[p] = round(float(v), 4)
    return row


def face_label(row, tasks) -> str:
    """The text drawn on a face: its predictions joined by " · " (ages in years)."""
    parts = []
    for t in tasks:
        value = row.get(t.name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        parts.append(f"{float(value):.0f}" if t.classes is None else str(value))
    return " · ".join(parts)


def crop_labeller(model) -> Callable[[np.ndarray], list[str]] | None:
    """For a skface model, ``labels(crops)``: the named text drawn on each face crop
    (``"32 · female · Asian"``); None for any other model."""
    try:
        final, loader, middle, _ = resolve_predictor(model)
    except (TypeError, ValueError):
        return None
    tasks = final.task_.tasks
    columns = _columns(tasks, codes=False)

    def labels(crops: np.ndarray) -> list[str]:
        outputs = _predict(final, loader, middle, list(crops))
        return [face_label(_values(columns, outputs, j, False), tasks)
                for j in range(len(crops))]

    return labels


def analyze(
    images,
    model=None,
    *,
    detect: bool | str = "auto",
    cropper: FaceCropper | None = None,
    codes: bool = False,
    on_error: str = "row",
    max_pixels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Predict on photos: one row per face, with names, probabilities and a status.

    Parameters
    ----------
    images : str, path-like, list, ndarray or PIL image
        A folder (its image files, sorted; other files are not read), an image
        file, a list of files, folders and in-memory images, a PIL image, one
        ``(height, width[, channels])`` pixel array, or a batch of them as one
        ``(n, height, width[, channels])`` array.
    model : fitted skface estimator, Pipeline or None, default=None
        A model as ``skface train`` writes it (a Pipeline starting with an
        :class:`~skface.ImageLoader`), or a fitted estimator (a pretrained one, a
        :func:`~skface.make_stack` recipe...); its ``task_`` says what it predicts.
        None predicts age and gender with no training, from dlib's pretrained
        networks (:class:`~skface.PretrainedFaceAttributes`, ``pip install
        "skface[faces]"``): race is then not predicted, as it needs a model trained
        on your labels, and the table's ``attrs["notes"]`` says so.
    detect : "auto", bool, default="auto"
        ``"auto"``: find the faces in each photo (one row per face, predicted on a
        crop framed as UTKFace's), except in an image that is a face crop already,
        which is one face, the whole image (predicted as with ``detect=False``): one
        whose largest face box covers at least 40% of the image, or, when no face is
        found, one at most 512 pixels on its long side and nearly square (its short
        side at least 0.8 of the long one). Where the detector is not installed,
        ``"auto"`` predicts on each whole image and ``attrs["notes"]`` says so.
        ``True``: always find the faces (an image without one gives a ``"no face"``
        row). ``False``: predict on each whole image (one row per image), for face
        crops.
    cropper : FaceCropper or None, default=None
        How to find and crop faces; by default every face, at the model's size
        (the model's own FaceCropper when its Pipeline starts with one). Needs
        OpenCV: ``pip install "skface[detect]"``.
    codes : bool, default=False
        Give labels as the model was fitted on them (UTKFace's codes, such as
        gender ``1``) instead of their names (``"female"``).
    on_error : {"row", "fail"}, default="row"
        ``"row"``: an unreadable image, or a photo without a face, gives a row whose
        ``status`` says so, and the others are predicted. ``"fail"``: raise
        :class:`~skface.exceptions.ImageLoadError` or
        :class:`~skface.exceptions.FaceDetectionError` naming every such input,
        before predicting anything.
    max_pixels : int or None, default=None
        Largest ``width * height`` read; bigger images are unreadable (None:
        Pillow's limit, about 89 million).
    progress : callable or None, default=None
        Called as ``progress(done, total)`` after each batch of inputs.

    Returns
    -------
    faces : DataFrame
        One row per face found (or per image without detection, or per image taken
        as a face crop, or per image with no face or unreadable): ``file`` (the
        path, or ``"image at position i"``), ``face`` (0 for the largest face of its
        image), the box ``x, y, w, h`` in the photo's pixels, always inside the
        image (the whole image without detection, or for a face crop), then one column
        per task (``age`` in years rounded to one decimal, ``gender``, ``race``,
        ``age_group``...), the probability of every class (``p(female)``...), and
        ``status``: ``"ok"``, ``"no face"`` or ``"unreadable: <reason>"``. The
        columns of an image without a prediction are empty. ``attrs["notes"]``
        holds notes on the predictions (a list of str: with no model, that race was
        not predicted; with ``detect="auto"``, how many images were taken as face
        crops).

    Raises
    ------
    ImageLoadError, FaceDetectionError
        With ``on_error="fail"``, naming every unreadable image or photo without a
        face.

    See Also
    --------
    skface.annotate_image : Draw the boxes and predictions on a photo.

    Examples
    --------
    With no model, age and gender from the pretrained networks, no training:

    >>> from skface import analyze
    >>> analyze("photos/")  # doctest: +SKIP
              file  face    x    y    w    h   age  gender  p(male)  p(female) status
    0  photos/a.jpg     0  212   96  180  180  31.2  female   0.0311     0.9689     ok

    With a model trained on your labels:

    >>> import tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import GenderClassifier, ImageLoader
    >>> from skface.datasets import make_faces
    >>> faces = make_faces(8, size=32, directory=tempfile.mkdtemp(), random_state=0)
    >>> model = make_pipeline(ImageLoader(size=32), GenderClassifier(
    ...     module="basic_cnn", max_epochs=1, verbose=0)).fit(faces["path"], faces["gender"])
    >>> table = analyze(faces["path"][:2], model)  # face crops: one row each
    >>> table[["face", "x", "y", "w", "h"]].to_numpy().tolist()
    [[0, 0, 0, 32, 32], [0, 0, 0, 32, 32]]
    >>> list(table.columns)
    ['file', 'face', 'x', 'y', 'w', 'h', 'gender', 'p(male)', 'p(female)', 'status']
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}.")
    detect = check_detect(detect)
    notes = []
    if model is None:
        model = pretrained_model()
        notes.append(NO_MODEL_NOTE)
    final, loader, middle, _ = resolve_predictor(model)
    if detect == "auto":
        try:
            import_backend(cropper.detector if isinstance(cropper, FaceCropper) else "haar")
        except MissingDependencyError as exc:
            detect = False
            notes.append(f"every image was predicted whole, as a face crop: no face "
                         f"detector is installed ({exc})")
    if detect:
        if cropper is None:
            cropper = default_cropper(model)
        if not isinstance(cropper, FaceCropper):
            raise TypeError(f"cropper must be a FaceCropper, got {type(cropper).__name__}.")
    tasks = final.task_.tasks
    columns = _columns(tasks, codes)
    inputs = _inputs(images)

    rows: list[dict] = []
    whole: list[str] = []  # images taken as face crops by detect="auto"
    failures: list[tuple[str, str]] = []
    no_faces: list[tuple[str, str]] = []
    for start in range(0, len(inputs), _CHUNK):
        chunk = inputs[start:start + _CHUNK]
        pending: list[tuple[dict, np.ndarray]] = []
        for position, (name, source) in enumerate(chunk, start):
            try:
                if not detect:  # the whole image, converted as the model's own loader does
                    w, h = _size(source, max_pixels)
                    pending.append(({"_order": position, "file": name, "face": 0,
                                     "x": 0, "y": 0, "w": w, "h": h},
                                    _load_one(loader, source, max_pixels)))
                    continue
                rgb = _read(source, max_pixels, float(loader.float_max))
            except (DecodeFailure, ImageLoadError) as exc:
                reason = exc.failures[0][1] if isinstance(exc, ImageLoadError) else str(exc)
                failures.append((name, reason))
                rows.append({"_order": position, "file": name,
                             "status": f"unreadable: {reason}"})
                continue
            boxes = cropper.find_faces(rgb)
            if detect == "auto" and is_face_crop(boxes, *rgb.shape[:2]):
                # a face crop already: the whole image, exactly as detect=False reads it
                try:
                    image = _load_one(loader, source, max_pixels)
                except ImageLoadError as exc:
                    reason = exc.failures[0][1]
                    failures.append((name, reason))
                    rows.append({"_order": position, "file": name,
                                 "status": f"unreadable: {reason}"})
                    continue
                whole.append(name)
                pending.append(({"_order": position, "file": name, "face": 0, "x": 0, "y": 0,
                                 "w": int(rgb.shape[1]), "h": int(rgb.shape[0])}, image))
                continue
            if cropper.multiple == "largest":
                boxes = boxes[:1]
            if not len(boxes):
                no_faces.append((name, "no face found"))
                rows.append({"_order": position, "file": name, "status": "no face"})
                continue
            # face crops go through the model's loader, as whole images do
            crops = loader.transform(list(cropper.crop_faces(rgb, boxes)))
            for k, (box, crop) in enumerate(zip(boxes, crops, strict=True)):
                x, y, w, h = (int(v) for v in box)
                pending.append(({"_order": position, "file": name, "face": k,
                                 "x": x, "y": y, "w": w, "h": h}, crop))
        if on_error == "fail" and (failures or no_faces):
            continue  # an error follows: only look for the other faulty inputs
        if pending:
            outputs = _predict(final, None, middle, [im for _, im in pending])
            for j, (row, _) in enumerate(pending):
                row.update(_values(columns, outputs, j, codes))
                row["status"] = "ok"
                rows.append(row)
        if progress is not None:
            progress(min(start + _CHUNK, len(inputs)), len(inputs))
    if on_error == "fail":
        from ._image_batches import format_failures

        if failures:
            raise ImageLoadError(format_failures(failures, len(inputs), advice=(
                "Fix or replace these files, or leave on_error at 'row' to predict the others "
                "and get a row with the reason for each of these.")), failures)
        if no_faces:
            raise FaceDetectionError(
                f"No face found in {len(no_faces)} of {len(inputs)} image(s): "
                + ", ".join(repr(n) for n, _ in no_faces[:5])
                + (f" and {len(no_faces) - 5} more" if len(no_faces) > 5 else "")
                + "; check that the faces are upright and frontal, predict on the whole "
                "images (detect=False) if they are face crops already, or leave on_error at "
                "'row' to predict the others.", no_faces)
    names = ["_order", "file", "face", "x", "y", "w", "h"]
    for _, column, _, probs in columns:
        names += [column, *probs]
    names.append("status")
    table = pd.DataFrame(rows, columns=names)
    table = table.sort_values(["_order", "face"], kind="stable", na_position="first")
    table = table.drop(columns="_order").reset_index(drop=True)
    for c in ("face", "x", "y", "w", "h"):
        table[c] = table[c].astype("Int64")
    if whole:
        notes.append(
            f"{len(whole)} of {len(inputs)} images were taken as face crops already and "
            f"predicted whole ({quoted_some(whole, 3)}): their largest face covers at least "
            f"{FACE_CROP_COVER:.0%} of the image, or no face was found in an image no larger "
            f"than a face crop ({FACE_CROP_MAX_SIDE} px); pass detect=True to crop the faces "
            "found instead.")
    table.attrs["notes"] = notes
    return table


def _size(source, max_pixels: int | None) -> tuple[int, int]:
    """``(width, height)`` of a path's image (from its header) or of an image in memory."""
    from PIL import Image

    if isinstance(source, str):
        if os.path.isdir(source):
            raise DecodeFailure("a folder, not an image file")
        return image_size(source, max_pixels=max_pixels)
    if isinstance(source, Image.Image):
        return source.size
    return int(source.shape[1]), int(source.shape[0])


def _load_one(loader: ImageLoader, source, max_pixels: int | None) -> np.ndarray:
    """One image as the model's loader gives it (a path is decoded as in the Pipeline)."""
    if max_pixels is not None and (loader.max_pixels is None or loader.max_pixels > max_pixels):
        from sklearn.base import clone

        loader = clone(loader).set_params(max_pixels=max_pixels)
    return loader.transform([source])[0]


def _predict(final, loader: ImageLoader | None, middle: list, images: list[np.ndarray]
             ) -> dict:
    X = np.stack(images) if loader is None else loader.transform(images)
    for step in middle:
        X = step.transform(X)
    return final.predict_outputs(X)

