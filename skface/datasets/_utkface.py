"""UTKFace: labels decoded from file names."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from .._labels import GENDER_NAMES, MAX_AGE, RACE_NAMES
from ..exceptions import MalformedFileNameError, MalformedFileNameWarning
from ._base import make_label_frame

__all__ = ["load_utkface", "parse_utkface_names"]

# [age]_[gender]_[race]_[yyyymmddHHMMSS + fraction of a second].jpg[.chip.jpg]
# The public dataset has date fields of 16 and 18 digits as well as 17: the first
# 14 digits are the second, the rest its fraction, so all three lengths parse.
_NAME = re.compile(
    r"^(?P<age>\d{1,3})_(?P<gender>\d)_(?P<race>\d)_(?P<when>\d{14,20})"
    r"\.(?:jpe?g|png)(?:\.chip\.jpe?g)?$",
    re.IGNORECASE | re.ASCII,  # digits 0-9 only: \d would take any script's digits
)
_EXPECTED = "[age]_[gender]_[race]_[yyyymmddHHMMSSFFF].jpg (or .jpg.chip.jpg)"


def _why_malformed(name: str) -> str:
    """Say what is wrong with a name that does not match the pattern."""
    if name != name.strip() or " " in name:
        return "contains a space"
    stem = name.split(".", 1)[0]
    fields = stem.split("_")
    if len(fields) != 4:
        return f"has {len(fields)} underscore-separated fields before the extension, expected 4"
    if not all(f.isascii() and f.isdigit() for f in fields[:3]):
        return "age, gender and race must be whole numbers written with the digits 0-9"
    when = fields[3]
    digits = re.match(r"[0-9]*", when).group(0)
    if len(digits) < 14:
        return f"date-time field {when!r} has fewer than 14 digits (0-9) at its start"
    if not re.search(r"\.(?:jpe?g|png)(?:\.chip\.jpe?g)?$", name[len(stem):], re.IGNORECASE):
        return f"extension {name[len(stem):]!r} is not .jpg, .jpg.chip.jpg or .png"
    return f"date-time field {when!r} is not yyyymmddHHMMSS followed by digits"


def parse_utkface_names(
    names: Iterable[str | os.PathLike],
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Decode UTKFace labels from file names.

    Parameters
    ----------
    names : iterable of str or path-like
        File names or paths; only the last path component is read.

    Returns
    -------
    labels : DataFrame
        One row per well-formed name, indexed by its position in ``names``, with
        columns ``age`` (int64), ``gender`` (int64), ``race`` (int64) and
        ``captured_at`` (datetime64).
    malformed : list of (str, str)
        ``(name, reason)`` for every name that does not carry valid labels, in input order.

    See Also
    --------
    load_utkface : Load a whole folder.
    """
    base = [os.path.basename(os.fspath(n)) for n in names]
    ages, genders, races, whens, index = [], [], [], [], []
    malformed: list[tuple[str, str]] = []
    for i, name in enumerate(base):
        m = _NAME.match(name)
        if m is None:
            malformed.append((name, _why_malformed(name)))
            continue
        age, gender, race = int(m["age"]), int(m["gender"]), int(m["race"])
        if age > MAX_AGE:
            malformed.append((name, f"age {age} is above {MAX_AGE}"))
            continue
        if gender >= len(GENDER_NAMES):
            malformed.append((name, f"gender code {gender} is not 0 (male) or 1 (female)"))
            continue
        if race >= len(RACE_NAMES):
            malformed.append((name, f"race code {race} is not one of 0-4"))
            continue
        ages.append(age)
        genders.append(gender)
        races.append(race)
        whens.append(m["when"])
        index.append(i)

    whens_s = pd.Series(whens, dtype=object)
    seconds = pd.to_datetime(whens_s.str[:14], format="%Y%m%d%H%M%S", errors="coerce")
    fraction = pd.to_numeric("0." + whens_s.str[14:], errors="coerce") if whens else whens_s
    captured = seconds + pd.to_timedelta(np.round(np.asarray(fraction, dtype=float) * 1e6),
                                         unit="us")
    bad_when = captured.isna().to_numpy()
    if bad_when.any():
        keep = ~bad_when
        for j in np.flatnonzero(bad_when):
            name = base[index[j]]
            malformed.append((name, f"date-time field {whens[j]!r} is not a valid date"))
        # restore input order of the malformed list
        order = {n: k for k, n in enumerate(base)}
        malformed.sort(key=lambda item: order[item[0]])
    else:
        keep = np.ones(len(index), dtype=bool)

    labels = pd.DataFrame(
        {
            "age": np.asarray(ages, dtype=np.int64)[keep],
            "gender": np.asarray(genders, dtype=np.int64)[keep],
            "race": np.asarray(races, dtype=np.int64)[keep],
            "captured_at": pd.DatetimeIndex(captured[keep]).as_unit("us"),
        },
        index=pd.Index(np.asarray(index, dtype=np.int64)[keep]),
    )
    return labels, malformed


