"""Report folders of ``skface eda`` and ``skface evaluate``: the pages and their figures
describe the same images, with the same numbers; the pages need nothing but themselves and
show every name as text."""

from __future__ import annotations

import os
import re
import shutil
import struct
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import skface._reports  # noqa: E402
from skface._reports import explore_data  # noqa: E402

READABLE_AGES = (9, 20, 33, 34, 50, 61)  # median 33.5; by file name 9 sorts last
UNREADABLE = "90_0_0_20170116174525125.jpg.chip.jpg"  # with it, the median would be 34


@pytest.fixture(scope="module")
def eda(tmp_path_factory, synthetic_dir):
    """One `explore_data` run on six readable images and one unreadable, keeping what each
    figure showed (its name, and the figure) as it was saved."""
    data = tmp_path_factory.mktemp("eda_data")
    image = sorted(synthetic_dir.iterdir())[0]
    for i, age in enumerate(READABLE_AGES):
        shutil.copy(image, data / f"{age}_{i % 2}_{i % 4}_2017011617452{i}125.jpg.chip.jpg")
    (data / UNREADABLE).write_text("not a jpeg")
    out = tmp_path_factory.mktemp("eda_out") / "report"
    saved = {}
    original = skface._reports._save

    def keep(fig, path):
        saved[path.name] = fig
        return original(fig, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(skface._reports, "_save", keep)
        summary = explore_data(data, out)
    return {"summary": summary, "out": out, "figures": saved,
            "page": (out / "index.html").read_text(encoding="utf-8")}


def _png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_page_and_figures_state_the_same_median_of_the_readable_images(eda):
    median = float(np.median(READABLE_AGES))  # 33.5: the unreadable image is left out
    (page_median,) = re.findall(r"median ([0-9.]+)", eda["page"])
    ax = eda["figures"]["age_histogram.png"].axes[0]
    (line,) = ax.get_lines()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert float(page_median) == line.get_xdata()[0] == median
    assert legend == [f"median {page_median}"] == ["median 33.5"]
    assert eda["summary"]["described"]["labels"]["age"]["median"] == median


def test_page_counts_exclude_unreadable_files_and_say_so(eda):
    page, n = eda["page"], len(READABLE_AGES)
    assert ("<tr><th>labelled images</th>"
            f"<td>{n} (1 unreadable left out, listed below)</td></tr>") in page
    assert f"describe the {n} labelled images (named in the scheme, and readable)" in page
    described = eda["summary"]["described"]
    assert described["images"] == n and described["unreadable_left_out"] == 1
    # one definition: what summarize reports, too
    assert eda["summary"]["labelled"] == n and eda["summary"]["unreadable_left_out"] == 1
    # the figures count the same images as the page
    hist = eda["figures"]["age_histogram.png"].axes[0]
    assert hist.get_title() == f"age distribution (n={n})"
    assert sum(p.get_height() for p in hist.patches) == n
    gender = eda["figures"]["gender_counts.png"].axes[0]
    heights = [int(p.get_height()) for p in gender.patches]
    names = [t.get_text() for t in gender.get_xticklabels()]
    shown = ", ".join(f"{name} {h}" for name, h in zip(names, heights, strict=True))
    assert f"<tr><th>gender</th><td>{shown}</td></tr>" in page and sum(heights) == n


def test_every_eda_figure_has_one_size_and_one_font(eda):
    names = eda["summary"]["figures"]
    assert len(names) == 6 and set(names) == set(eda["figures"])
    assert len({_png_size(eda["out"] / name) for name in names}) == 1
    sizes = {tuple(fig.get_size_inches()) for fig in eda["figures"].values()}
    assert len(sizes) == 1
    families, titles = set(), set()
    for name, fig in eda["figures"].items():
        texts = fig.findobj(matplotlib.text.Text)
        families |= {tuple(t.get_fontfamily()) for t in texts if t.get_text()}
        if name == "sample_grid.png":  # captions under its images, a title over them all
            (heading,) = [t for t in fig.texts if t.get_text() == fig.get_suptitle()]
        else:
            heading = fig.axes[0].title
        titles.add(heading.get_fontsize())
    assert len(families) == 1 and len(titles) == 1


def test_sample_grid_is_ordered_by_age(eda):
    fig = eda["figures"]["sample_grid.png"]
    captions = [ax.get_title() for ax in fig.axes if ax.images]
    ages = [float(c.split(",")[0]) for c in captions]
    assert ages == sorted(READABLE_AGES)  # every readable image, youngest first
    assert "youngest first" in fig.get_suptitle()


def test_a_smaller_sample_grid_is_ordered_by_age_too(tmp_path, synthetic_dir, monkeypatch):
    grids = []
    original = skface._reports._save

    def keep(fig, path):
        if path.name == "sample_grid.png":
            grids.append([float(ax.get_title().split(",")[0]) for ax in fig.axes if ax.images])
        return original(fig, path)

    monkeypatch.setattr(skface._reports, "_save", keep)
    explore_data(synthetic_dir, tmp_path / "report", check=False, n_samples=7)
    (ages,) = grids
    assert len(ages) == 7 and ages == sorted(ages)
    with pytest.raises(ValueError, match=r"n_samples must be a positive number"):
        explore_data(synthetic_dir, tmp_path / "other", n_samples=0)


# --------------------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def gender_pipeline(synthetic_dir, fast_params):
    from sklearn.pipeline import make_pipeline

    from skface import GenderClassifier, ImageLoader
    from skface.datasets import load_utkface

    frame = load_utkface(synthetic_dir)
    model = make_pipeline(ImageLoader(size=32), GenderClassifier(**fast_params))
    return model.fit(frame["path"].tolist(), frame["gender"].to_numpy()), frame


def test_evaluate_reports_intervals_small_groups_and_no_empty_group(gender_pipeline, tmp_path,
                                                                    monkeypatch):
    import json

    import pandas as pd

    model, frame = gender_pipeline
    men = frame[frame["gender"] == 0].reset_index(drop=True)  # no woman: an empty class
    figures = {}
    original = skface._reports._save

    def keep(fig, path):
        figures[path.name] = fig
        return original(fig, path)

    monkeypatch.setattr(skface._reports, "_save", keep)
    out = tmp_path / "report"
    skface._reports.evaluate_model(model, men, out)
    table = pd.read_csv(out / "group_metrics_gender.csv")
    assert {"ci_low", "ci_high", "small"} <= set(table.columns)
    assert (table["n"] > 0).all() and "female" not in set(table["group"])
    assert table["small"].iloc[1:].all()  # fewer than 30 images in every group
    report = json.loads((out / "metrics.json").read_text())["tasks"]["gender"]
    low, high = report["ci_95"]
    assert low <= report["value"] <= high
    assert report["worst_group"] is None and report["small_groups"] == len(table) - 1

    # the confusion matrix: counts beside fractions, the class without images marked
    ax = figures["confusion_matrix_gender.png"].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["male", "female\n(no images)"]
    texts = [t.get_text() for t in ax.texts]
    right = int((model.predict(men["path"].tolist()) == 0).sum())
    assert texts[0] == f"{right / len(men):.2f}\n({right})" and texts[2:] == ["-", "-"]
    # the group bars: no bar for the empty group, small ones hatched
    bars = figures["group_metrics_gender.png"].axes[0]
    assert not any("female" in t.get_text() for t in bars.get_yticklabels())
    assert all(bar.get_hatch() for bar in bars.patches)


def _pngs(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_evaluate_page_shows_metrics_group_tables_and_every_figure(gender_pipeline, tmp_path):
    import base64
    import json

    import pandas as pd

    model, frame = gender_pipeline
    out = tmp_path / "report"
    report = skface._reports.evaluate_model(model, frame, out)
    assert report["page"] == "index.html"
    page = (out / "index.html").read_text(encoding="utf-8")
    # every figure, embedded once: the page needs nothing but itself
    pngs = _pngs(out)
    assert len(pngs) == 3  # group bars, confusion matrix, learning curves
    assert page.count('src="data:image/png;base64,') == len(pngs)
    for name in pngs:
        assert base64.b64encode((out / name).read_bytes()).decode() in page
    # relative links to every other file of the folder, and nothing fetched from elsewhere
    files = sorted(p.name for p in out.iterdir() if p.name not in ("index.html",
                                                                   ".skface-manifest.json"))
    assert sorted(re.findall(r'href="([^"]*)"', page)) == files
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]{0,20})', page))
    # the overall metric with its interval
    gender = json.loads((out / "metrics.json").read_text())["tasks"]["gender"]
    low, high = gender["ci_95"]
    assert (f"<td>accuracy</td><td class=\"number\">{100 * gender['value']:.1f}%</td>"
            f"<td>{100 * low:.1f}% to {100 * high:.1f}%</td>") in page
    # every row of the group table, the column by its readable name
    table = pd.read_csv(out / "group_metrics_gender.csv")
    for row in table.itertuples(index=False):
        column = {"overall": "all images", "gender_name": "gender", "race_name": "race",
                  "age": "age group"}[row.column]
        assert (f"<tr><td>{column}</td><td>{row.group}</td>"
                f"<td class=\"number\">{row.n}</td>"
                f"<td class=\"number\">{100 * row.accuracy:.1f}%</td>") in page
    assert "_name" not in re.sub(r"<img [^>]*>", "", page)


