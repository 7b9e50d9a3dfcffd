"""load_imdb_wiki on small .mat files written in IMDB-WIKI's real layout."""

from __future__ import annotations

import os
import warnings
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.io

from skface.datasets import load_imdb_wiki
from skface.exceptions import LabelError


def datenum(year: int, month: int, day: int, fraction: float = 0.0) -> float:
    """MATLAB's datenum of a date (days since the proleptic year 0)."""
    return date(year, month, day).toordinal() + 366 + fraction


def official_age(taken: int, dob: float) -> int:
    """The age formula of the IMDB-WIKI authors' tools, one row at a time."""
    birth = datetime.fromordinal(max(int(dob) - 366, 1)) + timedelta(days=dob % 1)
    return taken - birth.year if birth.month < 7 else taken - birth.year - 1


def cell(values) -> np.ndarray:
    """A 1xN MATLAB cell array."""
    out = np.empty((1, len(values)), dtype=object)
    for i, v in enumerate(values):
        out[0, i] = v
    return out


def write_mat(path, rows: list[dict], key: str = "wiki", *, column: bool = False,
              **extra_fields) -> str:
    """Write rows as IMDB-WIKI's 1x1 struct of 1xN fields (Nx1 when ``column``)."""
    def field(values, dtype=np.float64):
        arr = np.array(values, dtype=dtype).reshape(1, -1)
        return arr.T if column else arr

    def cells(values):
        arr = cell(values)
        return arr.T if column else arr

    struct = {
        "dob": field([r["dob"] for r in rows]),
        "photo_taken": field([r["photo_taken"] for r in rows], np.uint16),
        "full_path": cells([r["full_path"] for r in rows]),
        "gender": field([r["gender"] for r in rows]),
        # empty names are 0x0 doubles in the real wiki.mat
        "name": cells([r.get("name") or np.zeros((0, 0)) for r in rows]),
        "face_location": cells([np.array([r.get("box", [1.0, 2.0, 3.0, 4.0])]) for r in rows]),
        "face_score": field([r.get("face_score", 3.0) for r in rows]),
        "second_face_score": field([r.get("second_face_score", np.nan) for r in rows]),
    }
    struct.update(extra_fields)
    scipy.io.savemat(str(path), {key: struct})
    return str(path)


ROWS = [
    # 0: ordinary male (IMDB-WIKI gender 1) -> skface 0; born before July: 2009 - 1981
    {"full_path": "17/10000217_1981-05-05_2009.jpg", "dob": datenum(1981, 5, 5),
     "photo_taken": 2009, "gender": 1.0, "name": "Sami Jauhojärvi",
     "box": [111.3, 111.3, 252.7, 252.7]},
    # 1: female (IMDB-WIKI 0) -> skface 1; born 1 July at noon: 2009 - 1981 - 1
    {"full_path": "12/100012_1981-07-01_2009.jpg", "dob": datenum(1981, 7, 1, 0.5),
     "photo_taken": 2009, "gender": 0.0, "name": "Zoë Ñandú"},
    # 2: no face found
    {"full_path": "30/no_face.jpg", "dob": datenum(1970, 1, 1), "photo_taken": 2000,
     "gender": 1.0, "face_score": -np.inf, "name": "Nobody"},
    # 3: a second face
    {"full_path": "31/two_faces.jpg", "dob": datenum(1970, 1, 1), "photo_taken": 2000,
     "gender": 0.0, "second_face_score": 2.5, "name": "Two"},
    # 4: unknown gender, kept; born 31 Dec 1990, photo 2010 -> 19; empty name
    {"full_path": "04/unknown_gender.jpg", "dob": datenum(1990, 12, 31),
     "photo_taken": 2010, "gender": np.nan},
    # 5: garbage date of birth (a year before 1)
    {"full_path": "05/bad_dob.jpg", "dob": 2.0, "photo_taken": 2009, "gender": 1.0},
    # 6: 130 years old
    {"full_path": "06/old.jpg", "dob": datenum(1879, 1, 1), "photo_taken": 2009,
     "gender": 1.0},
    # 7: weak face, kept unless min_face_score says otherwise; born March 2009 -> 0
    {"full_path": "07/weak_face.jpg", "dob": datenum(2009, 3, 1), "photo_taken": 2009,
     "gender": 0.0, "face_score": 0.5},
    # 8: date of birth past year 9999
    {"full_path": "08/huge_dob.jpg", "dob": 1e12, "photo_taken": 2009, "gender": 1.0},
    # 9: no date of birth at all
    {"full_path": "09/nan_dob.jpg", "dob": np.nan, "photo_taken": 2009, "gender": 1.0},
    # 10: born after the photo was taken (age -1)
    {"full_path": "10/unborn.jpg", "dob": datenum(2009, 8, 1), "photo_taken": 2009,
     "gender": 1.0},
]


