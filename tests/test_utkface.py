"""load_utkface and parse_utkface_names, on generated names and the real folder."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from skface.datasets import load_utkface, parse_utkface_names
from skface.exceptions import MalformedFileNameError, MalformedFileNameWarning

from .conftest import UTKFACE_MALFORMED, folder_state


def test_parses_labels_and_capture_time():
    labels, malformed = parse_utkface_names([
        "some/dir/26_1_2_20170116174525125.jpg.chip.jpg",
        "0_0_4_20161219140525218.jpg",
        "116_1_3_20170120230542954.JPG",
    ])
    assert malformed == []
    assert labels["age"].tolist() == [26, 0, 116]
    assert labels["gender"].tolist() == [1, 0, 1]
    assert labels["race"].tolist() == [2, 4, 3]
    assert labels["captured_at"].iloc[0] == pd.Timestamp("2017-01-16 17:45:25.125")


def test_date_fields_of_16_and_18_digits_are_fractions_of_a_second():
    # both occur in the public dataset with valid labels
    labels, malformed = parse_utkface_names([
        "14_0_0_2017011022340900.jpg.chip.jpg", "28_1_2_201701161846515488.jpg.chip.jpg"])
    assert malformed == []
    assert labels["captured_at"].tolist() == [
        pd.Timestamp("2017-01-10 22:34:09.00"), pd.Timestamp("2017-01-16 18:46:51.5488")]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("24_0_1_20170116220224657 .jpg.chip.jpg", "contains a space"),
        ("39_1_20170116174525125.jpg.chip.jpg", "3 underscore-separated fields"),
        ("55_0_0_20170116232725357jpg.chip.jpg", "not yyyymmddHHMMSS"),
        ("117_0_0_20170116232725357.jpg", "age 117 is above 116"),
        ("20_2_0_20170116232725357.jpg", "gender code 2"),
        ("20_0_5_20170116232725357.jpg", "race code 5"),
        ("20_0_1_20171316232725357.jpg", "not a valid date"),
        ("20_0_1_2017011623.jpg", "fewer than 14 digits"),
        ("20_0_1_20170116232725357.gif", "extension"),
        ("README.txt", "1 underscore-separated field"),
    ],
)
def test_malformed_names_say_what_is_wrong(name, reason):
    labels, malformed = parse_utkface_names([name, "1_0_0_20170116232725357.jpg"])
    assert len(labels) == 1 and labels.index.tolist() == [1]
    assert malformed == [(name, malformed[0][1])]
    assert reason in malformed[0][1]


@pytest.fixture
def labelled_folder(tmp_path):
    for name in ["30_0_1_20170116174525125.jpg.chip.jpg", "5_1_2_20170116174525126.jpg.chip.jpg",
                 "61_1_20170109142408075.jpg.chip.jpg", ".DS_Store"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_load_warns_naming_each_malformed_file(labelled_folder):
    with pytest.warns(MalformedFileNameWarning, match=r"61_1_20170109142408075\.jpg\.chip\.jpg"):
        frame = load_utkface(labelled_folder)
    assert list(frame.columns) == ["path", "age", "gender", "gender_name", "race", "race_name",
                                   "captured_at"]
    assert frame["age"].tolist() == [30.0, 5.0]
    assert frame["gender_name"].tolist() == ["male", "female"]
    assert frame["race_name"].tolist() == ["Black", "Asian"]
    assert frame["path"].tolist() == [
        os.path.join(labelled_folder, "30_0_1_20170116174525125.jpg.chip.jpg"),
        os.path.join(labelled_folder, "5_1_2_20170116174525126.jpg.chip.jpg")]
    assert [n for n, _ in frame.attrs["malformed"]] == ["61_1_20170109142408075.jpg.chip.jpg"]


def test_load_can_raise_instead(labelled_folder):
    with pytest.raises(MalformedFileNameError, match="61_1_20170109142408075") as info:
        load_utkface(labelled_folder, on_malformed="raise")
    assert len(info.value.files) == 1


@pytest.mark.parametrize("bad", ["missing", "file"])
def test_load_refuses_what_is_not_a_folder(tmp_path, bad):
    target = tmp_path / "x"
    if bad == "file":
        target.write_text("")
    with pytest.raises((FileNotFoundError, NotADirectoryError), match="x'"):
        load_utkface(target)
    with pytest.raises(ValueError, match="on_malformed"):
        load_utkface(tmp_path, on_malformed="ignore")


def test_synthetic_folder_round_trips(synthetic_dir):
    frame = load_utkface(synthetic_dir)
    assert len(frame) == 40 and frame.attrs["malformed"] == []
    assert frame["age"].between(0, 116).all() and set(frame["gender"]) <= {0, 1}


@pytest.mark.utkface
def test_real_folder_has_exactly_the_five_known_malformed_names(utkface_dir):
    before = folder_state(utkface_dir)
    with pytest.warns(MalformedFileNameWarning) as record:
        frame = load_utkface(utkface_dir)
    message = str(record[0].message)
    assert all(repr(name) in message for name in UTKFACE_MALFORMED)
    assert sorted(n for n, _ in frame.attrs["malformed"]) == sorted(UTKFACE_MALFORMED)
    assert len(frame) + 5 == len(before)  # every file is either a row or reported
    assert frame["age"].min() >= 1 and frame["age"].max() == 116
    assert frame["captured_at"].notna().all()
    counts = frame["gender"].value_counts()
    assert 0.4 < counts[0] / len(frame) < 0.6
    names = [os.path.basename(p) for p in frame["path"]]
    assert names == sorted(names)
    assert folder_state(utkface_dir) == before
