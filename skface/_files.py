"""Opening the files a user or a file names: regular files only, without blocking.

Every reader in skface goes through :func:`open_regular` (or :func:`check_regular`,
where a library opens the file by its path): images, label tables, model files,
videos and ``.mat`` files. A path is stat-ed before it is opened, and only a regular
file is opened, without blocking (``O_NONBLOCK``), then checked again with ``fstat``:
a named pipe, a device, a socket or a folder given a file's name is refused, and
called what it is, instead of blocking forever or being read without end (``/dev/zero``).

Only the standard library is imported.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_O_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
            | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))

IMAGE_ADVICE = "pass image files only"


class FileRefused(Exception):
    """A path that is not a readable regular file; ``str(self)`` says why.

    The reason does not repeat the path: the caller names it. ``missing`` is True
    when there is nothing at the path (or a folder on it is a file), so that callers
    can raise :class:`FileNotFoundError` then and another error otherwise.
    """

    def __init__(self, reason: str, *, missing: bool = False):
        super().__init__(reason)
        self.missing = missing


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def special_reason(path: str, mode: int, advice: str = IMAGE_ADVICE) -> str:
    """Why the file of ``mode`` at ``path`` is refused: it is not a regular file."""
    via = ""
    try:
        if os.path.islink(path):
            via = ", reached through a symbolic link"
    except (OSError, ValueError):
        pass
    return f"not a regular file: it is {_kind_of(mode)}{via}; {advice}"


def access_reason(path: str, exc: OSError | ValueError) -> str:
    """Why ``path`` cannot be stat-ed or opened, for the user."""
    if isinstance(exc, ValueError):  # os.stat's "embedded null byte"
        return ("the path contains a NUL byte (\\x00), which no file name can hold; fix "
                "the path (a label table saved as UTF-16, or a corrupt one, gives such paths)")
    code = exc.errno
    if code == errno.ENOENT:
        try:
            if os.path.islink(path):
                return "broken symbolic link: the file it points to does not exist"
        except (OSError, ValueError):
            pass
        return "file not found"
    if code == errno.ELOOP:
        return ("symbolic link loop: the link points, directly or through other links, "
                "back to itself; replace it with the file or a link to it")
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied: the file cannot be read"
    if code == errno.ENOTDIR:
        return "file not found (a folder on its path is a file)"
    if code == errno.ENAMETOOLONG:
        return "the path is too long for the file system"
    return f"cannot be accessed ({exc.strerror or exc})"


def _refused(path: str, exc: OSError | ValueError) -> FileRefused:
    missing = isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENOTDIR)
    return FileRefused(access_reason(path, exc), missing=missing)


def stat_regular(path: str, *, advice: str = IMAGE_ADVICE, allow_empty: bool = False
                 ) -> tuple[os.stat_result | None, str | None]:
    """``(stat, None)`` for a regular file, else ``(None, reason)``.

    Symbolic links are followed. Nothing is opened. An empty file is refused unless
    ``allow_empty``; ``advice`` ends the reason given for a special file.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        return None, access_reason(path, exc)
    if not stat.S_ISREG(st.st_mode):
        return None, special_reason(path, st.st_mode, advice)
    if st.st_size == 0 and not allow_empty:
        return None, "file is empty (0 bytes)"
    return st, None


def open_regular(path: str | os.PathLike, *, advice: str = IMAGE_ADVICE,
                 allow_empty: bool = False) -> BinaryIO:
    """Open a regular file for binary reading, or raise :class:`FileRefused`.

    The path is stat-ed first, so a named pipe or a device is never opened; the file
    is then opened without blocking and checked again with ``fstat``, so that one
    swapped in between the two can neither block nor be read. The file is returned
    in blocking mode, buffered. An empty file is refused unless ``allow_empty``;
    ``advice`` (what to pass instead) ends the reason given for a special file.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except (OSError, ValueError) as exc:
        raise _refused(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(special_reason(path, st.st_mode, advice))
    try:
        fd = os.open(path, _O_FLAGS)
    except (OSError, ValueError) as exc:
        raise _refused(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(special_reason(path, st.st_mode, advice))
        if st.st_size == 0 and not allow_empty:
            raise FileRefused("file is empty (0 bytes)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | os.PathLike, *, advice: str = IMAGE_ADVICE,
                  allow_empty: bool = False) -> os.stat_result:
    """:func:`open_regular`, closed at once: for a file a library opens by its path.

    Returns the file's ``fstat``. Raises :class:`FileRefused` as
    :func:`open_regular` does.
    """
    with open_regular(path, advice=advice, allow_empty=allow_empty) as f:
        return os.fstat(f.fileno())


__all__ = ["FileRefused", "access_reason", "check_regular", "open_regular", "special_reason",
           "stat_regular"]
