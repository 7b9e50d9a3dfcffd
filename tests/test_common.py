"""scikit-learn's API rules, checked on every skface estimator.

Only the checks that need no tabular data run: skface's transformers take file
paths or target vectors, not the 2-D float arrays the data-based checks feed in.
Expected failures are listed in EXPECTED_FAILED_CHECKS with their reason.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks as ec

from skface import AgeBinEncoder, ImageLoader, UTKFaceLabelDecoder

# One instance per estimator, with non-default parameters where that exercises more.
INSTANCES = [
    ImageLoader(),
    ImageLoader(size=32, color="grayscale", fit_mode="pad", fill=(1, 2, 3), cache=False),
    UTKFaceLabelDecoder(),
    UTKFaceLabelDecoder(("race",), labels="names"),
    AgeBinEncoder(),
    AgeBinEncoder("balanced", n_bins=4),
    AgeBinEncoder([0, 18, 65, np.inf]),
]

DATA_FREE_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_parameters_default_constructible,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_mixin_order,
    ec.check_do_not_raise_errors_in_init_or_set_params,
]

# (estimator class name, check name) -> why it is expected to fail. Empty today: every
# data-free check passes. Add an entry, with its reason, rather than skip a check silently.
EXPECTED_FAILED_CHECKS: dict[tuple[str, str], str] = {}


def _id(obj) -> str:
    return getattr(obj, "__name__", None) or repr(obj)


@pytest.mark.parametrize("estimator", INSTANCES, ids=repr)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=_id)
def test_data_free_sklearn_checks(estimator, check):
    name = type(estimator).__name__
    reason = EXPECTED_FAILED_CHECKS.get((name, check.__name__))
    if reason:
        pytest.xfail(reason)
    check(name, clone(estimator))


@pytest.mark.parametrize("estimator", INSTANCES, ids=repr)
def test_tags_declare_non_tabular_input(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.two_d_array is False


@pytest.mark.parametrize("estimator", INSTANCES, ids=repr)
def test_pickle_round_trip_keeps_parameters(estimator):
    again = pickle.loads(pickle.dumps(estimator))
    assert repr(again) == repr(estimator)


def test_fitted_age_bin_encoder_pickles_with_its_state():
    enc = AgeBinEncoder("balanced", n_bins=3).fit([1, 2, 3, 10, 20, 30, 40, 50, 60])
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(again.bin_edges_, enc.bin_edges_)
    np.testing.assert_array_equal(again.transform([5, 45]), enc.transform([5, 45]))