def test_evaluate_page_without_figures_still_shows_the_tables(gender_pipeline, tmp_path):
    model, frame = gender_pipeline
    out = tmp_path / "report"
    skface._reports.evaluate_model(model, frame, out, plots=False)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert not _pngs(out) and "<img" not in page
    assert "Figures were not drawn" in page and "group_metrics_gender.csv" in page


@pytest.mark.parametrize("name", ['<b>A & B</b>', "it's \"quoted\"", r"$\x$ <i>", "a\u202eb"])
def test_evaluate_page_escapes_file_and_group_names(gender_pipeline, tmp_path, name):
    import html

    model, frame = gender_pipeline
    data = tmp_path / f"data {name}".replace("/", "|")  # a folder name cannot hold a /
    data.mkdir()
    frame = frame.copy()
    for i, path in enumerate(frame["path"]):
        frame.loc[i, "path"] = str(shutil.copy(path, data))
    frame["race_name"] = [name if i % 2 else "other" for i in range(len(frame))]
    out = tmp_path / "report"
    skface._reports.evaluate_model(model, frame, out, model_name=f"model {name}.joblib",
                                   source=str(data))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert len(_pngs(out)) == 3  # the figures were drawn with the name as written

    def escaped(text: str) -> str:  # as text of the page: control characters shown
        return html.escape(text.replace("\u202e", "\\u202e"))

    assert f"<td>{escaped(name)}</td>" in page  # a group of the table
    assert f"<code>{escaped(f'model {name}.joblib')}</code>" in page
    assert f"<code>{escaped(str(data))}</code>" in page
    file_name = os.path.basename(f"model {name}.joblib")  # the model file's, in the title
    assert f"<title>skface: Evaluation of {escaped(file_name)}</title>" in page
    text = re.sub(r"<!DOCTYPE html>|<style>.*</style>", "", page, flags=re.DOTALL)
    text = re.sub(r"<[a-z1-6]+( [a-z-]+=\"[^\"<>]*\")*>|</[a-z1-6]+>", "", text)
    assert not re.search(r"[<>\"\u202e]", text)  # no markup or raw quote left but skface's
    assert "'" not in text.replace("skface's", "").replace("UTKFace's", "")


