"""Drawing predicted labels on images, and on every frame of a video.

``draw_predictions`` needs only Pillow; ``annotate_video`` reads and writes videos
with OpenCV (the optional ``detect`` extra), imported when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ._analyze import crop_labeller
from ._face_cropper import FaceCropper
from ._face_detectors import import_cv2
from ._files import FileRefused, check_regular
from ._outputs import OutputRefusedError, atomic_file, check_file_output
from ._utils import VIDEO_SUFFIXES

__all__ = ["annotate_image", "annotate_video", "draw_predictions"]

_BOX_COLOR = (255, 64, 0)
_TEXT_COLOR = (255, 255, 255)


def _as_rgb(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"draw_predictions expects a uint8 image, got dtype {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            "draw_predictions expects one image of shape (height, width, 3) (RGB) or "
            f"(height, width); got shape {image.shape}."
        )
    return image


def _as_boxes(boxes) -> np.ndarray:
    if isinstance(boxes, pd.DataFrame):
        missing = [c for c in ("x", "y", "w", "h") if c not in boxes.columns]
        if missing:
            raise ValueError(
                f"draw_predictions got a DataFrame of boxes without column(s) {missing}; "
                "pass FaceCropper.detect's frame or an array of (x, y, w, h) rows."
            )
        boxes = boxes[["x", "y", "w", "h"]]
    arr = np.asarray(boxes, dtype=float)
    if arr.size == 0:
        return np.empty((0, 4), dtype=np.int64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all():
        raise ValueError(
            "draw_predictions expects boxes as rows of (x, y, w, h) pixels; got an array of "
            f"shape {arr.shape}" + ("" if np.isfinite(arr).all() else " with NaN values") + "."
        )
    return np.rint(arr).astype(np.int64)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, AttributeError):  # Pillow without FreeType
        return ImageFont.load_default()


_MIN_FONT = 8  # pixels: the smallest label text drawn


def _fit_label(draw, text: str, width: int, font_size: int | None):
    """``(text, font)`` that fit a box ``width`` pixels wide: the font shrinks (down to
    8 px) and, if the text is still too wide, it breaks at its separators (" · ", ", ")."""
    size = font_size or max(_MIN_FONT, round(width / 8))

    def too_wide(t: str, f) -> bool:
        left, _, right, bottom = draw.multiline_textbbox((0, 0), t, font=f)
        return right - left + 2 * max(1, bottom // 5) > width

    font = _font(size)
    while too_wide(text, font) and size > _MIN_FONT and font_size is None:
        size = max(_MIN_FONT, int(size * 0.9))
        font = _font(size)
    if too_wide(text, font):
        for sep in (" · ", ", ", " "):
            if sep in text:
                text = text.replace(sep, "\n")
                break
    return text, font


def draw_predictions(
    image,
    boxes,
    labels: Sequence | None = None,
    *,
    color: tuple[int, int, int] = _BOX_COLOR,
    text_color: tuple[int, int, int] = _TEXT_COLOR,
    thickness: int | None = None,
    font_size: int | None = None,
) -> np.ndarray:
    """Draw boxes and their labels on a copy of an image.

    Everything is drawn inside the boxes (the outline along their inner edge, each
    label on a strip across the top of its box), so pixels outside every box keep
    their values.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3) or (height, width), dtype uint8
        An RGB (or greyscale) image; it is not modified.
    boxes : DataFrame or array-like of shape (n_boxes, 4)
        ``(x, y, w, h)`` in pixels, such as :meth:`FaceCropper.detect`'s frame
        (its ``x, y, w, h`` columns are used). Boxes may extend outside the image.
    labels : sequence of length n_boxes, optional
        Text drawn in each box (converted with ``str``); ``None`` draws boxes only.
    color : tuple of 3 int, default=(255, 64, 0)
        RGB colour of the outlines and of the label strips.
    text_color : tuple of 3 int, default=(255, 255, 255)
        RGB colour of the text.
    thickness : int, optional
        Outline width in pixels; by default 1/100 of the image's short side (at
        least 1).
    font_size : int, optional
        Text height in pixels; by default 1/8 of each box's width (at least 8).

    Returns
    -------
    annotated : ndarray of shape (height, width, 3), dtype uint8
        A new RGB image.

    Examples
    --------
    >>> import numpy as np
    >>> from skface import draw_predictions
    >>> image = np.zeros((100, 100, 3), dtype=np.uint8)
    >>> out = draw_predictions(image, [(10, 10, 50, 50)], ["face"])
    >>> out.shape, int(out[:, 60:].max())  # nothing drawn outside the box
    ((100, 100, 3), 0)
    >>> out[59, 30].tolist()  # the bottom edge of the outline
    [255, 64, 0]
    """
    rgb = _as_rgb(image)
    xywh = _as_boxes(boxes)
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(xywh):
            raise ValueError(
                f"draw_predictions got {len(xywh)} boxes but {len(labels)} labels; give one "
                "label per box (or labels=None)."
            )
    height, width = rgb.shape[:2]
    if thickness is None:
        thickness = max(1, round(min(height, width) / 100))
    canvas = Image.fromarray(rgb, "RGB")  # fromarray copies: the input is not changed
    for k, (x, y, w, h) in enumerate(xywh):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
            continue
        # Draw on the part of the image inside the box only, then paste it back.
        region = canvas.crop((x0, y0, x1, y1))
        draw = ImageDraw.Draw(region)
        bx, by = x - x0, y - y0  # the box's corner in the region's coordinates
        draw.rectangle((bx, by, bx + w - 1, by + h - 1), outline=tuple(color),
                       width=int(thickness))
        if labels is not None and str(labels[k]):
            text, font = _fit_label(draw, str(labels[k]), w, font_size)
            left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
            pad = max(1, (bottom - top) // 5 if "\n" not in text else 2)
            draw.rectangle((bx, by, bx + right - left + 2 * pad, by + bottom - top + 2 * pad),
                           fill=tuple(color))
            draw.multiline_text((bx + pad - left, by + pad - top), text, fill=tuple(text_color),
                                font=font)
        canvas.paste(region, (x0, y0))
    return np.asarray(canvas).copy()


# --------------------------------------------------------------------------- video


def _format_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, Real) and not isinstance(value, Integral):
        return f"{float(value):.0f}"
    return str(value)


def _default_label(prediction) -> str:
    if isinstance(prediction, pd.Series):
        return ", ".join(_format_value(v) for v in prediction.to_numpy())
    if isinstance(prediction, np.ndarray) and prediction.ndim:
        return ", ".join(_format_value(v) for v in prediction.ravel())
    return _format_value(prediction)


def _labels(predictions, n: int, format_label) -> list[str]:
    if isinstance(predictions, pd.DataFrame):
        rows = [predictions.iloc[i] for i in range(len(predictions))]
    else:
        rows = list(np.asarray(predictions))
    if len(rows) != n:
        raise ValueError(f"the model returned {len(rows)} predictions for {n} face crops.")
    return [str(format_label(r)) for r in rows]


def resolve_model(model, cropper):
    """``(predictor, cropper, greyscale)``: what predicts on crops, and how to crop."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from ._image_loader import ImageLoader

    predictor, size, grey = model, None, False
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        first = model.steps[0][1]
        if isinstance(first, FaceCropper):
            if cropper is None:
                cropper = clone(first).set_params(multiple="all")
            predictor = model[1:]
        elif isinstance(first, ImageLoader):
            size, grey = int(first.size), first.color == "grayscale"
            predictor = model[1:]
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    shape = getattr(final, "image_shape_", None)
    if shape is not None and len(shape) == 3:
        if size is None:
            size = int(shape[0])
        grey = int(shape[2]) == 1
    if cropper is None:
        if size is None:
            raise ValueError(
                "cannot tell which image size the model takes; pass "
                "cropper=FaceCropper(size=...) with the size it was trained on."
            )
        cropper = FaceCropper(size=size, multiple="all")
    if not isinstance(cropper, FaceCropper):
        raise TypeError(f"cropper must be a FaceCropper, got {type(cropper).__name__}.")
    cropper._validate_params()
    return predictor, cropper, grey


