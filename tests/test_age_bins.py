"""AgeBinEncoder: presets, balanced bins, custom edges, labels, representative ages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skface import AGE_BIN_PRESETS, AgeBinEncoder
from skface.exceptions import LabelError

AGES = np.array([0, 2, 5, 9, 10, 19, 20, 29, 35, 49, 64, 65, 70, 89, 90, 116])


def test_decades():
    enc = AgeBinEncoder().fit(AGES)
    assert enc.labels_.tolist() == ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                                    "60-69", "70-79", "80-89", "90+"]
    np.testing.assert_array_equal(enc.transform([0, 9, 10, 99, 116]), [0, 0, 1, 9, 9])


def test_life_stages_and_fairface_labels():
    stages = AgeBinEncoder("life_stages").fit(AGES)
    assert stages.labels_.tolist() == ["child (0-12)", "teen (13-19)", "young adult (20-39)",
                                       "adult (40-64)", "senior (65+)"]
    np.testing.assert_array_equal(stages.transform([12, 13, 19, 20, 39, 40, 64, 65]),
                                  [0, 1, 1, 2, 2, 3, 3, 4])
    fair = AgeBinEncoder("fairface").fit(AGES)
    assert fair.labels_.tolist() == ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59",
                                     "60-69", "70+"]
    assert fair.n_bins_ == 9 and set(AGE_BIN_PRESETS) == {"decades", "life_stages", "fairface"}


def test_custom_edges_with_open_last_group():
    edges = [0, 6, 12, 25, 35, 45, 60, 80, np.inf]
    enc = AgeBinEncoder(edges).fit(AGES)
    assert enc.labels_.tolist() == ["0-5", "6-11", "12-24", "25-34", "35-44", "45-59",
                                    "60-79", "80+"]
    np.testing.assert_array_equal(enc.transform([5.9, 6, 79.5, 80, 116]), [0, 1, 6, 7, 7])


def test_fractional_edges_label_as_intervals():
    enc = AgeBinEncoder([0, 2.5, 117]).fit([1, 3])
    assert enc.labels_.tolist() == ["[0, 2.5)", "[2.5, 117)"]


def test_representative_ages_are_medians_or_midpoints():
    enc = AgeBinEncoder([0, 10, 20, 30, np.inf]).fit([1, 3, 8, 22, 24])
    np.testing.assert_allclose(enc.representative_ages_, [3, 15, 23, (30 + 117) / 2])
    np.testing.assert_allclose(enc.inverse_transform([2, 0]), [23, 3])
    np.testing.assert_array_equal(enc.counts_, [3, 0, 2, 0])
    with pytest.raises(ValueError, match=r"integers in 0\.\.3"):
        enc.inverse_transform([4])


def test_balanced_bins_have_nearly_equal_counts():
    rng = np.random.default_rng(0)
    ages = np.clip(rng.gamma(3.0, 11.0, size=5000).round(), 0, 116)
    enc = AgeBinEncoder("balanced", n_bins=8).fit(ages)
    assert enc.n_bins_ == 8
    assert enc.counts_.min() > 0.6 * len(ages) / 8 and enc.counts_.max() < 1.4 * len(ages) / 8
    assert (enc.bin_edges_[1:-1] == np.round(enc.bin_edges_[1:-1])).all()  # whole years


def test_balanced_warns_when_ages_repeat_too_much():
    with pytest.warns(UserWarning, match="made 2 groups instead of n_bins=5"):
        enc = AgeBinEncoder("balanced", n_bins=5).fit([20] * 50 + [30] * 50)
    assert enc.n_bins_ == 2


@pytest.mark.parametrize(
    ("bins", "words"),
    [("weeks", "not a preset"), ([10], "at least two edges"), ([0, 5, 5], "strictly increasing"),
     ([-1, 5], "non-negative"), ("0,10", "not a preset")],
)
def test_invalid_bins(bins, words):
    with pytest.raises(ValueError, match=words):
        AgeBinEncoder(bins).fit(AGES)


def test_bad_ages_are_named():
    with pytest.raises(LabelError, match="NaN"):
        AgeBinEncoder().fit([3, np.nan])
    with pytest.raises(LabelError, match=r"-2 \(row 1\)"):
        AgeBinEncoder().fit([3, -2])
    with pytest.raises(LabelError, match="between 0 and 116"):
        AgeBinEncoder().fit([3, 130])
    enc = AgeBinEncoder([10, 20, 30]).fit([10, 25])
    with pytest.raises(ValueError, match=r"\[5.0\] fall outside"):
        enc.transform([5])


@settings(max_examples=60, deadline=None)
@given(
    ages=st.lists(st.integers(0, 116), min_size=1, max_size=200),
    n_bins=st.integers(1, 12),
)
def test_balanced_bins_properties(ages, n_bins):
    enc = AgeBinEncoder("balanced", n_bins=n_bins)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        codes = enc.fit_transform(ages)
    assert 1 <= enc.n_bins_ <= n_bins
    assert np.all(np.diff(enc.bin_edges_) > 0)
    assert codes.min() >= 0 and codes.max() < enc.n_bins_
    # codes are monotone in age: an older person is never in a younger group
    order = np.argsort(ages, kind="stable")
    assert np.all(np.diff(codes[order]) >= 0)
    assert enc.counts_.sum() == len(ages)
    # representative ages lie inside their group
    lo, hi = enc.bin_edges_[:-1], enc.bin_edges_[1:]
    reps = enc.representative_ages_
    assert np.all((reps >= lo) & ((reps < hi) | np.isinf(hi)))
