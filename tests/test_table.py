"""from_dataframe and load_csv: label frames from any table of paths and labels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skface.datasets import from_dataframe, load_csv
from skface.exceptions import LabelError


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": ["north", "south", "east"],
            "path": ["a.jpg", "sub/b.jpg", "/abs/c.jpg"],
            "gender": ["F", "male", 1],
            "age": [31, 4.5, 0],
            "race": ["Asian", 0, "others"],
            "score": [0.1, 0.2, 0.3],
        },
        index=[10, 11, 12],
    )


def test_default_columns_by_name(table):
    df = from_dataframe(table)
    assert df.columns.tolist() == [
        "path", "age", "gender", "gender_name", "race", "race_name", "site", "score",
    ]
    assert df["path"].tolist() == ["a.jpg", "sub/b.jpg", "/abs/c.jpg"]
    assert df["age"].tolist() == [31.0, 4.5, 0.0]
    assert df["age"].dtype == np.float64
    assert df["gender"].tolist() == [1, 0, 1]
    assert df["gender"].dtype == "Int8"
    assert df["race"].tolist() == [2, 0, 4]
    assert df["race_name"].astype(str).tolist() == ["Asian", "White", "Others"]
    assert df["site"].tolist() == ["north", "south", "east"]
    assert df["score"].tolist() == [0.1, 0.2, 0.3]
    assert df.index.tolist() == [0, 1, 2]


def test_only_present_labels_are_loaded():
    df = from_dataframe(pd.DataFrame({"path": ["a.jpg"], "gender": ["female"]}))
    assert df.columns.tolist() == ["path", "gender", "gender_name"]
    assert df["gender"].tolist() == [1]


def test_label_columns_and_images_root(tmp_path):
    frame = pd.DataFrame(
        {"file": ["a.jpg", "/abs/b.jpg"], "years": [20, 116], "sex": ["m", "f"], "x": [1, 2]}
    )
    df = from_dataframe(frame, path_column="file", label_columns={"age": "years", "gender": "sex"},
                        images_root=tmp_path)
    assert df.columns.tolist() == ["path", "age", "gender", "gender_name", "x"]
    assert df["path"].tolist() == [os.path.join(str(tmp_path), "a.jpg"), "/abs/b.jpg"]
    assert df["age"].tolist() == [20.0, 116.0]
    assert df["gender"].tolist() == [0, 1]


def test_label_columns_leave_out_unlisted_labels(table):
    df = from_dataframe(table, label_columns={"gender": "gender"})
    assert df.columns.tolist()[:3] == ["path", "gender", "gender_name"]
    assert "race_name" not in df.columns
    # unlisted label-like columns stay as ordinary columns, unvalidated
    assert df["age"].tolist() == [31, 4.5, 0]


def test_saved_label_frame_loads_back(tmp_path, table):
    df = from_dataframe(table)
    csv = tmp_path / "labels.csv"
    df.to_csv(csv, index=False)
    again = load_csv(csv, images_root="")
    assert again.columns.tolist() == df.columns.tolist()
    pd.testing.assert_series_equal(again["gender"], df["gender"])
    assert again["race_name"].astype(str).tolist() == ["Asian", "White", "Others"]


def test_bad_age_names_the_file(table):
    table.loc[11, "age"] = 130
    with pytest.raises(LabelError, match="130") as info:
        from_dataframe(table)
    assert "sub/b.jpg" in str(info.value)


def test_unknown_gender_and_race_name_the_file(table):
    bad = table.copy()
    bad.loc[12, "gender"] = "robot"
    with pytest.raises(LabelError, match="'robot'") as info:
        from_dataframe(bad)
    assert "/abs/c.jpg" in str(info.value)
    bad = table.copy()
    bad["race"] = bad["race"].astype(object)
    bad.loc[10, "race"] = 7
    with pytest.raises(LabelError, match="unknown race") as info:
        from_dataframe(bad)
    assert "a.jpg" in str(info.value)


def test_missing_labels(table):
    table["age"] = table["age"].astype(float)
    table.loc[10, "age"] = np.nan
    table.loc[11, "gender"] = None
    with pytest.raises(LabelError, match="missing"):
        from_dataframe(table)
    df = from_dataframe(table, allow_missing=True)
    assert np.isnan(df["age"].iloc[0])
    assert df["gender"].tolist() == [1, pd.NA, 1]


@pytest.mark.parametrize("empty", [None, np.nan, "", "   "])
def test_empty_path_names_the_row(table, empty):
    table["path"] = table["path"].astype(object)
    table.loc[11, "path"] = empty
    with pytest.raises(ValueError, match="row\\(s\\) 11") as info:
        from_dataframe(table)
    assert "'path'" in str(info.value)


def test_missing_columns(table):
    with pytest.raises(ValueError, match="no path column 'file'") as info:
        from_dataframe(table, path_column="file")
    assert "'site'" in str(info.value)
    with pytest.raises(ValueError, match="'years'"):
        from_dataframe(table, label_columns={"age": "years"})
    with pytest.raises(ValueError, match="'height'"):
        from_dataframe(table, label_columns={"height": "age"})


def test_clashing_column_is_an_error(table):
    # "age" is read from "years", so the table's own "age" column would be overwritten
    table["years"] = [1, 2, 3]
    with pytest.raises(ValueError, match="overwritten") as info:
        from_dataframe(table, label_columns={"age": "years"})
    assert "['age']" in str(info.value)


def test_load_csv_defaults_to_the_csv_folder(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("path,age,gender,note\nimg/1.jpg,25,male,ok\nimg/2.jpg,3,F,\n")
    df = load_csv(csv)
    assert df["path"].tolist() == [
        os.path.join(str(tmp_path), "img/1.jpg"), os.path.join(str(tmp_path), "img/2.jpg"),
    ]
    assert df["age"].tolist() == [25.0, 3.0]
    assert df["gender"].tolist() == [0, 1]
    assert df.columns.tolist() == ["path", "age", "gender", "gender_name", "note"]


def test_load_csv_passes_read_csv_options(tmp_path):
    csv = tmp_path / "labels.tsv"
    csv.write_text("file\tyears\n1.jpg\t40\n")
    df = load_csv(csv, path_column="file", label_columns={"age": "years"}, sep="\t",
                  images_root=Path("root"))
    assert df["path"].tolist() == [os.path.join("root", "1.jpg")]
    assert df["age"].tolist() == [40.0]


def test_load_csv_errors_name_the_file(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("path,age\n1.jpg,200\n")
    with pytest.raises(LabelError, match="200") as info:
        load_csv(csv)
    assert str(csv) in str(info.value)
    assert "1.jpg" in str(info.value)

    csv.write_text("file,age\n1.jpg,20\n")
    with pytest.raises(ValueError, match="no path column") as info:
        load_csv(csv)
    assert str(csv) in str(info.value)
    assert "['file', 'age']" in str(info.value)

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="could not be read") as info:
        load_csv(empty)
    assert str(empty) in str(info.value)

    with pytest.raises(FileNotFoundError, match=r"absent\.csv"):
        load_csv(tmp_path / "absent.csv")


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        from_dataframe({"path": ["a.jpg"]})
