"""Temporary names, report manifests, and removing what skface wrote.

Every file or folder skface writes is made under a temporary name beside its final one
(:func:`partial_path`): ``.skface-partial-<pid>-<random>-<name>``. One left by a process
that was killed (``kill -9``, a power cut) is recognised by that prefix and removed
(:func:`clean_leftovers`) once the process named in it no longer runs; nothing else is
ever removed, and a name whose pid no process can have is left alone. A report folder
carries a manifest (:data:`MANIFEST`, :func:`write_manifest`) listing the files skface
wrote in it; removing a leftover folder or a replaced report (:func:`remove_report`)
deletes only those files. Removal goes through open folders (``dir_fd``,
``O_NOFOLLOW``): it never follows a symbolic link, never leaves the folder it started in
and never crosses into another file system.

Only the standard library is imported here; :mod:`skface._outputs` writes through it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
from pathlib import Path

__all__ = [
    "MANIFEST",
    "PARTIAL_PREFIX",
    "clean_leftovers",
    "partial_path",
    "read_manifest",
    "remove_report",
    "write_manifest",
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
    for name in files:  # write_manifest writes paths of plain names joined by "/"
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



# --------------------------------------------------------------------------- manifests


def read_manifest(folder: Path) -> list[str] | None:
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



def write_manifest(folder: Path) -> None:
    """Write the manifest of ``folder``: every file in it, as skface wrote them."""
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


def remove_report(folder: Path) -> bool:
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
    """:func:`remove_report` where folders cannot be opened: plain files directly inside."""
    listed = read_manifest(folder)
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
