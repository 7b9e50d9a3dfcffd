"""AgeBinEncoder: ages in years to ordered age groups and back."""

from __future__ import annotations

import itertools
import math
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._labels import MAX_AGE, check_ages
from ._registry import safe_class

__all__ = ["AGE_BIN_PRESETS", "AgeBinEncoder"]

_INF = math.inf

AGE_BIN_PRESETS: dict[str, dict] = {
    "decades": {
        "edges": (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, _INF),
        "names": None,
    },
    "life_stages": {
        "edges": (0, 13, 20, 40, 65, _INF),
        "names": ("child", "teen", "young adult", "adult", "senior"),
    },
    "fairface": {
        "edges": (0, 3, 10, 20, 30, 40, 50, 60, 70, _INF),
        "names": None,
    },
}
"""Named bin edges. ``"balanced"`` is learned from data and so is not listed here.

- ``"decades"``: 0-9, 10-19, ..., 80-89, 90+.
- ``"life_stages"``: child (0-12), teen (13-19), young adult (20-39), adult (40-64),
  senior (65+) (the edges are skface's choice, following common usage: 13 as the start
  of the teens, 20 as adulthood, 40 as midlife, 65 as retirement age).
- ``"fairface"``: FairFace's nine groups 0-2, 3-9, 10-19, ..., 60-69, 70+.
"""


