"""Small helpers every part of skface may use: writing output files and folders safely,
importing optional dependencies (:func:`import_optional`), showing file names and other
text safely (:func:`printable`), and the bounds of an image side (:data:`MIN_IMAGE_SIZE`,
:data:`MAX_IMAGE_SIDE`).

Every final file or folder skface writes goes through :func:`atomic_file` or
:func:`atomic_folder`:

- the content is written under a temporary name in the target's own folder,
  ``.skface-partial-<pid>-<random>-<name>``, flushed to disk (file and folder), and only
  then renamed to the final name, so the final name never holds a half-written file;
  the temporary file or folder is removed on every error path (Ctrl-C included);
- a temporary name left by a process that was killed (``kill -9``, a power cut) is
  recognised by its prefix and removed on the next write into that folder, once the
  process named in it is no longer running; nothing else is ever removed: removal goes
  through open folders (``dir_fd``, ``O_NOFOLLOW``), so it never follows a symbolic link
  and never leaves the leftover folder, and a name whose pid no process can have is
  left alone;
- without ``overwrite`` an existing final name is never replaced, even by a writer that
  finishes first while this one is writing (a hard link, which fails if the name
  exists, publishes the file);
- a report folder carries a manifest (:data:`MANIFEST`) listing the files skface wrote
  in it; only such a folder is ever replaced, and only when it holds nothing else;
- outputs that would replace or write into the inputs, the current folder, the home
  folder or one of their parents are refused (:class:`OutputRefusedError`) whatever
  ``overwrite`` says, before any work is done (:func:`check_file_output`,
  :func:`check_folder_output`).

Files get the usual permissions (``0o666`` less the umask), folders ``0o777`` less it.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from .exceptions import MissingDependencyError

__all__ = [
    "MANIFEST",
    "OutputRefusedError",
    "VIDEO_SUFFIXES",
    "atomic_file",
    "atomic_folder",
    "check_file_output",
    "check_folder_output",
    "clean_leftovers",
    "folders_of",
    "import_optional",
    "partial_path",
    "printable",
]

PARTIAL_PREFIX = ".skface-partial-"
MANIFEST = ".skface-manifest.json"
_MANIFEST_FORMAT = "skface output folder"
# what partial_path writes: the writer's pid in ASCII digits, no leading zero
_PARTIAL_RE = re.compile(r"\.skface-partial-([1-9][0-9]{0,9})-([0-9a-f]{8})-.",
                         re.ASCII | re.DOTALL)
_MANIFEST_MAX_BYTES = 64 * 1024**2  # a manifest lists file names: far more than any report's
_LEFTOVER_DEPTH = 32  # folders in a leftover; skface's reports nest one or two
_PID_T_MAX = 2**31 - 1  # pid_t is 32 bits wide on the systems skface runs on
_NAME_MAX = 255  # bytes in one file name on common file systems
# the suffixes of video files (skface predict --detect reads them frame by frame)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")

# The sides of the square images skface makes and reads. Every network of skface.nets
# takes 32 px and up (VGG16's five 2x2 poolings need 32 px); MAX_IMAGE_SIDE bounds the
# ``size`` of ImageLoader and FaceCropper, ``skface train --size`` and what a model file
# may ask for, so that no parameter asks for an image that cannot be allocated.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIDE = 1024


class OutputRefusedError(FileExistsError):
    """An output path skface does not write to, whatever ``--force`` / ``overwrite`` says.

    For example a folder skface did not write, an input, the current or home folder,
    an existing folder given as a file name, or a symbolic link to nothing.
    """


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


# --------------------------------------------------------------------------- names


def partial_path(final: str | os.PathLike) -> Path:
    """A new temporary name beside ``final``, recognisable as skface's, same extension."""
    final = Path(final)
    head = f"{PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    name = final.name
    room = _NAME_MAX - len(os.fsencode(head))
    while len(os.fsencode(name)) > room:  # keep the end: the extension picks the format
        name = name[1:]
    return final.with_name(head + name)


