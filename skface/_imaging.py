"""Decoding image files into uint8 arrays: the hot path under ``ImageLoader``.

Only numpy and Pillow are used. Decoding runs in threads (Pillow releases the GIL
while it decodes and resamples), JPEGs are decoded at reduced scale (draft mode)
when the target is small, and pixels stay uint8 from file to output. Files are
opened through :mod:`skface._image_files`: regular files only, and only the raster
formats of ``RASTER_FORMATS``. In-memory images (PIL images, pixel arrays) get the
same conversion as a decoded file.

Decoding many files at once, and the process-wide cache of decoded images, is
:mod:`skface._image_batches`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from ._image_files import (
    DecodeFailure,
    exception_text,
    open_raster,
    open_regular,
    pixel_limit,
)

RESAMPLE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodeSpec:
    """How to turn one file into a ``(size, size, channels)`` uint8 array."""

    size: int
    grayscale: bool = False
    fit_mode: str = "crop"
    resample: str = "bilinear"
    fill: tuple[int, ...] = (0, 0, 0)
    max_pixels: int | None = None
    float_max: float = 1.0

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3


_PROBE = DecodeSpec(size=16)  # decoding at 1/8 scale still reads every byte of the file


# --------------------------------------------------------------------------- decode memory

# Bytes a decoded image holds per pixel in Pillow, by mode (4 for every other mode).
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# What converting it to 8-bit RGB adds at most, per pixel: an 8-bit copy and its array.
_CONVERSION_BYTES = 7
DECODE_BUDGET_BYTES = 1 << 30


def decode_cost(im: Image.Image) -> int:
    """Bytes that decoding ``im`` at its (drafted) size and converting it may hold."""
    w, h = im.size
    return w * h * (_STORAGE_BYTES.get(im.mode, 4) + _CONVERSION_BYTES)


class _DecodeBudget:
    """Bounds the memory of the full-size decodes that run at once, in all threads.

    A decode reserves its :func:`decode_cost` and waits while the decodes in flight
    hold too much for it to fit; one image costing more than the whole budget is
    decoded alone. Decoding threads thus never hold more than about ``max_bytes`` (or
    one such image) together, whatever their number.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._used = 0
        self._waiting = 0
        # a plain lock (a Condition's default is reentrant, and slower): taken twice per
        # image, it is on every decoding thread's path
        self._cond = threading.Condition(threading.Lock())

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = min(nbytes, self.max_bytes)
        with self._cond:
            while self._used and self._used + nbytes > self.max_bytes:
                self._waiting += 1
                try:
                    self._cond.wait()
                finally:
                    self._waiting -= 1
            self._used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self._used -= nbytes
                if self._waiting:
                    self._cond.notify_all()


_BUDGET = _DecodeBudget(DECODE_BUDGET_BYTES)


# --------------------------------------------------------------------------- decoding


def _integer_max(im: Image.Image) -> int:
    """The largest sample value of a 16- or 32-bit integer image, as its file declares."""
    if im.mode == "I" and im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits, sample_format = tags.get(258, (32,)), tags.get(339, (1,))
        bits = bits[0] if isinstance(bits, tuple) else bits
        sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
        if bits in (8, 16, 32):
            return 2 ** (bits - 1) - 1 if sample_format == 2 else 2**bits - 1
    # 16-bit PNG, TIFF and PGM (Pillow scales PGM to 0..65535)
    return 65535


# Integer and floating-point images are scaled to 8 bits a tile at a time, so that the
# wide temporaries (int64, float64) cost a bounded amount whatever the image's size: a
# 32-bit image then costs its own 4 bytes and the 1 byte of its 8-bit copy per pixel.
_TILE_PIXELS = 1 << 18


