"""Reports and figures: per-group metrics, learning curves, predictions and the data.

:func:`group_metrics` needs only pandas and scikit-learn. Every ``plot_*`` function
needs matplotlib, an optional dependency (``pip install "skface[plot]"``); it is
imported inside the functions, so ``import skface.plots`` does not import it. Each
``plot_*`` function returns the matplotlib :class:`~matplotlib.figure.Figure` it drew
on; those that draw on a single axes also take ``ax`` to draw into an existing one.

Model reports

- :func:`group_metrics` -- accuracy or MAE per gender, race and age group, with counts
  and the overall figure, so that a model that is worse for one group shows it.
- :func:`plot_group_metrics` -- that table as a bar chart.
- :func:`plot_learning_curves` -- losses and validation score per epoch of a fitted
  estimator.
- :func:`plot_confusion_matrix` -- a classifier's confusion matrix.
- :func:`plot_age_predictions` -- predicted against true age, and MAE by age group.

Looking at the data (label frames as returned by :func:`skface.datasets.load_utkface`)

- :func:`plot_age_histogram`, :func:`plot_counts`, :func:`plot_age_by`,
  :func:`plot_sample_grid`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, mean_absolute_error
from sklearn.utils import check_random_state

from ._age_bins import AgeBinEncoder
from ._utils import import_optional

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "group_metrics",
    "plot_age_by",
    "plot_age_histogram",
    "plot_age_predictions",
    "plot_confusion_matrix",
    "plot_counts",
    "plot_group_metrics",
    "plot_learning_curves",
    "plot_sample_grid",
]

# task -> the metric group_metrics reports for it
_TASK_METRICS = {
    "age": "mae",
    "regression": "mae",
    "gender": "accuracy",
    "race": "accuracy",
    "age_group": "accuracy",
    "classification": "accuracy",
}
_METRIC_LABELS = {"accuracy": "accuracy", "mae": "MAE (years)"}
_DEFAULT_GROUP_COLUMNS = ("gender", "race", "age")
_OVERALL = "overall"
_MISSING = "missing"
_NORMALIZE = (None, "true", "pred", "all")
_SCORE_KEYS = {"valid_acc": "validation accuracy", "valid_mae": "validation MAE (years)"}


# --------------------------------------------------------------------------- helpers


def _pyplot():
    """matplotlib.pyplot, or a MissingDependencyError that says how to install it."""
    return import_optional("matplotlib.pyplot", "plot", "skface.plots",
                           hint='or pip install "matplotlib>=3.7"')


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
        return fig, ax
    _pyplot()
    return ax.figure, ax


def _as_1d(values, name: str) -> np.ndarray:
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


def _check_same_length(**arrays) -> int:
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


def _ages(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must hold ages in years (numbers) for task='age'; got values such as "
            f"{list(np.asarray(values, dtype=object)[:3])}. Use a classification task for labels."
        ) from None


def _frame_column(frame, column: str, caller: str, *, prefer_names: bool = True) -> str:
    """The column of ``frame`` to use for ``column`` (``<column>_name`` when present)."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"{caller} needs a label DataFrame such as skface.datasets.load_utkface's "
            f"output; got {type(frame).__name__}."
        )
    if prefer_names and f"{column}_name" in frame.columns:
        return f"{column}_name"
    if column in frame.columns:
        return column
    raise ValueError(
        f"{caller}: column {column!r} is not in the frame (its columns are "
        f"{list(frame.columns)}); pass a frame with a {column!r} column, e.g. "
        "skface.datasets.load_utkface's output, or name one of its columns."
    )


