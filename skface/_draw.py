"""Drawing predicted labels on images, and on every frame of a video.

``draw_predictions`` needs only Pillow; ``annotate_video`` reads and writes videos
with OpenCV (the optional ``detect`` extra), imported when it runs.
"""

# One module: where labels go (label_plates), drawing them (draw_predictions) and its
# three callers (one photo, a video, the command line's --draw) share one layout.

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ._analyze import check_detect, crop_labeller
from ._face_cropper import FaceCropper, crop_resized
from ._face_detectors import import_cv2, is_face_crop
from ._files import FileRefused, check_regular
from ._outputs import OutputRefusedError, atomic_file, check_file_output
from ._utils import VIDEO_SUFFIXES

__all__ = ["LabelPlate", "annotate_image", "annotate_video", "draw_predictions",
           "label_plates"]

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


MIN_FONT = 12  # pixels: the smallest label text drawn, legible on a small face
# and at least 1/50 of the image's long side, legible when the photo is shown scaled
# down to a screen (a small face in a large photo)
_IMAGE_PER_FONT = 50
_TINY_FONT = 8  # only where an image is too narrow for MIN_FONT
_FONT_PER_BOX = 7  # by default the text is 1/7 of the box's width high


class LabelPlate(NamedTuple):
    """Where one label is drawn: ``plate`` ``(x0, y0, x1, y1)`` (x1, y1 excluded), the
    rectangle filled behind the text, and the ``text`` (maybe broken into lines),
    its ``font`` and the ``origin`` it is drawn from."""

    plate: tuple[int, int, int, int]
    text: str
    font: object
    origin: tuple[int, int]


def _text_size(text: str, font) -> tuple[int, int, int, int]:
    """``(width, height, left, top)`` of ``text`` drawn with ``font``."""
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
    return right - left, bottom - top, left, top


def _place(box, plate_w: int, plate_h: int, width: int, height: int) -> tuple[int, int]:
    """Top-left corner of a ``plate_w`` x ``plate_h`` plate for ``box``: just above it,
    else just below it, inside the image (moved sideways to stay inside it); where
    neither fits (a box as tall as the image), inside the box along its bottom edge,
    over the chin rather than the eyes."""
    x, y, _, h = box
    x0 = int(min(max(0, x), max(0, width - plate_w)))
    if y - plate_h >= 0:
        return x0, int(y - plate_h)
    if y + h + plate_h <= height:
        return x0, int(y + h)
    return x0, int(max(0, min(y + h, height) - plate_h))