def _pid_max() -> int:
    """One more than the largest pid this system gives a process."""
    try:
        with open("/proc/sys/kernel/pid_max", "rb") as f:
            value = int(f.read(32).strip())
    except (OSError, ValueError):
        return _PID_T_MAX
    return min(value, _PID_T_MAX) if value > 1 else _PID_T_MAX


def _leftover_pid(name: str, pid_max: int) -> int | None:
    """The pid in ``name`` if skface could have written it as a temporary name, else None.

    A name with a pid no process can have (past the system's largest pid, or written
    with other digits or a leading zero) is not skface's: it is never removed.
    """
    match = _PARTIAL_RE.match(name)
    if match is None:
        return None
    pid = int(match.group(1))
    return pid if pid < pid_max else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a pid skface writes: never treated as dead
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # PermissionError: it runs, as another user
        return True
    return True


def clean_leftovers(folder: str | os.PathLike) -> list[str]:
    """Remove skface's temporary files and folders left in ``folder`` by dead processes.

    Only names of the form ``.skface-partial-<pid>-<random>-<name>`` whose process
    ``<pid>`` no longer runs are removed. A leftover folder that holds a manifest loses
    only the regular files the manifest lists (and the manifest, and then the folder if
    it is empty); one without a manifest (killed while it was filled) is removed whole.
    Removal never follows a symbolic link, never leaves the leftover folder and never
    crosses into another file system. Returns the names removed. Does nothing where
    processes or folders cannot be checked this way.
    """
    if not _FD_WALK:
        return []
    try:
        dir_fd = os.open(folder, _O_FOLDER)
    except OSError:
        return []
    removed = []
    try:
        try:
            names = os.listdir(dir_fd)
        except OSError:
            return []
        pid_max = _pid_max()
        for name in names:
            pid = _leftover_pid(name, pid_max)
            if pid is None or _pid_alive(pid):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if not _remove_folder_at(dir_fd, name):
                        continue
                else:  # a file, or a link: the link itself goes, never what it names
                    os.unlink(name, dir_fd=dir_fd)
            except OSError:
                continue
            removed.append(name)
    finally:
        os.close(dir_fd)
    return removed


# --------------------------------------------------------------------------- removing folders
# Leftover folders and replaced reports are removed through open folders (``dir_fd``):
# every folder is opened with O_NOFOLLOW relative to the one above it, so no symbolic
# link, in any part of a name, leads the removal out of the folder it started in.

_O_FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FD_WALK = (os.name == "posix" and bool(_O_NOFOLLOW) and hasattr(os, "O_DIRECTORY")
            and {os.open, os.stat, os.unlink, os.rmdir} <= os.supports_dir_fd
            and os.listdir in os.supports_fd)


def _plain_name(part: str) -> bool:
    """A name of an entry directly inside a folder: no separator, not ``.`` or ``..``."""
    return part not in ("", ".", "..") and "/" not in part and "\0" not in part \
        and (os.altsep is None or os.altsep not in part) and os.sep not in part


def _open_folder_at(dir_fd: int, name: str, dev: int | None = None) -> int:
    """Open the folder ``name`` inside the open folder ``dir_fd``, never through a link.

    Raises OSError when it is a link, not a folder, or (given ``dev``) on another file
    system than ``dev``.
    """
    fd = os.open(name, _O_FOLDER | _O_NOFOLLOW, dir_fd=dir_fd)
    if dev is not None and os.fstat(fd).st_dev != dev:
        os.close(fd)
        raise OSError(errno.EXDEV, "another file system", name)
    return fd


def _walk_to(dir_fd: int, parts: list[str], dev: int) -> int | None:
    """The open folder ``parts`` names inside ``dir_fd``; None if a part is no real folder."""
    fd = dir_fd
    try:
        for part in parts:
            inner = _open_folder_at(fd, part, dev)
            if fd != dir_fd:
                os.close(fd)
            fd = inner
    except OSError:
        if fd != dir_fd:
            os.close(fd)
        return None
    return fd


