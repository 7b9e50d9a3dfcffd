"""UTKFaceLabelDecoder: y from the same paths as X."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skface import UTKFaceLabelDecoder
from skface.exceptions import MalformedFileNameError

NAMES = ["d/26_1_2_20170116174525125.jpg.chip.jpg", "d/8_0_3_20170109150557335.jpg"]


def test_codes_and_names():
    codes = UTKFaceLabelDecoder().fit_transform(NAMES)
    pd.testing.assert_frame_equal(
        codes, pd.DataFrame({"age": [26, 8], "gender": [1, 0], "race": [2, 3]}))
    names = UTKFaceLabelDecoder(["race", "gender"], labels="names").fit_transform(NAMES)
    assert names.to_dict("list") == {"race": ["Asian", "Indian"], "gender": ["female", "male"]}


def test_keeps_the_index_of_a_series():
    out = UTKFaceLabelDecoder(["age"]).fit_transform(pd.Series(NAMES, index=[10, 20]))
    assert out.index.tolist() == [10, 20]


def test_set_output_and_feature_names():
    dec = UTKFaceLabelDecoder(["age", "gender"])
    assert dec.get_feature_names_out().tolist() == ["age", "gender"]
    out = dec.set_output(transform="pandas").fit_transform(NAMES)
    assert list(out.columns) == ["age", "gender"]
    default = dec.set_output(transform="default").fit_transform(NAMES)
    assert isinstance(default, pd.DataFrame)


def test_malformed_name_raises_rather_than_dropping_a_row():
    with pytest.raises(MalformedFileNameError, match="39_1_20170116174525125") as info:
        UTKFaceLabelDecoder().fit_transform([*NAMES, "39_1_20170116174525125.jpg.chip.jpg"])
    assert "remove them from the list of paths" in str(info.value)


@pytest.mark.parametrize("columns", [(), ("age", "age"), ("height",)])
def test_invalid_columns(columns):
    with pytest.raises(ValueError, match="columns"):
        UTKFaceLabelDecoder(columns).fit(NAMES)


@pytest.mark.utkface
def test_agrees_with_load_utkface_on_real_names(utkface_subset):
    out = UTKFaceLabelDecoder().fit_transform([str(p) for p in utkface_subset])
    parsed = [p.name.split("_")[:3] for p in utkface_subset]
    np.testing.assert_array_equal(out.to_numpy(), np.asarray(parsed, dtype=int))
