"""Reports and figures: per-group metrics, learning curves, predictions and the data.

:func:`group_metrics` needs only pandas and scikit-learn (it is defined in a module
that never imports matplotlib, and re-exported here). Every ``plot_*`` function
needs matplotlib, an optional dependency (``pip install "skface[plot]"``); it is
imported inside the functions, so ``import skface.plots`` does not import it. Each
``plot_*`` function returns the matplotlib :class:`~matplotlib.figure.Figure` it drew
on; those that draw on a single axes also take ``ax`` to draw into an existing one.

Model reports

- :func:`group_metrics` -- accuracy or MAE per gender, race and age group, with counts
  and the overall figure, so that a model that is worse for one group shows it.
- :func:`plot_group_metrics` -- that table as a bar chart.
- :func:`plot_learning_curves` -- losses and each task's validation score per epoch of a fitted
  estimator.
- :func:`plot_confusion_matrix` -- a classifier's confusion matrix.
- :func:`plot_age_predictions` -- predicted against true age, and MAE by age group.

Looking at the data (label frames as returned by :func:`skface.datasets.load_utkface`)

- :func:`plot_age_histogram`, :func:`plot_counts`, :func:`plot_age_by`,
  :func:`plot_sample_grid`.
"""

# One module, though long: it is the public ``skface.plots`` namespace, each function
# draws one figure on the same few helpers, and most of its lines are the functions'
# documentation; splitting it would scatter one namespace without separating concerns.

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import unique_labels

from ._metrics import (
    CONFIDENCE,
    METRIC_LABELS,
    MISSING,
    OVERALL,
    SMALL_GROUP_SIZE,
    age_summary,
    ages_of,
    as_1d,
    caption,
    check_same_length,
    column_title,
    format_age,
    group_labels,
    group_metrics,
    iter_groups,
    table_metric,
)
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

_NORMALIZE = (None, "true", "pred", "all")
_SCORE_LABELS = {"acc": "validation accuracy", "mae": "validation MAE (years)"}
_SMALL_HATCH = "///"


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


# --------------------------------------------------------------------- group metrics


def _small_flags(rows: pd.DataFrame, threshold: int) -> np.ndarray:
    if "small" in rows.columns:
        return rows["small"].to_numpy(dtype=bool)
    return rows["n"].to_numpy() < threshold


def _literal(texts) -> None:
    """Show ``texts`` as written: a label such as ``$5-$10`` or ``$\\x$`` is a name, not
    mathematics for matplotlib to typeset (or fail on when the figure is saved)."""
    for text in texts:
        text.set_parse_math(False)


def _group_bars(ax: Axes, rows: pd.DataFrame, metric: str, *, threshold: int,
                horizontal: bool, colors=None, labels=None,
                positions=None) -> tuple[list, list]:
    """One bar per row of a group table: small groups hatched, the 95% confidence
    interval (when the table has one) as a whisker, ``labels`` written past its end.

    Returns the legend handles of what was drawn (the interval, the hatching) and the
    value labels as ``(text, value, position)``, for :func:`_keep_inside` to place once
    the axes' limits are set.
    """
    positions = np.arange(len(rows)) if positions is None else np.asarray(positions)
    values = rows[metric].to_numpy(dtype=np.float64)
    small = _small_flags(rows, threshold)
    bars = (ax.barh if horizontal else ax.bar)(positions, values, color=colors)
    for bar, flag in zip(bars, small, strict=True):
        if flag:
            bar.set_hatch(_SMALL_HATCH)
            bar.set_edgecolor("white")
    ends = values.copy()
    handles = []
    if {"ci_low", "ci_high"} <= set(rows.columns):
        low = rows["ci_low"].to_numpy(dtype=np.float64)
        high = rows["ci_high"].to_numpy(dtype=np.float64)
        known = ~(np.isnan(low) | np.isnan(high))
        if known.any():
            err = np.maximum(np.vstack([values - low, high - values])[:, known], 0.0)
            xy = (values[known], positions[known]) if horizontal else (positions[known],
                                                                       values[known])
            handles.append(ax.errorbar(
                *xy, **{"xerr" if horizontal else "yerr": err}, fmt="none", ecolor="k",
                elinewidth=1, capsize=0, label=f"{CONFIDENCE:.0%} confidence interval"))
            ends[known] = np.fmax(values[known], high[known])
    if small.any():
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="0.6", edgecolor="white", hatch=_SMALL_HATCH,
                             label=f"small group (fewer than {threshold} images)"))
    placed = []
    for position, end, value, label in zip(positions, ends, values, labels or [],
                                           strict=False):
        if horizontal:
            text = ax.text(end, position, f" {label}", va="center", ha="left",
                           fontsize="small")
        else:
            text = ax.text(position, end, label, va="bottom", ha="center", fontsize="small")
        text.set_in_layout(False)  # placed inside the axes once the layout is known
        placed.append((text, float(value), float(position)))
    return handles, placed


