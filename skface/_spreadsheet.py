"""Tables written for people as CSV, made safe to open in a spreadsheet.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return before one) as a formula, so a file name such as
``=HYPERLINK("http://...").jpg`` copied into a CSV would run when the file is opened.
Following OWASP's advice on CSV injection, :func:`spreadsheet_safe` prefixes such text
cells with a single quote, which spreadsheets show as text. Numbers are never changed.

A carriage return inside a text cell is written as a line feed:
:meth:`pandas.DataFrame.to_csv` quotes a cell holding a line feed, but not one holding only
a carriage return, which a spreadsheet then reads as the end of the row, so the rest of
the cell would start a new row, and could start with a formula.

Every other control character, and each byte of a file name that is not valid UTF-8,
becomes a backslash escape (:func:`skface._utils.printable`), so that a table can be
written as UTF-8 and printed on a terminal whatever the names in it hold: such a file
name is written as, say, ``photo\\xff.jpg``, and the rows of the other files are
written as usual.
"""

from __future__ import annotations

import numpy as np

from ._utils import printable

__all__ = ["spreadsheet_safe"]

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


# kept by printable: a CSV writer quotes a cell holding them, and carriage returns
# become line feeds below
_TABLE_WHITESPACE = "\t\n\r"


def _unsafe(value) -> bool:
    # a carriage return or another control character is not printable
    return isinstance(value, str) and (value.startswith(FORMULA_STARTS)
                                       or not value.isprintable())


def _safe(value):
    if not _unsafe(value):
        return value
    value = printable(value, keep=_TABLE_WHITESPACE)
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def spreadsheet_safe(frame):
    """A copy of ``frame`` whose text cells and column names cannot run as formulas.

    Every text cell (and column name) that starts with one of :data:`FORMULA_STARTS`
    gets a leading ``'``, and its carriage returns become line feeds (so that the cell
    is quoted in the CSV and stays one cell). Control characters other than tabs and
    line breaks, and bytes of file names that are not valid UTF-8, become backslash
    escapes (see :func:`skface._utils.printable`). Numeric, boolean and date columns,
    and the non-text values of other columns, are kept as they are.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table about to be written with :meth:`~pandas.DataFrame.to_csv`.

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when no cell needed the prefix, else a copy with the prefixed
        columns as object columns.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"path": ["=HYPERLINK(0).jpg", "a.jpg"], "age": [-1.5, 3.0]})
    >>> spreadsheet_safe(table)["path"].tolist()
    ["'=HYPERLINK(0).jpg", 'a.jpg']
    >>> spreadsheet_safe(table)["age"].tolist()
    [-1.5, 3.0]
    """
    import pandas as pd

    out = frame
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        dtype = column.dtype
        if not (dtype.kind == "O" or isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype))):
            continue  # numbers, booleans, dates: never text
        values = column.to_numpy(dtype=object)
        unsafe = np.fromiter((_unsafe(v) for v in values), dtype=bool, count=len(values))
        if unsafe.any():
            if out is frame:
                out = frame.copy()
            values = values.copy()
            values[unsafe] = [_safe(v) for v in values[unsafe]]
            out.isetitem(j, values)
    names = [_safe(c) for c in frame.columns]
    if names != list(frame.columns):
        if out is frame:
            out = frame.copy()
        out.columns = names
    return out