@pytest.mark.parametrize(("training_data", "synthetic"), [
    ({"synthetic": True, "n_images": 40, "source": "40 images drawn by make_faces"}, True),
    ({"synthetic": False, "n_images": 900, "source": "photos/ (UTKFace file names)"}, False),
    (None, None),
])
def test_evaluate_records_the_training_data_and_flags_synthetic_faces(
        gender_pipeline, tmp_path, training_data, synthetic):
    import copy
    import json

    model, frame = gender_pipeline
    model = copy.deepcopy(model)
    if training_data is not None:
        model[-1].training_data_ = training_data
    out = tmp_path / "report"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the warning a synthetic model gives is tested elsewhere
        report = skface._reports.evaluate_model(model, frame, out, plots=False)
    recorded = json.loads((out / "metrics.json").read_text())["training_data"]
    assert recorded == report["training_data"] == training_data
    page = (out / "index.html").read_text(encoding="utf-8")
    assert ('class="notice"' in page) == bool(synthetic)
    if synthetic:
        assert "Trained on synthetic faces" in page and "40 images drawn by make_faces" in page
    elif training_data:
        assert "Training data: face photos (900 images): photos/ (UTKFace file names)." in page
    else:
        assert "Training data: not recorded in the model." in page


def test_the_evaluate_command_names_its_page_last(gender_pipeline, tmp_path, synthetic_dir,
                                                 capsys):
    import joblib

    from skface._cli import main

    model, _ = gender_pipeline
    joblib.dump(model, tmp_path / "model.joblib")
    out = tmp_path / "report"
    assert main(["evaluate", str(tmp_path / "model.joblib"), str(synthetic_dir), "-o", str(out),
                 "--no-plots"]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(out / "index.html") in last and (out / "index.html").is_file()


def test_eda_and_summarize_count_the_same_labelled_images(tmp_path, synthetic_dir):
    """One definition of a labelled image for both (well named, and readable), from one
    function; files that are not images are listed as such, never as malformed names."""
    import skface._summary
    from skface._summary import summarize

    data = tmp_path / "data"
    data.mkdir()
    images = sorted(synthetic_dir.iterdir())[:5]
    for image in images:
        shutil.copy(image, data)
    others = ["notes.txt", "README", "clip.mp4"]
    for name in others:
        (data / name).write_text("not an image")
    (data / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    shutil.copy(images[0], data / "holiday.jpg")  # an image whose name is malformed
    (data / UNREADABLE).write_text("not a jpeg")
    calls = []
    real = skface._summary.labelled_images

    def spy(*args):
        calls.append(args)
        return real(*args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(skface._summary, "labelled_images", spy)
        report = explore_data(data, tmp_path / "eda")
        summary = summarize(data).as_dict()
        assert len(calls) >= 2  # eda counts through the same function
    for key in ("labelled", "unreadable_left_out", "labels", "not_images", "malformed"):
        assert report[key] == summary[key], key
    assert report["labelled"] == report["described"]["images"] == len(images)
    assert report["unreadable_left_out"] == 1 and sorted(report["not_images"]) == sorted(others)
    assert [m["file"] for m in report["malformed"]] == ["holiday.jpg"]
    page = (tmp_path / "eda" / "index.html").read_text(encoding="utf-8")
    malformed = page.split("<h2>Malformed file names")[1].split("<h2>")[0]
    assert "holiday.jpg" in malformed and not any(n in malformed for n in others)
    assert "<th>not image files (not read)</th><td>3: " in page
    assert all(f"&#x27;{n}&#x27;" in page for n in others) and ".DS_Store" not in page
    assert (f"<tr><th>labelled images</th><td>{len(images)} (1 unreadable left out, "
            "listed below)</td></tr>") in page


@pytest.mark.parametrize("metric", ["accuracy", "mae"])
def test_the_worst_group_is_one_doing_worse_than_all_the_images(metric):
    """Among the groups large enough to count, the one furthest on the bad side of all
    the images together; none when every such group does as well or better (a group
    that beats the whole set is never called the worst)."""
    import pandas as pd

    from skface._reports import worst_group

    sign = 1 if metric == "accuracy" else -1  # which way is better
    overall = 0.8 if metric == "accuracy" else 5.0

    def table(groups):
        rows = [("overall", "all", 100, overall, 0.0, False)]
        rows += [(c, g, n, overall + sign * d, sign * d, n < 30) for c, g, n, d in groups]
        return pd.DataFrame(rows, columns=["column", "group", "n", metric, "vs_overall",
                                           "small"])

    # a small group doing worse, a large one doing better: no worst group
    assert worst_group(table([("gender_name", "male", 29, -0.1),
                              ("gender_name", "female", 31, 0.05)]), metric).empty
    # an equal large group is not worse either
    assert worst_group(table([("race_name", "White", 60, 0.0)]), metric).empty
    found = worst_group(table([("gender_name", "male", 40, -0.02),
                               ("race_name", "Asian", 35, -0.07),
                               ("race_name", "Black", 10, -0.3),
                               ("age", "20-29", 50, 0.04)]), metric)
    assert found["group"].tolist() == ["Asian"]
