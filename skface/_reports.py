"""Report folders: a fitted model evaluated on labelled images, and a look at a data set.

:func:`evaluate_model` and :func:`explore_data` compute tables and draw figures with
:mod:`skface.plots`, and write them into a new folder: CSV and JSON files, PNG figures
and one self-contained ``index.html`` that shows them together (its shell and pieces come
from :mod:`skface._pages`). They back the ``skface evaluate`` and
``skface eda`` commands. A folder is written completely or not at all: everything goes
into a temporary folder beside the target, which is renamed into place at the end. The
folder's manifest lists the files written; an existing folder is replaced only if it is
such a folder and holds nothing else, and never if it is (or holds, or lies in) the data.
"""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ._labels import CODED_TASKS
from ._outputs import atomic_folder, check_folder_output, folders_of
from ._pages import (
    html_figures,
    html_file_list,
    html_link,
    html_page,
    html_table,
    html_text,
)
from ._spreadsheet import spreadsheet_safe
from ._utils import import_optional, printable

__all__ = ["evaluate_model", "explore_data", "worst_group"]

# --------------------------------------------------------------------------- output folder


def source_protection(source) -> dict:
    """What an output must not replace or write into, for a folder or a CSV label table."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return {"inputs": [], "data_dirs": [source]}
    from ._summary import load_labels

    frame, _, _ = load_labels(source)  # the table only: no image is decoded
    return {"inputs": [source, os.path.dirname(os.path.abspath(source))],
            "data_dirs": folders_of(frame["path"])}


def _write_folder(out_dir: str | os.PathLike, force: bool, fill: Callable[[Path], object],
                  **protect):
    """Run ``fill(tmp)`` on a fresh temporary folder, then move it to ``out_dir``.

    Nothing is left at ``out_dir`` if ``fill`` fails. An existing folder is replaced
    only with ``force``, only if skface wrote it and holds nothing else, and only once
    the new one is complete (see :func:`skface._outputs.atomic_folder`); ``protect``
    (``inputs``, ``data_dirs``) names what it must not replace or write into.
    """
    with atomic_folder(out_dir, overwrite=force, **protect) as tmp:
        result = fill(tmp)
    return result


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _require_matplotlib() -> None:
    import_optional("matplotlib.pyplot", "plot", "the figures",
                    hint="or pass --no-plots for the tables only")


# --------------------------------------------------------------------------- evaluate


def _final_estimator(model):
    """``(final estimator, what turns paths into its input)`` of a model that takes paths."""
    from sklearn.pipeline import Pipeline

    from ._analyze import takes_image_paths

    if isinstance(model, Pipeline):
        return model[-1], model[:-1].transform
    if not takes_image_paths(model):
        raise ValueError(
            f"the model is a {type(model).__name__}, not a Pipeline that starts from image "
            "paths; save make_pipeline(ImageLoader(...), estimator) (as `skface train` "
            "does) to evaluate it on a folder.")
    return model, list  # it reads the files itself (a pretrained estimator, a stack)


def _true_column(frame: pd.DataFrame, task: str, classes) -> str:
    """The frame column whose labels are the model's classes (codes or names)."""
    known = set(np.asarray(classes).tolist())
    for column in (task, f"{task}_name"):
        if column in frame and set(frame[column].dropna().tolist()) <= known:
            return column
    present = [c for c in (task, f"{task}_name") if c in frame]
    if not present:
        raise ValueError(f"the labels have no {task!r} column to evaluate the model against.")
    found = "; ".join(
        f"{c!r} has {sorted(set(frame[c].dropna().tolist()) - known, key=str)[:5]}"
        for c in present)
    raise ValueError(
        f"the model predicts {task} as {sorted(known, key=str)}, but the labels do not: "
        f"{found}. Evaluate on labels of the kind the model was trained on.")


def _true_labels(frame: pd.DataFrame, task) -> np.ndarray:
    """The truth for one of the model's declared tasks, from the label frame."""
    if task.kind == "classification" and task.from_label is None:
        return frame[_true_column(frame, task.name, task.classes)].to_numpy()
    if task.label not in frame:
        raise ValueError(f"the labels have no {task.label!r} column to evaluate the model's "
                         f"{task.name} against.")
    return task.true_labels(frame[task.label].to_numpy())


