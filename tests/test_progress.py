"""The epoch table says how far training is (``12/36``) and how long is left, on every
training call of every estimator."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from skface import AgeBinner, AgeRegressor, FaceAttributes, GenderClassifier, RaceClassifier
from skface._engine import _log
from skface._engine._log import format_duration

from .conftest import TinyNet

N = 48
IMAGES = np.random.default_rng(0).integers(0, 256, (N, 16, 16, 3), dtype=np.uint8)
TARGETS = {
    GenderClassifier: np.arange(N) % 2,
    RaceClassifier: np.arange(N) % 5,
    AgeRegressor: np.arange(N) + 1.0,
    AgeBinner: np.arange(N) + 1,
    FaceAttributes: pd.DataFrame({"age": np.arange(N) + 1, "gender": np.arange(N) % 2,
                                  "race": np.arange(N) % 5}),
}
ROW = re.compile(r"^\s*(\d+)/(\d+)\s+(~\d\S*|at most \d\S*|0s)\s")


def _printed(Estimator, lines: list[str], **params):
    """The estimator fitted with its table sent to ``lines``."""
    params = {"module": TinyNet, "module__width": 4, "module__depth": 1, "max_epochs": 3,
              "random_state": 0, "batch_size": N,
              "verbose": 1, "callbacks__print_log__sink": lines.append, **params}
    return Estimator(**params).fit(IMAGES, TARGETS[Estimator])


def _rows(lines: list[str]) -> list[tuple[int, int, str]]:
    rows = [ROW.match(line) for line in lines]
    return [(int(m[1]), int(m[2]), m[3]) for m in rows if m]


@pytest.fixture
def clock(monkeypatch):
    """A clock that moves on a minute each time it is read."""
    ticks = itertools.count(0, 60)
    monkeypatch.setattr(_log, "perf_counter", lambda: float(next(ticks)))


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.4, "0s"), (-3, "0s"), (45.4, "45s"), (59.6, "1m00s"), (190, "3m10s"),
    (3599.4, "59m59s"), (3600, "1h00m"), (7500, "2h05m"), (100 * 3600, "100h00m")])
def test_durations_read_as_people_say_them(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("Estimator", list(TARGETS), ids=lambda c: c.__name__)
def test_every_row_says_the_epoch_of_how_many_and_the_time_left(Estimator):
    lines: list[str] = []
    _printed(Estimator, lines)
    assert lines[0].split()[:2] == ["epoch", "left"]
    rows = _rows(lines)
    assert [(done, planned) for done, planned, _ in rows] == [(1, 3), (2, 3), (3, 3)]
    assert [left[0] for _, _, left in rows[:-1]] == ["~", "~"] and rows[-1][2] == "0s"
    assert len(rows) == len(lines) - 2  # the header, its rule, one row per epoch


def test_the_time_left_is_the_mean_epoch_time_times_the_epochs_to_go(clock):
    lines: list[str] = []
    _printed(GenderClassifier, lines, max_epochs=4)
    # read at the first epoch's start, then at each epoch's end: a minute per epoch
    assert [left for *_, left in _rows(lines)] == ["~3m00s", "~2m00s", "~1m00s", "0s"]


def test_columns_stay_under_their_header_as_the_cells_change_width(clock):
    lines: list[str] = []
    _printed(GenderClassifier, lines, max_epochs=10)  # 1/10 to 10/10; ~9m00s to 0s
    assert len(_rows(lines)) == 10
    assert {len(line) for line in lines} == {len(lines[0])}


def test_early_stopping_says_the_time_left_is_at_most(clock):
    lines: list[str] = []
    net = _printed(GenderClassifier, lines, max_epochs=30, early_stopping=True, patience=1)
    rows = _rows(lines)
    assert len(rows) == len(net.history_) < 30  # it stopped early
    assert all(planned == 30 for _, planned, _ in rows)
    assert all(left.startswith("at most ") for *_, left in rows)
    assert rows[0][2] == "at most 29m00s"


def test_partial_fit_and_warm_start_count_within_the_call(clock):
    lines: list[str] = []
    net = _printed(FaceAttributes, lines, max_epochs=2)
    net.partial_fit(IMAGES, TARGETS[FaceAttributes], epochs=3)
    net.set_params(max_epochs=4, warm_start=True).fit(IMAGES, TARGETS[FaceAttributes])
    assert len(net.history_) == 2 + 3 + 4
    assert [(done, planned) for done, planned, _ in _rows(lines)] == [
        (1, 2), (2, 2), (1, 3), (2, 3), (3, 3), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert sum(line.split()[:2] == ["epoch", "left"] for line in lines) == 3  # one per call
    assert [row["epoch"] for row in net.history_] == list(range(1, 10))  # history unchanged


def test_max_epochs_set_after_fit_is_the_next_fits_plan():
    lines: list[str] = []
    net = _printed(AgeRegressor, lines, max_epochs=2)
    lines.clear()
    net.set_params(max_epochs=5).fit(IMAGES, TARGETS[AgeRegressor])
    assert [(done, planned) for done, planned, _ in _rows(lines)] == [(k, 5) for k in
                                                                       range(1, 6)]


def test_the_time_left_can_be_left_out():
    lines: list[str] = []
    _printed(RaceClassifier, lines, max_epochs=2, callbacks__print_log__keys_ignored="left")
    assert "left" not in lines[0].split()
    assert [line.split()[0] for line in lines[2:]] == ["1/2", "2/2"]