def _caption(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return f"{value:g}"
    return str(value)


def _group_labels(values: pd.Series, column: str, age_bins) -> pd.Categorical:
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
        return cat.rename_categories([_caption(c) for c in cat.categories])
    cat = pd.Categorical(values)
    return cat.rename_categories([_caption(c) for c in cat.categories])


def _iter_groups(labels: pd.Categorical):
    """(name, positions) for each observed group in order, then the missing ones."""
    codes = np.asarray(labels.codes)
    for code, name in enumerate(labels.categories):
        positions = np.flatnonzero(codes == code)
        if positions.size:
            yield str(name), positions
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        yield _MISSING, missing


def _score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    return float(mean_absolute_error(y_true, y_pred))


# --------------------------------------------------------------------- group metrics


def group_metrics(
    y_true,
    y_pred,
    groups: pd.DataFrame,
    task: str,
    *,
    columns: Sequence[str] | None = None,
    age_bins="decades",
) -> pd.DataFrame:
    """Accuracy or mean absolute error per group, with counts and the overall figure.

    A model can be good on average and poor for one gender, race or age group; this
    table shows it. It needs no matplotlib; :func:`plot_group_metrics` draws it.

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

    Returns
    -------
    table : DataFrame
        One row per group, after a first row for all images, with columns
        ``column`` (the grouping column, ``"overall"`` for the first row), ``group``
        (the group's name, ``"all"`` for the first row, ``"missing"`` for images
        whose group is unknown), ``n`` (the number of images), the metric
        (``accuracy`` or ``mae``) and ``vs_overall`` (the metric minus the overall
        one: a negative accuracy or a positive MAE difference is a worse group).

    Raises
    ------
    ValueError
        If the inputs differ in length, ``task`` is unknown or a column is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from skface.plots import group_metrics
    >>> groups = pd.DataFrame({"gender": ["male", "male", "female", "female"]})
    >>> group_metrics([0, 1, 1, 1], [0, 1, 0, 1], groups, task="gender")
        column   group  n  accuracy  vs_overall
    0  overall     all  4      0.75        0.00
    1   gender  female  2      0.50       -0.25
    2   gender    male  2      1.00        0.25
    """
    metric = _check_task(task)
    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_pred, "y_pred")
    if isinstance(groups, pd.Series):
        groups = groups.to_frame()
    if not isinstance(groups, pd.DataFrame):
        raise ValueError(
            f"groups must be a DataFrame with one row per image (e.g. the label frame of "
            f"skface.datasets.load_utkface); got {type(groups).__name__}."
        )
    _check_same_length(y_true=yt, y_pred=yp, groups=groups)
    if metric == "mae":
        yt, yp = _ages(yt, "y_true"), _ages(yp, "y_pred")
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
    rows = [(_OVERALL, "all", len(yt), overall)]
    for column in columns:
        labels = _group_labels(groups[column], column, age_bins)
        for name, positions in _iter_groups(labels):
            rows.append((column, name, positions.size, _score(metric, yt[positions],
                                                              yp[positions])))
    table = pd.DataFrame(rows, columns=["column", "group", "n", metric])
    table["vs_overall"] = table[metric] - overall
    return table


def _table_metric(table) -> str:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"table must be the DataFrame returned by group_metrics; got {type(table).__name__}."
        )
    metrics = [m for m in _METRIC_LABELS if m in table.columns]
    missing = [c for c in ("column", "group", "n") if c not in table.columns]
    if missing or len(metrics) != 1:
        raise ValueError(
            f"table lacks the columns {missing or ['accuracy or mae']} (it has "
            f"{list(table.columns)}); pass the output of skface.plots.group_metrics."
        )
    return metrics[0]