def _tiles(im: Image.Image):
    """``(box, pixels)`` of tiles of at most ``_TILE_PIXELS`` pixels covering ``im``."""
    w, h = im.size
    tile_w = max(1, min(w, _TILE_PIXELS))
    tile_h = max(1, _TILE_PIXELS // tile_w)
    for y in range(0, h, tile_h):
        for x in range(0, w, tile_w):
            box = (x, y, min(w, x + tile_w), min(h, y + tile_h))
            yield box, np.asarray(im.crop(box))


def _scaled_to_l(im: Image.Image, scale) -> Image.Image:
    """``im`` as an 8-bit L image, ``scale`` turning each tile's pixels into uint8."""
    w, h = im.size
    out = np.empty((h, w), dtype=np.uint8)
    for (x0, y0, x1, y1), tile in _tiles(im):
        out[y0:y1, x0:x1] = scale(tile)
    return Image.fromarray(out, "L")


def _float_to_l(im: Image.Image, float_max: float = 1.0) -> Image.Image:
    lo, hi = np.inf, -np.inf
    for _, tile in _tiles(im):
        a = tile.astype(np.float64)
        if not np.isfinite(a).all():
            raise DecodeFailure(
                "floating-point image with NaN or infinite values, which are no intensity; "
                "replace them and save the image again, or save it as an 8-bit image")
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    if lo < 0 or hi > float_max:
        raise DecodeFailure(
            f"floating-point image with values from {lo:g} to {hi:g}: skface reads float "
            f"pixels in [0, {float_max:g}] (float_max={float_max:g}; ImageLoader's "
            "float_max sets another top, such as 255); rescale the image and save it "
            "again, or save it as an 8-bit image")
    factor = 255.0 / float_max  # the same rule as for float arrays
    return _scaled_to_l(im, lambda t: np.rint(t.astype(np.float64) * factor).astype(np.uint8))


def _integer_to_l(im: Image.Image, top: int) -> Image.Image:
    def scale(tile: np.ndarray) -> np.ndarray:
        a = np.clip(tile.astype(np.int64), 0, top)
        return ((a * 255 + top // 2) // top).astype(np.uint8)

    return _scaled_to_l(im, scale)


def _normalise_mode(im: Image.Image, int_max: int = 65535, float_max: float = 1.0
                    ) -> Image.Image:
    """Bring any Pillow mode to L, RGB, LA or RGBA with 8-bit channels.

    Integer greyscale is scaled from its declared range (``int_max``: 65535 for 16-bit
    files, 2**31 - 1 for signed 32-bit TIFFs) to 0..255, negative values giving black;
    floating-point greyscale (TIFF, PFM) in [0, ``float_max``] is scaled to 0..255,
    and any other range refused.
    """
    mode = im.mode
    if mode in ("RGB", "L", "RGBA", "LA"):
        return im
    if mode in _SIXTEEN_BIT:
        return _integer_to_l(im, 65535 if mode.startswith("I;16") else int_max)
    if mode == "F":
        return _float_to_l(im, float_max)
    if mode == "P":
        return im.convert("RGBA" if "transparency" in im.info else "RGB")
    if mode in ("PA", "RGBa"):
        return im.convert("RGBA")
    if mode == "La":
        return im.convert("LA")
    if mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def _with_image(path: str, max_pixels: int | None, body, too_large: str | None = None):
    """``body(im)`` on the raster image at ``path``, any failure as DecodeFailure."""
    with open_regular(path) as f:
        im = open_raster(f, max_pixels, too_large)
        with im:
            try:
                return body(im)
            except DecodeFailure:
                raise
            except Exception as exc:
                raise DecodeFailure(_broken_reason(im, exc)) from None


def decode_image(path: str, spec: DecodeSpec) -> np.ndarray:
    """Decode one file to a ``(size, size, channels)`` uint8 array.

    Only regular files in :data:`~skface._image_files.RASTER_FORMATS` are decoded.

    Raises
    ------
    DecodeFailure
        With a reason meant for the user, for any file that cannot be decoded.
    """
    return _with_image(path, spec.max_pixels, lambda im: _decode_opened(im, spec))


_ARRAY_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def is_image_object(obj) -> bool:
    """Whether ``obj`` is an image held in memory (a PIL image or a pixel array)."""
    return isinstance(obj, Image.Image) or (
        isinstance(obj, np.ndarray) and obj.ndim in (2, 3) and obj.dtype != object)


FLOAT_MAX = 1.0
"""The value of a white floating-point pixel unless ``float_max`` says otherwise."""


def pixels_to_uint8(a: np.ndarray, *, float_max: float = FLOAT_MAX) -> np.ndarray:
    """Pixels of any numeric dtype as uint8, the scale set by the dtype alone.

    Never by the values, so that an image gives the same pixels alone or in any batch:
    uint8 is kept; bool is 0 or 255; uint16 is scaled from 0..65535 (divided by 257,
    as 16-bit files are); other integer dtypes hold 0..255 as they are; floats hold
    0..``float_max`` (1.0 by default: ``ImageLoader(float_max=255)`` reads 0-255
    floats), scaled to 0..255 and rounded.

    Raises
    ------
    ValueError
        For values outside the dtype's range (naming the range and, for floats, the
        ``float_max`` parameter), NaN or infinite values.
    TypeError
        For a dtype that holds no intensities (complex, strings, objects).
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * np.uint8(255)
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{a.dtype} pixels from {lo} to {hi}: integer images other than uint16 are "
                "read as 0..255 (uint16 as 0..65535); scale them to that range (16-bit "
                "values held in a wider dtype: astype(np.uint16)), or pass uint8 pixels")
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32 if a.dtype.itemsize <= 4 else np.float64, copy=False)
        if not np.isfinite(f).all():
            raise ValueError("the image has NaN or infinite values, which are no intensity")
        lo, hi = (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)
        top = float(float_max)
        if lo < 0 or hi > top:
            other = ("float_max=255 for floats in [0, 255]" if top == 1.0
                     else "float_max=1.0 for floats in [0, 1]")
            raise ValueError(
                f"float pixels from {lo:g} to {hi:g}, outside [0, {top:g}]: skface reads "
                f"floating-point images in [0, {top:g}] (float_max={top:g}); rescale them, "
                f"pass ImageLoader({other}), or pass uint8 pixels")
        return np.rint(f * (255.0 / top)).astype(np.uint8)
    raise TypeError(f"an array of dtype {a.dtype} is no image: pass uint8 pixels")


def _array_to_pil(a: np.ndarray, float_max: float = FLOAT_MAX) -> Image.Image:
    """A ``(height, width[, channels])`` pixel array as a PIL image, or DecodeFailure."""
    if a.ndim == 3 and a.shape[2] not in _ARRAY_MODES:
        raise DecodeFailure(
            f"an array of shape {a.shape} is no image: the last axis must hold 1 (grey), "
            "2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise DecodeFailure(f"an array of shape {a.shape} holds no pixel")
    try:
        a = pixels_to_uint8(a, float_max=float_max)
    except (TypeError, ValueError) as exc:
        raise DecodeFailure(str(exc)) from None
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    mode = "L" if a.ndim == 2 else _ARRAY_MODES[a.shape[2]]
    return Image.fromarray(np.ascontiguousarray(a), mode)


def object_to_rgb(obj, *, max_pixels: int | None = None, float_max: float = 1.0
                  ) -> np.ndarray:
    """An in-memory image at full resolution as ``(height, width, 3)`` uint8 RGB.

    The conversion a decoded file gets (mode, EXIF orientation of a PIL image,
    transparency onto black; float pixels in [0, ``float_max``]). Raises DecodeFailure
    with a reason.
    """
    w, h = obj.size if isinstance(obj, Image.Image) else obj.shape[1::-1]
    limit = pixel_limit(max_pixels)
    if limit is not None and w * h > limit:
        raise DecodeFailure(
            f"an image of {w}x{h} pixels is larger than max_pixels={limit}; shrink it")
    try:
        if isinstance(obj, Image.Image):
            return _full_rgb(obj, float_max=float_max)
        return _full_rgb(_array_to_pil(obj, float_max), float_max=float_max)
    except DecodeFailure:
        raise
    except Exception as exc:
        raise DecodeFailure(f"the image could not be converted: {exception_text(exc)}") from None


def convert_image_object(obj, spec: DecodeSpec) -> np.ndarray:
    """An in-memory image (PIL image or pixel array) as a ``(size, size, channels)`` array.

    The same conversion as for a decoded file: mode, EXIF orientation of a PIL image,
    fit mode, resampling and transparency. Raises DecodeFailure with a reason.
    """
    if isinstance(obj, Image.Image):
        w, h = obj.size
        im = obj
    else:
        h, w = obj.shape[:2]
        im = None
    limit = pixel_limit(spec.max_pixels)
    if limit is not None and w * h > limit:
        raise DecodeFailure(
            f"an image of {w}x{h} pixels is larger than max_pixels={limit}; raise max_pixels "
            "or shrink the image")
    try:
        if im is None:
            im = _array_to_pil(obj, spec.float_max)
        elif im.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "La", "CMYK",
                             "YCbCr", "LAB", "HSV", "RGBX", "F", *_SIXTEEN_BIT):
            raise DecodeFailure(f"a PIL image of mode {im.mode!r} cannot be converted")
        else:
            fresh = _unread_jpeg(im)
            if fresh is not None:  # decoded in draft mode, exactly as its file would be
                with fresh:
                    return _decode_opened(fresh, spec)
            im.load()
        return _decode_opened(im, spec)
    except DecodeFailure:
        raise
    except Exception as exc:
        raise DecodeFailure(f"the image could not be converted: {exception_text(exc)}") from None


def _unread_jpeg(im: Image.Image) -> Image.Image | None:
    """A fresh copy of a JPEG image opened but not yet decoded, or None.

    ``Image.open`` reads only the header: such an image can still be decoded in draft
    mode, as its file is by :func:`decode_image`. The copy is opened from the same
    bytes, so the caller's image is left as it was (not drafted, not loaded).
    """
    from PIL.JpegImagePlugin import JpegImageFile

    if (type(im) is not JpegImageFile or im.format != "JPEG" or len(im.tile) != 1
            or im.decoderconfig or getattr(im, "fp", None) is None):
        return None
    try:
        fp = im.fp
        position = fp.tell()
        try:
            fp.seek(0)
            data = fp.read()
        finally:
            fp.seek(position)
        fresh = Image.open(io.BytesIO(data))
    except Exception:
        return None
    if fresh.format != "JPEG" or fresh.size != im.size or fresh.mode != im.mode:
        fresh.close()
        return None
    return fresh


def _flatten_alpha(im: Image.Image, fill: tuple[int, ...]) -> Image.Image:
    mode = im.mode[:-1]
    background = Image.new(mode, im.size, fill if mode == "RGB" else fill[:1])
    background.paste(im, mask=im.getchannel("A"))
    return background


def read_rgb(path: str, *, max_pixels: int | None = None, too_large: str | None = None,
             float_max: float = FLOAT_MAX) -> np.ndarray:
    """Decode one file at full resolution to an ``(h, w, 3)`` uint8 RGB array.

    The same checks and conversions as :func:`decode_image`: EXIF orientation is
    applied and transparent pixels are composited onto black; floating-point pixels are
    read in [0, ``float_max``]. An image of more than ``max_pixels`` pixels (Pillow's
    limit when None) is refused before it is decoded, ``too_large`` saying what to do.

    Raises
    ------
    DecodeFailure
        With a reason meant for the user.
    """

    return _with_image(path, max_pixels,
                       lambda im: _full_rgb(im, _integer_max(im), float_max), too_large)


def _full_rgb(im: Image.Image, int_max: int = 65535, float_max: float = 1.0) -> np.ndarray:
    """An opened image at full resolution as RGB: EXIF orientation, mode, alpha onto black."""
    with _BUDGET.reserve(decode_cost(im)):
        return _full_rgb_now(im, int_max, float_max)


def _full_rgb_now(im: Image.Image, int_max: int, float_max: float) -> np.ndarray:
    orientation = im.getexif().get(_ORIENTATION, 1)
    out = ImageOps.exif_transpose(im) if orientation not in (None, 1) else im
    out = _normalise_mode(out, int_max, float_max)
    if out.mode in ("RGBA", "LA"):
        out = _flatten_alpha(out, (0, 0, 0))
    if out.mode == "L":  # grey to RGB without Pillow's 4-byte RGB copy
        return np.repeat(np.asarray(out)[:, :, None], 3, axis=2)
    return np.asarray(out if out.mode == "RGB" else out.convert("RGB"))


def image_size(path: str, *, max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of the raster image at ``path`` (with EXIF orientation),
    from its header: nothing is decoded. Raises DecodeFailure as :func:`read_rgb`."""

    def body(im: Image.Image) -> tuple[int, int]:
        w, h = im.size
        turned = im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
        return (h, w) if turned else (w, h)

    return _with_image(path, max_pixels, body)


def probe_image(path: str) -> tuple[str | None, str, int, int]:
    """Decode ``path`` fully at a small size; its ``(format, mode, width, height)``.

    Raises
    ------
    DecodeFailure
        As :func:`decode_image`, with ``.header``: the tuple, or None where the
        header could not be read.
    """
    header = None

    def body(im: Image.Image):
        nonlocal header
        header = (im.format, im.mode, *im.size)
        _decode_opened(im, _PROBE)
        return header

    try:
        return _with_image(path, None, body)
    except DecodeFailure as exc:
        exc.header = header
        raise


def draft_factor(width: int, height: int, size: int) -> int:
    """The factor (1, 2, 4 or 8) by which JPEG draft decoding divides a ``width`` x
    ``height`` image for a ``size``-pixel target: the largest that keeps both sides at
    least ``size`` (Pillow's rule)."""
    scale = min(width // size, height // size)
    return next((f for f in (8, 4, 2) if scale >= f), 1)


def pre_reduce(im: Image.Image, size: int, factor: int | None = None
               ) -> tuple[Image.Image, int]:
    """``im`` divided by the factor a JPEG file's draft decoding would use, and the factor.

    This is the one reduction between an image and the network for every image that is
    not a JPEG file decoded in draft mode: in-memory images (PIL images, pixel arrays),
    files of other formats, and the face crops of :class:`~skface.FaceCropper`. Each
    output pixel is the mean of ``factor`` x ``factor`` pixels (the last row and column
    of fewer), which is what decoding a JPEG at 1/2, 1/4 or 1/8 scale does to within
    about a third of a grey level, so that the resize that follows sees the same
    pixels whichever way the picture came. ``factor`` defaults to
    :func:`draft_factor` of ``im``'s size.
    """
    if factor is None:
        factor = draft_factor(*im.size, size)
    if factor <= 1:
        return im, 1
    return im.reduce(factor), factor


def _decode_opened(im: Image.Image, spec: DecodeSpec) -> np.ndarray:
    size = spec.size
    int_max = _integer_max(im)
    region = None
    drafted = None
    if im.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale while both sides stay >= the target.
        drafted = im.draft("L" if spec.grayscale else "RGB", (size, size))
        if drafted is not None:
            region = drafted[1]
    with _BUDGET.reserve(decode_cost(im)):
        return _decode_drafted(im, spec, int_max, region, drafted is not None)


def _decode_drafted(im: Image.Image, spec: DecodeSpec, int_max: int,
                    region: tuple[int, int, int, int] | None, drafted: bool = False
                    ) -> np.ndarray:
    """:func:`_decode_opened` once a JPEG's scale is chosen (``region``: the draft's box).

    An image that was not draft-decoded (another format, an image in memory) is first
    divided by the same factor (:func:`pre_reduce`), so that every route gives the
    network the same pixels."""
    size = spec.size
    if im.format != "JPEG" or "exif" in im.info:  # JPEG keeps EXIF in info at open
        orientation = im.getexif().get(_ORIENTATION, 1)
        if orientation not in (None, 1):
            im = ImageOps.exif_transpose(im)
            region = None
    im = _normalise_mode(im, int_max, spec.float_max)
    if not drafted:
        w, h = im.size
        im, factor = pre_reduce(im, size)
        if factor > 1:
            region = (0, 0, w / factor, h / factor)

    w, h = im.size
    x0, y0, x1, y1 = region if region is not None else (0, 0, w, h)
    rw, rh = x1 - x0, y1 - y0
    offset = None
    if spec.fit_mode == "crop":
        side = min(rw, rh)
        box = (x0 + (rw - side) / 2, y0 + (rh - side) / 2, x0 + (rw + side) / 2,
               y0 + (rh + side) / 2)
        target = (size, size)
    elif spec.fit_mode == "stretch":
        box, target = (x0, y0, x1, y1), (size, size)
    else:  # pad
        scale = size / max(rw, rh)
        target = (max(1, round(rw * scale)), max(1, round(rh * scale)))
        box = (x0, y0, x1, y1)
        offset = ((size - target[1]) // 2, (size - target[0]) // 2)
    if target != (w, h) or box != (0, 0, w, h):
        im = im.resize(target, RESAMPLE_FILTERS[spec.resample], box=box, reducing_gap=None)

    if im.mode in ("RGBA", "LA"):  # composite transparent pixels onto the fill colour
        im = _flatten_alpha(im, spec.fill)
    if spec.grayscale and im.mode != "L":
        im = im.convert("L")
    elif not spec.grayscale and im.mode != "RGB":
        im = im.convert("RGB")

    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if offset is None:
        return arr
    out = np.empty((size, size, spec.channels), dtype=np.uint8)
    out[...] = np.asarray(spec.fill[: spec.channels], dtype=np.uint8)
    out[offset[0] : offset[0] + arr.shape[0], offset[1] : offset[1] + arr.shape[1]] = arr
    return out


def _broken_reason(im: Image.Image, exc: Exception) -> str:
    text = exception_text(exc).split(": ", 1)[1]
    kind = im.format or "image"
    if "truncated" in text or isinstance(exc, (EOFError, SyntaxError)) or "broken" in text:
        return f"{kind} data is truncated or corrupt ({text}); re-download or re-export the file"
    return f"{kind} could not be decoded ({exception_text(exc)})"