def _keep_inside(ax: Axes, placed: list, *, horizontal: bool) -> None:
    """Keep the value labels of :func:`_group_bars` inside the axes.

    A label that would stick out past the whisker moves inside its bar's end or, on a
    bar too short to hold it, just past the bar's value; on a white background, so
    that bars, hatching and whiskers under it do not hide it. Call once the axes'
    limits are set.
    """
    if not placed:
        return
    ax.figure.draw_without_rendering()  # the layout, and so every position, is final
    box = ax.get_window_extent()
    # a label as high (across horizontal bars: as wide) as a bar's slot at most, so that
    # labels neither overlap nor leave the axes at its first and last bar
    pitch = np.abs(np.diff(ax.transData.transform([(0.0, 0.0), (1.0, 1.0)]), axis=0))[0]
    room = float(pitch[1] if horizontal else pitch[0])
    for text, _, _ in placed:
        extent = text.get_window_extent()
        size = extent.height if horizontal else extent.width
        if size > room > 0:
            text.set_fontsize(text.get_fontsize() * room / size * 0.95)

    def outside(text) -> bool:
        extent = text.get_window_extent()
        return (extent.x0 < box.x0 - 0.5 or extent.x1 > box.x1 + 0.5
                or extent.y0 < box.y0 - 0.5 or extent.y1 > box.y1 + 0.5)

    for text, value, position in placed:
        if not outside(text):
            continue
        label = text.get_text().strip()
        text.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.85,
                       "pad": 1.0})
        if horizontal:
            text.set(x=value, text=f"{label} ", ha="right")
        else:
            text.set(y=value, va="top")
        extent = text.get_window_extent()
        base = ax.transData.transform((0.0, position) if horizontal else (position, 0.0))
        in_bar = (extent.x0 >= base[0] - 0.5) if horizontal else (extent.y0 >= base[1] - 0.5)
        if not in_bar or outside(text):  # too short a bar: just past its value
            if horizontal:
                text.set(x=value, text=f" {label}", ha="left")
            else:
                text.set(y=value, va="bottom")
        text.set_clip_on(True)


