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
    assert report["files"] == 7 and report["labelled"] == 6
    assert [m["file"] for m in report["malformed"]] == [UTKFACE_MALFORMED[1]]
    assert len(report["unreadable"]) == 1
    assert report["unreadable"][0]["file"].endswith("30_0_0_20170116174525125.jpg.chip.jpg")
    assert "not an image format" in report["unreadable"][0]["reason"]
    assert sum(report["labels"]["gender"].values()) == 6
    assert main(["summarize", str(tmp_path), "--strict", "-q"]) == 1
    assert folder_state(tmp_path) == before


def test_errors_and_usage_give_distinct_exit_codes(tmp_path, capsys):
    assert main(["summarize", str(tmp_path / "nowhere")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert main([]) == 2
    with pytest.raises(SystemExit) as info:
        main(["summarize", "--no-such-flag"])
    assert info.value.code == 2


def test_python_dash_m_runs_the_same_command():
    done = subprocess.run([sys.executable, "-m", "skface", "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith("skface ")


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
    assert lines[0].startswith("path,prediction,p(0),p(1)") and len(lines) == 4
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(synthetic_paths[0].rsplit("/", 1)[0]),
                 "-o", str(out_csv)]) == 0
    assert len(out_csv.read_text().splitlines()) == len(synthetic_paths) + 1


def test_train_all_targets_on_a_label_table(tmp_path, synthetic_dir, capsys):
    from skface.datasets import load_utkface

    table = tmp_path / "labels.csv"
    load_utkface(synthetic_dir)[["path", "age", "gender", "race"]].to_csv(table, index=False)
    model = tmp_path / "all.joblib"
    assert main(["train", str(table), "--target", "all", "--size", "32", "--epochs", "1",
                 "--network", "basic_cnn", "-o", str(model), "-q"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(synthetic_dir)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "path,age,gender,race"