def _manifest_at(dir_fd: int) -> list[str] | bool:
    """What the manifest in the open folder ``dir_fd`` lists.

    Returns the listed names (each a path of plain names, ``/``-separated), False when
    there is no manifest, True when there is one that skface did not write (a link, not
    a regular file, too large, not skface's format, or naming anything but files inside
    the folder).
    """
    try:
        fd = os.open(MANIFEST, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _O_NOFOLLOW
                     | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    except OSError:  # a link (ELOOP), or unreadable
        return True
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MANIFEST_MAX_BYTES:
            return True
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(_MANIFEST_MAX_BYTES + 1)
    except OSError:
        return True
    finally:
        os.close(fd)
    return _parse_manifest(raw)


def _parse_manifest(raw: bytes) -> list[str] | bool:
    if len(raw) > _MANIFEST_MAX_BYTES:
        return True
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return True
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT:
        return True
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return True
    for name in files:  # _write_manifest writes paths of plain names joined by "/"
        if not all(_plain_name(part) for part in name.split("/")):
            return True  # a manifest naming anything outside its folder is not skface's
    return files


def _empty_folder_at(dir_fd: int, dev: int, depth: int = 0) -> bool:
    """Remove everything inside the open folder ``dir_fd``; True if it is empty now.

    Links are removed, never followed; folders on another file system or deeper than
    any skface writes are left (and the folders above them).
    """
    empty = True
    for name in os.listdir(dir_fd):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(name, dir_fd=dir_fd)
                continue
            if depth >= _LEFTOVER_DEPTH or st.st_dev != dev:
                empty = False
                continue
            inner = _open_folder_at(dir_fd, name, dev)
            try:
                done = _empty_folder_at(inner, dev, depth + 1)
            finally:
                os.close(inner)
            if done:
                os.rmdir(name, dir_fd=dir_fd)
            else:
                empty = False
        except FileNotFoundError:
            continue
        except OSError:
            empty = False
    return empty


def _remove_listed_at(dir_fd: int, listed: list[str], dev: int) -> None:
    """Remove the regular files ``listed`` (and then their emptied folders) in ``dir_fd``."""
    for name in listed:
        *parents, last = name.split("/")
        fd = _walk_to(dir_fd, parents, dev)
        if fd is None:
            continue
        try:
            if stat.S_ISREG(os.stat(last, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(last, dir_fd=fd)  # never follows: a link put there now goes itself
        except OSError:
            pass
        finally:
            if fd != dir_fd:
                os.close(fd)
    folders = {tuple(name.split("/")[:i]) for name in listed
               for i in range(1, name.count("/") + 1)}
    for parts in sorted(folders, key=len, reverse=True):
        fd = _walk_to(dir_fd, list(parts[:-1]), dev)
        if fd is None:
            continue
        try:
            os.rmdir(parts[-1], dir_fd=fd)  # only if empty; a link is not a folder
        except OSError:
            pass
        finally:
            if fd != dir_fd:
                os.close(fd)


def _remove_folder_at(parent_fd: int, name: str) -> bool:
    """Remove the folder ``name`` in the open folder ``parent_fd`` as skface wrote it.

    With a manifest, only the regular files it lists go (then their folders, the
    manifest and the folder if nothing else is left); without one (a folder still being
    filled when its process died) everything in it goes. A manifest skface did not
    write leaves the folder as it is. Returns True if the folder is gone.
    """
    fd = _open_folder_at(parent_fd, name)
    try:
        dev = os.fstat(fd).st_dev
        if dev != os.fstat(parent_fd).st_dev:
            return False  # another file system mounted there: not a folder skface made
        listed = _manifest_at(fd)
        if listed is True:
            return False
        if listed is False:
            if not _empty_folder_at(fd, dev):
                return False
        else:
            _remove_listed_at(fd, listed, dev)
            if any(n != MANIFEST for n in os.listdir(fd)):
                return False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(MANIFEST, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
    return True


# --------------------------------------------------------------------------- durability


def _fsync_path(path: str | os.PathLike, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems cannot sync a folder; a file must sync
            raise
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


# --------------------------------------------------------------------------- checks


def folders_of(paths: Iterable) -> list[str]:
    """The distinct folders holding ``paths`` (for ``data_dirs``: never written into)."""
    return sorted({os.path.dirname(os.path.abspath(os.fspath(p))) for p in paths})


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or inside it (both real, absolute paths)."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def _resolve(path: str | os.PathLike, what: str) -> Path:
    """The real path to write: symbolic links followed; a link to nothing is refused."""
    text = os.fspath(path)
    if text == "":
        raise OutputRefusedError(f"the {what} name is empty; pass a file or folder name.")
    if os.path.islink(text) and not os.path.exists(text):
        raise OutputRefusedError(
            f"{text!r} is a symbolic link to {os.readlink(text)!r}, which does not exist; "
            f"remove the link or choose another {what}.")
    return Path(_real(text))


def _protected(final: Path, shown: str, *, folder: bool, inputs: Iterable, data_dirs: Iterable,
               what: str) -> None:
    """Refuse an output that would replace or write into something skface must keep."""
    real = str(final)
    if folder:
        cwd = _real(os.getcwd())
        if _within(cwd, real):
            where = "is the current folder" if real == cwd else "contains the current folder"
            raise OutputRefusedError(
                f"{shown!r} {where} {cwd!r}, which skface never replaces; choose a new "
                f"{what}, such as a subfolder.")
        home = os.path.expanduser("~")
        if home and home != "~" and _within(_real(home), real):
            raise OutputRefusedError(
                f"{shown!r} is the home folder or contains it; choose a new {what}, "
                "such as a subfolder.")
    for d in data_dirs:
        d = _real(d)
        if _within(real, d) or (folder and _within(d, real)):
            where = ("is the data folder" if real == d else "is inside the data folder"
                     if _within(real, d) else "contains the data folder")
            raise OutputRefusedError(
                f"{shown!r} {where} {d!r}; nothing in a data folder is written: choose "
                f"an {what} outside it.")
    for p in inputs:
        p = _real(p)
        if real == p or (folder and _within(p, real)):
            where = "is" if real == p else "contains"
            raise OutputRefusedError(
                f"{shown!r} {where} the input {p!r}, which would be replaced; choose "
                f"another {what}.")


def _check_parent(final: Path, shown: str) -> None:
    """The nearest existing folder above ``final`` can take a new entry."""
    parent = final.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputRefusedError(f"cannot write {shown!r}: {str(parent)!r} is not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write {shown!r}: no permission to create files in {str(parent)!r}; "
            "choose another place.")


def check_file_output(path: str | os.PathLike, *, overwrite: bool = False,
                      inputs: Iterable = (), data_dirs: Iterable = (),
                      hint: str = "pass --force to replace it") -> Path:
    """Refuse a file output that cannot or must not be written; returns its real path.

    Raises :class:`OutputRefusedError` for an existing folder or special file, a
    symbolic link to nothing, one of ``inputs``, or a name inside one of
    ``data_dirs``; :class:`FileExistsError` for an existing file without
    ``overwrite`` (with ``hint``, what to do, in the message).
    """
    shown = os.fspath(path)
    final = _resolve(path, "output file")
    if final.is_dir():
        raise OutputRefusedError(
            f"{shown!r} is a folder; give a file name (such as {shown.rstrip(os.sep)}"
            f"{os.sep}model.joblib) or another output.")
    if final.exists() and not final.is_file():
        raise OutputRefusedError(f"{shown!r} exists and is not a regular file; choose "
                                 "another output file.")
    _protected(final, shown, folder=False, inputs=inputs, data_dirs=data_dirs,
               what="output file")
    if final.exists() and not overwrite:
        raise FileExistsError(f"{shown!r} exists; {hint}.")
    _check_parent(final, shown)
    return final


# --------------------------------------------------------------------------- failed writes

# what to do when writing fails, by errno
_WRITE_HINTS = {
    errno.ENOSPC: "the disk is full: free some space or choose another place",
    errno.EFBIG: "the file is larger than the file system or the file size limit allows: "
                 "choose another place",
    errno.EROFS: "the file system is read-only: choose another place",
    errno.EACCES: "no permission: choose another place",
    errno.EPERM: "no permission: choose another place",
    errno.EIO: "the disk reported an input/output error: check it or choose another place",
}
if hasattr(errno, "EDQUOT"):
    _WRITE_HINTS[errno.EDQUOT] = ("the disk quota is used up: free some space or choose "
                                  "another place")
# how writers built on Rust's standard library (safetensors) report a system error
_RUST_OS_ERROR = re.compile(r"\(os error ([0-9]{1,5})\)")


def _where_in_output(filename, final: Path, tmp: Path) -> str | None:
    """How ``filename`` of a failed write relates to the output ``final`` being written as
    ``tmp``: ``""`` for the output itself (or no file named), a note for a file in it or a
    folder made for it, None for another file (an input, say)."""
    if filename is None:
        return ""
    try:
        name = os.path.abspath(os.fsdecode(filename))
    except (TypeError, ValueError):
        return None
    if name in (str(tmp), str(final)):
        return ""
    for base in (str(tmp), str(final)):
        if name.startswith(base + os.sep):
            return f" (its file {os.path.relpath(name, base)!r})"
    if str(final).startswith(name.rstrip(os.sep) + os.sep):
        return f" (making the folder {name!r})"
    return None


def _output_error(exc: BaseException, shown: str, final: Path, tmp: Path) -> OSError | None:
    """``exc``, a failure of the system to write the output ``shown``, as an OSError that
    names that output and says what to do; None for any other error."""
    if isinstance(exc, OSError):
        if isinstance(exc, FileExistsError) or not exc.errno:
            return None  # skface's own refusals name the output already
        where = _where_in_output(exc.filename, final, tmp)
        if where is None:
            return None
        code, reason = exc.errno, exc.strerror or os.strerror(exc.errno)
    else:
        match = _RUST_OS_ERROR.search(str(exc))
        if match is None or int(match.group(1)) not in errno.errorcode:
            return None
        code, where = int(match.group(1)), ""
        reason = os.strerror(code)
    hint = _WRITE_HINTS.get(code, "choose another place")
    return OSError(code, f"cannot write {shown!r}{where}: {reason}; {hint}")


@contextlib.contextmanager
def _naming_output(shown: str, final: Path, tmp: Path) -> Iterator[None]:
    """A system error writing ``tmp`` (a full disk...) is raised naming the output."""
    try:
        yield
    except Exception as exc:
        named = _output_error(exc, shown, final, tmp)
        if named is None:
            raise
        raise named from exc


# --------------------------------------------------------------------------- files


def _publish_file(tmp: Path, final: Path, *, overwrite: bool, hint: str) -> None:
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # fails if final exists, however recently it appeared
    except FileExistsError:
        raise FileExistsError(
            f"{str(final)!r} was created by another program while skface was writing it; "
            f"it was left as it is: {hint}, or choose another name.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK,
                             errno.ENOSYS):
            raise
        if os.path.lexists(final):  # a file system without hard links: check, then rename
            raise FileExistsError(f"{str(final)!r} exists; {hint}.") from None
        os.replace(tmp, final)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, overwrite: bool = False, clean: bool = True,
                make_parents: bool = True, inputs: Iterable = (), data_dirs: Iterable = (),
                hint: str = "pass --force to replace it") -> Iterator[Path]:
    """Write a file under a temporary name beside ``path``; rename it there when done.

    Yields the temporary path (an empty file, same extension as ``path``) for the
    caller to write; when the block ends without an error it is flushed to disk and
    becomes ``path``. On any error it is removed and ``path`` is left as it was.
    Checks ``path`` first as :func:`check_file_output` does; ``clean`` removes
    leftovers of killed skface processes in the folder first.
    """
    final = check_file_output(path, overwrite=overwrite, inputs=inputs, data_dirs=data_dirs,
                              hint=hint)
    shown = os.fspath(path)
    tmp = partial_path(final)
    with _naming_output(shown, final, tmp):
        if make_parents:
            final.parent.mkdir(parents=True, exist_ok=True)
        if clean:
            clean_leftovers(final.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o666)  # the usual mode: 0o666 less the umask
    try:
        mode = os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)
    try:
        with _naming_output(shown, final, tmp):
            yield tmp
            if tmp.is_symlink() or not tmp.is_file():
                raise OSError(f"the temporary file {str(tmp)!r} for {str(final)!r} "
                              "disappeared while it was written.")
            if tmp.stat().st_mode & 0o777 != mode:  # a writer that made its own private file
                os.chmod(tmp, mode)
            _fsync_path(tmp)
            _publish_file(tmp, final, overwrite=overwrite, hint=hint)
            _fsync_path(final.parent, directory=True)
    finally:
        if os.path.lexists(tmp):
            _remove_quietly(tmp)


# --------------------------------------------------------------------------- folders


def _read_manifest(folder: Path) -> list[str] | None:
    """The files a folder's manifest lists, or None if it has no manifest skface wrote."""
    if _FD_WALK:
        try:
            fd = os.open(folder, _O_FOLDER)
        except OSError:
            return None
        try:
            listed = _manifest_at(fd)
        finally:
            os.close(fd)
    else:
        path = folder / MANIFEST
        if path.is_symlink() or not path.is_file():
            return None
        try:
            with open(path, "rb") as f:
                listed = _parse_manifest(f.read(_MANIFEST_MAX_BYTES + 1))
        except OSError:
            return None
    return listed if isinstance(listed, list) else None


def _foreign_entries(folder: Path, listed: list[str]) -> list[str]:
    """Entries of ``folder`` (recursively) that are neither the manifest nor listed."""
    keep = {os.path.normpath(n) for n in listed} | {MANIFEST}
    dirs = {os.path.normpath(os.path.join(*Path(n).parts[:i]))
            for n in listed for i in range(1, len(Path(n).parts))}
    foreign = []
    for root, subdirs, names in os.walk(folder):
        rel_root = os.path.relpath(root, folder)
        for name in subdirs + names:
            rel = os.path.normpath(os.path.join(rel_root, name))
            full = os.path.join(root, name)
            if name in subdirs and not os.path.islink(full):
                if rel not in dirs:
                    foreign.append(rel)
                    subdirs.remove(name)
            elif rel not in keep or os.path.islink(full) or not os.path.isfile(full):
                foreign.append(rel)
    return sorted(foreign)


def _folder_state(final: Path, shown: str, *, overwrite: bool) -> str:
    """``"absent"``, ``"empty"`` or ``"report"``; refuses anything else."""
    if not os.path.lexists(final):
        return "absent"
    if not final.is_dir():
        raise OutputRefusedError(f"{shown!r} exists and is not a folder; choose another "
                                 "output folder.")
    try:
        if not any(os.scandir(final)):
            return "empty"
    except PermissionError as exc:
        raise PermissionError(f"cannot read the folder {shown!r}: {exc.strerror}") from None
    listed = _read_manifest(final)
    if listed is None:
        raise OutputRefusedError(
            f"{shown!r} exists and was not written by skface (it has no {MANIFEST}); "
            "skface replaces only folders it wrote, even with --force: choose a new "
            "output folder.")
    foreign = _foreign_entries(final, listed)
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise OutputRefusedError(
            f"{shown!r} holds an earlier skface output but also {len(foreign)} file(s) "
            f"skface did not write ({', '.join(map(repr, foreign[:5]))}{more}); they are "
            "never deleted, even with --force: move them out or choose another output "
            "folder.")
    if not overwrite:
        raise FileExistsError(f"{shown!r} holds an earlier skface output; pass --force to "
                              "replace it, or choose another output folder.")
    return "report"


def check_folder_output(path: str | os.PathLike, *, overwrite: bool = False,
                        inputs: Iterable = (), data_dirs: Iterable = ()) -> Path:
    """Refuse a folder output that cannot or must not be written; returns its real path.

    The folder may be absent or empty; an existing one is replaced only with
    ``overwrite``, and only if skface wrote it (its manifest lists every file in it).
    Never one of ``inputs`` or a folder containing one, one of ``data_dirs``, inside
    one or containing one, the current folder or a folder containing it, the home
    folder or a folder containing it. Raises :class:`OutputRefusedError` or, for an
    earlier skface output without ``overwrite``, :class:`FileExistsError`.
    """
    shown = os.fspath(path)
    final = _resolve(path, "output folder")
    _protected(final, shown, folder=True, inputs=inputs, data_dirs=data_dirs,
               what="output folder")
    _folder_state(final, shown, overwrite=overwrite)
    _check_parent(final, shown)
    return final


def _write_manifest(folder: Path) -> None:
    from ._version import __version__

    files = sorted(
        Path(os.path.relpath(os.path.join(root, name), folder)).as_posix()
        for root, _, names in os.walk(folder) for name in names)
    files = [f for f in files if f != MANIFEST]
    data = {"format": _MANIFEST_FORMAT, "skface": __version__,
            "note": "skface wrote this folder; `--force` replaces it only while it holds "
                    "nothing but these files.",
            "files": files}
    # whole or absent: a folder whose writer died before its manifest is removed whole
    part = folder / f"{PARTIAL_PREFIX}{MANIFEST}"
    part.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(part, folder / MANIFEST)


def _remove_report(folder: Path) -> bool:
    """Remove a folder skface wrote: only the regular files its manifest lists.

    A folder without a manifest (one still being filled when its process died) is
    removed whole. Symbolic links are never followed. Returns True if the folder is
    gone, False if entries skface did not write were left (and the folder with them).
    """
    if not _FD_WALK:
        return _remove_flat_report(folder)
    try:
        parent = os.open(folder.parent, _O_FOLDER)
    except OSError:
        return False
    try:
        return _remove_folder_at(parent, folder.name)
    except OSError:
        return False
    finally:
        os.close(parent)


def _remove_flat_report(folder: Path) -> bool:
    """:func:`_remove_report` where folders cannot be opened: plain files directly inside."""
    listed = _read_manifest(folder)
    if listed is None or any("/" in name for name in listed):
        return False
    for name in listed:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                os.unlink(folder / name)
    try:
        if any(e.name != MANIFEST for e in os.scandir(folder)):
            return False
        os.unlink(folder / MANIFEST)
        os.rmdir(folder)
    except OSError:
        return False
    return True


def _fsync_tree(folder: Path) -> None:
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                _fsync_path(path)
        _fsync_path(root, directory=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, overwrite: bool = False,
                  inputs: Iterable = (), data_dirs: Iterable = ()) -> Iterator[Path]:
    """Fill a new folder under a temporary name beside ``path``; rename it there when done.

    Yields the temporary folder for the caller to fill; when the block ends without an
    error a manifest listing its files is added, everything is flushed to disk and the
    folder becomes ``path``, replacing an earlier skface output there (with
    ``overwrite``) of which only the listed files are deleted. On any error the
    temporary folder is removed and ``path`` is left as it was. Checks ``path`` first as
    :func:`check_folder_output` does.
    """
    shown = os.fspath(path)
    final = check_folder_output(path, overwrite=overwrite, inputs=inputs, data_dirs=data_dirs)
    tmp = partial_path(final)
    with _naming_output(shown, final, tmp):
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(final.parent)
        os.mkdir(tmp, 0o777)  # the usual mode: 0o777 less the umask
    try:
        with _naming_output(shown, final, tmp):
            yield tmp
            _write_manifest(tmp)
            _fsync_tree(tmp)
            state = _folder_state(final, shown, overwrite=overwrite)  # again: it may have changed
            if state == "report":
                aside = partial_path(final)
                os.rename(final, aside)
                try:
                    os.rename(tmp, final)
                except BaseException:
                    os.rename(aside, final)
                    raise
                _fsync_path(final.parent, directory=True)
                if not _remove_report(aside):
                    print(f"skface: files that skface did not write appeared in {shown!r} while "
                          f"it was replaced; they were kept in {str(aside)!r}.", file=sys.stderr)
            else:
                try:
                    os.rename(tmp, final)  # replaces an empty folder only, never a full one
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                        raise FileExistsError(
                            f"{shown!r} was created by another program while skface was "
                            "writing it; it was left as it is: choose another output folder.",
                        ) from None
                    raise
            _fsync_path(final.parent, directory=True)
    finally:
        if os.path.lexists(tmp):
            _remove_quietly(tmp)