def _range_label(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f"{lo:g}+"
    if float(lo).is_integer() and float(hi).is_integer():
        lo_i, hi_i = int(lo), int(hi)
        return f"{lo_i}" if hi_i - lo_i == 1 else f"{lo_i}-{hi_i - 1}"
    return f"[{lo:g}, {hi:g})"


def _balanced_edges(ages: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges on whole years that split ``ages`` into groups of nearly equal counts."""
    values, counts = np.unique(np.floor(ages), return_counts=True)
    below = np.concatenate([[0], np.cumsum(counts)[:-1]])  # count of ages < values[j]
    n = ages.size
    inner = []
    for k in range(1, n_bins):
        j = int(np.argmin(np.abs(below - k * n / n_bins)))
        if below[j] > 0 and (not inner or values[j] > inner[-1]):
            inner.append(values[j])
    return np.asarray([0.0, *inner, _INF])


@safe_class("step", params=("bins", "n_bins"))
class AgeBinEncoder(TransformerMixin, BaseEstimator):
    """Encode ages in years as ordered age groups, and decode groups to ages.

    Works on a target vector, like :class:`~sklearn.preprocessing.LabelEncoder`:
    ``fit(ages)``, ``transform(ages)`` gives group codes ``0 .. n_bins - 1`` in age
    order, ``inverse_transform(codes)`` gives a representative age per group and
    ``labels_`` readable names such as ``"20-29"``. Groups are half-open
    intervals ``[lo, hi)`` in years.

    Parameters
    ----------
    bins : {"decades", "life_stages", "fairface", "balanced"} or array-like, \
            default="decades"
        A preset from :data:`~skface.AGE_BIN_PRESETS`; ``"balanced"`` for
        ``n_bins`` groups of nearly equal counts learned from the ages passed to
        ``fit`` (edges on whole years); or increasing edges ``[e0, e1, ..., en]``
        for ``n`` groups (``np.inf`` as the last edge leaves the oldest group open).
    n_bins : int, default=8
        Number of groups with ``bins="balanced"``; ignored otherwise. Fewer groups
        are made, with a warning, when ages repeat too much to split further.

    Attributes
    ----------
    bin_edges_ : ndarray of shape (n_groups + 1,)
        Group edges in years.
    n_bins_ : int
        Number of groups (``n_groups`` in the shapes here).
    labels_ : ndarray of str of shape (n_groups,)
        Readable name of each group, e.g. ``"20-29"``, ``"90+"``, ``"teen (13-19)"``.
    representative_ages_ : ndarray of shape (n_groups,)
        Age standing for each group in ``inverse_transform``: the median of the
        ages seen in ``fit`` that fall in the group, or, for a group with none,
        its midpoint (an open last group is taken to end at ``MAX_AGE + 1``).
    counts_ : ndarray of int of shape (n_groups,)
        Number of ``fit`` ages in each group.
    classes_ : ndarray of int of shape (n_groups,)
        The codes, ``0 .. n_bins_ - 1``.

    See Also
    --------
    sklearn.preprocessing.KBinsDiscretizer : Binning of feature columns.

    Examples
    --------
    >>> from skface import AgeBinEncoder
    >>> enc = AgeBinEncoder("life_stages").fit([4, 15, 25, 33, 50, 70, 81])
    >>> enc.transform([7, 19, 64, 65])
    array([0, 1, 3, 4])
    >>> list(enc.labels_)
    ['child (0-12)', 'teen (13-19)', 'young adult (20-39)', 'adult (40-64)', 'senior (65+)']
    >>> enc.inverse_transform([2])
    array([29.])
    """

    _parameter_constraints: dict = {
        "bins": [str, "array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, bins="decades", *, n_bins: int = 8):
        self.bins = bins
        self.n_bins = n_bins

    def _edges_and_names(self, ages: np.ndarray):
        bins = self.bins
        if isinstance(bins, str):
            if bins == "balanced":
                edges = _balanced_edges(ages, self.n_bins)
                if edges.size - 1 < self.n_bins:
                    warnings.warn(
                        f"AgeBinEncoder(bins='balanced') made {edges.size - 1} groups instead "
                        f"of n_bins={self.n_bins}: the ages repeat too much to split further.",
                        UserWarning,
                        stacklevel=3,
                    )
                return edges, None
            if bins not in AGE_BIN_PRESETS:
                raise ValueError(
                    f"bins={bins!r} is not a preset; use one of "
                    f"{[*AGE_BIN_PRESETS, 'balanced']} or a list of edges in years."
                )
            preset = AGE_BIN_PRESETS[bins]
            return np.asarray(preset["edges"], dtype=np.float64), preset["names"]
        try:
            edges = np.asarray(bins, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"bins must be a preset name or numeric edges, got {bins!r}") from None
        if edges.ndim != 1 or edges.size < 2:
            raise ValueError(f"bins needs at least two edges (one group), got {bins!r}")
        if np.isnan(edges).any() or np.any(np.diff(edges) <= 0) or edges[0] < 0:
            raise ValueError(
                f"bin edges must be non-negative and strictly increasing, got {list(edges)}"
            )
        return edges, None

    def fit(self, y, X=None):
        """Choose the groups (for ``bins="balanced"``) and their representative ages.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Ages in years.
        X : None
            Ignored.

        Returns
        -------
        self : AgeBinEncoder
        """
        self._validate_params()
        ages = check_ages(y)
        if ages.size == 0:
            raise ValueError("AgeBinEncoder.fit got no ages; pass at least one.")
        edges, names = self._edges_and_names(ages)
        self.bin_edges_ = edges
        self.n_bins_ = edges.size - 1
        self.classes_ = np.arange(self.n_bins_)
        ranges = [_range_label(lo, hi) for lo, hi in itertools.pairwise(edges)]
        if names is not None:
            ranges = [f"{name} ({r})" for name, r in zip(names, ranges, strict=True)]
        self.labels_ = np.asarray(ranges, dtype=object)
        codes = self._codes(ages)
        self.counts_ = np.bincount(codes, minlength=self.n_bins_)
        reps = np.empty(self.n_bins_)
        for k in range(self.n_bins_):
            inside = ages[codes == k]
            if inside.size:
                reps[k] = np.median(inside)
            else:
                hi = min(edges[k + 1], MAX_AGE + 1.0)
                reps[k] = (edges[k] + hi) / 2
        self.representative_ages_ = reps
        return self

    def _codes(self, ages: np.ndarray) -> np.ndarray:
        edges = self.bin_edges_
        codes = np.searchsorted(edges, ages, side="right") - 1
        outside = (codes < 0) | (codes >= self.n_bins_)
        if outside.any():
            bad = ages[outside][:5]
            raise ValueError(
                f"age(s) {bad.tolist()} fall outside the age groups "
                f"[{edges[0]:g}, {edges[-1]:g}); use edges that cover every age "
                "(np.inf as the last edge leaves the oldest group open)."
            )
        return codes.astype(np.int64)

    def transform(self, y) -> np.ndarray:
        """Group codes of ages.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Ages in years.

        Returns
        -------
        codes : ndarray of int64 of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._codes(check_ages(y))

    def fit_transform(self, y, X=None) -> np.ndarray:
        """Fit, then return the group codes of ``y``.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Ages in years.
        X : None
            Ignored.

        Returns
        -------
        codes : ndarray of int64 of shape (n_samples,)
            The group of each age.
        """
        return self.fit(y).transform(y)

    def inverse_transform(self, codes) -> np.ndarray:
        """Representative age of each group code.

        Parameters
        ----------
        codes : array-like of int of shape (n_samples,)

        Returns
        -------
        ages : ndarray of float64 of shape (n_samples,)
        """
        check_is_fitted(self)
        codes = np.asarray(codes).reshape(-1)
        if codes.size and (
            not np.issubdtype(codes.dtype, np.integer)
            or codes.min() < 0
            or codes.max() >= self.n_bins_
        ):
            raise ValueError(
                f"group codes must be integers in 0..{self.n_bins_ - 1}, got {codes[:5].tolist()}"
            )
        return self.representative_ages_[codes]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.target_tags.one_d_labels = True
        return tags
