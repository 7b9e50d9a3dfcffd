"""Loader for the IMDB-WIKI metadata files (``wiki.mat`` and ``imdb.mat``).

IMDB-WIKI (Rothe, Timofte and Van Gool, 2015) ships its labels as a MATLAB file
holding one 1x1 struct (``wiki`` or ``imdb``) whose fields are 1xN arrays:
``dob`` (MATLAB serial date number), ``photo_taken`` (year), ``full_path``,
``gender`` (0 female, 1 male, NaN unknown), ``name``, ``face_location``,
``face_score`` (-inf when no face was found) and ``second_face_score`` (NaN when
there is no second face). ``imdb.mat`` adds ``celeb_names`` and ``celeb_id``.

Only numpy, pandas, scipy, the standard library and :mod:`skface._files` are imported
here; :mod:`skface.datasets._mat_guard` bounds what scipy may allocate before it reads
the file.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import numpy as np
import pandas as pd
import scipy.io

from .._files import FileRefused, open_regular
from .._labels import MAX_AGE, check_ages
from ..exceptions import LabelError
from ._base import make_label_frame
from ._mat_guard import check_mat

__all__ = ["load_imdb_wiki"]

_TOP_LEVEL_KEYS = ("wiki", "imdb")
_REQUIRED_FIELDS = (
    "dob",
    "photo_taken",
    "full_path",
    "gender",
    "face_score",
    "second_face_score",
)

# MATLAB's datenum counts days from the proleptic year 0: datenum(1970, 1, 1) == 719529.
_MATLAB_UNIX_EPOCH = 719529
# Python's date range, as MATLAB datenums: date(1, 1, 1) is 367, date(9999, 12, 31) 3652425.
_MIN_DATENUM = 367
_MAX_DATENUM = 3652425

_NATIVE_U1 = np.dtype("=U1")
_UTF32 = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
_SURROGATE = re.compile("[\ud800-\udfff]")

# Drop reasons, in the order they are checked: a row gets the first that applies.
_REASONS = {
    "missing_path": "empty full_path",
    "no_face": "no face found (face_score == -inf)",
    "multiple_faces": "several faces (second_face_score is set)",
    "low_face_score": "face_score below min_face_score",
    "invalid_dob": "invalid date of birth",
    "age_out_of_range": f"age outside 0..{MAX_AGE} years or photo_taken missing",
}


def _struct_fields(obj, mat_file: str) -> dict:
    """Return the fields of the top-level MATLAB struct as a name -> value dict.

    Accepts what :func:`scipy.io.loadmat` gives for a 1x1 struct with its default
    options (a structured ndarray of shape (1, 1)), with ``struct_as_record=False``
    (a ``mat_struct``) and with ``simplify_cells=True`` (a dict).
    """
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.names is not None:
        if obj.size != 1:
            raise ValueError(
                f"{mat_file}: expected a 1x1 MATLAB struct, got a struct array of shape "
                f"{obj.shape}. Is this an IMDB-WIKI metadata file (wiki.mat or imdb.mat)?"
            )
        record = obj.reshape(-1)[0]
        return {name: record[name] for name in obj.dtype.names}
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
        return _struct_fields(obj.reshape(-1)[0], mat_file)
    fieldnames = getattr(obj, "_fieldnames", None)
    if fieldnames is not None:
        return {name: getattr(obj, name) for name in fieldnames}
    raise ValueError(
        f"{mat_file}: expected a MATLAB struct under the top-level key, got "
        f"{type(obj).__name__}. Is this an IMDB-WIKI metadata file (wiki.mat or imdb.mat)?"
    )


def _flat(value) -> np.ndarray:
    """A MATLAB 1xN (or Nx1, or squeezed) field as a 1-D array."""
    return np.atleast_1d(np.asarray(value)).reshape(-1)


def _cell_text(cell) -> str | None:
    """One cell of a MATLAB cell array of strings as a str (None when empty)."""
    if isinstance(cell, str):
        return cell or None
    arr = np.asarray(cell)
    if arr.size == 0:
        return None
    if arr.dtype.kind == "U":
        return _join_surrogates("".join(arr.reshape(-1).tolist())) or None
    if arr.dtype == object and arr.size == 1:
        return _cell_text(arr.reshape(-1)[0])
    return str(arr.reshape(-1)[0]) if arr.size == 1 else str(arr.tolist())


def _join_surrogates(text: str) -> str:
    """Turn UTF-16 surrogate pairs (characters outside the BMP) into characters."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _strings(value) -> list[str | None]:
    """A MATLAB cell array of strings (or a char matrix) as a list of str (None if empty)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        # A char matrix, one string per row, as MATLAB pads them with spaces.
        if arr.ndim <= 1:
            return [str(s) or None for s in np.atleast_1d(arr)]
        rows = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
        if rows.dtype.itemsize == 4 and rows.shape[1]:
            rows = rows.view(f"{rows.dtype.byteorder}U{rows.shape[1]}")
        return [str(s).rstrip() or None for s in rows.reshape(arr.shape[0], -1)[:, 0]]
    cells = arr.reshape(-1).tolist()
    # The usual layout: each cell a 1xL char array, read as single characters
    # (chars_as_strings=False). Joining all of them into one text and slicing it is
    # much faster than converting 460k cells one by one; anything else (numbers,
    # str from simplify_cells, ...) goes through _cell_text.
    try:
        sizes = np.fromiter((c.size for c in cells), dtype=np.int64, count=len(cells))
        chars = np.concatenate([c for c in cells if c.size] or [np.empty(0, "U1")], axis=None)
        if chars.dtype.kind == "U" and chars.dtype.itemsize == 4 and chars.size == sizes.sum():
            text = chars.astype(_NATIVE_U1).tobytes().decode(_UTF32, "surrogatepass")
            ends = np.cumsum(sizes)
            starts = (ends - sizes).tolist()
            out = [text[a:b] or None for a, b in zip(starts, ends.tolist(), strict=True)]
            if _SURROGATE.search(text):  # MATLAB chars are UTF-16 code units
                out = [_join_surrogates(s) if s else s for s in out]
            return out
    except (AttributeError, TypeError, ValueError):
        pass
    return [_cell_text(c) for c in cells]


def _floats(value, field: str, mat_file: str) -> np.ndarray:
    try:
        return np.asarray(_flat(value), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{mat_file}: field {field!r} should hold numbers, got values of type "
            f"{np.asarray(value).dtype}."
        ) from err


def _face_locations(value, n: int) -> np.ndarray:
    """Each cell's 1x4 box as a row of an (n, 4) float array (NaN where absent)."""
    cells = np.asarray(value, dtype=object).reshape(-1)
    try:
        return np.vstack(cells.tolist()).astype(np.float64).reshape(n, 4)
    except (TypeError, ValueError):
        pass
    boxes = np.full((n, 4), np.nan)
    for i, cell in enumerate(cells):
        try:
            arr = np.asarray(cell, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue
        if arr.size == 4:
            boxes[i] = arr
    return boxes


def _datenum_to_datetime(dob: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """MATLAB serial date numbers as datetime64[s] (NaT where not ``valid``)."""
    whole = np.floor(np.where(valid, dob, _MATLAB_UNIX_EPOCH))
    seconds = (whole - _MATLAB_UNIX_EPOCH).astype(np.int64) * 86400
    seconds += np.round((np.where(valid, dob, whole) - whole) * 86400).astype(np.int64)
    out = seconds.astype("datetime64[s]")
    out[~valid] = np.datetime64("NaT")
    return out



def _read_mat(mat_file: str) -> tuple[str, dict]:
    try:
        f = open_regular(mat_file, advice="pass wiki.mat or imdb.mat", allow_empty=True)
    except FileRefused as exc:
        if exc.missing:
            raise FileNotFoundError(
                f"IMDB-WIKI metadata file not found: {mat_file!r}. Pass the path of "
                "wiki.mat or imdb.mat (found in wiki_crop/ or imdb_crop/ of the download)."
            ) from None
        raise ValueError(f"IMDB-WIKI metadata file {mat_file!r}: {exc}.") from None
    with f:
        check_mat(f, mat_file)
        try:
            # chars_as_strings=False: joining 460k cells of characters is faster here.
            data = scipy.io.loadmat(f, chars_as_strings=False)
        except Exception as err:  # scipy raises several types for unreadable files
            raise ValueError(
                f"{mat_file}: could not be read as a MATLAB file ({err}). Pass the IMDB-WIKI "
                "metadata file wiki.mat or imdb.mat."
            ) from err
    keys = [k for k in data if not k.startswith("__")]
    found = [k for k in _TOP_LEVEL_KEYS if k in data]
    if not found:
        raise ValueError(
            f"{mat_file}: expected a top-level variable 'wiki' or 'imdb', found "
            f"{keys!r}. Is this an IMDB-WIKI metadata file (wiki.mat or imdb.mat)?"
        )
    key = found[0]
    fields = _struct_fields(data[key], mat_file)
    missing = [f for f in _REQUIRED_FIELDS if f not in fields]
    if missing:
        raise ValueError(
            f"{mat_file}: the struct {key!r} lacks the field(s) {missing!r}; it has "
            f"{sorted(fields)!r}. Is this an IMDB-WIKI metadata file?"
        )
    return key, fields


def load_imdb_wiki(
    mat_file: str | os.PathLike,
    images_root: str | os.PathLike | None = None,
    *,
    min_face_score: float | None = None,
    drop_multiple_faces: bool = True,
    return_dropped: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Load the labels of IMDB-WIKI from ``wiki.mat`` or ``imdb.mat``.

    Ages follow the dataset's official convention: whole years reached on 1 July
    of the year the photo was taken (``photo_taken - birth year``, minus one when
    the birthday falls in July or later). Gender is translated to skface's codes
    (0 male, 1 female); IMDB-WIKI's own codes are the opposite (0 female, 1 male).

    Rows without a usable face or age are left out and reported: one
    :class:`UserWarning` gives the counts per reason, ``df.attrs["dropped_counts"]``
    holds them too, and ``return_dropped=True`` returns the left-out rows
    themselves. Each dropped row gets the first reason that applies, in this
    order: ``"missing_path"`` (empty ``full_path``), ``"no_face"``
    (``face_score == -inf``), ``"multiple_faces"`` (``second_face_score`` is not
    NaN, when ``drop_multiple_faces``), ``"low_face_score"``
    (``face_score < min_face_score``), ``"invalid_dob"`` (``dob`` is not a finite
    date between the years 1 and 9999) and ``"age_out_of_range"`` (the age is
    outside 0 to :data:`skface.MAX_AGE` or ``photo_taken`` is missing). Rows of
    unknown gender are kept, with gender ``<NA>``, and counted in the warning.

    Parameters
    ----------
    mat_file : str or os.PathLike
        Path of ``wiki.mat`` or ``imdb.mat``. The top-level variable (``wiki`` or
        ``imdb``) is detected.
    images_root : str or os.PathLike, optional
        Folder the ``full_path`` entries are relative to (``wiki_crop/`` or
        ``imdb_crop/``). Defaults to the folder holding ``mat_file``, which is where
        the official archives put it.
    min_face_score : float, optional
        Leave out faces whose detector score is below this (the dataset's authors
        suggest values around 1.0 for clean subsets). By default no score threshold
        is applied, only faceless rows are left out.
    drop_multiple_faces : bool, default=True
        Whether to leave out images where a second face was detected (the label
        may belong to either face).
    return_dropped : bool, default=False
        Also return the left-out rows, as a second DataFrame.

    Returns
    -------
    pandas.DataFrame
        A label frame with
        columns ``path``, ``age`` (float64, whole years), ``gender`` (Int8, 0 male,
        1 female, ``<NA>`` unknown) and ``gender_name``, then ``name`` (str, NaN
        when empty), ``face_score``, ``second_face_score``, ``photo_taken`` (int64),
        ``dob`` (datetime64[s]), ``face_location`` (float array ``[x1, y1, x2, y2]``
        per row, in pixels of the original image) and, for ``imdb.mat``,
        ``celeb_id``. There is no race column: IMDB-WIKI has no race labels.
        ``attrs["dropped_counts"]`` maps each reason to the number of rows left out
        for it. ``attrs["source"]`` is the top-level variable read (``"wiki"`` or
        ``"imdb"``).
    dropped : pandas.DataFrame
        Only with ``return_dropped=True``: the left-out rows, with columns
        ``full_path``, ``reason``, ``dob`` (raw datenum), ``photo_taken``, ``age``
        (NaN where it could not be computed), ``gender`` (raw IMDB-WIKI code),
        ``face_score``, ``second_face_score`` and ``name``.
        ``attrs["source"]`` is the top-level variable read (``"wiki"`` or ``"imdb"``).

    Raises
    ------
    FileNotFoundError
        When ``mat_file`` does not exist.
    ValueError
        When the file is not a MATLAB file, decompresses to more than
        ``MAX_DECOMPRESSION_RATIO`` (50) times its size (and more than 64 MiB), has no
        ``wiki``/``imdb`` variable, lacks a required field, or its fields have
        different lengths. The message names the file.
    LabelError
        When a gender value is neither 0, 1 nor NaN (the message names the value and
        the image).

    Warns
    -----
    UserWarning
        When rows were left out or have an unknown gender, with the counts.

    See Also
    --------
    skface.datasets.load_fairface : Loader for FairFace's label CSV.
    skface.datasets.load_csv : Loader for a generic CSV of labels.

    Notes
    -----
    The left-out rows are returned on request rather than kept in ``attrs``:
    pandas copies ``attrs`` through most operations, and ``imdb.mat`` leaves out
    over 100,000 rows.

    Reading the real ``imdb.mat`` (460,723 rows) takes a few seconds, most of it in
    :func:`scipy.io.loadmat`.

    Examples
    --------
    >>> import warnings
    >>> from skface.datasets._imdb_wiki import load_imdb_wiki
    >>> with warnings.catch_warnings():  # doctest: +SKIP
    ...     warnings.simplefilter("ignore")
    ...     df = load_imdb_wiki("wiki_crop/wiki.mat", min_face_score=1.0)
    >>> df[["path", "age", "gender"]].head()  # doctest: +SKIP
    >>> df.attrs["dropped_counts"]  # doctest: +SKIP
    """
    mat_file = os.fspath(mat_file)
    key, fields = _read_mat(mat_file)

    full_path = _strings(fields["full_path"])
    n = len(full_path)
    dob = _floats(fields["dob"], "dob", mat_file)
    photo_taken = _floats(fields["photo_taken"], "photo_taken", mat_file)
    gender_raw = _floats(fields["gender"], "gender", mat_file)
    face_score = _floats(fields["face_score"], "face_score", mat_file)
    second_face_score = _floats(fields["second_face_score"], "second_face_score", mat_file)
    lengths = {
        "full_path": n,
        "dob": dob.size,
        "photo_taken": photo_taken.size,
        "gender": gender_raw.size,
        "face_score": face_score.size,
        "second_face_score": second_face_score.size,
    }
    names = _strings(fields["name"]) if "name" in fields else None
    if names is not None:
        lengths["name"] = len(names)
    if "face_location" in fields:
        lengths["face_location"] = np.asarray(fields["face_location"]).size
    celeb_id = None
    if "celeb_id" in fields:
        celeb_id = _floats(fields["celeb_id"], "celeb_id", mat_file)
        lengths["celeb_id"] = celeb_id.size
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{mat_file}: the fields of {key!r} have different lengths: {lengths}. "
            "The file is damaged or not an IMDB-WIKI metadata file."
        )
    if names is None:
        names = [None] * n

    # Gender: IMDB-WIKI codes 1 male, 0 female; skface codes 0 male, 1 female.
    unknown_gender = np.isnan(gender_raw)
    bad_gender = ~unknown_gender & ~np.isin(gender_raw, (0.0, 1.0))
    if bad_gender.any():
        bad = np.flatnonzero(bad_gender)
        shown = ", ".join(f"{gender_raw[i]!r} ({full_path[i]})" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise LabelError(
            f"{mat_file}: unknown gender value(s) {shown}{more}. IMDB-WIKI codes gender "
            "as 0 female, 1 male, NaN unknown."
        )
    gender = np.where(unknown_gender, -1, np.where(gender_raw == 1.0, 0, 1)).astype(np.int64)

    # Age on 1 July of the year the photo was taken, from the date of birth.
    valid_dob = np.isfinite(dob) & (dob >= _MIN_DATENUM) & (dob < _MAX_DATENUM + 1)
    birth = _datenum_to_datetime(dob, valid_dob)
    birth_days = np.where(valid_dob, birth, np.datetime64("1970-01-01")).astype("datetime64[D]")
    birth_year = birth_days.astype("datetime64[Y]").astype(np.int64) + 1970
    birth_month = birth_days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    age = photo_taken - birth_year - (birth_month >= 7)
    age[~valid_dob] = np.nan

    reason = np.full(n, "", dtype=object)

    def _mark(mask: np.ndarray, name: str) -> None:
        reason[mask & (reason == "")] = name

    _mark(np.array([not p for p in full_path], dtype=bool).reshape(n), "missing_path")
    _mark(np.isneginf(face_score), "no_face")
    if drop_multiple_faces:
        _mark(~np.isnan(second_face_score), "multiple_faces")
    if min_face_score is not None:
        _mark(face_score < float(min_face_score), "low_face_score")
    _mark(~valid_dob, "invalid_dob")
    _mark(~((age >= 0) & (age <= MAX_AGE)), "age_out_of_range")
    dropped_mask = reason != ""
    keep = np.flatnonzero(~dropped_mask)
    drop = np.flatnonzero(dropped_mask)

    root = os.path.dirname(os.path.abspath(mat_file)) if images_root is None else os.fspath(
        images_root
    )
    kept_full_path = [full_path[i] for i in keep]
    prefix = os.path.join(root, "")
    paths = [os.path.join(root, p) if os.path.isabs(p) else prefix + p for p in kept_full_path]
    kept_age = check_ages(age[keep], context=kept_full_path)

    extra: dict[str, object] = {
        "name": pd.Series([names[i] for i in keep], dtype="str").array,
        "face_score": face_score[keep],
        "second_face_score": second_face_score[keep],
        "photo_taken": photo_taken[keep].astype(np.int64),
        "dob": pd.array(birth[keep], dtype="datetime64[s]"),
    }
    if "face_location" in fields:
        boxes = _face_locations(fields["face_location"], n)
        column = np.empty(keep.size, dtype=object)
        for j, i in enumerate(keep):
            column[j] = boxes[i]
        extra["face_location"] = column
    if celeb_id is not None:
        ids = celeb_id[keep]
        extra["celeb_id"] = (
            ids.astype(np.int64) if np.isfinite(ids).all() else pd.array(ids, dtype="Int64")
        )
    frame = make_label_frame(paths, age=kept_age, gender=gender[keep], extra=extra)

    dropped = pd.DataFrame(
        {
            "full_path": pd.array([full_path[i] for i in drop], dtype=object),
            "reason": pd.Categorical(reason[drop].tolist(), categories=list(_REASONS)),
            "dob": dob[drop],
            "photo_taken": photo_taken[drop],
            "age": age[drop],
            "gender": gender_raw[drop],
            "face_score": face_score[drop],
            "second_face_score": second_face_score[drop],
            "name": pd.Series([names[i] for i in drop], dtype="str").array,
        }
    )
    frame.attrs["source"] = key
    counts = dropped["reason"].value_counts(sort=False)
    frame.attrs["dropped_counts"] = {r: int(counts[r]) for r in _REASONS if counts[r]}

    n_unknown = int(unknown_gender[keep].sum())
    if drop.size or n_unknown:
        parts = [f"{int(counts[r])} {text}" for r, text in _REASONS.items() if counts[r]]
        message = (
            f"load_imdb_wiki: left out {drop.size} of {n} row(s) of {mat_file}"
            + (f" ({'; '.join(parts)})" if parts else "")
            + f"; kept {keep.size} row(s), {n_unknown} of them with unknown gender (<NA>). "
            "Pass return_dropped=True to get the left-out rows."
        )
        warnings.warn(message, UserWarning, stacklevel=2)
    return (frame, dropped) if return_dropped else frame
