"""skface.plots: group metrics computed right, figures drawing what they say, clear errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.metrics import accuracy_score, mean_absolute_error  # noqa: E402

from skface import RACE_NAMES, AgeRegressor, GenderClassifier  # noqa: E402
from skface.datasets import make_faces  # noqa: E402
from skface.plots import (  # noqa: E402
    group_metrics,
    plot_age_by,
    plot_age_histogram,
    plot_age_predictions,
    plot_confusion_matrix,
    plot_counts,
    plot_group_metrics,
    plot_learning_curves,
    plot_sample_grid,
)


@pytest.fixture(scope="module")
def tiny_params(fast_params):
    """Two epochs of the tiny network at its smallest: the figures need a fitted model
    with a history, not a good one."""
    return {**fast_params, "max_epochs": 2, "module__width": 8, "module__depth": 1}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def faces(synthetic_faces):
    return synthetic_faces(200)


@pytest.fixture(scope="module")
def gender_clf(faces, tiny_params):
    X, frame = faces
    return GenderClassifier(**tiny_params).fit(X, frame["gender"].astype(int))


@pytest.fixture(scope="module")
def age_reg(faces, tiny_params):
    X, frame = faces
    return AgeRegressor(**tiny_params).fit(X, frame["age"])


# Hand-computed case: correct = [T, F, T, T, F, T, T, F], 5 of 8.
Y_TRUE = [0, 0, 1, 1, 1, 0, 1, 0]
Y_PRED = [0, 1, 1, 1, 0, 0, 1, 1]
GROUPS = pd.DataFrame({
    "gender": ["male", "male", "male", "female", "female", "female", "female", "female"],
    "race": pd.Categorical(
        ["Asian", "White", "White", "Asian", "Black", "White", "Black", "Asian"],
        categories=RACE_NAMES,
    ),
})


# ------------------------------------------------------------------ optional import


def test_importing_skface_plots_does_not_import_matplotlib():
    code = "import skface.plots, sys; assert 'matplotlib' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.timeout(120)
def test_the_metrics_module_works_with_matplotlib_blocked():
    """The tables come from a module that never imports matplotlib: with it made
    unimportable, the module imports and makes a table, and skface.plots re-exports it."""
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.pyplot'] = None\n"
        "import pandas as pd\n"
        "from skface import _metrics\n"
        "import skface.plots\n"
        "assert skface.plots.group_metrics is _metrics.group_metrics\n"
        "t = _metrics.group_metrics([0, 1, 1], [0, 1, 0], pd.DataFrame({'g': ['a', 'a', 'b']}),"
        " 'gender')\n"
        "print(t['group'].tolist(), t['n'].tolist())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=100)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "['all', 'a', 'b'] [3, 2, 1]"


def test_the_metrics_module_has_no_matplotlib_import():
    import ast

    import skface._metrics

    source = open(skface._metrics.__file__, encoding="utf-8").read()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported and not {m for m in imported if m.split(".")[0] == "matplotlib"}


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "skface\[plot\]"'):
        plot_age_histogram(pd.DataFrame({"age": [20, 30]}))
    with pytest.raises(ImportError, match=r'pip install "skface\[plot\]"'):
        plot_confusion_matrix([0, 1], [0, 1])
    # the table needs no matplotlib
    assert group_metrics(Y_TRUE, Y_PRED, GROUPS, "gender")["accuracy"].iloc[0] == 0.625


# -------------------------------------------------------------------- group_metrics


def test_group_metrics_accuracy_matches_a_hand_computed_case():
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="gender")
    assert list(table.columns) == ["column", "group", "n", "accuracy", "ci_low", "ci_high",
                                   "vs_overall", "small"]
    # overall first; plain strings sorted; a categorical in its category order, empty
    # categories (Indian, Others) left out
    assert list(zip(table["column"], table["group"], table["n"], strict=True)) == [
        ("overall", "all", 8),
        ("gender", "female", 5), ("gender", "male", 3),
        ("race", "White", 3), ("race", "Black", 2), ("race", "Asian", 3),
    ]
    expected = [5 / 8, 3 / 5, 2 / 3, 2 / 3, 1 / 2, 2 / 3]
    np.testing.assert_allclose(table["accuracy"], expected)
    np.testing.assert_allclose(table["vs_overall"], np.array(expected) - 5 / 8)


def test_group_metrics_mae_by_age_group_with_a_missing_group():
    y_true = [5, 8, 15, 23, 27, 95]
    y_pred = [7, 8, 10, 20, 30, 80]  # errors 2, 0, 5, 3, 3, 15
    groups = pd.DataFrame({
        "age": y_true,
        "gender": pd.array([0, 1, pd.NA, 0, 1, 1], dtype="Int8"),
    })
    table = group_metrics(np.array(y_true), pd.Series(y_pred), groups, task="age")
    assert list(table.columns) == ["column", "group", "n", "mae", "ci_low", "ci_high",
                                   "vs_overall", "small"]
    by_age = table[table["column"] == "age"]
    assert by_age["group"].tolist() == ["0-9", "10-19", "20-29", "90+"]
    assert by_age["n"].tolist() == [2, 1, 2, 1]
    np.testing.assert_allclose(by_age["mae"], [1, 5, 3, 15])
    assert table["mae"].iloc[0] == pytest.approx(28 / 6)
    by_gender = table[table["column"] == "gender"]
    assert by_gender["group"].tolist() == ["0", "1", "missing"]
    np.testing.assert_allclose(by_gender["mae"], [(2 + 3) / 2, (0 + 3 + 15) / 3, 5])

    life = group_metrics(y_true, y_pred, groups, "regression", columns=["age"],
                         age_bins="life_stages")
    assert life["group"].tolist()[1:] == ["child (0-12)", "teen (13-19)",
                                          "young adult (20-39)", "senior (65+)"]


def test_group_metrics_confidence_intervals_for_a_known_case():
    from scipy.stats import binomtest

    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="gender")
    female = table[table["group"] == "female"].iloc[0]  # 3 right of 5
    # Wilson score interval, z = 1.96: (0.6 + z²/10 -+ z sqrt(0.048 + z²/100)) / (1 + z²/5)
    assert (female["ci_low"], female["ci_high"]) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    for _, row in table.iterrows():
        right = round(row["accuracy"] * row["n"])
        expected = binomtest(right, row["n"]).proportion_ci(method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (expected.low, expected.high))
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]

    y_true = [5, 8, 15, 23, 27, 95]
    y_pred = [7, 8, 10, 20, 30, 80]  # errors 2, 0 | 5 | 3, 3 | 15
    by_age = group_metrics(y_true, y_pred, pd.DataFrame({"age": y_true}), task="age").iloc[1:]
    # 0-9: mean 1, sd sqrt(2), t(0.975, 1) = 12.706: 1 -+ 12.706, clipped at 0
    np.testing.assert_allclose(by_age["ci_low"], [0, np.nan, 3, np.nan])
    np.testing.assert_allclose(by_age["ci_high"], [1 + 12.7062, np.nan, 3, np.nan], atol=1e-4)


def test_group_metrics_flag_small_groups():
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="gender")
    assert table["small"].all()  # fewer than 30 images each
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="gender", small_group_size=3)
    assert dict(zip(table["group"], table["small"], strict=True)) == {
        "all": False, "female": False, "male": False, "White": False, "Black": True,
        "Asian": False}
    for bad in (0, 2.5, True, "30"):
        with pytest.raises(ValueError, match=r"small_group_size must be a positive number"):
            group_metrics(Y_TRUE, Y_PRED, GROUPS, task="gender", small_group_size=bad)


def test_group_metrics_defaults_to_the_named_label_columns(faces, gender_clf):
    X, frame = faces
    y_pred = gender_clf.predict(X)
    y_true = frame["gender"].astype(int)
    table = group_metrics(y_true, y_pred, frame, task="gender")
    assert list(dict.fromkeys(table["column"])) == ["overall", "gender_name", "race_name", "age"]
    assert table["accuracy"].iloc[0] == pytest.approx(accuracy_score(y_true, y_pred))
    for column in ("gender_name", "race_name", "age"):
        rows = table[table["column"] == column]
        assert rows["n"].sum() == len(frame)
        # the overall accuracy is the count-weighted mean of the group accuracies
        assert (rows["n"] * rows["accuracy"]).sum() / len(frame) == pytest.approx(
            table["accuracy"].iloc[0])
    asian = frame["race_name"] == "Asian"
    row = table[(table["column"] == "race_name") & (table["group"] == "Asian")]
    assert row["accuracy"].item() == pytest.approx(
        accuracy_score(y_true[asian], y_pred[asian.to_numpy()]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_pred": Y_PRED[:-1]}, r"y_true has 8, y_pred has 7, groups has 8"),
        ({"groups": GROUPS.iloc[:5]}, r"groups has 5"),
        ({"task": "ethnicity"}, r"unknown task 'ethnicity'.*'gender'"),
        ({"columns": ["gender", "age"]}, r"columns \['age'\] are not in groups"),
        ({"y_true": np.zeros((8, 2))}, r"y_true must be 1-D.*shape \(8, 2\)"),
        ({"y_true": [0, 1, None, 1, 1, 0, 1, 0]}, r"y_true has 1 missing value"),
        ({"y_true": ["a"] * 8, "task": "age"}, r"y_true must hold ages"),
        ({"groups": [0] * 8}, r"groups must be a DataFrame"),
        ({"y_true": [], "y_pred": [], "groups": GROUPS.iloc[:0]}, r"are empty"),
    ],
)
def test_group_metrics_rejects_bad_input(kwargs, match):
    args = {"y_true": Y_TRUE, "y_pred": Y_PRED, "groups": GROUPS, "task": "gender", **kwargs}
    with pytest.raises(ValueError, match=match):
        group_metrics(**args)


def test_plot_group_metrics_draws_a_bar_per_group_and_the_overall_line():
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race")
    fig = plot_group_metrics(table)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 5
    np.testing.assert_allclose([b.get_width() for b in bars], table["accuracy"].iloc[1:])
    # each bar named by its group; each column named once, in bold, above its groups
    ticks = ax.get_yticklabels()
    assert [t.get_text() for t in ticks] == [
        "gender", "female", "male", "race", "White", "Black", "Asian"]
    assert [t.get_fontweight() for t in ticks] == [
        "bold", "normal", "normal", "bold", "normal", "normal", "normal"]
    centres = [bar.get_y() + bar.get_height() / 2 for bar in bars]
    positions = [t.get_position()[1] for t in ticks]
    assert centres == [positions[i] for i in (1, 2, 4, 5, 6)]  # no bar on a heading
    assert ax.get_title() == "accuracy by gender and race"
    # bars coloured by grouping column
    assert bars[0].get_facecolor() == bars[1].get_facecolor() != bars[2].get_facecolor()
    (line,) = ax.get_lines()
    assert line.get_xdata()[0] == pytest.approx(0.625)
    assert ax.get_xlabel() == "accuracy"
    assert ax.get_xlim() == (0.0, 1.0)
    assert "n=5" in " ".join(t.get_text() for t in ax.texts)

    _, other = plt.subplots()
    assert plot_group_metrics(table, ax=other) is other.figure


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_plot_group_metrics_hatches_small_groups_and_draws_their_intervals():
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race", small_group_size=3)
    ax = plot_group_metrics(table).axes[0]
    hatched = [bool(bar.get_hatch()) for bar in ax.patches]
    assert hatched == [False, False, False, True, False]  # race: Black, 2 images
    legend = _legend_texts(ax)
    assert "small group (fewer than 3 images)" in legend
    assert "95% confidence interval" in legend
    (whiskers,) = [c for c in ax.collections if c.get_segments()]
    ends = np.array([[seg[0][0], seg[1][0]] for seg in whiskers.get_segments()])
    np.testing.assert_allclose(ends, table[["ci_low", "ci_high"]].iloc[1:].to_numpy())

    ax = plot_group_metrics(group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race",
                                          small_group_size=1)).axes[0]
    assert not any(bar.get_hatch() for bar in ax.patches)
    assert not any(t.startswith("small group") for t in _legend_texts(ax))


def test_plot_group_metrics_leaves_out_groups_without_images():
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race")
    empty = pd.DataFrame([{"column": "race", "group": "Indian", "n": 0, "accuracy": np.nan,
                           "ci_low": np.nan, "ci_high": np.nan, "vs_overall": np.nan,
                           "small": True}])
    ax = plot_group_metrics(pd.concat([table, empty], ignore_index=True)).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert "Indian" not in ticks and len(ticks) - 2 == len(ax.patches) == 5  # 2 headings
    assert "no images, not drawn: race: Indian" in _legend_texts(ax)
    assert not any("nan" in t.get_text() or "n=0" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match=r"no group with images"):
        plot_group_metrics(pd.concat([table.iloc[:1], empty], ignore_index=True))


def test_age_predictions_hatch_small_age_groups():
    y_true = np.r_[np.full(40, 25), np.full(3, 65)]
    y_pred = y_true + np.r_[np.tile([1, -2], 20), [4, 6, 5]]
    bar_ax = plot_age_predictions(y_true, y_pred).axes[1]
    assert [bool(bar.get_hatch()) for bar in bar_ax.patches] == [False, True]
    assert "small group (fewer than 30 images)" in _legend_texts(bar_ax)
    table = group_metrics(y_true, y_pred, pd.DataFrame({"age": y_true}), "age")
    (whiskers,) = [c for c in bar_ax.collections if c.get_segments()]
    ends = np.array([[seg[0][1], seg[1][1]] for seg in whiskers.get_segments()])
    np.testing.assert_allclose(ends, table[["ci_low", "ci_high"]].iloc[1:].to_numpy())


def _outside_the_axes(ax) -> list[str]:
    """The texts drawn on ``ax`` (value labels) that stick out of it, once drawn."""
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    out = []
    for text in ax.texts:
        if not text.get_text():
            continue
        extent = text.get_window_extent()
        if (extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1
                or extent.y1 > box.y1 + 1):
            out.append(text.get_text())
    return out


def _tables(task: str) -> list[pd.DataFrame]:
    """Group tables of many shapes: values at 0 and at 1, intervals that reach the end of
    the axis, a group of one image, many groups, one column."""
    rng = np.random.default_rng(0)
    tables = []
    for n, error in ((8, 0.0), (8, 1.0), (40, 0.5), (300, 0.1), (3, 0.3)):
        groups = pd.DataFrame({"gender": rng.choice(["male", "female"], n),
                               "race": rng.choice(RACE_NAMES, n),
                               "age": rng.integers(0, 100, n)})
        if task == "age":
            y_true = rng.uniform(1, 90, n)
            y_pred = y_true + rng.normal(0, 60 * error + 0.1, n)
        else:
            y_true = rng.integers(0, 2, n)
            y_pred = np.where(rng.random(n) < error, 1 - y_true, y_true)
        tables.append(group_metrics(y_true, y_pred, groups, task=task))
        tables.append(group_metrics(y_true, y_pred, groups, task=task, columns=["race"]))
    return tables


@pytest.mark.parametrize("task", ["gender", "age"])
@pytest.mark.parametrize("figsize", [None, (4.0, 3.0)])
def test_group_bar_value_labels_lie_inside_the_axes(task, figsize):
    for table in _tables(task):
        ax = plt.subplots(figsize=figsize)[1] if figsize else None
        ax = plot_group_metrics(table, ax=ax).axes[0]
        labels = [t.get_text() for t in ax.texts]
        assert len(labels) == len(ax.patches)  # a label per bar, none lost
        assert not _outside_the_axes(ax), (table, _outside_the_axes(ax))
        if task == "gender":
            assert ax.get_xlim() == (0.0, 1.0)  # never past 1
        plt.close("all")
    bar_ax = plot_age_predictions([1, 5, 30, 31, 95], [60, 5, 32, 30, 2]).axes[1]
    assert not _outside_the_axes(bar_ax)


def test_group_bars_name_each_column_once_with_readable_names():
    groups = GROUPS.assign(gender_name=GROUPS["gender"], age=[3, 15, 25, 35, 45, 55, 65, 75])
    table = group_metrics(Y_TRUE, Y_PRED, groups.drop(columns="gender"), task="gender")
    ax = plot_group_metrics(table).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    headings = [t.get_text() for t in ax.get_yticklabels() if t.get_fontweight() == "bold"]
    assert headings == ["gender", "race", "age group"]  # not gender_name, once each
    assert not any(":" in t or "_name" in t for t in ticks)
    assert ax.get_title() == "accuracy by gender, race and age group"
    # one column: named in the title only
    ax = plot_group_metrics(group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race",
                                          columns=["race"])).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["White", "Black", "Asian"]
    assert ax.get_title() == "accuracy by race"


@pytest.mark.parametrize("name", [r"$\x$", "$5 to $10", "<b>A & B</b>", "it's \"quoted\""])
def test_figures_show_group_and_class_names_as_written(name, tmp_path):
    groups = pd.DataFrame({"race": [name, name, "other", "other", name, "other", name, "x"]})
    ax = plot_group_metrics(group_metrics(Y_TRUE, Y_PRED, groups, task="race")).axes[0]
    ax.figure.savefig(tmp_path / "bars.png")  # mathematics would fail or change the name
    assert name in [t.get_text() for t in ax.get_yticklabels()]
    assert not any(t.get_parse_math() for t in ax.get_yticklabels())
    fig = plot_confusion_matrix(Y_TRUE, Y_PRED, display_labels=[name, "other"])
    fig.savefig(tmp_path / "matrix.png")
    assert name in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    fig = plot_counts(groups, "race")
    fig.savefig(tmp_path / "counts.png")
    assert name in [t.get_text() for t in fig.axes[0].get_xticklabels()]


def test_plot_group_metrics_rejects_other_tables():
    with pytest.raises(ValueError, match=r"output of skface.plots.group_metrics"):
        plot_group_metrics(pd.DataFrame({"group": ["a"], "score": [1.0]}))
    with pytest.raises(ValueError, match=r"must be the DataFrame returned by group_metrics"):
        plot_group_metrics([1, 2])
    table = group_metrics(Y_TRUE, Y_PRED, GROUPS, task="race")
    with pytest.raises(ValueError, match=r"no group rows"):
        plot_group_metrics(table.iloc[:1])


# ------------------------------------------------------------------- model reports


def test_learning_curves_of_a_classifier_show_losses_and_accuracy(gender_clf):
    history = gender_clf.history_
    fig = plot_learning_curves(gender_clf)
    loss_ax, score_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    np.testing.assert_allclose(lines["training loss"].get_ydata(), history[:, "train_loss"])
    np.testing.assert_allclose(lines["validation loss"].get_ydata(), history[:, "valid_loss"])
    np.testing.assert_array_equal(lines["training loss"].get_xdata(), [1, 2])
    assert not any(label.startswith("kept epoch") for label in lines)  # last weights kept
    assert score_ax.get_ylabel() == "validation accuracy"
    score = next(ln for ln in score_ax.get_lines() if ln.get_label() == "validation accuracy")
    np.testing.assert_allclose(score.get_ydata(), history[:, "valid_acc"])
    assert score_ax.get_ylim() == (0.0, 1.0)
    assert fig.get_suptitle() == "GenderClassifier"


def _score_axes(fig) -> dict[str, object]:
    return {ax.get_title(): ax for ax in fig.axes[1:]}


def test_learning_curves_of_a_multi_task_model_plot_each_tasks_score(fitted_model):
    model = fitted_model("FaceAttributes")
    history = model.history_
    fig = plot_learning_curves(model)
    assert fig.axes[0].get_title() == "loss"
    axes = _score_axes(fig)
    expected = {"age: validation MAE (years)": "valid_age_mae",
                "gender: validation accuracy": "valid_gender_acc",
                "race: validation accuracy": "valid_race_acc"}
    assert set(axes) == set(expected)
    for title, key in expected.items():
        (line,) = [ln for ln in axes[title].get_lines() if ln.get_label().startswith("valid")]
        np.testing.assert_allclose(line.get_ydata(), history[:, key])
        low, high = axes[title].get_ylim()
        assert low == 0.0 and (high == 1.0) == title.endswith("accuracy")


def test_learning_curves_follow_the_tasks_the_model_declares(fitted_model):
    # the tasks come from task_, not from the class: a renamed class is drawn the same
    model = fitted_model("FaceAttributes")
    model.__class__ = type("MyFaces", (type(model),), {})
    assert len(_score_axes(plot_learning_curves(model))) == 3
    # a model that predicts an age group (and its expected age) has one score: the group's
    assert list(_score_axes(plot_learning_curves(fitted_model("AgeBinner")))) == [
        "age_group: validation accuracy"]
    # a bare history: the scores its columns hold
    rows = [{"epoch": e, "train_loss": 1.0 / e, "valid_age_mae": 9.0 / e,
             "valid_gender_acc": 0.5 + e / 10, "valid_gender_acc_best": True}
            for e in (1, 2)]
    assert list(_score_axes(plot_learning_curves(rows))) == [
        "age: validation MAE (years)", "gender: validation accuracy"]


def test_learning_curves_take_a_fitted_pipeline_as_its_last_step(gender_clf, tiny_module):
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    direct = plot_learning_curves(gender_clf)
    for pipe in (make_pipeline(FunctionTransformer(), gender_clf),
                 make_pipeline(make_pipeline(FunctionTransformer(), gender_clf))):
        fig = plot_learning_curves(pipe)
        assert fig.get_suptitle() == "GenderClassifier"
        assert len(fig.axes) == len(direct.axes) == 2
        for ax, expected in zip(fig.axes, direct.axes, strict=True):
            assert [ln.get_label() for ln in ax.get_lines()] == [
                ln.get_label() for ln in expected.get_lines()]
            for line, other in zip(ax.get_lines(), expected.get_lines(), strict=True):
                np.testing.assert_allclose(line.get_ydata(), other.get_ydata())
    with pytest.raises(NotFittedError, match=r"GenderClassifier.*call fit"):
        plot_learning_curves(make_pipeline(FunctionTransformer(),
                                           GenderClassifier(module=tiny_module)))
    with pytest.raises(ValueError, match=r"last step is not an estimator"):
        plot_learning_curves(Pipeline([("scale", FunctionTransformer()),
                                       ("model", "passthrough")]))


def test_learning_curves_of_a_regressor_show_validation_mae(age_reg):
    fig = plot_learning_curves(age_reg)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_ylabel() == "validation MAE (years)"
    mae = fig.axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(mae, age_reg.history_[:, "valid_mae"])


def test_learning_curves_without_validation_have_one_axes():
    fig = plot_learning_curves([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}])
    (ax,) = fig.axes
    assert [ln.get_label() for ln in ax.get_lines()] == ["training loss"]


def test_learning_curves_need_a_fitted_estimator(tiny_module):
    with pytest.raises(NotFittedError, match=r"GenderClassifier.*call fit"):
        plot_learning_curves(GenderClassifier(module=tiny_module))
    with pytest.raises(ValueError, match=r"needs a fitted skface estimator"):
        plot_learning_curves(object())
    with pytest.raises(ValueError, match=r"history is empty"):
        plot_learning_curves([])


def test_confusion_matrix_normalised_by_true_label():
    fig = plot_confusion_matrix(Y_TRUE, Y_PRED, display_labels=["male", "female"])
    ax = fig.axes[0]
    # rows: true 0 -> 2 right, 2 wrong; true 1 -> 1 wrong, 3 right
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.5, 0.5], [0.25, 0.75]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["male", "female"]
    assert ax.get_ylabel() == "True label" and ax.get_xlabel() == "Predicted label"
    assert len(fig.axes) == 2  # the matrix and its colour bar


def test_confusion_matrix_cells_show_counts_beside_fractions():
    ax = plot_confusion_matrix(Y_TRUE, Y_PRED).axes[0]
    # row-major: true 0 -> 2 and 2 of 4; true 1 -> 1 and 3 of 4
    assert [t.get_text() for t in ax.texts] == [
        "0.50\n(2)", "0.50\n(2)", "0.25\n(1)", "0.75\n(3)"]
    big = [1] * 1234 + [0] * 100  # 1,234 right of 1,334
    ax = plot_confusion_matrix(big, [1] * len(big), normalize="all", colorbar=False).axes[0]
    assert [t.get_text() for t in ax.texts] == [
        "0.00\n(0)", "0.07\n(100)", "0.00\n(0)", "0.93\n(1,234)"]


def test_confusion_matrix_marks_a_class_without_images_instead_of_zeros():
    # class 2 is predicted once but has no true image: its row has no fractions
    y_true, y_pred = [0, 0, 1, 1], [0, 2, 1, 1]
    ax = plot_confusion_matrix(y_true, y_pred, labels=[0, 1, 2]).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:6] == ["0.50\n(1)", "0.00\n(0)", "0.50\n(1)",
                         "0.00\n(0)", "1.00\n(2)", "0.00\n(0)"]
    assert texts[6:] == ["-", "-", "-"] and not any("0.00" in t for t in texts[6:])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2\n(no images)"]
    assert ax.images[0].get_array().mask[2].all()  # drawn blank, not as a colour of 0
    assert not ax.images[0].get_array().mask[:2].any()

    ax = plot_confusion_matrix(y_pred, y_true, labels=[0, 1, 2], normalize="pred").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][2] == "2\n(never predicted)"
    assert [t.get_text() for t in ax.texts][2::3] == ["-", "-", "-"]


def test_confusion_matrix_counts_in_given_axes_and_label_order():
    _, ax = plt.subplots()
    fig = plot_confusion_matrix(["b", "a", "a", "c"], ["b", "a", "c", "c"], labels=["c", "b", "a"],
                                normalize=None, ax=ax, colorbar=False)
    assert fig is ax.figure and len(fig.axes) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 0, 0], [0, 1, 0], [1, 0, 1]])
    assert {t.get_text() for t in ax.texts} == {"0", "1"}


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match=r"unknown normalize='rows'"):
        plot_confusion_matrix(Y_TRUE, Y_PRED, normalize="rows")
    with pytest.raises(ValueError, match=r"y_true has 8, y_pred has 3"):
        plot_confusion_matrix(Y_TRUE, Y_PRED[:3])


def test_age_predictions_scatter_identity_line_and_mae_by_group():
    y_true = np.array([5, 8, 15, 23, 27, 95])
    y_pred = np.array([7, 8, 10, 20, 30, 80.5])
    fig = plot_age_predictions(y_true, y_pred)
    scatter_ax, bar_ax = fig.axes
    np.testing.assert_allclose(scatter_ax.collections[0].get_offsets(),
                               np.column_stack([y_true, y_pred]))
    (identity,) = scatter_ax.get_lines()
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    assert f"MAE {mean_absolute_error(y_true, y_pred):.2f}" in scatter_ax.get_title()
    np.testing.assert_allclose([p.get_height() for p in bar_ax.patches], [1, 5, 3, 14.5])
    assert [t.get_text() for t in bar_ax.get_xticklabels()] == ["0-9", "10-19", "20-29", "90+"]
    (overall,) = bar_ax.get_lines()
    assert overall.get_ydata()[0] == pytest.approx(mean_absolute_error(y_true, y_pred))


def test_age_predictions_reject_bad_input():
    with pytest.raises(ValueError, match=r"y_true has 3, y_pred has 2"):
        plot_age_predictions([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"y_pred must hold ages"):
        plot_age_predictions([1, 2], ["young", "old"])


# ------------------------------------------------------------------------ the data


def test_age_histogram_counts_every_known_age(faces):
    _, frame = faces
    frame = frame.copy()
    frame.loc[0, "age"] = np.nan
    fig = plot_age_histogram(frame)
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == len(frame) - 1
    assert len(ax.patches) == int(frame["age"].max()) + 1  # one bin per year
    (median,) = ax.get_lines()
    assert median.get_xdata()[0] == pytest.approx(frame["age"].median())
    assert ax.get_xlabel() == "age (years)"

    _, other = plt.subplots()
    assert plot_age_histogram(frame, bins=5, ax=other) is other.figure
    assert len(other.patches) == 5


def test_counts_use_names_and_keep_empty_categories(faces):
    _, frame = faces
    ax = plot_counts(frame, "race").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(RACE_NAMES)
    counts = frame["race_name"].value_counts()
    assert [p.get_height() for p in ax.patches] == [counts[r] for r in RACE_NAMES]

    ax = plot_counts(frame[frame["gender"] == 0], "gender").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["male", "female"]
    assert [p.get_height() for p in ax.patches] == [(frame["gender"] == 0).sum(), 0]

    codes_only = pd.DataFrame({"gender": [0, 1, 1, None]})
    ax = plot_counts(codes_only, "gender").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "missing"]
    assert [p.get_height() for p in ax.patches] == [1, 2, 1]

    # ages are counted per age group, empty groups included
    ax = plot_counts(pd.DataFrame({"age": [3, 12, 15, 40]}), "age").axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f"{d}-{d + 9}" for d in range(0, 90, 10)] + ["90+"]
    assert [p.get_height() for p in ax.patches] == [1, 2, 0, 0, 1, 0, 0, 0, 0, 0]


def test_counts_name_the_missing_column(faces):
    _, frame = faces
    with pytest.raises(ValueError, match=r"column 'ethnicity' is not in the frame.*'race'"):
        plot_counts(frame, "ethnicity")
    with pytest.raises(ValueError, match=r"needs a label DataFrame"):
        plot_counts([1, 2], "gender")


def test_age_by_draws_one_box_or_violin_per_group(faces):
    _, frame = faces
    ax = plot_age_by(frame, "gender").axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    n_male = (frame["gender"] == 0).sum()
    assert labels == [f"male\n(n={n_male})", f"female\n(n={len(frame) - n_male})"]
    medians = [ln for ln in ax.get_lines() if ln.get_color() == "C1"]  # boxplot medians
    np.testing.assert_allclose(
        [ln.get_ydata()[0] for ln in medians],
        frame.groupby("gender_name", observed=True)["age"].median()[["male", "female"]])

    ax = plot_age_by(frame, "race", kind="violin").axes[0]
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bodies) == frame["race"].nunique()


def test_age_by_rejects_bad_input(faces):
    _, frame = faces
    with pytest.raises(ValueError, match=r"unknown kind='bar'"):
        plot_age_by(frame, "race", kind="bar")
    with pytest.raises(ValueError, match=r"column 'age' is not in the frame"):
        plot_age_by(frame.drop(columns="age"), "race")


def test_sample_grid_of_images_with_frame_captions(faces):
    X, frame = faces
    fig = plot_sample_grid(X, frame[["age", "gender_name", "race_name"]], n=7)
    assert len(fig.axes) == 9  # a 3 x 3 grid, two cells blank
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 7
    np.testing.assert_array_equal(shown[0].images[0].get_array(), X[0])
    first = frame.iloc[0]
    assert shown[0].get_title() == f"{first['age']:g}, {first['gender_name']}, {first['race_name']}"
    assert all(not ax.axison for ax in fig.axes)


def test_sample_grid_from_paths_random_and_grey(tmp_path):
    frame = make_faces(5, size=32, directory=tmp_path, random_state=0)  # only labels
    paths = frame["path"].tolist()
    fig = plot_sample_grid(paths, labels=frame["age"], n=3, size=40, ncols=3, random_state=0)
    assert len(fig.axes) == 3
    assert all(ax.images[0].get_array().shape == (40, 40, 3) for ax in fig.axes)
    titles = [ax.get_title() for ax in fig.axes]
    assert set(titles) <= {f"{a:g}" for a in frame["age"]} and len(set(titles)) == 3

    grey = np.random.default_rng(0).random((4, 8, 8, 1))
    fig = plot_sample_grid(grey)
    assert len(fig.axes) == 4
    assert fig.axes[0].images[0].get_array().shape == (8, 8)


def test_sample_grid_rejects_bad_input(faces):
    X, _ = faces
    with pytest.raises(ValueError, match=r"labels has 3 entries but paths_or_images has 200"):
        plot_sample_grid(X, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"n must be a positive number"):
        plot_sample_grid(X, n=0)
    with pytest.raises(ValueError, match=r"paths_or_images must be image file paths"):
        plot_sample_grid([1, 2, 3])
    with pytest.raises(ValueError, match=r"paths_or_images is empty"):
        plot_sample_grid([])


def test_learning_curves_mark_the_epoch_early_stopping_restored():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    clf = GenderClassifier(module="basic_cnn", max_epochs=6, lr=0.3, patience=2, verbose=0,
                           random_state=0, early_stopping=True).fit(X, np.arange(64) % 2)
    kept = dict(clf.callbacks_)["early_stopping"].best_epoch_
    fig = plot_learning_curves(clf)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines[f"kept epoch ({kept})"].get_xdata()[0] == kept