def plot_group_metrics(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Bar chart of :func:`group_metrics`' table, with the overall figure as a line.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`group_metrics`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made by default.

    Returns
    -------
    fig : matplotlib Figure
        One horizontal bar per group (coloured by grouping column, labelled
        ``"column: group"`` and annotated with the value and count) and a dashed
        vertical line at the overall value.

    Raises
    ------
    ValueError
        If ``table`` is not a :func:`group_metrics` table or has no group rows.
    """
    metric = _table_metric(table)
    rows = table[table["column"] != _OVERALL].reset_index(drop=True)
    if rows.empty:
        raise ValueError("table has no group rows to plot; group_metrics made it from no groups.")
    overall = table.loc[table["column"] == _OVERALL, metric]
    fig, ax = _new_axes(ax, (7, 0.35 * len(rows) + 1.5))

    grouping = list(dict.fromkeys(rows["column"]))
    colors = [f"C{grouping.index(c) % 10}" for c in rows["column"]]
    positions = np.arange(len(rows))
    bars = ax.barh(positions, rows[metric], color=colors)
    ax.set_yticks(positions, [f"{c}: {g}" for c, g in zip(rows["column"], rows["group"],
                                                          strict=True)])
    ax.invert_yaxis()
    fmt = "{:.3f}" if metric == "accuracy" else "{:.2f}"
    ax.bar_label(bars, [f" {fmt.format(v)} (n={n})" for v, n in zip(rows[metric], rows["n"],
                                                                   strict=True)], fontsize=8)
    if len(overall):
        value = float(overall.iloc[0])
        ax.axvline(value, color="k", linestyle="--", linewidth=1,
                   label=f"overall {fmt.format(value)}")
        ax.legend(loc="lower right")
    upper = float(np.nanmax(rows[metric]))
    ax.set_xlim(0, (1.0 if metric == "accuracy" else upper) * 1.3 or 1.0)
    ax.set_xlabel(_METRIC_LABELS[metric])
    ax.set_title(f"{_METRIC_LABELS[metric].split(' ')[0]} by group")
    return fig


# --------------------------------------------------------------------- model reports


def _history(estimator) -> list[dict]:
    history = getattr(estimator, "history_", estimator)
    if history is None or (hasattr(estimator, "history_") and len(history) == 0):
        raise NotFittedError(
            f"{type(estimator).__name__} has no training history yet; call fit before "
            "plot_learning_curves."
        )
    if not isinstance(history, Sequence) or not all(isinstance(row, dict) for row in history):
        raise ValueError(
            f"plot_learning_curves needs a fitted skface estimator (with a skorch history_); "
            f"got {type(estimator).__name__}."
        )
    if len(history) == 0:
        raise ValueError("the history is empty; fit the estimator for at least one epoch.")
    return list(history)


def plot_learning_curves(estimator) -> Figure:
    """Training and validation loss, and the validation score, per epoch.

    Parameters
    ----------
    estimator : fitted skface estimator
        E.g. a fitted :class:`skface.GenderClassifier`; its skorch ``history_`` is
        read (a skorch ``History`` or a list of per-epoch dicts is accepted too).

    Returns
    -------
    fig : matplotlib Figure
        A loss axes (``train_loss`` and, when a validation split was used,
        ``valid_loss``) and, when recorded, a second axes with the validation score
        (``valid_acc`` for classifiers, ``valid_mae`` in years for
        :class:`skface.AgeRegressor`). With early stopping, a dotted line marks the
        epoch whose weights it restored.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator has not been fitted (a subclass of ValueError).
    ValueError
        If ``estimator`` has no skorch history.
    """
    history = _history(estimator)
    plt = _pyplot()

    def column(key):
        return np.array([np.nan if row.get(key) is None else float(row[key]) for row in history])

    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    present = {key for row in history for key in row}
    score_key = next((k for k in _SCORE_KEYS if k in present), None)
    n_axes = 2 if score_key else 1
    fig, axes = plt.subplots(1, n_axes, figsize=(5 * n_axes, 3.8), squeeze=False,
                             layout="constrained")
    loss_ax = axes[0, 0]
    for key, label in (("train_loss", "training loss"), ("valid_loss", "validation loss")):
        if key in present:
            loss_ax.plot(epochs, column(key), marker="o", label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")

    # the epoch whose weights early stopping restored (none when it did not run: the
    # last epoch's weights are kept)
    stopper = dict(getattr(estimator, "callbacks_", None) or []).get("early_stopping")
    best = getattr(stopper, "best_epoch_", None)
    best = int(best) if best else None
    if score_key:
        score_ax = axes[0, 1]
        score_ax.plot(epochs, column(score_key), marker="o", color="C2",
                      label=_SCORE_KEYS[score_key])
        score_ax.set_xlabel("epoch")
        score_ax.set_ylabel(_SCORE_KEYS[score_key])
        score_ax.set_title(_SCORE_KEYS[score_key])
    for ax in axes[0]:
        if best is not None:
            ax.axvline(best, color="k", linestyle=":", linewidth=1, label=f"kept epoch ({best})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    if not isinstance(estimator, Sequence):
        fig.suptitle(type(estimator).__name__)
    return fig


def plot_confusion_matrix(
    y_true,
    y_pred,
    labels=None,
    *,
    normalize: str | None = "true",
    display_labels=None,
    ax: Axes | None = None,
    cmap: str = "Blues",
    colorbar: bool = True,
) -> Figure:
    """Confusion matrix of a classifier's predictions.

    Drawn by :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_predictions`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels for the same images.
    labels : array-like, optional
        Labels to show, in this order; by default those in ``y_true`` or ``y_pred``,
        sorted.
    normalize : {"true", "pred", "all"} or None, default="true"
        ``"true"``: each row sums to 1, so the diagonal is each class's recall, which
        stays readable when classes are unbalanced; ``"pred"``: columns sum to 1;
        ``"all"``: the whole matrix sums to 1; None: counts.
    display_labels : array-like, optional
        Names shown for ``labels`` (e.g. ``skface.GENDER_NAMES`` for codes 0 and 1).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made by default.
    cmap : str, default="Blues"
        Colour map.
    colorbar : bool, default=True
        Whether to add a colour bar.

    Returns
    -------
    fig : matplotlib Figure
        Rows are true labels, columns predicted labels.

    Raises
    ------
    ValueError
        If the inputs differ in length or ``normalize`` is unknown.
    """
    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_pred, "y_pred")
    _check_same_length(y_true=yt, y_pred=yp)
    if normalize not in _NORMALIZE:
        raise ValueError(
            f"unknown normalize={normalize!r}; use 'true' (rows sum to 1), 'pred' (columns "
            "sum to 1), 'all' or None (counts)."
        )
    _pyplot()
    display = ConfusionMatrixDisplay.from_predictions(
        yt, yp, labels=labels, normalize=normalize, display_labels=display_labels, ax=ax,
        cmap=cmap, colorbar=colorbar, values_format=".2f" if normalize else "d",
    )
    title = "confusion matrix" + {None: " (counts)", "true": " (rows sum to 1)",
                                  "pred": " (columns sum to 1)", "all": " (fractions)"}[normalize]
    display.ax_.set_title(title)
    return display.figure_


def plot_age_predictions(y_true, y_pred, *, age_bins="decades") -> Figure:
    """Predicted against true age, and the mean absolute error by true age group.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True ages in years.
    y_pred : array-like of shape (n_samples,)
        Predicted ages in years, for the same images.
    age_bins : str or array-like, default="decades"
        Age groups of the second axes: :class:`skface.AgeBinEncoder`'s ``bins``.

    Returns
    -------
    fig : matplotlib Figure
        Two axes: a scatter of predicted against true age with the identity line
        (a perfect prediction), and a bar per true age group with its MAE and count,
        the overall MAE as a dashed line.

    Raises
    ------
    ValueError
        If the inputs differ in length or are not numbers.
    """
    yt = _ages(_as_1d(y_true, "y_true"), "y_true")
    yp = _ages(_as_1d(y_pred, "y_pred"), "y_pred")
    _check_same_length(y_true=yt, y_pred=yp)
    table = group_metrics(yt, yp, pd.DataFrame({"age": yt}), "age", age_bins=age_bins)
    overall = float(table["mae"].iloc[0])
    rows = table.iloc[1:]

    plt = _pyplot()
    fig, (scatter_ax, bar_ax) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    scatter_ax.scatter(yt, yp, s=10, alpha=min(1.0, max(0.15, 200 / len(yt))),
                       edgecolors="none", label="images")
    top = float(max(yt.max(), yp.max(), 1.0)) * 1.05
    scatter_ax.plot([0, top], [0, top], color="k", linestyle="--", linewidth=1,
                    label="predicted = true")
    scatter_ax.set_xlim(0, top)
    scatter_ax.set_ylim(0, top)
    scatter_ax.set_aspect("equal")
    scatter_ax.set_xlabel("true age (years)")
    scatter_ax.set_ylabel("predicted age (years)")
    scatter_ax.set_title(f"MAE {overall:.2f} years (n={len(yt)})")
    scatter_ax.legend(loc="upper left")

    positions = np.arange(len(rows))
    bars = bar_ax.bar(positions, rows["mae"])
    bar_ax.bar_label(bars, [f"n={n}" for n in rows["n"]], fontsize=8)
    bar_ax.axhline(overall, color="k", linestyle="--", linewidth=1,
                   label=f"overall {overall:.2f}")
    bar_ax.set_xticks(positions, list(rows["group"]), rotation=45, ha="right")
    bar_ax.set_xlabel("true age group")
    bar_ax.set_ylabel("MAE (years)")
    bar_ax.set_title("MAE by age group")
    bar_ax.legend()
    return fig


# ----------------------------------------------------------------------- the data set


def plot_age_histogram(frame: pd.DataFrame, *, bins=None, ax: Axes | None = None) -> Figure:
    """Histogram of the ages in a label frame.

    Parameters
    ----------
    frame : DataFrame
        Label frame with an ``age`` column, e.g. from
        :func:`skface.datasets.load_utkface`. Missing ages are left out.
    bins : int, sequence or str, optional
        Passed to :meth:`matplotlib.axes.Axes.hist`; by default one bin per year.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made by default.

    Returns
    -------
    fig : matplotlib Figure
        The histogram and a dashed line at the median age.

    Raises
    ------
    ValueError
        If ``frame`` has no ``age`` column or no ages.
    """
    column = _frame_column(frame, "age", "plot_age_histogram", prefer_names=False)
    ages = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(dtype=np.float64)
    if ages.size == 0:
        raise ValueError("plot_age_histogram: the age column has no ages; nothing to plot.")
    if bins is None:
        bins = np.arange(0, math.floor(ages.max()) + 2)
    fig, ax = _new_axes(ax, (7, 3.8))
    ax.hist(ages, bins=bins, color="C0")
    median = float(np.median(ages))
    ax.axvline(median, color="k", linestyle="--", linewidth=1, label=f"median {median:g}")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("images")
    ax.set_title(f"age distribution (n={ages.size})")
    ax.legend()
    return fig


def plot_counts(
    frame: pd.DataFrame, column: str, *, age_bins="decades", ax: Axes | None = None
) -> Figure:
    """Number of images per gender, race (or other label) in a label frame.

    Parameters
    ----------
    frame : DataFrame
        Label frame, e.g. from :func:`skface.datasets.load_utkface`.
    column : str
        ``"gender"`` or ``"race"`` (their ``_name`` columns are used when present,
        so bars are named "male", "Asian", ...), ``"age"`` (counted per age group)
        or any other column of ``frame``.
    age_bins : str or array-like, default="decades"
        Age groups for ``column="age"``: :class:`skface.AgeBinEncoder`'s ``bins``.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made by default.

    Returns
    -------
    fig : matplotlib Figure
        One bar per value (every category of a categorical column, even with no
        images; a "missing" bar for missing labels), annotated with count and share.

    Raises
    ------
    ValueError
        If ``column`` is not in ``frame``.
    """
    name = _frame_column(frame, column, "plot_counts")
    labels = _group_labels(frame[name], name, age_bins)
    counts = pd.Series(labels).value_counts(sort=False, dropna=False)
    names = [_MISSING if pd.isna(k) else str(k) for k in counts.index]
    values = counts.to_numpy()
    total = max(int(values.sum()), 1)
    fig, ax = _new_axes(ax, (max(4.0, 0.8 * len(names) + 2), 3.8))
    positions = np.arange(len(names))
    bars = ax.bar(positions, values, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, [f"{v} ({100 * v / total:.0f}%)" for v in values], fontsize=8)
    ax.set_xticks(positions, names, rotation=30 if len(names) > 5 else 0)
    ax.set_xlabel(column)
    ax.set_ylabel("images")
    ax.set_title(f"images per {column} (n={len(frame)})")
    ax.margins(y=0.12)
    return fig


def plot_age_by(
    frame: pd.DataFrame, column: str, *, kind: str = "box", ax: Axes | None = None
) -> Figure:
    """Distribution of age per gender, race (or other label), as boxes or violins.

    Parameters
    ----------
    frame : DataFrame
        Label frame with an ``age`` column and ``column``, e.g. from
        :func:`skface.datasets.load_utkface`. Rows with a missing age are left out.
    column : str
        ``"gender"``, ``"race"`` (names used when present) or another column.
    kind : {"box", "violin"}, default="box"
        Box plots (median, quartiles, whiskers at 1.5 IQR) or violins with medians.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made by default.

    Returns
    -------
    fig : matplotlib Figure
        One box or violin per group with images, tick labels giving the count.

    Raises
    ------
    ValueError
        If a column is missing, ``kind`` is unknown or there are no ages.
    """
    if kind not in ("box", "violin"):
        raise ValueError(f"unknown kind={kind!r}; use 'box' or 'violin'.")
    age_column = _frame_column(frame, "age", "plot_age_by", prefer_names=False)
    name = _frame_column(frame, column, "plot_age_by")
    ages = pd.to_numeric(frame[age_column], errors="coerce").to_numpy(dtype=np.float64)
    labels = _group_labels(frame[name], name, "decades")
    data, names = [], []
    for group, positions in _iter_groups(labels):
        values = ages[positions]
        values = values[~np.isnan(values)]
        if values.size:
            data.append(values)
            names.append(f"{group}\n(n={values.size})")
    if not data:
        raise ValueError("plot_age_by: no row has both an age and a group; nothing to plot.")
    fig, ax = _new_axes(ax, (max(4.0, 1.1 * len(data) + 2), 4.0))
    positions = np.arange(1, len(data) + 1)
    if kind == "box":
        ax.boxplot(data, positions=positions, widths=0.6)
    else:
        # a group of one distinct age has no spread for a density: show it as a point
        spread = [i for i, d in enumerate(data) if np.ptp(d) > 0]
        if spread:
            ax.violinplot([data[i] for i in spread], positions=positions[spread],
                          showmedians=True)
        for i in set(range(len(data))) - set(spread):
            ax.plot(positions[i], data[i][0], marker="_", markersize=20, color="C0")
    ax.set_xticks(positions, names)
    ax.set_xlabel(column)
    ax.set_ylabel("age (years)")
    ax.set_title(f"age by {column}")
    return fig


def plot_sample_grid(
    paths_or_images,
    labels=None,
    n: int = 16,
    *,
    ncols: int | None = None,
    size: int = 96,
    random_state=None,
) -> Figure:
    """A grid of images with their labels as captions.

    Parameters
    ----------
    paths_or_images : sequence of str or path-like, or ndarray
        Image files (decoded with :class:`skface.ImageLoader` at ``size`` pixels),
        or images as returned by ``ImageLoader``: an array of shape
        ``(n_images, height, width, channels)`` (uint8, or floats in [0, 1]) or
        ``(n_images, height, width)`` for grey images.
    labels : sequence or DataFrame, optional
        A caption per image (same length as ``paths_or_images``); a DataFrame's row
        values are joined, e.g. ``frame[["age", "gender_name", "race_name"]]``
        gives "26, female, Asian".
    n : int, default=16
        Number of images shown (all when there are fewer).
    ncols : int, optional
        Columns of the grid; by default about the square root of the number shown.
    size : int, default=96
        Side in pixels of images decoded from paths.
    random_state : int, RandomState instance or None, default=None
        None shows the first ``n`` images; otherwise ``n`` drawn at random (without
        replacement) with this seed.

    Returns
    -------
    fig : matplotlib Figure
        One axes per grid cell; cells past the last image are blank.

    Raises
    ------
    ValueError
        If ``labels`` has the wrong length, ``n`` is not positive or the input is
        neither paths nor an image array.
    """
    if isinstance(paths_or_images, (str, os.PathLike)):
        paths_or_images = [paths_or_images]
    is_array = isinstance(paths_or_images, np.ndarray) and paths_or_images.ndim in (3, 4)
    if not is_array:
        items = list(paths_or_images)
        if not all(isinstance(p, (str, os.PathLike)) for p in items):
            raise ValueError(
                "paths_or_images must be image file paths or an image array of shape "
                "(n_images, height, width, channels) as made by skface.ImageLoader; got "
                f"{type(paths_or_images).__name__}."
            )
    total = len(paths_or_images)
    if total == 0:
        raise ValueError("paths_or_images is empty; pass at least one image.")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of images to show; got {n!r}.")
    if labels is not None:
        if isinstance(labels, pd.DataFrame):
            captions = [", ".join(_caption(v) for v in row)
                        for row in labels.itertuples(index=False)]
        elif isinstance(labels, pd.Series):
            captions = [_caption(v) for v in labels.to_numpy()]
        else:
            captions = [_caption(v) for v in labels]
        if len(captions) != total:
            raise ValueError(
                f"labels has {len(captions)} entries but paths_or_images has {total}; pass "
                "one label per image, in the same order."
            )
    k = min(int(n), total)
    if random_state is None:
        chosen = np.arange(k)
    else:
        chosen = np.sort(check_random_state(random_state).choice(total, size=k, replace=False))
    if is_array:
        images = np.asarray(paths_or_images)[chosen]
    else:
        from ._image_loader import ImageLoader

        images = ImageLoader(size=size).fit_transform([items[i] for i in chosen])
    if images.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(images)) <= 1.0 else 1.0
        images = np.clip(images * scale, 0, 255).astype(np.uint8)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]

    plt = _pyplot()
    ncols = ncols or math.ceil(math.sqrt(k))
    nrows = math.ceil(k / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 1.9 * nrows), squeeze=False,
                             layout="constrained")
    for cell, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if cell >= k:
            continue
        image = images[cell]
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        if labels is not None:
            ax.set_title(captions[chosen[cell]], fontsize=8)
    return fig