_METRIC_NAMES = {"accuracy": "accuracy", "mae": "MAE"}


def _interval(row: pd.Series) -> list[float] | None:
    """A group table row's confidence interval for JSON (None where it has none)."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    return None if np.isnan(low) or np.isnan(high) else [low, high]


def worst_group(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The row of a group table (:func:`skface._metrics.group_metrics`) that does worst:
    among the groups large enough for a difference to mean something, the one furthest
    below all the images together (above, for an MAE); empty when none does worse."""
    worse = table["vs_overall"] < 0 if metric == "accuracy" else table["vs_overall"] > 0
    found = table[(table["column"] != "overall") & ~table["small"] & worse]
    return found.sort_values("vs_overall", ascending=(metric == "accuracy")).head(1)


def _training_data(est) -> dict | None:
    """What the model says about its training data (``training_data_``, which ``skface
    train`` sets: whether the faces were synthetic, how many, from where), for
    ``metrics.json``; None when it does not say."""
    described = getattr(est, "training_data_", None)
    if not isinstance(described, dict):
        return None
    found = {str(k): (v if isinstance(v, (bool, int, float, type(None))) else printable(v))
             for k, v in described.items()}
    found["synthetic"] = bool(found.get("synthetic", False))
    return found


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _shown(metric: str, value: float) -> str:
    """A metric's value as the page writes it: accuracy in %, MAE in years."""
    return _percent(value) if metric == "accuracy" else f"{value:.2f} years"


def _shown_interval(metric: str, interval) -> str:
    if interval is None:
        return "none (one image)"
    low, high = interval
    if metric == "accuracy":
        return f"{_percent(low)} to {_percent(high)}"
    return f"{low:.2f} to {high:.2f} years"


def _group_rows(gm: pd.DataFrame, metric: str) -> list[list[str]]:
    """The rows of a group table as the page shows them."""
    from ._metrics import column_title

    rows = []
    for row in gm.itertuples(index=False):
        low, high = float(row.ci_low), float(row.ci_high)
        interval = None if np.isnan(low) or np.isnan(high) else [low, high]
        gap = float(row.vs_overall)
        rows.append([
            "all images" if row.column == "overall" else column_title(row.column),
            str(row.group), f"{int(row.n):,}", _shown(metric, float(getattr(row, metric))),
            _shown_interval(metric, interval),
            "" if row.column == "overall" else (
                f"{100 * gap:+.1f} points" if metric == "accuracy" else f"{gap:+.2f} years"),
            "small" if row.small else ""])
    return rows


