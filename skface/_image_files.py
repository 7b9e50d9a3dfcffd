"""Opening image files safely: regular files only, raster formats only.

Every reader of image files in skface (``ImageLoader``, ``check_images``,
``FaceCropper``, ``annotate_image``, ``skface summarize`` and the demo) goes through
:func:`open_regular` and :func:`open_raster`:

- files are opened by :func:`skface._files.open_regular`, the opener every reader of
  skface shares: a path is stat-ed before it is opened, and only regular files are
  opened (with ``O_NONBLOCK``, and checked again with ``fstat``), so a named pipe, a
  device or a folder given an image name is refused instead of blocking or being read;
- :func:`PIL.Image.open` is given an explicit list of raster formats
  (:data:`RASTER_FORMATS`), so no other Pillow plugin is reached, whatever a file is
  named or holds (the EPS plugin, for one, runs Ghostscript);
- a file that is refused is described by kind (empty, text, HTML, PDF, a non-raster
  image format, unknown binary content): its bytes are never copied into a message.

Only the standard library, Pillow and :mod:`skface._files` are imported.
"""

from __future__ import annotations

import codecs
import os
import re
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from ._files import FileRefused, access_reason, stat_regular
from ._files import open_regular as _open_checked

# Pillow format IDs decoded, in the order Pillow tries them. MPO (the multi-picture
# JPEGs of many cameras) is read by the JPEG plugin; PPM covers PBM, PGM, PPM and PFM.
RASTER_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM")
ALLOWED_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF or PPM/PGM"


class DecodeFailure(Exception):
    """A file could not be decoded; ``str(self)`` says why and what to do."""


def image_extensions() -> frozenset[str]:
    """File name suffixes (lower case, with the dot) of the decoded raster formats."""
    return frozenset(ext for ext, fmt in Image.registered_extensions().items()
                     if fmt in RASTER_FORMATS or fmt == "MPO")


# --------------------------------------------------------------------------- the file


def open_regular(path: str) -> BinaryIO:
    """Open a non-empty regular file for binary reading, or raise DecodeFailure.

    :func:`skface._files.open_regular`, the opener every reader of skface shares: the
    path is stat-ed first, so a named pipe or a device is never opened; the file is
    then opened without blocking and checked again, so one swapped in between the two
    cannot block or be read either.
    """
    try:
        return _open_checked(path)
    except FileRefused as exc:
        raise DecodeFailure(str(exc)) from None


# --------------------------------------------------------------------------- the image


def bomb_reason(detail: str, max_pixels: int | None, too_large: str | None = None) -> str:
    if too_large is None:
        too_large = (
            "if you trust the file, raise the limit with ImageLoader(max_pixels=...)"
            + ("" if max_pixels is None else " (and PIL.Image.MAX_IMAGE_PIXELS beyond twice it)")
        )
    return f"image is too large ({detail}), above the decompression-bomb limit; {too_large}"


def pixel_limit(max_pixels: int | None) -> int | None:
    return max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS


def open_raster(f: BinaryIO, max_pixels: int | None, too_large: str | None = None
                ) -> Image.Image:
    """``Image.open`` restricted to :data:`RASTER_FORMATS`, with the size checked.

    Only the header is read: an image of more than ``max_pixels`` pixels (Pillow's
    limit when None) is refused before any pixel is decoded; ``too_large`` says what
    to do then.
    """
    try:
        im = Image.open(f, formats=RASTER_FORMATS)
    except UnidentifiedImageError:
        raise DecodeFailure(describe_unreadable(f)) from None
    except Image.DecompressionBombError as exc:
        raise DecodeFailure(bomb_reason(str(exc), max_pixels, too_large)) from None
    except Exception as exc:  # Pillow's plugins raise many types on broken headers
        raise DecodeFailure(f"not a readable image ({exception_text(exc)})") from None
    width, height = im.size
    limit = pixel_limit(max_pixels)
    if limit is not None and width * height > limit:
        im.close()
        raise DecodeFailure(
            bomb_reason(f"{width}x{height} = {width * height} pixels", max_pixels, too_large))
    if im.format in ("JPEG", "MPO"):
        try:
            # every scan starts with the bytes FF DA, which entropy-coded data never
            # holds: a file with few of them (every real one) needs no walk
            scans = _start_of_scan_bound(f)
            if scans > MAX_JPEG_SCANS:
                scans = count_jpeg_scans(f, MAX_JPEG_SCANS + 1)
        except OSError as exc:
            im.close()
            raise DecodeFailure(f"the file cannot be read ({exc.strerror or exc})") from None
        if scans > MAX_JPEG_SCANS:
            im.close()
            raise DecodeFailure(
                f"JPEG with more than {MAX_JPEG_SCANS} scans: each scan is a pass over "
                "the whole image, so decoding it would take very long (real photos have "
                "at most a few dozen); re-export it as an ordinary JPEG")
    return im


# --------------------------------------------------------------------------- JPEG scans

MAX_JPEG_SCANS = 256
"""The most scans (start-of-scan segments) a JPEG may hold to be decoded.

A progressive JPEG is decoded in as many passes over the whole image as it has scans,
and a scan can be a few bytes long: a small file with many thousands of scans takes
minutes. Encoders write 1 to 3 scans for a baseline JPEG and about 10 (up to a few
dozen) for a progressive one.
"""