_LEFT_OUT = (
    "They are left out. Rename them with the right labels, or move them out of the folder; "
    "pass on_malformed='raise' to stop instead."
)


def format_malformed(
    malformed: list[tuple[str, str]], directory: str | None, outcome: str = _LEFT_OUT
) -> str:
    where = f" in {directory!r}" if directory else ""
    lines = "\n".join(f"  {name!r}: {reason}" for name, reason in malformed)
    return (
        f"{len(malformed)} file name(s){where} do not follow UTKFace's naming "
        f"{_EXPECTED} and carry no usable labels:\n{lines}\n{outcome}"
    )


def _is_file(entry: os.DirEntry) -> bool:
    """Whether a folder entry is a regular file (following links); False for a link loop."""
    try:
        return entry.is_file(follow_symlinks=True)
    except OSError:
        return False


def load_utkface(
    directory: str | os.PathLike,
    *,
    on_malformed: Literal["warn", "raise"] = "warn",
) -> pd.DataFrame:
    """Load the labels of a UTKFace folder, one row per image.

    UTKFace stores its labels in the file name:
    ``[age]_[gender]_[race]_[yyyymmddHHMMSSFFF].jpg.chip.jpg`` (``.jpg`` for the
    in-the-wild images). Only file names are read; no image is opened, and nothing
    in the folder is written.

    Parameters
    ----------
    directory : str or path-like
        Folder holding the images (not searched recursively). Hidden files
        (names starting with ``.``) and sub-folders are not considered.
    on_malformed : {"warn", "raise"}, default="warn"
        What to do with files whose name carries no valid labels (the public
        dataset has five). ``"warn"`` leaves them out with a
        :class:`~skface.exceptions.MalformedFileNameWarning` that names each
        one; ``"raise"`` raises :class:`~skface.exceptions.MalformedFileNameError`.
        Either way they are listed in ``frame.attrs["malformed"]``.

    Returns
    -------
    frame : DataFrame
        Columns ``path``, ``age`` (years), ``gender`` (0 male, 1 female),
        ``gender_name``, ``race`` (0 White, 1 Black, 2 Asian, 3 Indian,
        4 Others), ``race_name`` and ``captured_at``, sorted by file name.
        ``frame.attrs["malformed"]`` is a list of ``(file name, reason)``.

    Raises
    ------
    FileNotFoundError
        If ``directory`` does not exist.
    NotADirectoryError
        If ``directory`` is a file.
    MalformedFileNameError
        With ``on_malformed="raise"``, if any name is malformed.

    See Also
    --------
    parse_utkface_names : Decode labels from a list of names.
    skface.UTKFaceLabelDecoder : The same decoding as a scikit-learn transformer.

    Examples
    --------
    >>> from skface.datasets import load_utkface, make_faces
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = make_faces(5, directory=folder, random_state=0)
    >>> frame = load_utkface(folder)
    >>> list(frame.columns[:4])
    ['path', 'age', 'gender', 'gender_name']
    """
    if on_malformed not in ("warn", "raise"):
        raise ValueError(f"on_malformed must be 'warn' or 'raise', got {on_malformed!r}")
    directory = os.fspath(directory)
    if not os.path.exists(directory):
        raise FileNotFoundError(
            f"UTKFace folder {directory!r} does not exist (working directory: {os.getcwd()!r})."
        )
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"{directory!r} is a file; pass the folder that holds the images.")
    with os.scandir(directory) as it:
        names = sorted(e.name for e in it if not e.name.startswith(".") and _is_file(e))
    labels, malformed = parse_utkface_names(names)
    if malformed:
        message = format_malformed(malformed, directory)
        if on_malformed == "raise":
            raise MalformedFileNameError(message, malformed)
        warnings.warn(message, MalformedFileNameWarning, stacklevel=2)
    paths = [os.path.join(directory, names[i]) for i in labels.index]
    frame = make_label_frame(
        paths,
        age=labels["age"].to_numpy(dtype=np.float64),
        gender=labels["gender"].to_numpy(),
        race=labels["race"].to_numpy(),
        extra={"captured_at": labels["captured_at"].to_numpy()},
    )
    frame.attrs["malformed"] = malformed
    return frame