def _left_out(rows: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Rows with images, and a legend entry naming the groups without (never 0 bars)."""
    empty = rows["n"].to_numpy() == 0
    if not empty.any():
        return rows, []
    from matplotlib.lines import Line2D

    names = ", ".join(f"{column_title(c)}: {g}" for c, g in zip(
        rows["column"][empty], rows["group"][empty], strict=True))
    return (rows[~empty].reset_index(drop=True),
            [Line2D([], [], linestyle="none", label=f"no images, not drawn: {names}")])


def _joined(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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
        One horizontal bar per group, labelled with the group (``male``,
        ``Asian``, ``20-29``), coloured by grouping column and annotated with the
        value and count inside the axes; each grouping column is named once, in
        the title and, when there are several, in bold above its groups
        (``gender_name`` is shown as "gender", the age groups as "age group"). An
        accuracy axis runs from 0 to 1. Each bar has its 95% confidence interval as
        a whisker (from the table's ``ci_low`` and ``ci_high``), and a dashed
        vertical line marks the overall value. Small groups (the table's ``small``
        column; fewer than 30 images when it has none) are hatched, and the legend
        says so. A row without images (``n`` of 0) has no bar: the legend names it
        instead. Group names are shown as written (a ``$`` is not mathematics).

    Raises
    ------
    ValueError
        If ``table`` is not a :func:`group_metrics` table or has no group rows
        with images.
    """
    metric = table_metric(table)
    threshold = int(table.attrs.get("small_group_size", SMALL_GROUP_SIZE))
    rows = table[table["column"] != OVERALL].reset_index(drop=True)
    if rows.empty:
        raise ValueError("table has no group rows to plot; group_metrics made it from no groups.")
    rows, notes = _left_out(rows)
    if rows.empty:
        raise ValueError("table has no group with images to plot; every group has n=0.")
    overall = table.loc[table["column"] == OVERALL, metric]
    grouping = list(dict.fromkeys(rows["column"]))
    # each column's groups together, under a heading row when there are several columns
    rows = pd.concat([rows[rows["column"] == c] for c in grouping], ignore_index=True)
    headed = len(grouping) > 1
    positions, ticks, tick_labels, headings = [], [], [], []
    for column in grouping:
        if headed:
            headings.append(len(ticks))
            ticks.append(len(ticks))
            tick_labels.append(column_title(column))
        for group in rows.loc[rows["column"] == column, "group"]:
            positions.append(len(ticks))
            ticks.append(len(ticks))
            tick_labels.append(str(group))
    fig, ax = _new_axes(ax, (10, 0.35 * len(ticks) + 1.5))

    colors = [f"C{grouping.index(c) % 10}" for c in rows["column"]]
    fmt = "{:.3f}" if metric == "accuracy" else "{:.2f}"
    handles, placed = _group_bars(
        ax, rows, metric, threshold=threshold, horizontal=True, colors=colors,
        positions=positions,
        labels=[f"{fmt.format(v)} (n={n:,})" for v, n in zip(rows[metric], rows["n"],
                                                              strict=True)])
    ax.set_yticks(ticks, tick_labels, parse_math=False)
    for i in headings:
        tick = ax.yaxis.get_major_ticks()[i]
        tick.label1.set_fontweight("bold")
        tick.tick1line.set_visible(False)
    ax.set_ylim(len(ticks) - 0.5, -0.5)  # the first group at the top
    if len(overall):
        value = float(overall.iloc[0])
        handles.insert(0, ax.axvline(value, color="k", linestyle="--", linewidth=1,
                                     label=f"overall {fmt.format(value)}"))
    if handles or notes:
        legend = ax.legend(handles=handles + notes, loc="upper left",
                           bbox_to_anchor=(1.01, 1.0), fontsize="small")
        _literal(legend.get_texts())
    if metric == "accuracy":
        ax.set_xlim(0.0, 1.0)
    else:
        upper = float(np.nanmax(np.fmax(rows[metric], rows.get("ci_high", rows[metric]))))
        ax.set_xlim(0.0, upper * 1.3 or 1.0)
    ax.set_xlabel(METRIC_LABELS[metric])
    title = ax.set_title(f"{METRIC_LABELS[metric].split(' ')[0]} by "
                         f"{_joined([column_title(c) for c in grouping])}")
    _literal([title])
    _keep_inside(ax, placed, horizontal=True)
    return fig


# --------------------------------------------------------------------- model reports


def _final_step(estimator):
    """The estimator a (possibly nested) Pipeline ends with; anything else as it is."""
    from sklearn.pipeline import Pipeline

    while isinstance(estimator, Pipeline):
        if not estimator.steps or estimator[-1] in (None, "passthrough"):
            raise ValueError(
                "the Pipeline's last step is not an estimator (it is empty or "
                "'passthrough'); pass a Pipeline that ends with a fitted skface estimator."
            )
        estimator = estimator[-1]
    return estimator


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


def _score_columns(estimator, history: list[dict]) -> list[tuple[str, str | None, str]]:
    """``(history column, task, metric)`` of each validation score to plot.

    The estimator's tasks (``task_``) say what to look for: the score of its main task
    (``valid_acc``, ``valid_mae``) or, for a multi-task model, each task's
    (``valid_<task>_acc``, ``valid_<task>_mae``: accuracy for a classification, MAE
    in years for a regression). A bare history gives the scores its columns hold.
    """
    present = list(dict.fromkeys(key for row in history for key in row))
    try:
        declared = None if isinstance(estimator, Sequence) else estimator.task_
    except AttributeError:  # not an estimator with tasks (NotFittedError is one too)
        declared = None
    if declared is None:
        found = []
        for key in present:
            match = re.fullmatch(r"valid_(?:(.+)_)?(acc|mae)", key)
            if match:
                found.append((key, match.group(1), match.group(2)))
        return found
    multi = declared.kind == "multi-task"
    found = []
    for task in declared.tasks if multi else declared.tasks[:1]:
        metric = "mae" if task.kind == "regression" else "acc"
        keys = [f"valid_{task.name}_{metric}", f"valid_{task.label}_{metric}"]
        key = next((k for k in (keys if multi else [f"valid_{metric}", *keys])
                    if k in present), None)
        if key is not None:
            found.append((key, task.name, metric))
    return found


def plot_learning_curves(estimator) -> Figure:
    """Training and validation loss, and the validation score of each task, per epoch.

    Parameters
    ----------
    estimator : fitted skface estimator or Pipeline
        E.g. a fitted :class:`skface.GenderClassifier`, or a fitted
        :class:`~sklearn.pipeline.Pipeline` that ends with one (its last step is
        used); its skorch ``history_`` is read (a skorch ``History`` or a list of
        per-epoch dicts is accepted too).

    Returns
    -------
    fig : matplotlib Figure
        A loss axes (``train_loss`` and, when a validation split was used,
        ``valid_loss``) and, when recorded, one axes per validation score: the
        estimator's own (``valid_acc`` for classifiers, ``valid_mae`` in years for
        :class:`skface.AgeRegressor`) or, for a multi-task model such as
        :class:`skface.FaceAttributes`, each task's (age MAE, gender and race
        accuracy), as its ``task_`` declares them. Accuracy axes run from 0 to 1,
        MAE axes from 0. With early stopping, a dotted line marks the epoch whose
        weights it restored.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator has not been fitted (a subclass of ValueError).
    ValueError
        If ``estimator`` has no skorch history.
    """
    estimator = _final_step(estimator)
    history = _history(estimator)
    plt = _pyplot()

    def column(key):
        return np.array([np.nan if row.get(key) is None else float(row[key]) for row in history])

    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(history)])
    present = {key for row in history for key in row}
    scores = _score_columns(estimator, history)
    n_axes = 1 + len(scores)
    ncols = min(n_axes, 2)
    nrows = math.ceil(n_axes / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel()[n_axes:]:
        ax.remove()
    axes = axes.ravel()[:n_axes]
    loss_ax = axes[0]
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
    for score_ax, (key, task, metric) in zip(axes[1:], scores, strict=True):
        label = _SCORE_LABELS[metric]
        score_ax.plot(epochs, column(key), marker="o", color="C2", label=label,
                      clip_on=False)  # a score of 0 or 1 on the axes' edge, whole
        score_ax.set_xlabel("epoch")
        score_ax.set_ylabel(label)
        title = score_ax.set_title(label if task is None else f"{task}: {label}")
        _literal([title])
        if metric == "acc":
            score_ax.set_ylim(0.0, 1.0)
        else:
            score_ax.set_ylim(bottom=0.0)
    for ax in axes:
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
        Rows are true labels, columns predicted labels. When normalised, each cell
        shows its fraction and, below it in brackets, its number of images (e.g.
        ``0.91`` over ``(1,234)``). A class with no true images (``"true"``) or never
        predicted (``"pred"``) has no fraction: its cells are blank, marked ``-``, and
        its name says ``(no images)`` or ``(never predicted)``.

    Raises
    ------
    ValueError
        If the inputs differ in length or ``normalize`` is unknown.
    """
    yt = as_1d(y_true, "y_true")
    yp = as_1d(y_pred, "y_pred")
    check_same_length(y_true=yt, y_pred=yp)
    if normalize not in _NORMALIZE:
        raise ValueError(
            f"unknown normalize={normalize!r}; use 'true' (rows sum to 1), 'pred' (columns "
            "sum to 1), 'all' or None (counts)."
        )
    if ax is None:  # room for the class names, and two lines of text per cell
        n_classes = len(labels) if labels is not None else len(unique_labels(yt, yp))
        side = max(4.8, 0.9 * n_classes + 2.0)
        _, ax = _new_axes(None, (side + (1.2 if colorbar else 0.0), side))
    _pyplot()
    display = ConfusionMatrixDisplay.from_predictions(
        yt, yp, labels=labels, normalize=normalize, display_labels=display_labels, ax=ax,
        cmap=cmap, colorbar=colorbar, values_format=".2f" if normalize else ",d",
    )
    # the same label order as the display's (labels, or those of y_true and y_pred sorted)
    counts = confusion_matrix(yt, yp, labels=labels)
    # a class with no true images (rows) or never predicted (columns) has no fraction to
    # show: its cells are left blank and its name says so, instead of a row of 0.00
    empty = np.zeros(counts.shape, dtype=bool)
    if normalize == "true":
        empty[counts.sum(axis=1) == 0, :] = True
    elif normalize == "pred":
        empty[:, counts.sum(axis=0) == 0] = True
    if normalize:
        values = display.confusion_matrix
        for (i, j), text in np.ndenumerate(display.text_):
            if empty[i, j]:
                text.set_text("-")
                text.set_color("0.4")
            else:
                text.set_text(f"{values[i, j]:.2f}\n({counts[i, j]:,})")
        if empty.any():
            display.im_.set_data(np.ma.masked_array(values, mask=empty))
            if normalize == "true":
                names = [t.get_text() for t in display.ax_.get_yticklabels()]
                display.ax_.set_yticks(
                    range(len(names)), [f"{name}\n(no images)" if empty[i, 0] else name
                                        for i, name in enumerate(names)])
            else:
                names = [t.get_text() for t in display.ax_.get_xticklabels()]
                display.ax_.set_xticks(
                    range(len(names)), [f"{name}\n(never predicted)" if empty[0, j] else name
                                        for j, name in enumerate(names)])
    title = "confusion matrix" + {None: " (counts)", "true": " (rows sum to 1)",
                                  "pred": " (columns sum to 1)", "all": " (fractions)"}[normalize]
    if normalize:
        title += "\nimages in brackets"
    display.ax_.set_title(title)
    _literal([*display.ax_.get_xticklabels(), *display.ax_.get_yticklabels()])
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
        (a perfect prediction), and a bar per true age group with images, with its
        MAE, count and 95% confidence interval (see :func:`group_metrics`), groups
        of fewer than 30 images hatched, the overall MAE as a dashed line.

    Raises
    ------
    ValueError
        If the inputs differ in length or are not numbers.
    """
    yt = ages_of(as_1d(y_true, "y_true"), "y_true")
    yp = ages_of(as_1d(y_pred, "y_pred"), "y_pred")
    check_same_length(y_true=yt, y_pred=yp)
    table = group_metrics(yt, yp, pd.DataFrame({"age": yt}), "age", age_bins=age_bins)
    overall = float(table["mae"].iloc[0])
    rows = table.iloc[1:]

    plt = _pyplot()
    fig, (scatter_ax, bar_ax) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
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
    handles, placed = _group_bars(bar_ax, rows, "mae", threshold=SMALL_GROUP_SIZE,
                                  horizontal=False, colors="C0",
                                  labels=[f"n={n:,}" for n in rows["n"]])
    handles.insert(0, bar_ax.axhline(overall, color="k", linestyle="--", linewidth=1,
                                     label=f"overall {overall:.2f}"))
    bar_ax.set_xticks(positions, list(rows["group"]), rotation=45, ha="right",
                      parse_math=False)
    bar_ax.set_xlabel("true age group")
    bar_ax.set_ylabel("MAE (years)")
    bar_ax.set_title("MAE by age group")
    bar_ax.margins(y=0.12)
    bar_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    _keep_inside(bar_ax, placed, horizontal=False)
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
    median = age_summary(ages)["median"]
    ax.axvline(median, color="k", linestyle="--", linewidth=1,
               label=f"median {format_age(median)}")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("images")
    ax.yaxis.get_major_locator().set_params(integer=True)
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
    labels = group_labels(frame[name], name, age_bins)
    counts = pd.Series(labels).value_counts(sort=False, dropna=False)
    names = [MISSING if pd.isna(k) else str(k) for k in counts.index]
    values = counts.to_numpy()
    total = max(int(values.sum()), 1)
    fig, ax = _new_axes(ax, (max(4.0, 0.8 * len(names) + 2), 3.8))
    positions = np.arange(len(names))
    bars = ax.bar(positions, values, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, [f"{v} ({100 * v / total:.0f}%)" for v in values], fontsize="small")
    ax.set_xticks(positions, names, rotation=30 if len(names) > 5 else 0, parse_math=False)
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
    labels = group_labels(frame[name], name, "decades")
    data, names = [], []
    for group, positions in iter_groups(labels):
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
    ax.set_xticks(positions, names, parse_math=False)
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
    figsize: tuple[float, float] | None = None,
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
        Columns of the grid; by default about the square root of the number shown
        (with ``figsize``, as many as make the cells about as wide as they are high).
    size : int, default=96
        Side in pixels of images decoded from paths.
    random_state : int, RandomState instance or None, default=None
        None shows the first ``n`` images; otherwise ``n`` drawn at random (without
        replacement) with this seed.
    figsize : (float, float), optional
        Size of the figure in inches; by default 1.7 by 1.9 inches per cell.

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
            captions = [", ".join(caption(v) for v in row)
                        for row in labels.itertuples(index=False)]
        elif isinstance(labels, pd.Series):
            captions = [caption(v) for v in labels.to_numpy()]
        else:
            captions = [caption(v) for v in labels]
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
    if figsize is None:
        ncols = ncols or math.ceil(math.sqrt(k))
        nrows = math.ceil(k / ncols)
        figsize = (1.7 * ncols, 1.9 * nrows)
    else:  # cells of about 1.7 by 1.9 in the figure's shape
        ncols = ncols or min(k, math.ceil(math.sqrt(k * figsize[0] / figsize[1] * 1.9 / 1.7)))
        nrows = math.ceil(k / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
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
            ax.set_title(captions[chosen[cell]], fontsize="small", parse_math=False)
    return fig
