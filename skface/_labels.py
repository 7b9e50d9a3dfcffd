"""Label conventions shared by every dataset loader and transformer.

skface uses UTKFace's codes everywhere: gender 0 male, 1 female; race 0 White,
1 Black, 2 Asian, 3 Indian, 4 Others; age in whole or fractional years from 0
to :data:`MAX_AGE`. Loaders of other datasets translate into these codes.

Only numpy and pandas are imported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .exceptions import LabelError

TASKS: tuple[str, ...] = ("age", "gender", "race")
"""What skface predicts, in this order: the label columns of every loader and the tasks
of the multi-task estimator. Age is in years; the others are codes."""
CODED_TASKS: tuple[str, ...] = TASKS[1:]
"""The tasks whose labels are codes with names (:data:`GENDER_NAMES`, :data:`RACE_NAMES`)."""
GENDER_NAMES: tuple[str, ...] = ("male", "female")
RACE_NAMES: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")
MAX_AGE: int = 116
"""Oldest age accepted, in years (UTKFace's range is 0 to 116)."""

_GENDER_ALIASES = {
    "male": 0, "m": 0, "man": 0, "men": 0, "boy": 0,
    "female": 1, "f": 1, "woman": 1, "women": 1, "girl": 1,
}
_RACE_ALIASES = {name.lower(): code for code, name in enumerate(RACE_NAMES)}
_RACE_ALIASES.update({"other": 4, "white": 0, "black": 1, "asian": 2, "indian": 3})

_MAX_SHOWN = 5


def _describe_positions(bad: np.ndarray, values: Sequence, context: Sequence | None) -> str:
    """Name up to a few offending values with their row (and file, when known)."""
    parts = []
    for i in bad[:_MAX_SHOWN]:
        where = f"row {i}" if context is None else f"{context[i]!s}"
        parts.append(f"{values[i]!r} ({where})")
    more = f" and {len(bad) - _MAX_SHOWN} more" if len(bad) > _MAX_SHOWN else ""
    return ", ".join(parts) + more


def check_ages(
    ages, *, context: Sequence | None = None, allow_missing: bool = False, name: str = "age"
) -> np.ndarray:
    """Validate ages in years and return them as a float64 array.

    Parameters
    ----------
    ages : array-like of shape (n_samples,)
        Ages in years.
    context : sequence of str, optional
        Names (file paths, row ids) used in the error message instead of row numbers.
    allow_missing : bool, default=False
        Whether NaN is accepted (it is kept as NaN).
    name : str, default="age"
        What the values are called in error messages.

    Returns
    -------
    ndarray of shape (n_samples,), dtype float64

    Raises
    ------
    LabelError
        When an age is not a number (booleans and text other than a decimal number
        written with the digits 0-9 included), NaN (unless allowed), negative or above
        ``MAX_AGE``.
    """
    raw = np.asarray(ages, dtype=object).reshape(-1)
    kind = getattr(getattr(ages, "dtype", None), "kind", "O")
    boolean = (np.zeros(raw.shape, dtype=bool) if kind in "iuf" else
               np.array([isinstance(v, (bool, np.bool_)) for v in raw], dtype=bool))
    if boolean.any():
        bad = np.flatnonzero(boolean)
        raise LabelError(
            f"{name} must be a number of years, not a boolean (True/False); got "
            f"{_describe_positions(bad, raw, context)}. Pass ages in years (a column of "
            "booleans is probably another label)."
        )
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    not_number = np.isnan(values) & ~pd.isna(pd.Series(raw, dtype=object)).to_numpy()
    if not_number.any():
        bad = np.flatnonzero(not_number)
        raise LabelError(
            f"{name} must be a number of years; got {_describe_positions(bad, raw, context)}. "
            "Fix or remove these labels."
        )
    missing = np.isnan(values)
    if missing.any() and not allow_missing:
        bad = np.flatnonzero(missing)
        raise LabelError(
            f"{name} is missing (NaN) for {len(bad)} sample(s): "
            f"{_describe_positions(bad, raw, context)}. Drop these samples from X and y "
            "together, or fill in their ages."
        )
    out_of_range = ~missing & ((values < 0) | (values > MAX_AGE))
    if out_of_range.any():
        bad = np.flatnonzero(out_of_range)
        raise LabelError(
            f"{name} must lie between 0 and {MAX_AGE} years; got "
            f"{_describe_positions(bad, raw, context)}. Fix these labels or drop the samples "
            "from X and y together."
        )
    return values


def _is_ascii_number(text: str) -> bool:
    """Whether ``text`` is a whole number written with the digits 0-9 only.

    ``str.isdigit`` is also true for superscripts and other scripts' digits ("²", "٣"),
    which ``int`` refuses or reads as numbers: skface accepts only ASCII digits in codes.
    """
    return text.isascii() and text.isdigit()


def _encode(values, aliases: dict, n_codes: int, what: str, names: tuple[str, ...],
            context: Sequence | None, allow_missing: bool) -> np.ndarray:
    raw = np.asarray(values, dtype=object).reshape(-1)
    codes = np.full(raw.shape[0], -1, dtype=np.int64)
    missing = pd.isna(pd.Series(raw, dtype=object)).to_numpy()
    for i, v in enumerate(raw):
        if missing[i]:
            continue
        if isinstance(v, (str, np.str_)):
            key = v.strip().lower()
            if key in aliases:
                codes[i] = aliases[key]
                continue
            if not _is_ascii_number(key):
                continue
            v = int(key)
        if isinstance(v, (bool, np.bool_)):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if f.is_integer() and 0 <= f < n_codes:
            codes[i] = int(f)
    bad = np.flatnonzero((codes < 0) & ~missing)
    if bad.size:
        valid = ", ".join(f"{c} {n}" for c, n in enumerate(names))
        raise LabelError(
            f"unknown {what} label(s): {_describe_positions(bad, raw, context)}. "
            f"skface codes {what} as {valid} (names are accepted too; codes are written "
            "with the digits 0-9); map other values before loading."
        )
    if missing.any() and not allow_missing:
        bad = np.flatnonzero(missing)
        raise LabelError(
            f"{what} is missing for {len(bad)} sample(s): "
            f"{_describe_positions(bad, raw, context)}. Drop these samples from X and y together."
        )
    return codes


def encode_gender(values, *, context: Sequence | None = None, allow_missing: bool = False):
    """Map gender labels (0/1 or names such as "male", "F") to skface codes.

    Returns an int64 array (``-1`` marks a missing value when ``allow_missing``).
    """
    return _encode(values, _GENDER_ALIASES, 2, "gender", GENDER_NAMES, context, allow_missing)


def encode_race(values, *, context: Sequence | None = None, allow_missing: bool = False):
    """Map race labels (0-4 or UTKFace's names) to skface codes.

    Returns an int64 array (``-1`` marks a missing value when ``allow_missing``).
    """
    return _encode(values, _RACE_ALIASES, 5, "race", RACE_NAMES, context, allow_missing)


def code_names(codes: np.ndarray, names: tuple[str, ...]) -> pd.Categorical:
    """Readable names for integer codes as a categorical (``-1`` becomes missing)."""
    codes = np.asarray(codes)
    return pd.Categorical.from_codes(np.where(codes < 0, -1, codes), categories=list(names))


_NAMES_OF = {"gender": GENDER_NAMES, "race": RACE_NAMES}


def class_names(task: str, classes) -> list[str]:
    """What each class of a task is called, for people to read.

    UTKFace's codes of ``"gender"`` and ``"race"`` (integers, or strings of digits)
    become their names (``1`` -> ``"female"``); names already are names; labels of
    any other task, or outside the conventions, are shown as they are.

    Parameters
    ----------
    task : str
        The task's name: ``"gender"``, ``"race"``, ``"age_group"``...
    classes : array-like of shape (n_classes,)
        The task's labels, as the model was fitted on them.

    Returns
    -------
    names : list of str
        One name per class, in the order of ``classes``.
    """
    values = list(np.asarray(classes, dtype=object).tolist())
    known = _NAMES_OF.get(task)
    if known is not None:
        codes = []
        for v in values:
            if isinstance(v, (bool, np.bool_)):
                break
            if isinstance(v, (int, np.integer)) or (
                    isinstance(v, float) and float(v).is_integer()):
                codes.append(int(v))
            elif isinstance(v, str) and v.isascii() and v.isdigit():
                codes.append(int(v))
            else:
                break
        else:
            if all(0 <= c < len(known) for c in codes):
                return [known[c] for c in codes]
    return [str(v) for v in values]
