"""Per-group metric tables, without matplotlib.

:func:`group_metrics` and the helpers that validate labels and split images into
groups. :mod:`skface.plots` draws these tables and re-exports :func:`group_metrics`;
this module never imports matplotlib, so the tables can be made where it is not
installed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from statistics import NormalDist

import numpy as np
import pandas as pd

from ._age_bins import AgeBinEncoder

__all__ = ["group_metrics"]

# task -> the metric group_metrics reports for it
_TASK_METRICS = {
    "age": "mae",
    "regression": "mae",
    "gender": "accuracy",
    "race": "accuracy",
    "age_group": "accuracy",
    "classification": "accuracy",
}
METRIC_LABELS = {"accuracy": "accuracy", "mae": "MAE (years)"}
_DEFAULT_GROUP_COLUMNS = ("gender", "race", "age")
OVERALL = "overall"
MISSING = "missing"
SMALL_GROUP_SIZE = 30
"""Groups of fewer images are flagged as small: their figure is uncertain."""
CONFIDENCE = 0.95
"""Level of the confidence intervals of the group tables."""


def as_1d(values, name: str) -> np.ndarray:
    """A 1-D numpy array of ``values``, with errors that say what to pass."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(
                f"{name} must hold one value per image; got a DataFrame with columns "
                f"{list(values.columns)}. Pass a single column, e.g. {name}['age']."
            )
        values = values.iloc[:, 0]
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D, one value per image; got an array of shape {arr.shape}. "
            "Pass one label column."
        )
    missing = pd.isna(arr)
    if missing.any():
        raise ValueError(
            f"{name} has {int(missing.sum())} missing value(s) (first at position "
            f"{int(np.flatnonzero(missing)[0])}); drop those samples from every input first."
        )
    return arr


def check_same_length(**arrays) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"inputs must have one entry per image, but {shown}; pass them for the same "
            "images in the same order."
        )
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"{' and '.join(lengths)} are empty; pass at least one image's values.")
    return n


def _check_task(task: str) -> str:
    if task not in _TASK_METRICS:
        raise ValueError(
            f"unknown task {task!r}; use one of {sorted(_TASK_METRICS)} ('age' or "
            "'regression' report MAE in years, the others accuracy)."
        )
    return _TASK_METRICS[task]


def ages_of(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold ages in years (numbers) for task='age'; got values such as "
            f"{list(np.asarray(values, dtype=object)[:3])}. Use a classification task for labels."
        ) from None


