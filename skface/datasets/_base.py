"""What every dataset loader returns: one schema for all sources.

A label frame has one row per image and these columns, in this order where present:

``path`` (str)
    Absolute or caller-relative path of the image file.
``age`` (float64, years)
    Missing (NaN) only where the source has no exact age.
``gender`` (Int8: 0 male, 1 female) and ``gender_name`` (categorical)
``race`` (Int8: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others) and ``race_name`` (categorical)

followed by source-specific columns (``captured_at``, ``face_score``, ``age_group``, ...).
Rows a loader leaves out are reported (a warning or the ``attrs`` of the frame),
never dropped silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._labels import GENDER_NAMES, RACE_NAMES, code_names

LABEL_COLUMNS = ("path", "age", "gender", "gender_name", "race", "race_name")


def make_label_frame(
    paths,
    *,
    age=None,
    gender=None,
    race=None,
    extra: dict | None = None,
) -> pd.DataFrame:
    """Build a label frame from validated columns.

    Parameters
    ----------
    paths : sequence of str
    age : array of float, optional
        Already validated ages (NaN for missing).
    gender, race : array of int, optional
        Already encoded codes, ``-1`` for missing.
    extra : dict, optional
        Further columns appended after the label columns.
    """
    columns: dict[str, object] = {"path": pd.array([str(p) for p in paths], dtype=object)}
    if age is not None:
        columns["age"] = np.asarray(age, dtype=np.float64)
    if gender is not None:
        g = np.asarray(gender, dtype=np.int64)
        columns["gender"] = pd.array(np.where(g < 0, pd.NA, g), dtype="Int8")
        columns["gender_name"] = code_names(g, GENDER_NAMES)
    if race is not None:
        r = np.asarray(race, dtype=np.int64)
        columns["race"] = pd.array(np.where(r < 0, pd.NA, r), dtype="Int8")
        columns["race_name"] = code_names(r, RACE_NAMES)
    columns.update(extra or {})
    return pd.DataFrame(columns)