def _faces_and_labels(rgb: np.ndarray, predictor, cropper: FaceCropper, grey: bool,
                      label_of, named=None) -> tuple[np.ndarray, list[str]]:
    """Face boxes in one RGB image and the predicted label of each.

    ``named``: for a skface model drawn with the default labels, what turns the crops
    into named labels (``"32 · female · Asian"``).
    """
    boxes = cropper.find_faces(rgb)
    if cropper.multiple == "largest":
        boxes = boxes[:1]
    if not len(boxes):
        return boxes, []
    crops = cropper.crop_faces(rgb, boxes)
    if named is not None:
        return boxes, named(crops)
    if grey:
        crops = np.stack([np.asarray(Image.fromarray(c).convert("L")) for c in crops])[..., None]
    return boxes, _labels(predictor.predict(crops), len(boxes), label_of)


def annotate_image(
    model,
    image,
    *,
    cropper: FaceCropper | None = None,
    format_label: Callable | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Detect the faces in one photo, predict on them and draw the labels.

    The single-image counterpart of :func:`annotate_video`; the ``skface demo`` app
    and ``skface predict --draw`` use it. Needs OpenCV: ``pip install "skface[detect]"``.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        As for :func:`annotate_video`: a Pipeline that starts with an ImageLoader (as
        ``skface train`` writes) predicts on the face crops instead of on paths.
    image : str, path-like, PIL image or ndarray of shape (height, width[, channels])
        A photo file, or an image in memory; it is not modified. An in-memory image is
        converted as a file's pixels are, before anything is detected: a PIL image of
        any mode (CMYK, 16-bit, float, palette, with transparency...) and a pixel
        array as :func:`skface.analyze` takes them.
    cropper : FaceCropper, optional
        How to find and crop faces; by default every face, at the model's size.
    format_label : callable, optional
        Turns one prediction (a value, or a row of FaceAttributes' DataFrame) into the
        text drawn. By default, for a skface model, its predictions by name joined
        with " · ", ages in whole years (``"32 · female · Asian"``); for any other
        model, values joined with ", ".

    Returns
    -------
    drawn : ndarray of shape (height, width, 3), dtype uint8
        A copy of the photo with a box and a label on every face found.
    faces : DataFrame
        One row per face, largest first: ``x, y, w, h`` (the box, in pixels) and
        ``label``. Empty when no face is found.

    Raises
    ------
    ImageLoadError
        If a file cannot be read (named in the message), or an in-memory image cannot
        be converted.
    """
    from ._image_batches import format_failures
    from ._imaging import DecodeFailure, is_image_object, object_to_rgb, read_rgb
    from .exceptions import ImageLoadError

    path = os.fspath(image) if isinstance(image, (str, os.PathLike)) else None
    if path is None and not isinstance(image, Image.Image):
        image = np.asarray(image)
        if not is_image_object(image):
            raise TypeError(
                "annotate_image expects a photo file, a PIL image or a pixel array of shape "
                f"(height, width[, channels]); got {type(image).__name__} of shape "
                f"{image.shape} and dtype {image.dtype}.")
    predictor, cropper, grey = resolve_model(model, cropper)
    if (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        rgb = image  # RGB pixels already
    else:
        # a file, or an image in memory of any mode: converted before anything is detected
        try:
            rgb = read_rgb(path) if path is not None else object_to_rgb(image)
        except DecodeFailure as exc:
            failures = [(path if path is not None else "the image", str(exc))]
            raise ImageLoadError(format_failures(failures, 1), failures) from None
    label_of = format_label or _default_label
    named = crop_labeller(model) if format_label is None else None
    boxes, labels = _faces_and_labels(rgb, predictor, cropper, grey, label_of, named)
    faces = pd.DataFrame([(*(int(v) for v in b), t) for b, t in zip(boxes, labels, strict=True)],
                         columns=["x", "y", "w", "h", "label"])
    return draw_predictions(rgb, boxes, labels), faces


def annotate_video(
    model,
    src,
    dst,
    *,
    every: int = 1,
    cropper: FaceCropper | None = None,
    overwrite: bool = False,
    fourcc: str = "mp4v",
    format_label: Callable | None = None,
) -> pd.DataFrame:
    """Detect faces in every frame of a video, predict on them and draw the labels.

    Frames are read one at a time with OpenCV, faces are found and cropped with a
    :class:`FaceCropper`, ``model.predict`` runs on the crops of each frame, and the
    frame is written with the boxes and predicted labels drawn on it (see
    :func:`draw_predictions`). The output has as many frames as the input, at the
    same rate and size. Only ``dst`` is written (through a temporary file beside it,
    renamed when complete, never replacing a file that appeared meanwhile unless
    ``overwrite``); ``src`` is only read.

    Needs OpenCV: ``pip install "skface[detect]"``.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        Anything with ``predict`` taking uint8 face crops ``(n, size, size, 3)``,
        such as a fitted GenderClassifier. A Pipeline that starts with an
        ImageLoader or a FaceCropper is used without that step: the crops replace
        its output (its size is used, and greyscale crops are made for a greyscale
        ImageLoader or model).
    src : str or path-like
        The video to read (any format OpenCV's FFmpeg backend reads).
    dst : str or path-like
        A new file to write; its extension picks the container (``.mp4`` for
        ``fourcc="mp4v"``, ``.avi`` for ``"MJPG"``). Its folder must exist.
    every : int, default=1
        Detect and predict on every ``every``-th frame only (faster); the frames in
        between are drawn with the last boxes and labels.
    cropper : FaceCropper, optional
        How faces are found and cropped. By default, the Pipeline's own FaceCropper,
        or ``FaceCropper(size=...)`` at the size the model was fitted on, both with
        ``multiple="all"``: every face of a frame is labelled. A cropper passed here
        is used as given (``multiple="largest"`` labels the largest face only;
        ``"error"`` counts as ``"all"``). Frames without a face are written
        unchanged, whatever ``no_face`` says.
    overwrite : bool, default=False
        Replace ``dst`` if it exists; by default an existing ``dst`` is an error.
    fourcc : str, default="mp4v"
        Four-character code of the output codec.
    format_label : callable, optional
        Turns one face's prediction (a scalar, or a row of a DataFrame prediction
        such as FaceAttributes') into the text drawn. By default, for a skface
        model, its predictions by name joined with " · ", ages in whole years
        (``"32 · female · Asian"``); for any other model, values joined with ", "
        and floats rounded to integers.

    Returns
    -------
    detections : DataFrame
        One row per labelled face of every processed frame, with columns ``frame``,
        ``x, y, w, h`` (the box in the frame) and ``label`` (the text drawn).

    Raises
    ------
    FileExistsError
        If ``dst`` exists and ``overwrite`` is False, or is ``src`` itself.
    FileNotFoundError
        If ``src`` or ``dst``'s folder does not exist.
    ValueError
        If ``src`` is not a regular file (a named pipe, a device, a folder: the
        message says which) or cannot be read as a video, or ``dst`` cannot be written with
        ``fourcc``.
    """
    if isinstance(every, bool) or not isinstance(every, Integral) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}.")
    if not isinstance(fourcc, str) or len(fourcc) != 4:
        raise ValueError(f"fourcc must be a four-character code such as 'mp4v', got {fourcc!r}.")
    src, dst = Path(os.fspath(src)), Path(os.fspath(dst))
    try:  # OpenCV opens it by name: a named pipe would block it, a device never end
        check_regular(src, advice="pass a video file")
    except FileRefused as exc:
        if exc.missing:
            raise FileNotFoundError(
                f"annotate_video: the video {str(src)!r} does not exist.") from None
        raise ValueError(f"annotate_video: the video {str(src)!r}: {exc}.") from None
    if not dst.suffix:
        raise ValueError(
            f"annotate_video: dst {str(dst)!r} has no extension; OpenCV picks the container "
            "from it (use .mp4 with fourcc='mp4v' or .avi with fourcc='MJPG')."
        )
    if not dst.parent.is_dir():
        raise FileNotFoundError(
            f"annotate_video: the folder of dst {str(dst)!r} does not exist; create it first."
        )
    if dst.exists() and os.path.samefile(src, dst):
        raise FileExistsError(
            f"annotate_video: dst {str(dst)!r} is the source video; write to a new file."
        )
    hint = "choose a new file name or pass overwrite=True to replace it"
    check_file_output(dst, overwrite=overwrite, inputs=[src], hint=hint)
    label_of = _default_label if format_label is None else format_label
    named = crop_labeller(model) if format_label is None else None
    predictor, cropper, grey = resolve_model(model, cropper)
    cv2 = import_cv2()

    capture = cv2.VideoCapture(str(src))
    if not capture.isOpened():
        capture.release()
        raise ValueError(
            f"annotate_video: OpenCV cannot open {str(src)!r} as a video (not a video, or a "
            "codec its FFmpeg backend lacks); convert it, for example to H.264 .mp4."
        )
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and np.isfinite(fps) and fps > 0 else 25.0
    writer = None
    rows: list[tuple] = []
    boxes = np.empty((0, 4), dtype=np.int64)
    labels: list[str] = []
    n_frames = 0
    try:
        with atomic_file(dst, overwrite=overwrite, make_parents=False, inputs=[src],
                         hint=hint) as tmp:
            try:
                while True:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    if frame.ndim == 2:
                        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    if n_frames % every == 0:
                        boxes, labels = _faces_and_labels(rgb, predictor, cropper, grey,
                                                          label_of, named)
                        rows.extend((n_frames, *(int(v) for v in b), t)
                                    for b, t in zip(boxes, labels, strict=True))
                    out = draw_predictions(rgb, boxes, labels)
                    if writer is None:
                        height, width = rgb.shape[:2]
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps,
                                                 (width, height))
                        if not writer.isOpened():
                            raise ValueError(
                                f"annotate_video: OpenCV cannot write {str(dst)!r} with codec "
                                f"{fourcc!r}; try fourcc='mp4v' with a .mp4 file or "
                                "fourcc='MJPG' with a .avi file."
                            )
                    writer.write(cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
                    n_frames += 1
                if n_frames == 0:
                    raise ValueError(
                        f"annotate_video: no frame could be read from {str(src)!r}; the file may "
                        "be empty or use a codec OpenCV's FFmpeg backend lacks."
                    )
            finally:  # closed before the file is renamed into place, or removed
                if writer is not None:
                    writer.release()
    finally:
        capture.release()
    frame = pd.DataFrame(rows, columns=["frame", "x", "y", "w", "h", "label"])
    return frame.astype({c: "int64" for c in ("frame", "x", "y", "w", "h")})


# ------------------------------------------------------------- the command line's --draw


def plan_drawing(paths: list[str], draw: str | None, force: bool, protect: dict) -> list:
    """Where each input's annotated copy goes; refuses unsafe targets before any work."""
    targets = []
    if draw:
        real = os.path.realpath(draw)
        for path in paths:
            if os.path.realpath(os.path.dirname(os.path.abspath(path))) == real:
                raise OutputRefusedError(
                    f"--draw {draw!r} is the folder of {path!r}; choose another folder "
                    "(nothing is written next to the inputs)")
    seen: dict[str, str] = {}
    for path in paths:
        video = path.lower().endswith(VIDEO_SUFFIXES)
        if not draw:
            if video:
                raise ValueError(f"{path!r} is a video: pass --draw FOLDER for the annotated "
                                 "copy (the table lists the faces of every frame)")
            targets.append(None)
            continue
        name = os.path.basename(path)
        target = os.path.join(draw, name if video else os.path.splitext(name)[0] + ".png")
        if target in seen:
            raise ValueError(f"{seen[target]!r} and {path!r} would both be drawn to "
                             f"{target!r}; rename one of them or draw them separately")
        seen[target] = path
        check_file_output(target, overwrite=force, **protect)
        targets.append(target)
    return targets


def draw_rows(table, paths: list[str], targets: list, tasks, force: bool) -> None:
    """Write each photo with its faces' boxes and named predictions drawn on it."""
    from ._analyze import face_label
    from ._image_files import DecodeFailure
    from ._imaging import read_rgb

    for path, target in zip(paths, targets, strict=True):
        rows = table[(table["file"] == path) & (table["status"] == "ok")]
        try:
            rgb = read_rgb(path)
        except DecodeFailure:  # its row says why; there is nothing to draw on
            continue
        boxes = rows[["x", "y", "w", "h"]].to_numpy(dtype="int64")
        labels = [face_label(row, tasks) for _, row in rows.iterrows()]
        with atomic_file(target, overwrite=force, clean=False) as partial:
            Image.fromarray(draw_predictions(rgb, boxes, labels)).save(partial, format="PNG")


def make_draw_folder(draw: str) -> None:
    """Create the ``--draw`` folder and its parents, and clear leftovers of killed runs
    there: once, before any input (image or video) is drawn into it."""
    from ._leftovers import clean_leftovers

    os.makedirs(draw, exist_ok=True)
    clean_leftovers(draw)  # once, not once per file
