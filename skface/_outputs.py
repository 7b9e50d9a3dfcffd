"""Writing output files and folders safely.

Every final file or folder skface writes goes through :func:`atomic_file` or
:func:`atomic_folder`:

- the content is written under a temporary name in the target's own folder,
  ``.skface-partial-<pid>-<random>-<name>``, flushed to disk (file and folder), and only
  then renamed to the final name, so the final name never holds a half-written file;
  the temporary file or folder is removed on every error path (Ctrl-C included);
- a temporary name left by a process that was killed (``kill -9``, a power cut) is
  recognised by its prefix and removed on the next write into that folder, once the
  process named in it is no longer running (:func:`skface._leftovers.clean_leftovers`);
- without ``overwrite`` an existing final name is never replaced, even by a writer that
  finishes first while this one is writing (a hard link, which fails if the name
  exists, publishes the file);
- a report folder carries a manifest (:data:`skface._leftovers.MANIFEST`) listing the
  files skface wrote in it; only such a folder is ever replaced, and only when it holds
  nothing else;
- outputs that would replace or write into the inputs, the current folder, the home
  folder or one of their parents are refused (:class:`OutputRefusedError`) whatever
  ``overwrite`` says, before any work is done (:func:`check_file_output`,
  :func:`check_folder_output`).

Files get the usual permissions (``0o666`` less the umask), folders ``0o777`` less it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._leftovers import (
    MANIFEST,
    clean_leftovers,
    partial_path,
    read_manifest,
    remove_report,
    write_manifest,
)

__all__ = [
    "OutputRefusedError",
    "atomic_file",
    "atomic_folder",
    "check_file_output",
    "check_folder_output",
    "folders_of",
]


class OutputRefusedError(FileExistsError):
    """An output path skface does not write to, whatever ``--force`` / ``overwrite`` says.

    For example a folder skface did not write, an input, the current or home folder,
    an existing folder given as a file name, or a symbolic link to nothing.
    """



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
    listed = read_manifest(final)
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
            write_manifest(tmp)
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
                if not remove_report(aside):
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
