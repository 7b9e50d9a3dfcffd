"""Loader for FairFace's label CSV files (``fairface_label_train.csv``, ``..._val.csv``).

FairFace (Kärkkäinen and Joo, 2021) labels each image with an age group, a gender
and one of seven race groups. Its race groups are folded into skface's five
(UTKFace's) codes; the original seven are kept in the ``race7`` column.

Only numpy, pandas and the standard library are imported here.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .._labels import TASKS, encode_gender
from ..exceptions import LabelError
from ._base import LABEL_COLUMNS, make_label_frame
from ._table import TableRefused, read_table, refuse_duplicated_header

__all__ = ["load_fairface", "FAIRFACE_AGE_GROUPS", "FAIRFACE_RACES"]

FAIRFACE_AGE_GROUPS: tuple[str, ...] = (
    "0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+",
)
"""FairFace's age groups, youngest first, as labelled in skface (``"more than 70"``
is renamed ``"70+"``)."""

FAIRFACE_RACES: tuple[str, ...] = (
    "White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
    "Middle Eastern",
)
"""FairFace's seven race groups, as spelled in its CSV files."""

# FairFace race -> skface (UTKFace) race code: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others.
_RACE_TO_CODE = {
    "White": 0,
    "Black": 1,
    "Latino_Hispanic": 4,
    "East Asian": 2,
    "Southeast Asian": 2,
    "Indian": 3,
    "Middle Eastern": 4,
}
_AGE_ALIASES = {"more than 70": "70+"}
_REQUIRED_COLUMNS = ("file", *TASKS)


