"""What ``skface predict`` and ``skface analyze`` read from their PATHS, and how they
count what they predicted.

PATHS are image files and folders in any mix and order. Counts are of image files, never
of arguments; a folder's entries that are not image files are named, whatever else is
given; and a run in which nothing was predicted ends with
:data:`~skface._cli_parser.EXIT_BAD_FILES`. The functions here return what to say, and
:mod:`skface._cli` says it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._cli_parser import EXIT_BAD_FILES, EXIT_OK
from ._utils import VIDEO_SUFFIXES, quoted_some

if TYPE_CHECKING:  # imported when a command runs, so that --help answers at once
    import pandas as pd

__all__ = ["NothingToPredict", "count_predicted", "predict_inputs"]

READS = "skface reads JPEG, PNG, WebP, GIF, BMP, TIFF and PPM files"


class NothingToPredict(Exception):
    """No input of ``predict`` is an image or video file (every folder given holds
    none): nothing is read, and the command exits with ``EXIT_BAD_FILES``."""


def _entries(n: int) -> str:
    return f"{n} {'entry' if n == 1 else 'entries'}"


def _not_images(n: int) -> str:
    return "is not an image file" if n == 1 else "are not image files"


def predict_inputs(given: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The files to read, the folders among ``given``, and what to say about them.

    Each file is read as given, each folder's image files and videos (sorted) in its
    place; a path given twice is read once. A folder's other entries (hidden ones
    aside) are named as not image files, not read; a folder with no image file is said
    to be skipped.

    Returns
    -------
    paths : list of str
        The files to read, in order.
    folders : list of str
        The folders among ``given``.
    notes : list of str
        One line per folder with entries that are not read.

    Raises
    ------
    NothingToPredict
        If no file is left to read (every input is a folder without an image file).
    """
    from ._analyze import image_files

    paths: list[str] = []
    folders: list[str] = []
    notes: list[str] = []
    empty: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for path in given:
        if not os.path.isdir(path):
            listed = [path]
        else:
            folders.append(path)
            found, others = image_files(path)
            videos = [os.path.join(path, n) for n in others
                      if n.lower().endswith(VIDEO_SUFFIXES)]
            others = [n for n in others if not n.lower().endswith(VIDEO_SUFFIXES)]
            listed = sorted(found + videos)
            if not listed:
                empty.append((path, others))
                held = f" (its {_entries(len(others))}: {quoted_some(others)})" if others else ""
                notes.append(f"{path!r} holds no image file{held} and was skipped ({READS})")
            elif others:
                were = "was" if len(others) == 1 else "were"
                notes.append(f"{_entries(len(others))} of {path!r} {_not_images(len(others))}"
                             f" and {were} not read: {quoted_some(others)}")
        paths += [p for p in listed if p not in seen]
        seen.update(listed)
    if not paths:  # every input a folder without an image file
        if len(empty) == 1:
            folder, others = empty[0]
            held = (f"; its {_entries(len(others))} {_not_images(len(others))}: "
                    f"{quoted_some(others)}") if others else ""
            raise NothingToPredict(
                f"nothing to predict: {folder!r} holds no image file ({READS}){held}; pass "
                "a folder of photos, or the files themselves")
        raise NothingToPredict(
            f"nothing to predict: none of the folders {quoted_some([f for f, _ in empty])} holds "
            f"an image file ({READS}); pass folders of photos, or the files themselves")
    return paths, folders, notes


def count_predicted(table: pd.DataFrame, images: list[str], paths: list[str]
                    ) -> tuple[str | None, int]:
    """How many of ``paths`` were predicted, and the exit code.

    An image is predicted if a row of it has the status ``ok``; otherwise it could not
    be read or no face was found in it. A video (a path not among ``images``) is
    predicted if a face was found in it.

    Returns
    -------
    said : str or None
        What to say: None when every input was predicted.
    code : int
        ``EXIT_OK``, or ``EXIT_BAD_FILES`` when nothing was predicted.
    """
    outcome: dict[str, str] = {}  # each file: "ok" if a row of it was predicted, else why not
    if "status" in table:
        status = table["status"].astype("string").fillna("ok")  # a video's rows: no status
        for path, state in zip(table["path"], status, strict=True):
            if outcome.get(path) != "ok":
                outcome[path] = ("ok" if state == "ok" else
                                 "unreadable" if state.startswith("unreadable") else "no face")
    for path in paths:
        if path not in images:
            outcome[path] = "ok" if (table["path"] == path).any() else "no face"
    total = len(paths)
    noun = "images" if len(images) == total else "files"
    predicted = sum(v == "ok" for v in outcome.values())
    unreadable = sum(v == "unreadable" for v in outcome.values())
    no_face = sum(v == "no face" for v in outcome.values())
    if predicted == total:
        return None, EXIT_OK
    parts = []
    if unreadable:
        parts.append(f"{unreadable:,} of {total:,} {noun} could not be read")
    if no_face:
        parts.append(f"{no_face:,}{'' if parts else f' of {total:,} {noun}'} had no face found")
    if predicted:
        were = "was" if predicted == 1 else "were"
        return (f"{', '.join(parts)}; {predicted:,} {were} predicted (see the status column)",
                EXIT_OK)
    return (f"nothing was predicted: {', '.join(parts)} (see the status column); exit code "
            f"{EXIT_BAD_FILES}", EXIT_BAD_FILES)