# Read a chunk at a time: most face crops fit in one, and a read of a large buffer
# costs its allocation on every image (benchmarks/bench_decode.py).
_CHUNK = 1 << 16
# A marker: 0xFF, then a byte other than 0x00 (a stuffed 0xFF of entropy-coded data) or
# 0xFF (fill bytes before a marker: the last one matches). Inside a scan's data, restart
# markers (0xD0-0xD7) are data too. (A literal first byte makes the search fast.)
_MARKER = re.compile(rb"\xff([^\x00\xff])")
_SCAN_END = re.compile(rb"\xff([^\x00\xd0-\xd7\xff])")
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD9)))  # TEM, RST0-7, SOI: no length
_SOS, _EOI = 0xDA, 0xD9


def count_jpeg_scans(f: BinaryIO, stop: int) -> int:
    """Start-of-scan segments of the first image of the JPEG file ``f``, up to ``stop``.

    The file is read from its start, a chunk at a time, as a JPEG decoder reads it:
    segment by segment, skipping each scan's entropy-coded data, until the
    end-of-image marker or the end of the file (nothing is decoded, and segment
    contents are skipped unread). ``f``'s position is restored.
    """
    position = f.tell()
    try:
        return _count_scans(f, stop)
    finally:
        f.seek(position)


def _start_of_scan_bound(f: BinaryIO) -> int:
    """How often the start-of-scan marker's bytes occur in ``f``: at least its scans
    (metadata may hold the same bytes). One pass at C speed; ``f``'s position is kept."""
    position = f.tell()
    try:
        f.seek(0)
        found, last = 0, b""
        while chunk := f.read(_CHUNK):
            found += chunk.count(b"\xff\xda") + (last == b"\xff" and chunk[:1] == b"\xda")
            last = chunk[-1:]
        return found
    finally:
        f.seek(position)


def _count_scans(f: BinaryIO, stop: int) -> int:
    f.seek(0)
    buf = f.read(_CHUNK)
    at, scans, pattern = 2, 0, _MARKER  # after SOI
    while scans < stop:
        match = pattern.search(buf, at)
        if match is None:
            more = f.read(_CHUNK)
            if not more:
                break  # truncated: the decoder says so
            buf = (b"\xff" if buf.endswith(b"\xff") else b"") + more
            at = 0
            continue
        marker, at = match.group(1)[0], match.end()
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        while len(buf) - at < 2:  # the segment's length
            more = f.read(_CHUNK)
            if not more:
                return scans
            buf, at = buf[at:] + more, 0
        length = int.from_bytes(buf[at:at + 2], "big")
        at += length
        if at > len(buf):  # skip the rest of a long segment unread
            f.seek(at - len(buf), os.SEEK_CUR)
            buf, at = f.read(_CHUNK), 0
        if marker == _SOS:
            scans += 1
            pattern = _SCAN_END
        else:
            pattern = _MARKER
    return scans


_BYTES_LITERAL = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\"""")


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of a decoder's exception, without any bytes it quotes."""
    text = _BYTES_LITERAL.sub("<bytes not shown>", str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# --------------------------------------------------------------------------- content


def _pillow_format(head: bytes) -> str | None:
    """The Pillow format whose signature ``head`` matches (no plugin is run)."""
    Image.init()
    for fmt, (_factory, accept) in Image.OPEN.items():
        if accept is None:
            continue
        try:
            if accept(head[:16]):
                return fmt
        except Exception:
            continue
    return None


def _format_name(fmt: str) -> str:
    factory = Image.OPEN.get(fmt, (None,))[0]
    description = getattr(factory, "format_description", None)
    return f"{description} ({fmt})" if description and description != fmt else fmt


def _as_text(head: bytes) -> str | None:
    """``head`` decoded, if it looks like text; None for binary content."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, errors="ignore")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\n\r\f\v" for c in text):
        return None
    return text


def describe_content(head: bytes) -> str:
    """What a file that is not a decodable image holds, from its first bytes.

    The bytes themselves are never part of the answer (a label table may name any file).
    """
    if not head:
        return "file is empty (0 bytes)"
    allowed = f"skface decodes only {ALLOWED_TEXT} images: convert it to one of these"
    fmt = _pillow_format(head)
    if fmt is not None and fmt in RASTER_FORMATS:
        return (f"looks like {_format_name(fmt)} but its header cannot be read: the file "
                "is corrupt or truncated; re-download or re-export it")
    if fmt is not None:
        return f"detected format: {_format_name(fmt)}, not an allowed raster format; {allowed}"
    if head.startswith(b"%PDF-"):
        return f"detected format: PDF document, not an allowed raster format; {allowed}"
    if head.startswith(b"%!"):
        return f"detected format: PostScript, not an allowed raster format; {allowed}"
    text = _as_text(head)
    if text is not None:
        low = text.lstrip().lower()
        if "<svg" in low:
            return (f"detected format: SVG (vector graphics), not an allowed raster "
                    f"format; {allowed}")
        if low.startswith("<!doctype html") or "<html" in low:
            what = "an HTML page (often the error page of a failed download)"
        elif low.startswith("<"):
            what = "XML or HTML markup"
        else:
            what = "text"
        return (f"not an image format Pillow can read: the file holds {what}; replace it "
                "with the image, or remove it from the list")
    return ("not an image format Pillow can read: unknown binary content, not a known "
            "image format (it may be partially downloaded, or another kind of file)")


def describe_unreadable(f: BinaryIO) -> str:
    """:func:`describe_content` of an open file that Pillow could not identify."""
    try:
        f.seek(0)
        head = f.read(512)
    except OSError:
        head = b""
    return describe_content(head)


__all__ = ["MAX_JPEG_SCANS", "RASTER_FORMATS", "DecodeFailure", "access_reason",
           "count_jpeg_scans", "open_raster", "open_regular", "stat_regular"]