@pytest.fixture
def wiki_mat(tmp_path) -> str:
    return write_mat(tmp_path / "wiki.mat", ROWS)


def load_quietly(*args, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_imdb_wiki(*args, **kwargs)


def test_labels_of_kept_rows(wiki_mat, tmp_path):
    with pytest.warns(UserWarning, match="left out"):
        df = load_imdb_wiki(wiki_mat)
    assert df.columns.tolist() == [
        "path", "age", "gender", "gender_name", "name", "face_score", "second_face_score",
        "photo_taken", "dob", "face_location",
    ]
    assert df["path"].tolist() == [
        os.path.join(str(tmp_path), ROWS[i]["full_path"]) for i in (0, 1, 4, 7)
    ]
    assert df["age"].tolist() == [28.0, 27.0, 19.0, 0.0]
    assert df["age"].dtype == np.float64
    # IMDB-WIKI codes 1 male / 0 female; skface codes 0 male / 1 female
    assert df["gender"].dtype == "Int8"
    assert df["gender"].tolist() == [0, 1, pd.NA, 1]
    assert df["gender_name"].astype(object).tolist()[:2] == ["male", "female"]
    assert pd.isna(df["gender_name"].iloc[2])
    assert df["name"].tolist()[:2] == ["Sami Jauhojärvi", "Zoë Ñandú"]
    assert pd.isna(df["name"].iloc[2])
    assert df["photo_taken"].tolist() == [2009, 2009, 2010, 2009]
    assert df["photo_taken"].dtype == np.int64
    assert df["dob"].tolist() == [
        pd.Timestamp("1981-05-05"), pd.Timestamp("1981-07-01 12:00"),
        pd.Timestamp("1990-12-31"), pd.Timestamp("2009-03-01"),
    ]
    assert df["face_score"].tolist() == [3.0, 3.0, 3.0, 0.5]
    assert df["second_face_score"].isna().all()
    np.testing.assert_array_equal(df["face_location"].iloc[0], [111.3, 111.3, 252.7, 252.7])
    assert "race" not in df.columns
    assert df.attrs["source"] == "wiki"


def test_dropped_rows_are_reported_with_reasons(wiki_mat):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df, dropped = load_imdb_wiki(wiki_mat, return_dropped=True)
    assert len(caught) == 1
    assert caught[0].category is UserWarning
    message = str(caught[0].message)
    assert "left out 7 of 11 row(s)" in message
    assert wiki_mat in message
    assert "1 no face found" in message
    assert "1 several faces" in message
    assert "3 invalid date of birth" in message
    assert "2 age outside 0..116" in message
    assert "1 of them with unknown gender" in message
    assert "kept 4 row(s)" in message

    assert df.attrs["dropped_counts"] == {
        "no_face": 1, "multiple_faces": 1, "invalid_dob": 3, "age_out_of_range": 2}
    assert dict(zip(dropped["full_path"], dropped["reason"].astype(str), strict=True)) == {
        "30/no_face.jpg": "no_face",
        "31/two_faces.jpg": "multiple_faces",
        "05/bad_dob.jpg": "invalid_dob",
        "06/old.jpg": "age_out_of_range",
        "08/huge_dob.jpg": "invalid_dob",
        "09/nan_dob.jpg": "invalid_dob",
        "10/unborn.jpg": "age_out_of_range",
    }
    assert dropped.columns.tolist() == [
        "full_path", "reason", "dob", "photo_taken", "age", "gender", "face_score",
        "second_face_score", "name",
    ]
    old = dropped.set_index("full_path").loc["06/old.jpg"]
    assert old["age"] == 130.0
    assert old["dob"] == datenum(1879, 1, 1)
    assert old["gender"] == 1.0  # the raw IMDB-WIKI code
    assert dropped.set_index("full_path").loc["10/unborn.jpg", "age"] == -1.0
    assert np.isnan(dropped.set_index("full_path").loc["05/bad_dob.jpg", "age"])
    assert dropped.set_index("full_path").loc["30/no_face.jpg", "face_score"] == -np.inf


def test_min_face_score_and_multiple_faces_options(wiki_mat):
    with pytest.warns(UserWarning, match="1 face_score below min_face_score"):
        df, dropped = load_imdb_wiki(wiki_mat, min_face_score=1.0, return_dropped=True)
    assert "07/weak_face.jpg" not in " ".join(df["path"])
    reasons = dropped.set_index("full_path")["reason"]
    assert reasons["07/weak_face.jpg"] == "low_face_score"

    df = load_quietly(wiki_mat, drop_multiple_faces=False)
    row = df[df["path"].str.endswith("two_faces.jpg")]
    assert row["second_face_score"].tolist() == [2.5]
    assert row["age"].tolist() == [30.0]
    assert row["gender"].tolist() == [1]
    assert "multiple_faces" not in df.attrs["dropped_counts"]


def test_no_warning_when_nothing_is_left_out(tmp_path):
    mat = write_mat(tmp_path / "wiki.mat", [ROWS[0], ROWS[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df, dropped = load_imdb_wiki(mat, return_dropped=True)
    assert df["age"].tolist() == [28.0, 27.0]
    assert len(dropped) == 0 and df.attrs["dropped_counts"] == {}
    assert dropped.columns[:2].tolist() == ["full_path", "reason"]


def test_ages_match_the_official_formula(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    dobs = rng.uniform(datenum(1900, 1, 1), datenum(2010, 12, 31), n)
    dobs[:50] = np.floor(dobs[:50])  # whole days too
    taken = rng.integers(1950, 2016, n)
    rows = [
        {"full_path": f"{i:02d}/{i}.jpg", "dob": d, "photo_taken": t, "gender": 1.0}
        for i, (d, t) in enumerate(zip(dobs, taken, strict=True))
    ]
    df = load_quietly(write_mat(tmp_path / "wiki.mat", rows))
    expected = {
        f"{i:02d}/{i}.jpg": official_age(int(t), float(d))
        for i, (d, t) in enumerate(zip(dobs, taken, strict=True))
    }
    kept = {os.path.relpath(p, tmp_path): a for p, a in zip(df["path"], df["age"], strict=True)}
    assert kept == {k: float(v) for k, v in expected.items() if 0 <= v <= 116}
    n_out = sum(1 for v in expected.values() if not 0 <= v <= 116)
    assert df.attrs["dropped_counts"].get("age_out_of_range", 0) == n_out
    _, dropped = load_quietly(write_mat(tmp_path / "wiki.mat", rows), return_dropped=True)
    assert set(dropped["full_path"]) == {k for k, v in expected.items() if not 0 <= v <= 116}


def test_imdb_layout_with_celebrity_fields(tmp_path):
    # celeb_names is 1xK with K != N: it must not count as a mismatched field
    mat = write_mat(
        tmp_path / "imdb.mat", [ROWS[0], ROWS[1], ROWS[4]], key="imdb",
        celeb_names=cell(["A", "B", "C", "D", "E"]), celeb_id=np.array([[4, 2, 5]]),
    )
    root = tmp_path / "images"
    df = load_quietly(mat, images_root=root)
    assert df.attrs["source"] == "imdb"
    assert df["celeb_id"].tolist() == [4, 2, 5]
    assert df["path"].iloc[0] == os.path.join(str(root), ROWS[0]["full_path"])


def test_column_vectors_and_a_single_row(tmp_path):
    df = load_quietly(write_mat(tmp_path / "a.mat", ROWS, column=True))
    assert df["age"].tolist() == [28.0, 27.0, 19.0, 0.0]
    df = load_quietly(write_mat(tmp_path / "b.mat", [ROWS[1]]))
    assert df["age"].tolist() == [27.0]
    assert df["gender"].tolist() == [1]
    assert df["name"].tolist() == ["Zoë Ñandú"]


@pytest.mark.parametrize(
    "options",
    [{"simplify_cells": True}, {"struct_as_record": False}, {"squeeze_me": True}, {}],
)
def test_other_loadmat_layouts(wiki_mat, monkeypatch, options):
    # the same file as scipy gives it with other options (plain str, 1-D arrays,
    # mat_struct objects, strings already joined)
    real_loadmat = scipy.io.loadmat
    monkeypatch.setattr(scipy.io, "loadmat", lambda f, **kwargs: real_loadmat(f, **options))
    df = load_quietly(wiki_mat)
    assert df["age"].tolist() == [28.0, 27.0, 19.0, 0.0]
    assert df["gender"].tolist() == [0, 1, pd.NA, 1]
    assert df["name"].tolist()[:2] == ["Sami Jauhojärvi", "Zoë Ñandú"]
    assert sum(df.attrs["dropped_counts"].values()) == 7


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nowhere" / "wiki.mat")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_imdb_wiki(missing)


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "wiki.mat"
    path.write_text("not matlab")
    with pytest.raises(ValueError, match="could not be read") as info:
        load_imdb_wiki(path)
    assert str(path) in str(info.value)


def test_wrong_top_level_variable(tmp_path):
    path = str(tmp_path / "other.mat")
    scipy.io.savemat(path, {"celebs": {"dob": np.zeros((1, 2))}, "x": np.ones(3)})
    with pytest.raises(ValueError, match="'wiki' or 'imdb'") as info:
        load_imdb_wiki(path)
    assert path in str(info.value)
    assert "['celebs', 'x']" in str(info.value)


def test_missing_field(tmp_path):
    path = str(tmp_path / "wiki.mat")
    scipy.io.savemat(path, {"wiki": {"dob": np.zeros((1, 2)), "full_path": cell(["a", "b"])}})
    with pytest.raises(ValueError, match="lacks the field") as info:
        load_imdb_wiki(path)
    assert path in str(info.value)
    assert "face_score" in str(info.value)


def test_mismatched_field_lengths(tmp_path):
    path = write_mat(tmp_path / "wiki.mat", ROWS[:3])
    data = scipy.io.loadmat(path)["wiki"][0, 0]
    struct = {name: data[name] for name in data.dtype.names}
    struct["face_score"] = np.array([[1.0, 2.0]])
    scipy.io.savemat(path, {"wiki": struct})
    with pytest.raises(ValueError, match="different lengths") as info:
        load_imdb_wiki(path)
    assert path in str(info.value)
    assert "'face_score': 2" in str(info.value)


def test_unknown_gender_code_is_an_error(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "gender": 2.0}]
    path = write_mat(tmp_path / "wiki.mat", rows)
    with pytest.raises(LabelError, match=r"2\.0") as info:
        load_imdb_wiki(path)
    assert ROWS[1]["full_path"] in str(info.value)
    assert path in str(info.value)