def _lookup(values: pd.Series, table: dict[str, int], what: str, accepted: tuple[str, ...],
            context: list[str], csv_file: str) -> np.ndarray:
    """Map label strings through ``table`` (exact after stripping whitespace).

    Raises LabelError naming up to five unknown values with their CSV line and image.
    """
    text = values.astype(object).where(values.notna(), None)
    stripped = [v.strip() if isinstance(v, str) else v for v in text]
    codes = pd.Series(stripped, dtype=object).map(table)
    bad = np.flatnonzero(codes.isna().to_numpy())
    if bad.size:
        shown = ", ".join(f"{text.iloc[i]!r} ({context[i]})" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise LabelError(
            f"{csv_file}: unknown or missing FairFace {what} label(s): {shown}{more}. "
            f"Accepted {what} labels: {', '.join(repr(a) for a in accepted)}."
        )
    return codes.to_numpy(dtype=np.int64)


def load_fairface(
    csv_file: str | os.PathLike,
    images_root: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Load one of FairFace's label CSV files into a label frame.

    FairFace gives no exact ages, only age groups: the ``age`` column is kept, for
    the common schema, but is all NaN; use ``age_group`` / ``age_group_code`` for
    age targets. Race is translated to skface's five (UTKFace) codes: White 0,
    Black 1, East Asian and Southeast Asian 2 (Asian), Indian 3, Latino_Hispanic and
    Middle Eastern 4 (Others).

    Parameters
    ----------
    csv_file : str or os.PathLike
        Path of ``fairface_label_train.csv`` or ``fairface_label_val.csv`` (or a file
        with the same columns: ``file``, ``age``, ``gender``, ``race`` and, optionally,
        ``service_test``).
    images_root : str or os.PathLike, optional
        Folder the ``file`` entries (``"train/1.jpg"``) are relative to. Defaults to
        the folder holding ``csv_file``.

    Returns
    -------
    pandas.DataFrame
        A label frame with
        columns ``path``, ``age`` (float64, all NaN), ``gender`` (Int8, 0 male,
        1 female), ``gender_name``, ``race`` (Int8, skface codes 0-4), ``race_name``,
        then ``race7`` (categorical with the categories of
        ``FAIRFACE_RACES``, in that order, unordered), ``age_group`` (ordered
        categorical with the categories of ``FAIRFACE_AGE_GROUPS``: ``"0-2"``,
        ``"3-9"``, ..., ``"60-69"``, ``"70+"``), ``age_group_code`` (int64, 0 to 8)
        and any other columns of the CSV (such as ``service_test``) unchanged.

    Raises
    ------
    FileNotFoundError
        When ``csv_file`` does not exist.
    ValueError
        When the file is not a regular file or is past the limits of
        :func:`skface.datasets.load_csv`, cannot be parsed as CSV, a required column
        is missing (the message names the file and the columns found), an image name
        is empty, or a further column has the name of one this function creates
        (``path``, ``race7``, ...).
    LabelError
        When an age group, gender or race label is unknown or missing; the message
        names the value, its line in the CSV file (the header is line 1) and the
        image, and says which labels are accepted. Gender accepts what
        the other loaders accept (FairFace's ``"Male"`` and
        ``"Female"``, in any case); age groups and races must be FairFace's own
        labels (surrounding spaces are ignored).

    See Also
    --------
    skface.datasets.load_imdb_wiki : Loader for IMDB-WIKI's metadata.
    skface.datasets.load_csv : Loader for a generic CSV of labels.

    Examples
    --------
    >>> from skface.datasets._fairface import load_fairface
    >>> df = load_fairface("fairface/fairface_label_val.csv")  # doctest: +SKIP
    >>> df[["path", "age_group", "gender", "race", "race7"]].head()  # doctest: +SKIP
    """
    csv_file = os.fspath(csv_file)
    try:
        table = read_table(
            csv_file, dtype=dict.fromkeys(_REQUIRED_COLUMNS, object),
            keep_default_na=False, na_values=[""],
        )
    except FileNotFoundError:
        raise FileNotFoundError(
            f"FairFace label file not found: {csv_file!r}. Pass the path of "
            "fairface_label_train.csv or fairface_label_val.csv."
        ) from None
    except TableRefused:  # not a regular file, or past a limit: said as it is
        raise
    except (ValueError, UnicodeDecodeError) as err:  # EmptyDataError, ParserError, ...
        raise ValueError(f"{csv_file}: could not be read as a CSV file ({err}).") from err
    refuse_duplicated_header(csv_file)
    missing = [c for c in _REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{csv_file}: missing FairFace column(s) {missing!r}; the file has columns "
            f"{list(table.columns)!r}. FairFace label files have the columns "
            f"{list(_REQUIRED_COLUMNS)!r} (and optionally 'service_test')."
        )
    n = len(table)
    files = table["file"]
    empty = files.isna().to_numpy() | (files.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(empty)[:5])
        raise ValueError(
            f"{csv_file}: empty 'file' (image name) on line(s) {lines}. Fill in or remove "
            "these rows."
        )
    names = [str(f).strip() for f in files]
    # Line numbers count the header as line 1, so data row i is on line i + 2.
    context = [f"line {i + 2} of {csv_file}, file {name}" for i, name in enumerate(names)]

    age_group_code = _lookup(
        table["age"],
        {**{g: i for i, g in enumerate(FAIRFACE_AGE_GROUPS)},
         **{alias: FAIRFACE_AGE_GROUPS.index(g) for alias, g in _AGE_ALIASES.items()}},
        "age group", (*FAIRFACE_AGE_GROUPS[:-1], "more than 70"), context, csv_file,
    )
    race7_code = _lookup(
        table["race"], {r: i for i, r in enumerate(FAIRFACE_RACES)}, "race",
        FAIRFACE_RACES, context, csv_file,
    )
    try:
        gender = encode_gender(table["gender"].to_numpy(dtype=object), context=context)
    except LabelError as err:
        raise LabelError(
            f"{csv_file}: {err} FairFace's gender labels are 'Male' and 'Female'."
        ) from err
    race_of_race7 = np.array([_RACE_TO_CODE[r] for r in FAIRFACE_RACES], dtype=np.int64)
    race = race_of_race7[race7_code]

    root = os.path.dirname(os.path.abspath(csv_file)) if images_root is None else os.fspath(
        images_root
    )
    paths = [os.path.join(root, name) for name in names]

    extra: dict[str, object] = {
        "race7": pd.Categorical.from_codes(race7_code, categories=list(FAIRFACE_RACES)),
        "age_group": pd.Categorical.from_codes(
            age_group_code, categories=list(FAIRFACE_AGE_GROUPS), ordered=True
        ),
        "age_group_code": age_group_code,
    }
    others = [c for c in table.columns if c not in _REQUIRED_COLUMNS]
    clashes = [c for c in others if c in LABEL_COLUMNS or c in extra]
    if clashes:
        raise ValueError(
            f"{csv_file}: column(s) {clashes!r} clash with the columns load_fairface "
            "creates; rename them in the file."
        )
    for column in others:
        extra[column] = table[column].array
    return make_label_frame(
        paths, age=np.full(n, np.nan), gender=gender, race=race, extra=extra
    )