def caption(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return f"{value:g}"
    return str(value)


def group_labels(values: pd.Series, column: str, age_bins) -> pd.Categorical:
    """Group of each row as a categorical in display order (ages binned into age groups)."""
    if column == "age" and pd.api.types.is_numeric_dtype(values):
        ages = values.to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(ages)
        if not known.any():
            raise ValueError("the age column has no values; it cannot be split into age groups.")
        encoder = AgeBinEncoder(age_bins).fit(ages[known])
        codes = np.full(ages.shape, -1, dtype=np.int64)
        codes[known] = encoder.transform(ages[known])
        return pd.Categorical.from_codes(codes, categories=list(encoder.labels_), ordered=True)
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
        return cat.rename_categories([caption(c) for c in cat.categories])
    cat = pd.Categorical(values)
    return cat.rename_categories([caption(c) for c in cat.categories])


def iter_groups(labels: pd.Categorical):
    """(name, positions) for each observed group in order, then the missing ones."""
    codes = np.asarray(labels.codes)
    for code, name in enumerate(labels.categories):
        positions = np.flatnonzero(codes == code)
        if positions.size:
            yield str(name), positions
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        yield MISSING, missing


def _score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    # imported here: the label summaries that use this module need no scikit-learn metrics
    from sklearn.metrics import accuracy_score, mean_absolute_error

    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    return float(mean_absolute_error(y_true, y_pred))


def wilson_interval(n_correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion ``n_correct / n`` (NaNs when ``n`` is 0).

    Unlike the normal approximation it stays inside [0, 1] and is not of zero width
    when every image (or none) is right, which matters for small groups.
    """
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = n_correct / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t interval of the mean of ``values`` (NaNs with fewer than two values).

    Used for the mean absolute error, whose lower end is clipped at 0.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n < 2:
        return math.nan, math.nan
    from scipy import stats  # imported here: slow to import, and only tables need it

    mean = float(values.mean())
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    half = t * float(values.std(ddof=1)) / math.sqrt(n)
    return max(0.0, mean - half), mean + half


def _interval(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    if metric == "accuracy":
        return wilson_interval(int(np.sum(y_true == y_pred)), len(y_true))
    return mean_interval(np.abs(y_true - y_pred))


def age_summary(ages) -> dict[str, float]:
    """Mean, median, minimum and maximum of the known ages (missing ones left out).

    The one computation behind every figure and report that states them, so that a
    page and its figures cannot disagree. NaNs when no age is known.
    """
    values = pd.to_numeric(pd.Series(ages), errors="coerce").dropna().to_numpy(dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "mean": math.nan, "median": math.nan, "min": math.nan,
                "max": math.nan}
    return {"n": int(values.size), "mean": float(values.mean()),
            "median": float(np.median(values)), "min": float(values.min()),
            "max": float(values.max())}


def format_age(value: float) -> str:
    """An age in years as figures and reports write it: at most one decimal, none for a
    whole number (``33.5``, ``34``)."""
    return f"{round(float(value), 1):g}"


# --------------------------------------------------------------------- group metrics


def group_metrics(
    y_true,
    y_pred,
    groups: pd.DataFrame,
    task: str,
    *,
    columns: Sequence[str] | None = None,
    age_bins="decades",
    small_group_size: int = SMALL_GROUP_SIZE,
) -> pd.DataFrame:
    """Accuracy or mean absolute error per group, with counts and the overall figure.

    A model can be good on average and poor for one gender, race or age group; this
    table shows it. It needs no matplotlib; :func:`skface.plots.plot_group_metrics` draws
    it.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels (ages in years for ``task="age"``).
    y_pred : array-like of shape (n_samples,)
        Predictions for the same images, in the same order.
    groups : DataFrame of shape (n_samples, n_columns)
        The group of each image, row by row with ``y_true`` (its index is ignored),
        e.g. the label frame of :func:`skface.datasets.load_utkface`. A numeric
        ``age`` column is split into age groups with :class:`skface.AgeBinEncoder`;
        other columns are grouped by value. A Series is taken as a one-column frame.
    task : {"age", "gender", "race", "age_group", "regression", "classification"}
        What was predicted: ``"age"`` and ``"regression"`` report the mean absolute
        error (:func:`sklearn.metrics.mean_absolute_error`), the others the accuracy
        (:func:`sklearn.metrics.accuracy_score`).
    columns : sequence of str, optional
        Columns of ``groups`` to split by. By default ``gender``, ``race`` and ``age``
        (those present; ``gender_name`` and ``race_name`` are used instead of the
        codes when present), or every column when none of these is present.
    age_bins : str or array-like, default="decades"
        Age groups for the ``age`` column: ``AgeBinEncoder``'s ``bins`` parameter.
    small_group_size : int, default=30
        Groups of fewer images are flagged in the ``small`` column (and hatched by
        :func:`skface.plots.plot_group_metrics`): their figure is uncertain, see the
        width of their confidence interval.

    Returns
    -------
    table : DataFrame
        One row per group, after a first row for all images, with columns
        ``column`` (the grouping column, ``"overall"`` for the first row), ``group``
        (the group's name, ``"all"`` for the first row, ``"missing"`` for images
        whose group is unknown), ``n`` (the number of images, at least 1: groups
        without images have no row), the metric (``accuracy`` or ``mae``),
        ``ci_low`` and ``ci_high`` (its 95% confidence interval: the Wilson score
        interval for an accuracy, Student's t interval of the mean absolute error,
        clipped at 0, for an MAE, NaN for a group of one image), ``vs_overall`` (the
        metric minus the overall one: a negative accuracy or a positive MAE
        difference is a worse group) and ``small`` (True when ``n`` is below
        ``small_group_size``).

    Raises
    ------
    ValueError
        If the inputs differ in length, ``task`` is unknown, a column is missing or
        ``small_group_size`` is not a positive integer.

    Examples
    --------
    >>> import pandas as pd
    >>> from skface.plots import group_metrics
    >>> groups = pd.DataFrame({"gender": ["male", "male", "female", "female"]})
    >>> group_metrics([0, 1, 1, 1], [0, 1, 0, 1], groups, task="gender").round(2)
        column   group  n  accuracy  ci_low  ci_high  vs_overall  small
    0  overall     all  4      0.75    0.30     0.95        0.00   True
    1   gender  female  2      0.50    0.09     0.91       -0.25   True
    2   gender    male  2      1.00    0.34     1.00        0.25   True
    """
    metric = _check_task(task)
    if (isinstance(small_group_size, (bool, np.bool_)) or not isinstance(small_group_size, Integral)
            or small_group_size < 1):
        raise ValueError(
            f"small_group_size must be a positive number of images; got {small_group_size!r}."
        )
    yt = as_1d(y_true, "y_true")
    yp = as_1d(y_pred, "y_pred")
    if isinstance(groups, pd.Series):
        groups = groups.to_frame()
    if not isinstance(groups, pd.DataFrame):
        raise ValueError(
            f"groups must be a DataFrame with one row per image (e.g. the label frame of "
            f"skface.datasets.load_utkface); got {type(groups).__name__}."
        )
    check_same_length(y_true=yt, y_pred=yp, groups=groups)
    if metric == "mae":
        yt, yp = ages_of(yt, "y_true"), ages_of(yp, "y_pred")
    groups = groups.reset_index(drop=True)

    if columns is None:
        chosen = [
            f"{c}_name" if f"{c}_name" in groups.columns else c
            for c in _DEFAULT_GROUP_COLUMNS
            if c in groups.columns or f"{c}_name" in groups.columns
        ]
        columns = chosen or [c for c in groups.columns if c != "path"]
    else:
        columns = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in columns if c not in groups.columns]
        if unknown:
            raise ValueError(
                f"columns {unknown} are not in groups (its columns are "
                f"{list(groups.columns)}); pass names of groups' columns."
            )
    if not columns:
        raise ValueError("groups has no column to split by; pass at least one column.")

    overall = _score(metric, yt, yp)
    rows = [(OVERALL, "all", len(yt), overall, *_interval(metric, yt, yp))]
    for column in columns:
        labels = group_labels(groups[column], column, age_bins)
        for name, positions in iter_groups(labels):  # groups with images only
            true, pred = yt[positions], yp[positions]
            rows.append((column, name, positions.size, _score(metric, true, pred),
                         *_interval(metric, true, pred)))
    table = pd.DataFrame(rows, columns=["column", "group", "n", metric, "ci_low", "ci_high"])
    table["vs_overall"] = table[metric] - overall
    table["small"] = table["n"] < small_group_size
    table.attrs["small_group_size"] = int(small_group_size)
    return table


def column_title(column) -> str:
    """How a grouping column of :func:`group_metrics`' table is named for people.

    The names column of a coded label is named after the label (``gender_name`` is
    "gender"), the ``age`` column, split into age groups, is "age group"; any other
    column keeps its name.
    """
    column = str(column)
    if column == "age":
        return "age group"
    if column.endswith("_name") and len(column) > len("_name"):
        return column[: -len("_name")]
    return column


def table_metric(table) -> str:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"table must be the DataFrame returned by group_metrics; got {type(table).__name__}."
        )
    metrics = [m for m in METRIC_LABELS if m in table.columns]
    missing = [c for c in ("column", "group", "n") if c not in table.columns]
    if missing or len(metrics) != 1:
        raise ValueError(
            f"table lacks the columns {missing or ['accuracy or mae']} (it has "
            f"{list(table.columns)}); pass the output of skface.plots.group_metrics."
        )
    return metrics[0]