def _evaluation_page(report: dict, tables: dict[str, pd.DataFrame], folder: Path, *,
                     plots: bool) -> str:
    """``evaluate``'s ``index.html``: the metrics with their intervals, the group tables
    and every figure (embedded), links to the files beside it, and a notice when the
    model learned from synthetic faces."""
    from ._metrics import SMALL_GROUP_SIZE, column_title

    parts = [f"<p>The model <code>{html_text(report['model'])}</code> "
             f"({html_text(report['estimator'])}, {html_text(report['kind'])}) on "
             f"<code>{html_text(report['data'])}</code>: {report['n_images']:,} images.</p>"]
    trained = report["training_data"]
    if trained and trained["synthetic"]:
        parts.append(
            '<p class="notice"><strong>Trained on synthetic faces.</strong> This model '
            f"learned from synthetic cartoon faces ({html_text(trained.get('source', ''))}), "
            "not from photos of people: its figures on real faces mean nothing. Train it "
            "on a labelled folder of face photos (<code>skface train FOLDER --target "
            "all</code>) and evaluate that model.</p>")
    if trained:
        n = trained.get("n_images")
        learned = ("synthetic faces" if trained["synthetic"] else "face photos") + (
            f" ({n:,} images)" if isinstance(n, int) else "") + (
            f": {trained['source']}" if trained.get("source") else "")
    else:
        learned = "not recorded in the model"
    parts.append(f"<p>Training data: {html_text(learned)}.</p>")

    rows = []
    for task, r in report["tasks"].items():
        worst = r["worst_group"]
        rows.append([
            task, _METRIC_NAMES[r["metric"]], _shown(r["metric"], r["value"]),
            _shown_interval(r["metric"], r["ci_95"]), f"{r['n']:,}",
            "none" if worst is None else
            f"{column_title(worst['column'])}: {worst['group']}, "
            f"{_shown(r['metric'], worst[r['metric']])} ({worst['n']:,} images)",
            f"{r['small_groups']:,}"])
    parts.append("<h2>Metrics</h2>")
    parts.append(html_table(
        ["task", "metric", "value", "95% confidence interval", "images",
         f"worst group of at least {SMALL_GROUP_SIZE} images", "smaller groups"],
        rows, numbers={2, 4, 6}))
    parts.append(f"<p>Accuracy is the share of images whose label is right, MAE the mean "
                 f"absolute error in years. Groups of fewer than {SMALL_GROUP_SIZE} images "
                 "are marked small: their figure is uncertain (see its interval).</p>")

    figure_titles = {"group_metrics": "by group", "confusion_matrix": "confusion matrix",
                     "age_predictions": "predicted against true age"}
    for task, r in report["tasks"].items():
        metric = r["metric"]
        parts.append(f"<h2>{html_text(task)}: {html_text(_METRIC_NAMES[metric])} by group</h2>")
        parts.append(html_table(
            ["column", "group", "images", _METRIC_NAMES[metric], "95% confidence interval",
             "vs overall", f"fewer than {SMALL_GROUP_SIZE} images"],
            _group_rows(tables[task], metric), numbers={2, 3, 5}))
        figures = [(name, f"{task}: {title}") for name in r["files"] if name.endswith(".png")
                   for prefix, title in figure_titles.items() if name.startswith(prefix)]
        if figures:
            parts.append(html_figures(folder, figures))  # one a row: most are wide
    if report["learning_curves"]:
        parts.append("<h2>Learning curves</h2>")
        curves = [(report["learning_curves"], "loss and validation scores per epoch")]
        parts.append(html_figures(folder, curves))
    if not plots:
        parts.append("<p>Figures were not drawn for this report (tables only).</p>")
    files = ["metrics.json", "predictions.csv",
             *(name for r in report["tasks"].values() for name in r["files"])]
    if report["learning_curves"]:
        files.append(report["learning_curves"])
    parts.append("<h2>Files</h2>")
    parts.append("<ul>" + "".join(f"<li>{html_link(name)}</li>" for name in files) + "</ul>")
    return html_page(f"Evaluation of {Path(str(report['model'])).name}", "\n".join(parts))