def label_plates(boxes, labels: Sequence, width: int, height: int,
                 font_size: int | None = None) -> list[LabelPlate]:
    """Where the labels of ``boxes`` go on a ``width`` x ``height`` image.

    Each label is drawn on a plate outside its box: above it, or below it when there
    is no room above, never over the face, and always inside the image. The text is
    ``font_size`` pixels high (by default 1/7 of the box's width, at least
    ``MIN_FONT``, 12 px, and 1/50 of the image's long side, so the label of a small
    face stays legible, also when a large photo is shown scaled down); the plate may be
    wider than the box, and is moved sideways to stay inside the image. A label too
    wide for the image is set smaller, then broken into lines at its separators.
    Only where the box leaves no room above or below (a face crop, whose box is the
    whole image) does the plate lie inside the box, along its bottom edge.

    Parameters
    ----------
    boxes : array-like of shape (n_boxes, 4)
        ``(x, y, w, h)`` in pixels, inside the image.
    labels : sequence of str of length n_boxes
        The text of each box; empty labels get no plate (None in the list).
    width, height : int
        The image's size in pixels.
    font_size : int, optional
        Text height in pixels; by default from each box's width.

    Returns
    -------
    plates : list of LabelPlate or None
        One per box, in order.
    """
    out: list[LabelPlate | None] = []
    for (x, y, w, h), label in zip(np.asarray(boxes, dtype=np.int64).reshape(-1, 4), labels,
                                   strict=True):
        text = str(label)
        if not text:
            out.append(None)
            continue
        floor = max(MIN_FONT, round(max(width, height) / _IMAGE_PER_FONT))
        size = int(font_size) if font_size else max(floor, round(w / _FONT_PER_BOX))
        while True:
            font = _font(size)
            text_w, text_h, left, top = _text_size(text, font)
            pad = max(2, text_h // 6)
            if text_w + 2 * pad <= width or font_size:
                break
            if size > MIN_FONT:
                size = max(MIN_FONT, int(size * 0.85))  # narrow image: legible still
            elif "\n" not in text and any(sep in text for sep in (" · ", ", ", " ")):
                sep = next(sep for sep in (" · ", ", ", " ") if sep in text)
                text = text.replace(sep, "\n")
            elif size > _TINY_FONT:
                size -= 1
            else:
                break
        plate_w, plate_h = min(width, text_w + 2 * pad), min(height, text_h + 2 * pad)
        x0, y0 = _place((x, y, w, h), plate_w, plate_h, width, height)
        out.append(LabelPlate((x0, y0, x0 + plate_w, y0 + plate_h), text, font,
                              (x0 + pad - left, y0 + pad - top)))
    return out


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

    Each box's outline is drawn along its inner edge; its label on a plate outside
    the box, above it (below it where there is no room above), inside the image,
    never over the face, at least 12 px high and 1/50 of the image's long side so that
    the labels of small faces stay legible, also in a large photo shown scaled down
    (the plate may be wider than the box).

    Parameters
    ----------
    image : ndarray of shape (height, width, 3) or (height, width), dtype uint8
        An RGB (or greyscale) image; it is not modified.
    boxes : DataFrame or array-like of shape (n_boxes, 4)
        ``(x, y, w, h)`` in pixels, such as :meth:`FaceCropper.detect`'s frame
        (its ``x, y, w, h`` columns are used). Boxes may extend outside the image:
        they are drawn cut to it.
    labels : sequence of length n_boxes, optional
        Text drawn in each box (converted with ``str``); ``None`` draws boxes only.
    color : tuple of 3 int, default=(255, 64, 0)
        RGB colour of the outlines and of the label plates.
    text_color : tuple of 3 int, default=(255, 255, 255)
        RGB colour of the text.
    thickness : int, optional
        Outline width in pixels; by default 1/100 of the image's short side (at
        least 1).
    font_size : int, optional
        Text height in pixels; by default 1/7 of each box's width (at least 12).

    Returns
    -------
    annotated : ndarray of shape (height, width, 3), dtype uint8
        A new RGB image.

    Examples
    --------
    >>> import numpy as np
    >>> from skface import draw_predictions
    >>> image = np.zeros((100, 100, 3), dtype=np.uint8)
    >>> out = draw_predictions(image, [(10, 30, 50, 50)], ["face"])
    >>> out.shape, int(out[:, 80:].max())  # nothing drawn right of the label
    ((100, 100, 3), 0)
    >>> out[79, 30].tolist()  # the bottom edge of the outline
    [255, 64, 0]
    >>> int(out[35:75, 15:55].max())  # nothing drawn over the face
    0
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
    draw = ImageDraw.Draw(canvas)
    inside = []  # the boxes cut to the image
    for x, y, w, h in xywh:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if w > 0 and h > 0 and x1 > x0 and y1 > y0:
            inside.append((x0, y0, x1 - x0, y1 - y0))
            # clipped at the image's edge: the outline runs along the cut
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=tuple(color),
                           width=int(thickness))
        else:
            inside.append(None)
    if labels is not None:
        shown = [(b, str(t)) for b, t in zip(inside, labels, strict=True) if b is not None]
        for plate in label_plates([b for b, _ in shown], [t for _, t in shown], width,
                                  height, font_size):
            if plate is None:
                continue
            x0, y0, x1, y1 = plate.plate
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=tuple(color))
            draw.multiline_text(plate.origin, plate.text, fill=tuple(text_color),
                                font=plate.font)
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
                      label_of, named=None, detect: bool | str = True
                      ) -> tuple[np.ndarray, list[str]]:
    """Face boxes in one RGB image and the predicted label of each.

    ``named``: for a skface model drawn with the default labels, what turns the crops
    into named labels (``"32 · female · Asian"``). ``detect`` as for
    :func:`skface.analyze`: an image taken as a face crop is one face, the whole image.
    """
    height, width = rgb.shape[:2]
    boxes = cropper.find_faces(rgb) if detect is not False else None
    if boxes is None or (detect == "auto" and is_face_crop(boxes, height, width)):
        boxes = np.array([[0, 0, width, height]], dtype=np.int64)
        if named is not None:  # the whole image, through the model's own loader
            return boxes, named(rgb[None])
        side = min(height, width)
        square = ((width - side) // 2, (height - side) // 2, side)
        crops = crop_resized(Image.fromarray(rgb), square, int(cropper.size))[None]
    else:
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
    detect: bool | str = "auto",
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
    detect : "auto", bool, default="auto"
        As for :func:`skface.analyze`: ``"auto"`` finds the faces but takes a photo
        that is a face crop already (its largest face covers at least 40% of it, or
        no face is found in a nearly square image at most 512 px on its long side)
        as one face, the whole image; ``True`` always finds the faces; ``False``
        predicts on the whole image.

    Returns
    -------
    drawn : ndarray of shape (height, width, 3), dtype uint8
        A copy of the photo with a box and a label on every face found (labels
        outside the boxes, see :func:`draw_predictions`).
    faces : DataFrame
        One row per face, largest first: ``x, y, w, h`` (the box, in pixels, inside
        the photo; the whole photo for a face crop) and ``label``. Empty when no
        face is found.

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
    detect = check_detect(detect)
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
    boxes, labels = _faces_and_labels(rgb, predictor, cropper, grey, label_of, named,
                                      detect)
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
