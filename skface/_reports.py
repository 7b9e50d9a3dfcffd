"""Report folders: a fitted model evaluated on labelled images, and a look at a data set.

:func:`evaluate_model` and :func:`explore_data` compute tables and draw figures with
:mod:`skface.plots`, and write them into a new folder: CSV and JSON files, PNG figures
and (for the data) one self-contained HTML page. They back the ``skface evaluate`` and
``skface eda`` commands. A folder is written completely or not at all: everything goes
into a temporary folder beside the target, which is renamed into place at the end. The
folder's manifest lists the files written; an existing folder is replaced only if it is
such a folder and holds nothing else, and never if it is (or holds, or lies in) the data.
"""

from __future__ import annotations

import base64
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
from ._spreadsheet import spreadsheet_safe
from ._utils import import_optional, printable

__all__ = ["evaluate_model", "explore_data"]

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


def _interval(row: pd.Series) -> list[float] | None:
    """A group table row's confidence interval for JSON (None where it has none)."""
    low, high = float(row["ci_low"]), float(row["ci_high"])
    return None if np.isnan(low) or np.isnan(high) else [low, high]


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
        ``group_metrics_<task>.csv`` per task and, with ``plots``, PNG figures.
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
        images, the worst group of at least 30 images, the number of smaller groups
        (``small_groups``, flagged in the group table) and the files.
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
            # the worst group among those large enough for the difference to mean something
            worst = gm[(gm["column"] != "overall") & ~gm["small"]]
            worst = worst.sort_values("vs_overall", ascending=(metric == "accuracy")).head(1)
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
            "learning_curves": results.pop("_learning_curves", None),
            "tasks": results,
        }
        (tmp / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
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


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>skface: {title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
.figs {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
        gap: 1em; }}
code {{ word-break: break-all; }}
</style></head><body>
<h1>{title}</h1>
<p>{kind}: <code>{source}</code></p>
{counts}
<h2>Figures</h2>
<div class="figs">{figures}</div>
<h2>Malformed file names ({n_malformed})</h2>
{malformed}
<h2>Unreadable images ({n_unreadable})</h2>
{unreadable}
<p><small>Written by skface {version}. Labels use UTKFace's coarse, dataset-given
categories; see skface's documentation on responsible use.</small></p>
</body></html>
"""


def _text(value) -> str:
    """``value`` as HTML text: control characters and bytes that are not UTF-8 escaped."""
    return html.escape(printable(value))


def _html_list(items: list[tuple[str, str]], empty: str) -> str:
    if not items:
        return f"<p>{html.escape(empty)}</p>"
    rows = "".join(f"<tr><td><code>{_text(name)}</code></td>"
                   f"<td>{_text(why)}</td></tr>" for name, why in items)
    return f"<table><tr><th>file</th><th>reason</th></tr>{rows}</table>"


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
    from ._version import __version__

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
        counts = "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>"
                         for k, v in rows)
        scope = (f"Ages, counts and figures describe the {len(shown):,} labelled images "
                 "(named in the scheme, and readable)" + (f"; {n_left_out:,} unreadable "
                                  f"{'one is' if n_left_out == 1 else 'ones are'} left out."
                                  if n_left_out else ".")
                 if summary.checked else
                 f"Ages, counts and figures describe all {len(shown):,} labelled images; "
                 "they were not checked for readability.")
        embedded = "".join(
            f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
            f'{base64.b64encode((tmp / name).read_bytes()).decode()}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>"
            for name, title in figures)
        page = _HTML.format(
            title=_text(f"Data summary of {Path(summary.source).name}"),
            kind=_text(summary.kind), source=_text(summary.source),
            counts=f"<table>{counts}</table><p>{html.escape(scope)}</p>", figures=embedded,
            n_malformed=len(summary.malformed),
            malformed=_html_list(summary.malformed, "None."),
            n_unreadable=len(summary.unreadable) if summary.checked else "not checked",
            unreadable=_html_list(summary.unreadable, "None." if summary.checked else
                                  "Not checked (--no-check)."),
            version=__version__)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        return data

    result = _write_folder(out_dir, force, fill, **protect)
    if progress:
        print(f"wrote {len(result['figures'])} figures and index.html", file=sys.stderr)
    return result