def evaluate_model(model, frame: pd.DataFrame, out_dir, *, plots: bool = True,
                   force: bool = False, model_name: str = "model", source: str = "") -> dict:
    """Evaluate a fitted Pipeline on a label frame and write a report folder.

    Parameters
    ----------
    model : Pipeline or estimator
        A fitted ``make_pipeline(ImageLoader(...), estimator)`` (as written by
        ``skface train``), or a model that reads image files itself (a pretrained
        estimator, a :func:`~skface.make_stack` recipe).
    frame : DataFrame
        ``path`` plus the label columns the estimator predicts (``age``, ``gender``,
        ``race``, codes or names), e.g. from :func:`skface.datasets.load_utkface`.
    out_dir : path-like
        Folder to write: ``metrics.json``, ``predictions.csv``, one
        ``group_metrics_<task>.csv`` per task, with ``plots`` PNG figures, and
        ``index.html``, a page that shows the metrics, the group tables and the
        figures together (embedded, so that it can be opened or sent on its own) and
        links to the other files.
    plots : bool, default=True
        Draw figures (needs matplotlib).
    force : bool, default=False
        Replace an existing ``out_dir`` that skface wrote (its manifest lists every
        file in it). A folder skface did not write, or one of the images' folders, is
        never replaced.
    model_name, source : str
        How to name the model file and the data in ``metrics.json``.

    Returns
    -------
    metrics : dict
        What ``metrics.json`` holds: per task the metric, its value and 95%
        confidence interval (``ci_95``, None for a single image), the number of
        images, the worst group of at least 30 images (None when no such group does
        worse than all the images together), the number of smaller groups
        (``small_groups``, flagged in the group table) and the files;
        ``training_data``, what the model says it learned from (its
        ``training_data_``, which ``skface train`` sets: ``synthetic``, ``n_images``,
        ``source``; None when it does not say), and ``page``, the page's file name.
        The page shows a notice when the model learned from synthetic faces.
    """
    from . import plots as P

    if plots:
        _require_matplotlib()
    est, to_input = _final_estimator(model)
    declared = getattr(est, "task_", None)  # None also when it is not fitted
    if declared is None:
        raise ValueError(
            f"do not know how to evaluate a {type(est).__name__}; expected a fitted skface "
            "estimator (one with task_).")
    paths = frame["path"].tolist()
    if not paths:
        raise ValueError("no labelled images to evaluate on.")
    protect = {"data_dirs": folders_of(paths)}
    check_folder_output(out_dir, overwrite=force, **protect)  # before decoding anything
    groups = frame.drop(columns=["path"]).reset_index(drop=True)
    table = pd.DataFrame({"path": paths})
    results: dict[str, dict] = {}
    truths = [(task, _true_labels(frame, task)) for task in declared.tasks]  # before decoding

    X = to_input(paths)  # decoded once, for every task
    outputs = est.predict_outputs(X)  # one pass of the network, for every task
    # (task, metric, true, predicted, class labels)
    pending = [(task.name, "mae" if task.kind == "regression" else "accuracy", y_true,
                task.predictions(outputs), task) for task, y_true in truths]

    training_data = _training_data(est)
    tables: dict[str, pd.DataFrame] = {}

    def fill(tmp: Path) -> dict:
        for task, metric, y_true, y_pred, declared_task in pending:
            classes = declared_task.classes
            if metric == "mae":
                table[f"true_{task}"] = y_true
                table[f"predicted_{task}"] = np.round(y_pred, 2)
            else:  # by name, for people to read (UTKFace's codes become "female"...)
                table[f"true_{task}"] = declared_task.named(y_true)
                table[f"predicted_{task}"] = declared_task.named(y_pred)
            gm = P.group_metrics(y_true, y_pred, groups, task=task)
            tables[task] = gm
            spreadsheet_safe(gm).to_csv(tmp / f"group_metrics_{task}.csv", index=False)
            files = [f"group_metrics_{task}.csv"]
            if plots:
                files.append(_save(P.plot_group_metrics(gm), tmp / f"group_metrics_{task}.png"))
                if metric == "mae":
                    files.append(_save(P.plot_age_predictions(y_true, y_pred),
                                       tmp / f"age_predictions_{task}.png"))
                else:
                    files.append(_save(P.plot_confusion_matrix(
                        y_true, y_pred, labels=list(classes),
                        display_labels=declared_task.names),
                        tmp / f"confusion_matrix_{task}.png"))
            worst = worst_group(gm, metric)
            results[task] = {
                "metric": metric,
                "value": float(gm[metric].iloc[0]),
                "ci_95": _interval(gm.iloc[0]),
                "n": int(gm["n"].iloc[0]),
                "worst_group": None if worst.empty else {
                    "column": str(worst["column"].iloc[0]), "group": str(worst["group"].iloc[0]),
                    "n": int(worst["n"].iloc[0]), metric: float(worst[metric].iloc[0]),
                    "ci_95": _interval(worst.iloc[0])},
                "small_groups": int(gm["small"].iloc[1:].sum()),
                "files": files,
            }
        if plots and len(getattr(est, "history_", [])):
            results["_learning_curves"] = _save(P.plot_learning_curves(est),
                                                tmp / "learning_curves.png")
        spreadsheet_safe(table).to_csv(tmp / "predictions.csv", index=False)
        report = {
            "model": model_name,
            "estimator": type(est).__name__,
            "kind": declared.kind,
            "data": source,
            "n_images": len(paths),
            "training_data": training_data,
            "learning_curves": results.pop("_learning_curves", None),
            "tasks": results,
            "page": "index.html",
        }
        (tmp / "metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (tmp / "index.html").write_text(_evaluation_page(report, tables, tmp, plots=plots),
                                        encoding="utf-8")
        return report

    return _write_folder(out_dir, force, fill, **protect)


