"""load_fairface on small CSV files in FairFace's label format."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from skface.datasets import load_fairface
from skface.datasets._fairface import FAIRFACE_AGE_GROUPS, FAIRFACE_RACES
from skface.exceptions import LabelError

HEADER = "file,age,gender,race,service_test\n"
ROWS = [
    "train/1.jpg,50-59,Male,East Asian,True",
    "train/2.jpg,30-39,Female,Indian,False",
    "train/3.jpg,3-9,Female,Black,False",
    "train/4.jpg,more than 70,Male,Middle Eastern,True",
    "train/5.jpg,0-2,Male,Latino_Hispanic,False",
    "train/6.jpg,10-19,Female,Southeast Asian,False",
    "train/7.jpg,20-29,Male,White,True",
    "train/8.jpg,40-49,Female,White,False",
    "train/9.jpg,60-69,Male,Black,True",
]


def write_csv(path, rows, header=HEADER) -> str:
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def label_csv(tmp_path) -> str:
    return write_csv(tmp_path / "fairface_label_train.csv", ROWS)


def test_labels_and_columns(label_csv, tmp_path):
    df = load_fairface(label_csv)
    assert df.columns.tolist() == [
        "path", "age", "gender", "gender_name", "race", "race_name",
        "race7", "age_group", "age_group_code", "service_test",
    ]
    assert df["path"].tolist() == [
        os.path.join(str(tmp_path), f"train/{i}.jpg") for i in range(1, 10)
    ]
    # FairFace has no exact ages: the column is kept for the common schema, all NaN
    assert df["age"].dtype == np.float64
    assert df["age"].isna().all()
    assert df["gender"].dtype == "Int8"
    assert df["gender"].tolist() == [0, 1, 1, 0, 0, 1, 0, 1, 0]
    # UTKFace codes: White 0, Black 1, Asian 2, Indian 3, Others 4
    assert df["race"].tolist() == [2, 3, 1, 4, 4, 2, 0, 0, 1]
    assert df["race_name"].astype(str).tolist()[:4] == ["Asian", "Indian", "Black", "Others"]
    assert df["race7"].astype(str).tolist() == [
        "East Asian", "Indian", "Black", "Middle Eastern", "Latino_Hispanic",
        "Southeast Asian", "White", "White", "Black",
    ]
    assert df["age_group"].astype(str).tolist() == [
        "50-59", "30-39", "3-9", "70+", "0-2", "10-19", "20-29", "40-49", "60-69",
    ]
    assert df["age_group_code"].tolist() == [6, 4, 1, 8, 0, 2, 3, 5, 7]
    assert df["age_group_code"].dtype == np.int64
    assert df["service_test"].tolist() == [True, False, False, True, False, False, True,
                                           False, True]


def test_categories(label_csv):
    df = load_fairface(label_csv)
    age_group = df["age_group"].dtype
    assert age_group.ordered
    assert age_group.categories.tolist() == [
        "0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+",
    ]
    assert list(FAIRFACE_AGE_GROUPS) == age_group.categories.tolist()
    assert df["age_group"].iloc[3] > df["age_group"].iloc[0]
    race7 = df["race7"].dtype
    assert not race7.ordered
    assert race7.categories.tolist() == [
        "White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
        "Middle Eastern",
    ]
    assert list(FAIRFACE_RACES) == race7.categories.tolist()


def test_images_root_and_no_service_test(tmp_path):
    csv = write_csv(tmp_path / "val.csv", ["val/1.jpg,20-29,Female,White"],
                    header="file,age,gender,race\n")
    df = load_fairface(csv, images_root=tmp_path / "imgs")
    assert df["path"].tolist() == [os.path.join(str(tmp_path / "imgs"), "val/1.jpg")]
    assert "service_test" not in df.columns
    assert df["gender"].tolist() == [1]
    assert df["race"].tolist() == [0]


@pytest.mark.parametrize(
    ("column", "bad_value", "accepted"),
    [
        ("age", "70-79", "'more than 70'"),
        ("race", "Martian", "'Latino_Hispanic'"),
    ],
)
def test_unknown_group_labels(tmp_path, column, bad_value, accepted):
    rows = list(ROWS)
    fields = rows[2].split(",")
    fields[{"age": 1, "race": 3}[column]] = bad_value
    rows[2] = ",".join(fields)
    csv = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(LabelError) as info:
        load_fairface(csv)
    message = str(info.value)
    assert repr(bad_value) in message
    assert "line 4" in message  # header is line 1, third data row is line 4
    assert "train/3.jpg" in message
    assert csv in message
    assert accepted in message


def test_unknown_gender(tmp_path):
    rows = list(ROWS)
    rows[4] = "train/5.jpg,0-2,Robot,Latino_Hispanic,False"
    csv = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(LabelError, match="'Robot'") as info:
        load_fairface(csv)
    message = str(info.value)
    assert "line 6" in message
    assert "train/5.jpg" in message
    assert csv in message
    assert "male" in message


def test_missing_label_is_an_error(tmp_path):
    rows = list(ROWS)
    rows[0] = "train/1.jpg,,Male,East Asian,True"
    csv = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(LabelError, match="age group") as info:
        load_fairface(csv)
    assert "line 2" in str(info.value)


def test_missing_column(tmp_path):
    csv = write_csv(tmp_path / "labels.csv", ["train/1.jpg,Male,White"],
                    header="file,gender,race\n")
    with pytest.raises(ValueError, match="missing FairFace column") as info:
        load_fairface(csv)
    message = str(info.value)
    assert csv in message
    assert "['age']" in message
    assert "['file', 'gender', 'race']" in message


def test_empty_file_name(tmp_path):
    rows = list(ROWS)
    rows[1] = ",30-39,Female,Indian,False"
    csv = write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(ValueError, match="line\\(s\\) 3") as info:
        load_fairface(csv)
    assert csv in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.csv"):
        load_fairface(tmp_path / "nothing.csv")


def test_round_trip_of_the_frame_through_pandas(label_csv):
    # the frame concatenates with other label frames on the shared columns
    df = load_fairface(label_csv)
    other = pd.DataFrame({"path": ["x.jpg"], "age": [31.0]})
    both = pd.concat([df, other], ignore_index=True)
    assert both["age"].tolist()[-1] == 31.0
    assert both["age"].isna().sum() == len(df)


def test_age_groups_agree_with_the_age_bin_encoder_preset():
    from skface import AgeBinEncoder
    from skface.datasets._fairface import FAIRFACE_AGE_GROUPS

    enc = AgeBinEncoder("fairface").fit([1, 50])
    assert enc.labels_.tolist() == list(FAIRFACE_AGE_GROUPS)
    # the lower edge of each group falls in the group with the same code
    np.testing.assert_array_equal(enc.transform(enc.bin_edges_[:-1]), np.arange(9))
