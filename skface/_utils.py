"""Small helpers every part of skface may use: importing optional dependencies
(:func:`import_optional`), showing file names and other text safely
(:func:`printable`), the suffixes of video files (:data:`VIDEO_SUFFIXES`) and the
bounds of an image side (:data:`MIN_IMAGE_SIZE`, :data:`MAX_IMAGE_SIDE`).

Writing outputs is :mod:`skface._outputs` (with :mod:`skface._leftovers` below it).
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = [
    "MAX_IMAGE_SIDE",
    "MIN_IMAGE_SIZE",
    "VIDEO_SUFFIXES",
    "import_optional",
    "printable",
    "quoted_some",
]

# the suffixes of video files (skface predict --detect reads them frame by frame)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")

# The sides of the square images skface makes and reads. Every network of skface.nets
# takes 32 px and up (VGG16's five 2x2 poolings need 32 px); MAX_IMAGE_SIDE bounds the
# ``size`` of ImageLoader and FaceCropper, ``skface train --size`` and what a model file
# may ask for, so that no parameter asks for an image that cannot be allocated.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIDE = 1024


def quoted_some(names, limit: int = 5) -> str:
    """The first ``limit`` of ``names``, quoted, and how many more there are
    (``'a.jpg', 'b.jpg' and 3 more``), for messages that name files or faces."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# --------------------------------------------------------------------------- optional imports

# how messages name an optional package, where its module name is not what one installs
_PACKAGE_NAMES = {"cv2": "OpenCV (the cv2 module)", "gradio": "Gradio"}


def import_optional(name: str, extra: str, purpose: str | None = None, *,
                    hint: str | None = None) -> ModuleType:
    """Import an optional dependency, or say which skface extra installs it.

    Parameters
    ----------
    name : str
        The module to import, such as ``"cv2"`` or ``"matplotlib.pyplot"``.
    extra : str
        The extra of skface that installs it (a key of ``[project.optional-dependencies]``
        in ``pyproject.toml``), such as ``"detect"``.
    purpose : str, optional
        What needs it, to start the message with, such as ``"face detection"``.
    hint : str, optional
        Something else to say, added to the message in brackets after the command.

    Returns
    -------
    module : module
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the module is not installed, or importing it fails (a broken or too old
        installation); the message says ``pip install "skface[<extra>]"``, and the
        original error is chained to it.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        top = name.partition(".")[0]
        label = _PACKAGE_NAMES.get(top, top)
        missing = isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
            name == exc.name or name.startswith(exc.name + "."))
        what = f"{purpose} needs {label}, an optional dependency of skface" if purpose \
            else f"{label} is an optional dependency of skface"
        state = ("that is not installed" if missing
                 else f"that could not be imported ({exc})")
        install = f'pip install "skface[{extra}]"'
        tail = f" ({hint})" if hint else ""
        raise MissingDependencyError(
            f"{what} {state}; install it with {install}{tail}.", package=name, extra=extra
        ) from exc


# --------------------------------------------------------------------------- printable text

# Characters never shown as they are: every C0 and C1 control character and DEL (a
# terminal acts on ESC, BEL, CR, CSI...), the bidirectional controls (which reorder what
# is shown), the line and paragraph separators, and lone surrogates (they have no UTF-8;
# \udc80 to \udcff are the bytes of a name that is not UTF-8, as surrogateescape decodes).
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
    "\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` as it can be shown on a terminal and written as UTF-8.

    skface passes every file name it prints or writes into a table or report through
    this: a name comes from the file system and may hold anything. Control characters
    (C0 and C1, DEL), bidirectional controls and line or paragraph separators become
    backslash escapes (``\\x1b``, ``\\u202e``), and each byte of a name that is not
    valid UTF-8 (decoded by Python with ``surrogateescape``) becomes ``\\xNN``, the
    byte's value. Other text, backslashes included, is kept as it is.

    Parameters
    ----------
    text : str
        The text to show (other objects are shown as ``str(text)``).
    keep : str, default=""
        Control characters to keep as they are, such as ``"\\t\\n"`` for a table whose
        writer quotes a cell holding them.

    Returns
    -------
    str
        ``text`` itself when nothing needed escaping.

    Examples
    --------
    >>> printable("photo\\x1b[2J.jpg")
    'photo\\\\x1b[2J.jpg'
    >>> printable(b"caf\\xe9.jpg".decode("utf-8", "surrogateescape"))
    'caf\\\\xe9.jpg'
    """
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():  # the usual case: nothing to look at character by character
        return text
    if keep:
        return _UNPRINTABLE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNPRINTABLE.sub(_escape, text)
