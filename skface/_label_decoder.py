"""UTKFaceLabelDecoder: labels from the same paths the images come from."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions

from ._image_loader import check_paths
from ._labels import GENDER_NAMES, RACE_NAMES, TASKS
from ._registry import safe_class
from .datasets._utkface import format_malformed, parse_utkface_names
from .exceptions import MalformedFileNameError

__all__ = ["UTKFaceLabelDecoder"]

_ALL = TASKS


@safe_class("step", params=("columns", "labels"))
class UTKFaceLabelDecoder(TransformerMixin, BaseEstimator):
    """Decode age, gender and race from UTKFace file names.

    ``transform(paths)`` gives a DataFrame with one row per path, so ``y`` can be
    built from the very list of paths the images are loaded from. Unlike
    :func:`~skface.datasets.load_utkface`, which leaves malformed names out with a
    warning, this transformer raises on any malformed name: dropping a row here
    would put X and y out of step.

    The transformer is stateless.

    Parameters
    ----------
    columns : tuple of str, default=("age", "gender", "race")
        Which labels to return, in this order.
    labels : {"codes", "names"}, default="codes"
        ``"codes"`` gives gender 0/1 and race 0-4 as integers; ``"names"`` gives
        ``"male"``/``"female"`` and ``"White"``, ``"Black"``, ``"Asian"``,
        ``"Indian"``, ``"Others"``. Age is always in years (int64).

    See Also
    --------
    skface.datasets.load_utkface : Labels of a whole folder as a DataFrame.
    skface.datasets.parse_utkface_names : The parser underneath.

    Examples
    --------
    >>> from skface import UTKFaceLabelDecoder
    >>> UTKFaceLabelDecoder().fit_transform(["26_1_2_20170116174525125.jpg.chip.jpg"])
       age  gender  race
    0   26       1     2
    >>> UTKFaceLabelDecoder(labels="names").fit_transform(["a/8_0_3_20170109150557335.jpg"])
       age gender    race
    0    8   male  Indian
    """

    _parameter_constraints: dict = {
        "columns": [tuple, list],
        "labels": [StrOptions({"codes", "names"})],
    }

    def __init__(self, columns: tuple[str, ...] = _ALL, *, labels: str = "codes"):
        self.columns = columns
        self.labels = labels

    def _check_columns(self) -> list[str]:
        self._validate_params()
        columns = list(self.columns)
        unknown = [c for c in columns if c not in _ALL]
        if unknown or not columns or len(set(columns)) != len(columns):
            raise ValueError(
                f"columns must be distinct names among {_ALL}, got {tuple(self.columns)!r}"
            )
        return columns

    def fit(self, X, y=None):
        """Validate the parameters and the paths; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples,)
            UTKFace file names or paths.
        y : None
            Ignored.

        Returns
        -------
        self : UTKFaceLabelDecoder
        """
        self._check_columns()
        check_paths(X, caller=type(self).__name__)
        return self

    def transform(self, X) -> pd.DataFrame:
        """Decode the labels.

        Parameters
        ----------
        X : array-like of shape (n_samples,)
            UTKFace file names or paths (only the last component is read).

        Returns
        -------
        labels : DataFrame of shape (n_samples, len(columns))
            Indexed like ``X`` when ``X`` is a pandas Series, else from 0.

        Raises
        ------
        MalformedFileNameError
            Naming every file whose name carries no valid labels.
        """
        columns = self._check_columns()
        paths = check_paths(X, caller=type(self).__name__)
        parsed, malformed = parse_utkface_names(paths)
        if malformed:
            outcome = (
                "Their labels cannot be decoded: rename the files, or remove them from the "
                "list of paths before building X and y."
            )
            raise MalformedFileNameError(format_malformed(malformed, None, outcome), malformed)
        data = {}
        for column in columns:
            values = parsed[column].to_numpy()
            if self.labels == "names" and column != "age":
                names = GENDER_NAMES if column == "gender" else RACE_NAMES
                values = np.asarray(names, dtype=object)[values]
            data[column] = values
        index = X.index if isinstance(X, (pd.Series, pd.DataFrame)) else None
        return pd.DataFrame(data, index=index)

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        """Decode the labels (same as ``transform``: there is nothing to learn).

        Parameters
        ----------
        X : array-like of shape (n_samples,)
            UTKFace file names or paths (only the last component is read).
        y : None
            Ignored.
        **fit_params : dict
            Ignored.

        Returns
        -------
        labels : DataFrame of shape (n_samples, len(columns))
            As ``transform`` returns them.
        """
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        ndarray of str
        """
        return np.asarray(self._check_columns(), dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        return tags
