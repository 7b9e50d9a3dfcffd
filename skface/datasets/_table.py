"""Label frames from any table of image paths and labels (a DataFrame or a CSV file).

Only numpy, pandas, the standard library and :mod:`skface._files` are imported here.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import lzma
import os
import tarfile
import zipfile
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._files import FileRefused, open_regular
from .._labels import TASKS, check_ages, encode_gender, encode_race
from ..exceptions import LabelError
from ._base import LABEL_COLUMNS, make_label_frame

__all__ = ["from_dataframe", "load_csv"]

_LABELS = TASKS

# What a label table may hold. Real ones are a few MB (IMDB-WIKI, the largest, has
# 460,723 rows): a table past these limits is refused, naming the file and the limit,
# before it fills the memory.
MAX_TABLE_ROWS = 10_000_000
"""The most data rows a label table may have."""
MAX_TABLE_DECOMPRESSION_RATIO = 100
"""A compressed label table may decompress to this many times its size..."""
MIN_TABLE_DECOMPRESSED_BYTES = 64 * 1024**2
"""...or to this many bytes, whichever is more (CSV text compresses about 3 to 10 times)."""

_TABLE_ADVICE = "pass a CSV label table (a regular file)"
# pandas' inferred compressions, by file name suffix (longest first)
_SUFFIX_COMPRESSION = ((".tar.gz", "tar"), (".tar.bz2", "tar"), (".tar.xz", "tar"),
                       (".tar", "tar"), (".gz", "gzip"), (".bz2", "bz2"), (".zip", "zip"),
                       (".xz", "xz"), (".zst", "zstd"))
# Columns make_label_frame derives from a label: regenerated, so dropped from the input.
_DERIVED = {"gender": "gender_name", "race": "race_name"}


# read_csv options that say how the header row is written and where it is; the others
# (names, usecols, dtype, ...) are about the data.
_HEADER_OPTIONS = (
    "sep", "delimiter", "engine", "skipinitialspace", "skiprows", "skip_blank_lines",
    "compression", "lineterminator", "quotechar", "quoting", "doublequote", "escapechar",
    "comment", "encoding", "encoding_errors", "dialect", "storage_options",
)


class TableRefused(ValueError):
    """A label table that is not a regular file, or is past a limit: said as it is."""


class TableTooLarge(TableRefused):
    """A label table past 10,000,000, the decompression limit or the memory."""


class _Bounded(io.RawIOBase):
    """A decompressed stream that raises once more than ``limit`` bytes came out."""

    def __init__(self, stream, limit: int, source: str, packed: int):
        super().__init__()
        self._stream, self._limit, self._source, self._packed = stream, limit, source, packed
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(min(len(buffer), self._limit + 1 - self._count))
        self._count += len(data)
        if self._count > self._limit:
            raise TableTooLarge(
                f"{self._source}: refused, the compressed table decompresses to more than "
                f"{self._limit:,} bytes (the limit for a {self._packed:,}-byte file: "
                f"{MAX_TABLE_DECOMPRESSION_RATIO} times its size, at least "
                f"{MIN_TABLE_DECOMPRESSED_BYTES:,} bytes); label tables are far smaller. "
                "The file is damaged or not a label table; if it is one, decompress it "
                "and pass the CSV file.")
        buffer[: len(data)] = data
        return len(data)


def _compression(csv_file: str, option) -> str | None:
    """The compression pandas would use: ``option``, or inferred from the suffix."""
    method = option.get("method") if isinstance(option, Mapping) else option
    if method != "infer":
        return method
    name = csv_file.lower()
    return next((m for suffix, m in _SUFFIX_COMPRESSION if name.endswith(suffix)), None)


def _one_member(names: list[str], csv_file: str, what: str) -> str:
    if len(names) != 1:
        raise ValueError(f"{csv_file}: the {what} holds {len(names)} files; a compressed label "
                         "table must hold exactly one, the CSV file.")
    return names[0]


def _decompress(f, method: str, csv_file: str):
    """The decompressed stream of the open file ``f``, for ``method``."""
    if method == "gzip":
        return gzip.GzipFile(fileobj=f, mode="rb")
    if method == "bz2":
        return bz2.BZ2File(f, mode="rb")
    if method == "xz":
        return lzma.LZMAFile(f, mode="rb")
    if method == "zip":
        archive = zipfile.ZipFile(f)
        names = [i.filename for i in archive.infolist()
                 if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        return archive.open(_one_member(names, csv_file, "ZIP archive"))
    if method == "tar":
        archive = tarfile.open(fileobj=f, mode="r|*")  # a stream: no member list read ahead
        member = next((m for m in archive if m.isfile()), None)
        if member is None:
            _one_member([], csv_file, "TAR archive")
        return archive.extractfile(member)
    if method == "zstd":
        try:
            zstd = importlib.import_module("zstandard")
        except ImportError:
            raise ImportError(f"{csv_file}: reading a Zstandard-compressed table needs the "
                              "zstandard package: pip install zstandard") from None
        return zstd.ZstdDecompressor().stream_reader(f)
    raise ValueError(f"{csv_file}: unknown compression {method!r}; label tables may be "
                     "compressed with gzip, bz2, xz, zip, tar or zstd, or not at all.")


def read_table(csv_file: str | os.PathLike, **read_csv_kwargs) -> pd.DataFrame:
    """:func:`pandas.read_csv` of a label table, with what it may cost bounded.

    The file is opened with :func:`skface._files.open_regular` (a named pipe, a
    device or a folder is refused, and called what it is); a compressed file
    (``compression=``, or inferred from the suffix as pandas does: ``.gz``, ``.bz2``,
    ``.xz``, ``.zip``, ``.zst``, ``.tar`` and ``.tar.*``) is decompressed here, and
    refused past 100 times its size (at least
    64 MiB); a table of more than
    10,000,000 rows, or too large for the memory, is refused too.

    Raises
    ------
    FileNotFoundError
        When nothing is at ``csv_file``.
    ValueError
        When it is not a regular file, is past a limit, or cannot be parsed; the
        message names the file.
    """
    csv_file = os.fspath(csv_file)
    kwargs = dict(read_csv_kwargs)
    try:
        f = open_regular(csv_file, advice=_TABLE_ADVICE, allow_empty=True)
    except FileRefused as exc:
        if exc.missing:
            raise FileNotFoundError(f"label table {csv_file!r}: {exc}.") from None
        raise TableRefused(f"label table {csv_file!r}: {exc}.") from None
    nrows = kwargs.get("nrows")
    limited = nrows is None or nrows > MAX_TABLE_ROWS
    if limited:
        kwargs["nrows"] = MAX_TABLE_ROWS + 1
    kwargs.pop("memory_map", None)
    method = _compression(csv_file, kwargs.pop("compression", "infer"))
    try:
        with f:
            stream = f
            if method is not None:
                packed = os.fstat(f.fileno()).st_size
                limit = max(MIN_TABLE_DECOMPRESSED_BYTES, MAX_TABLE_DECOMPRESSION_RATIO * packed)
                stream = io.BufferedReader(
                    _Bounded(_decompress(f, method, csv_file), limit, csv_file, packed))
            frame = pd.read_csv(stream, compression=None, **kwargs)
    except MemoryError:
        raise TableTooLarge(
            f"{csv_file}: the table is too large to read into this machine's memory; "
            "split it, or pass fewer columns (usecols=...).") from None
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError) as err:
        if isinstance(err, FileNotFoundError | PermissionError):
            raise
        raise ValueError(f"{csv_file}: could not be decompressed as {method} "
                         f"({type(err).__name__}: {err}).") from None
    except pd.errors.ParserError as err:
        if "out of memory" in str(err):
            raise TableTooLarge(
                f"{csv_file}: the table is too large to read into this machine's memory; "
                "split it, or pass fewer columns (usecols=...).") from None
        raise
    if limited and isinstance(frame, pd.DataFrame) and len(frame) > MAX_TABLE_ROWS:
        raise TableTooLarge(
            f"{csv_file}: refused, the table has more than {MAX_TABLE_ROWS:,} rows, the "
            "most a label table may have; split it into smaller tables.")
    return frame


def refuse_duplicated_header(csv_file: str, read_csv_kwargs: Mapping | None = None) -> None:
    """Raise when the header row of ``csv_file`` names a column twice.

    :func:`pandas.read_csv` renames a second ``age`` column to ``age.1``, so the
    duplicate can no longer be seen in the frame: the header row is read again here,
    as text, with the options of ``read_csv_kwargs`` that concern it (separator,
    encoding, quoting, rows skipped, compression, ...). Empty header cells are not
    duplicates (pandas names them ``Unnamed: i``); ``names=`` and ``header=None``
    mean the file's header is not used, and pandas refuses duplicated ``names``.

    Raises
    ------
    ValueError
        Naming the file and the duplicated column names.
    """
    kwargs = dict(read_csv_kwargs or {})
    header = kwargs.get("header", "infer")
    if header == "infer":
        header = 0
    if kwargs.get("names") is not None or isinstance(header, bool) or not isinstance(
        header, (int, np.integer)
    ):
        return  # no header row, or a MultiIndex header: nothing is renamed
    options = {k: v for k, v in kwargs.items() if k in _HEADER_OPTIONS}
    rows = read_table(csv_file, header=None, nrows=int(header) + 1, dtype=str,
                      na_filter=False, **options)
    if len(rows) <= header:
        return
    names = [str(n) for n in rows.iloc[int(header)].tolist() if str(n) != ""]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(
            f"{csv_file}: duplicated column name(s) {duplicated!r} in the header row; "
            "rename them (pandas would silently read the second one as "
            f"{duplicated[0] + '.1'!r})."
        )


def _build(
    frame: pd.DataFrame,
    *,
    path_column: str,
    label_columns: Mapping[str, str] | None,
    images_root: str | os.PathLike | None,
    allow_missing: bool,
    source: str,
) -> pd.DataFrame:
    """Shared body of :func:`from_dataframe` and :func:`load_csv`; ``source`` names
    the table in error messages."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}.")
    columns = list(frame.columns)
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise ValueError(f"{source}: duplicated column name(s) {duplicated!r}; rename them.")
    if path_column not in frame.columns:
        raise ValueError(
            f"{source}: no path column {path_column!r}; the columns are {columns!r}. "
            "Pass path_column= to name the column holding the image paths."
        )
    if label_columns is None:
        mapping = {label: label for label in _LABELS if label in frame.columns}
    else:
        mapping = dict(label_columns)
        unknown = [k for k in mapping if k not in _LABELS]
        if unknown:
            raise ValueError(
                f"label_columns keys must be among {list(_LABELS)!r}; got {unknown!r}. "
                "It maps skface's label names to the table's column names."
            )
        absent = {k: v for k, v in mapping.items() if v not in frame.columns}
        if absent:
            raise ValueError(
                f"{source}: label column(s) {absent!r} not found; the columns are "
                f"{columns!r}."
            )
        if path_column in mapping.values():
            raise ValueError(
                f"{source}: column {path_column!r} is used both as the path column and "
                "as a label column."
            )

    # Paths: every row needs one; relative ones are joined to images_root.
    raw_paths = frame[path_column].to_numpy(dtype=object)
    empty = pd.isna(raw_paths) | np.array(
        [isinstance(p, str) and not p.strip() for p in raw_paths], dtype=bool
    ).reshape(len(raw_paths))
    if empty.any():
        bad = np.flatnonzero(empty)
        rows = ", ".join(str(frame.index[i]) for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(
            f"{source}: empty or missing image path in column {path_column!r} on "
            f"row(s) {rows}{more} (row labels of the table). Fill in or remove these rows."
        )
    names = [os.fspath(p) if isinstance(p, os.PathLike) else str(p) for p in raw_paths]
    if images_root is not None:
        root = os.fspath(images_root)
        paths = [os.path.join(root, p) for p in names]
    else:
        paths = names

    # Labels, validated with the shared validators; errors name the image paths.
    labels: dict[str, np.ndarray] = {}
    try:
        if "age" in mapping:
            labels["age"] = check_ages(
                frame[mapping["age"]].to_numpy(dtype=object), context=names,
                allow_missing=allow_missing,
            )
        if "gender" in mapping:
            labels["gender"] = encode_gender(
                frame[mapping["gender"]].to_numpy(dtype=object), context=names,
                allow_missing=allow_missing,
            )
        if "race" in mapping:
            labels["race"] = encode_race(
                frame[mapping["race"]].to_numpy(dtype=object), context=names,
                allow_missing=allow_missing,
            )
    except LabelError as err:
        raise LabelError(f"{source}: {err}") from err

    # Other columns follow the label columns, in their order in the table.
    consumed = {path_column, *mapping.values()}
    derived = {_DERIVED[k] for k in mapping if k in _DERIVED}
    created = set(LABEL_COLUMNS[:1]) | set(mapping) | derived
    others = [c for c in frame.columns if c not in consumed and c not in derived]
    clashes = [c for c in others if c in created]
    if clashes:
        raise ValueError(
            f"{source}: column(s) {clashes!r} would be overwritten by the label columns "
            "(path, age, gender, race, ...); rename them or list them in label_columns."
        )
    extra = {c: frame[c].array for c in others}
    return make_label_frame(paths, **labels, extra=extra)


def from_dataframe(
    frame: pd.DataFrame,
    *,
    path_column: str = "path",
    label_columns: Mapping[str, str] | None = None,
    images_root: str | os.PathLike | None = None,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Turn any DataFrame of image paths and labels into a label frame.

    Labels are validated and translated to skface's codes: ages in years from 0 to
    :data:`skface.MAX_AGE`; gender 0/1 or names (``"male"``, ``"F"``,
    ...); race 0-4 or UTKFace's names (``"White"``, ``"Asian"``, ...).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per image.
    path_column : str, default="path"
        Column holding the image paths.
    label_columns : mapping of str to str, optional
        Maps skface's label names (``"age"``, ``"gender"``, ``"race"``) to column
        names of ``frame``, e.g. ``{"age": "years", "gender": "sex"}``; labels not
        listed are not loaded. By default, each of the columns ``"age"``,
        ``"gender"`` and ``"race"`` that ``frame`` has is used.
    images_root : str or os.PathLike, optional
        Folder relative paths are joined to (with :func:`os.path.join`, so absolute
        paths are kept). By default paths are kept as they are.
    allow_missing : bool, default=False
        Whether missing labels (NaN, None) are accepted; they become NaN ages and
        ``<NA>`` codes. By default they raise :class:`~skface.exceptions.LabelError`.

    Returns
    -------
    pandas.DataFrame
        A label frame:
        ``path``, then ``age``, ``gender`` and ``gender_name``, ``race`` and
        ``race_name`` for the labels loaded, then the other columns of ``frame``
        in their order, values and dtypes unchanged. The label source columns
        (``label_columns``' values) are replaced by the label columns; existing
        ``gender_name``/``race_name`` columns are regenerated from the codes
        when gender/race is loaded, so a saved label frame loads back as it was.
        The index is a new :class:`~pandas.RangeIndex`.

    Raises
    ------
    TypeError
        When ``frame`` is not a DataFrame.
    ValueError
        When ``path_column`` or a column of ``label_columns`` is not in ``frame``
        (the message lists the columns), ``label_columns`` has a key other than
        ``"age"``, ``"gender"`` and ``"race"``, a path is empty or missing (the
        message names the row), column names are duplicated, or another column
        would be overwritten by a label column.
    LabelError
        When a label is unknown, out of range or (unless ``allow_missing``)
        missing; the message names the value and the image path.

    See Also
    --------
    load_csv : The same, reading a CSV file first.
    skface.datasets.load_fairface : Loader for FairFace's CSV files.

    Examples
    --------
    >>> import pandas as pd
    >>> from skface.datasets._table import from_dataframe
    >>> table = pd.DataFrame({"file": ["a.jpg", "b.jpg"], "years": [31, 4.5],
    ...                       "sex": ["F", "male"], "site": ["x", "y"]})
    >>> df = from_dataframe(table, path_column="file",
    ...                     label_columns={"age": "years", "gender": "sex"},
    ...                     images_root="faces")
    >>> df.columns.tolist()
    ['path', 'age', 'gender', 'gender_name', 'site']
    >>> df["gender"].tolist()
    [1, 0]
    """
    return _build(
        frame,
        path_column=path_column,
        label_columns=label_columns,
        images_root=images_root,
        allow_missing=allow_missing,
        source="the table",
    )


def load_csv(
    csv_file: str | os.PathLike,
    *,
    images_root: str | os.PathLike | None = None,
    path_column: str = "path",
    label_columns: Mapping[str, str] | None = None,
    allow_missing: bool = False,
    **read_csv_kwargs,
) -> pd.DataFrame:
    """Read a CSV file of image paths and labels into a label frame.

    Reads ``csv_file`` with :func:`pandas.read_csv` and passes the table to
    :func:`from_dataframe`; every error message names the CSV file.

    Parameters
    ----------
    csv_file : str or os.PathLike
        The CSV file, one row per image.
    images_root : str or os.PathLike, optional
        Folder relative paths are joined to. Defaults to the folder holding
        ``csv_file``.
    path_column : str, default="path"
        Column holding the image paths.
    label_columns : mapping of str to str, optional
        Maps ``"age"``, ``"gender"`` and ``"race"`` to column names of the file;
        see :func:`from_dataframe`.
    allow_missing : bool, default=False
        Whether missing labels are accepted; see :func:`from_dataframe`.
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (``sep``, ``encoding``, ``usecols``, ...).

    Returns
    -------
    pandas.DataFrame
        A label frame; see :func:`from_dataframe`.

    Raises
    ------
    FileNotFoundError
        When ``csv_file`` does not exist.
    ValueError
        When the file is not a regular file (a named pipe, a device or a folder: the
        message says which), cannot be parsed, has more than
        10,000,000 rows, decompresses to more than
        100 times its size (at least
        64 MiB), is too large for the memory, its
        header row names a column twice, or as :func:`from_dataframe` raises; the
        message names the file.
    LabelError
        As :func:`from_dataframe` raises; the message names the file, the value
        and the image path.

    See Also
    --------
    from_dataframe : The same for a DataFrame already in memory.
    skface.datasets.load_fairface : Loader for FairFace's CSV files.

    Examples
    --------
    >>> from skface.datasets._table import load_csv
    >>> df = load_csv("labels.csv", label_columns={"age": "years"})  # doctest: +SKIP
    >>> df[["path", "age"]].head()  # doctest: +SKIP
    """
    csv_file = os.fspath(csv_file)
    try:
        frame = read_table(csv_file, **read_csv_kwargs)
    except FileNotFoundError:
        raise FileNotFoundError(f"label CSV file not found: {csv_file!r}.") from None
    except TableRefused:
        raise
    except (ValueError, UnicodeDecodeError) as err:  # EmptyDataError, ParserError, ...
        raise ValueError(f"{csv_file}: could not be read as a CSV file ({err}).") from err
    refuse_duplicated_header(csv_file, read_csv_kwargs)
    if images_root is None:
        images_root = os.path.dirname(os.path.abspath(csv_file))
    return _build(
        frame,
        path_column=path_column,
        label_columns=label_columns,
        images_root=images_root,
        allow_missing=allow_missing,
        source=csv_file,
    )