# --------------------------------------------------------------------------- eda


# every figure of a data report: one size, one font (DejaVu Sans ships with matplotlib)
_EDA_FIGSIZE = (9.0, 5.5)
_EDA_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10.0,
    "axes.titlesize": "large",
    "axes.labelsize": "medium",
    "xtick.labelsize": "medium",
    "ytick.labelsize": "medium",
    "legend.fontsize": "medium",
    "figure.titlesize": "large",
}


def explore_data(source: str | os.PathLike, out_dir, *, check: bool = True,
                 force: bool = False, n_jobs: int | None = None, progress: bool = False,
                 n_samples: int = 25, kind: str | None = None) -> dict:
    """Figures and a self-contained HTML page about a labelled image folder or table.

    Parameters
    ----------
    source : path-like
        A folder of images named in UTKFace's scheme, or a CSV label table.
    out_dir : path-like
        Folder to write: ``summary.json``, PNG figures of one size and font (age
        histogram, gender and race counts, age by gender and by race, a sample grid)
        and ``index.html``, which embeds them, so the page can be mailed or opened
        anywhere.
    check : bool, default=True
        Decode every image to list the unreadable ones. They are left out of the
        figures and of the page's ages and counts, which say so.
    force : bool, default=False
        Replace an existing ``out_dir`` that skface wrote (its manifest lists every
        file in it). A folder skface did not write, ``source``, its folder and the
        images' folders are never replaced.
    n_jobs : int or None, default=None
        Decoding threads for the check.
    progress : bool, default=False
        Show the check's progress on standard error.
    n_samples : int, default=25
        Images in the sample grid (drawn with a fixed seed, shown youngest first).
    kind : str, optional
        How to describe the source on the page.

    Returns
    -------
    summary : dict
        What ``summary.json`` holds: what :func:`skface._summary.summarize` reports
        about every file, plus ``described`` (the number of labelled images the
        figures and the page describe, how many unreadable ones were left out, and
        their label distributions) and ``figures`` (the PNG file names).

    Raises
    ------
    ValueError
        If ``n_samples`` is not a positive integer or no labelled image can be read.
    """
    from . import plots as P
    from ._metrics import format_age
    from ._summary import summarize

    if (isinstance(n_samples, (bool, np.bool_)) or not isinstance(n_samples, (int, np.integer))
            or n_samples < 1):
        raise ValueError(f"n_samples must be a positive number of images; got {n_samples!r}.")
    _require_matplotlib()
    protect = source_protection(source)
    check_folder_output(out_dir, overwrite=force, **protect)  # before decoding anything
    summary = summarize(source, check=check, n_jobs=n_jobs, progress=progress, kind=kind)
    # what the figures and the page describe: the labelled images, as summarize counts
    # them (those that can be read; all of them when they were not checked)
    shown = summary.labelled
    if shown.empty:
        raise ValueError(f"{os.fspath(source)!r} has no readable, labelled image to look at.")
    n_left_out = len(summary.labels) - len(shown)
    dist = summary.distributions()
    sample = shown.sample(n=n_samples, random_state=0) if n_samples < len(shown) else shown
    if "age" in sample:  # youngest first
        sample = sample.sort_values(["age", "path"], kind="stable", na_position="last")

    def fill(tmp: Path) -> dict:
        import matplotlib.pyplot as plt

        figures: list[tuple[str, str]] = []

        def add(name: str, title: str, draw):
            with plt.rc_context(_EDA_STYLE):  # one size and one font for every figure
                figures.append((_save(draw(), tmp / name), title))

        def on_axes(plot, *args):
            def draw():
                fig, ax = plt.subplots(figsize=_EDA_FIGSIZE, layout="constrained")
                plot(*args, ax=ax)
                return fig
            return draw

        def grid():
            captions = [c for c in ("age", "gender_name", "race_name") if c in sample]
            fig = P.plot_sample_grid(sample["path"].tolist(),
                                     labels=sample[captions] if captions else None,
                                     n=len(sample), figsize=_EDA_FIGSIZE)
            order = ", youngest first" if "age" in sample else ""
            fig.suptitle(f"{len(sample)} of {len(shown):,} images{order}")
            return fig

        if "age" in shown:
            add("age_histogram.png", "Age", on_axes(P.plot_age_histogram, shown))
        for column in CODED_TASKS:
            if column in shown:
                add(f"{column}_counts.png", f"Images per {column}",
                    on_axes(P.plot_counts, shown, column))
                if "age" in shown:
                    add(f"age_by_{column}.png", f"Age by {column}",
                        on_axes(P.plot_age_by, shown, column))
        add("sample_grid.png", "Sample images" + (", youngest first" if "age" in sample
                                                  else ""), grid)
        data = summary.as_dict()
        data["described"] = {"images": len(shown), "unreadable_left_out": n_left_out,
                             "checked": summary.checked, "labels": dist}
        data["figures"] = [name for name, _ in figures]
        (tmp / "summary.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        if summary.checked:
            described = ("labelled images", f"{len(shown):,} ({n_left_out:,} unreadable "
                         "left out, listed below)" if n_left_out else f"{len(shown):,}")
        else:
            described = ("labelled images (not checked for readability)", f"{len(shown):,}")
        not_images = summary.not_images
        rows = [("files", f"{data['files']:,}"),
                ("malformed file names", len(summary.malformed)),
                ("not image files (not read)", f"{len(not_images):,}" + (
                    ": " + ", ".join(repr(n) for n in not_images[:10])
                    + (f" and {len(not_images) - 10:,} more" if len(not_images) > 10 else "")
                    if not_images else "")),
                ("unreadable images", len(summary.unreadable) if summary.checked
                 else "not checked"),
                described]
        if "age" in dist:
            a = dist["age"]
            rows.append(("age", f"mean {a['mean']:.1f}, median {format_age(a['median'])}, "
                                f"{format_age(a['min'])} to {format_age(a['max'])}"))
        for column in CODED_TASKS:
            if column in dist:
                rows.append((column, ", ".join(f"{k} {v:,}" for k, v in dist[column].items())))
        if data["image_kinds"]:
            rows.append(("image kinds", ", ".join(
                f"{k}: {v:,}" for k, v in list(data["image_kinds"].items())[:5])))
        counts = "".join(f"<tr><th>{html_text(k)}</th><td>{html_text(v)}</td></tr>"
                         for k, v in rows)
        scope = (f"Ages, counts and figures describe the {len(shown):,} labelled images "
                 "(named in the scheme, and readable)" + (f"; {n_left_out:,} unreadable "
                                  f"{'one is' if n_left_out == 1 else 'ones are'} left out."
                                  if n_left_out else ".")
                 if summary.checked else
                 f"Ages, counts and figures describe all {len(shown):,} labelled images; "
                 "they were not checked for readability.")
        checked = len(summary.unreadable) if summary.checked else "not checked"
        body = (f"<p>{html_text(summary.kind)}: <code>{html_text(summary.source)}</code></p>\n"
                f"<table>{counts}</table><p>{html.escape(scope)}</p>\n"
                f'<h2>Figures</h2>\n<div class="figs">{html_figures(tmp, figures)}</div>\n'
                f"<h2>Malformed file names ({len(summary.malformed)})</h2>\n"
                f"{html_file_list(summary.malformed, 'None.')}\n"
                f"<h2>Unreadable images ({checked})</h2>\n"
                + html_file_list(summary.unreadable, "None." if summary.checked else
                             "Not checked (--no-check)."))
        page = html_page(f"Data summary of {Path(summary.source).name}", body)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        return data

    result = _write_folder(out_dir, force, fill, **protect)
    if progress:
        print(f"wrote {len(result['figures'])} figures and index.html", file=sys.stderr)
    return result
