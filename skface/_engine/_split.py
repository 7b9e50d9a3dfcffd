"""The validation split of a fit: skorch's ``ValidSplit``, seeded from the fit's own
stream and stratified where the estimator asks for it, or the user's ``train_split``."""

from __future__ import annotations

import numpy as np
from skorch.dataset import Dataset, ValidSplit
from torch.utils.data import Subset

from ._batches import split_weight


class ValidationSplitMixin:
    """Validation split of :class:`~skface._engine.FaceNetBase`."""

    def _uses_validation(self) -> bool:
        return bool(self.train_split) or (self.validation_fraction or 0) > 0

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset = self.get_dataset(X, y)
        if self.train_split:
            train, valid = super().get_split_datasets(X, y, **fit_params)
            return train, self._encoded_valid(valid, dataset)
        frac = self.validation_fraction or 0.0
        n = len(dataset)
        n_valid = round(n * frac)
        if n_valid < 1 or n - n_valid < 1:
            return dataset, None
        # ValidSplit with a fraction takes ceil(fraction * n) images, and the split takes
        # round(n * validation_fraction): the fraction just under n_valid / n gives that
        # count exactly (ceil of n_valid - 0.5, give or take rounding error)
        cv = (n_valid - 0.5) / n
        # the split is drawn once per fit: partial_fit and warm starts keep it
        rng = np.random.RandomState(self._split_seed_)
        strata = self._strata(split_weight(dataset.y)[0]) if self._stratify else None
        try:
            train, valid = ValidSplit(cv, stratified=strata is not None,
                                      random_state=rng)(dataset, strata)
        except ValueError:  # a class too rare to stratify; no number was drawn yet
            if strata is None:
                raise
            train, valid = ValidSplit(cv, random_state=rng)(dataset)
        return Subset(dataset, np.sort(train.indices)), Subset(dataset, np.sort(valid.indices))

    def _encoded_valid(self, valid, dataset):
        """A validation set the train_split made itself (``predefined_split``) holds the
        user's images and labels: check and encode them as the training data is."""
        if valid is None:
            return None
        base = valid
        while isinstance(base, Subset):
            base = base.dataset
        if base is dataset or type(base) is not Dataset:
            return valid  # a part of the training data (encoded already), or the user's own
        X = self._check_X(base.X, reset=False)
        if base.y is None:
            raise ValueError(f"{type(self).__name__}: the validation set given by train_split "
                             "has no labels (y is None).")
        self._check_lengths(X, base.y)
        encoded = Dataset(X, self._encode_target(base.y))
        return Subset(encoded, valid.indices) if isinstance(valid, Subset) else encoded

    def _strata(self, y_enc):
        """Labels to stratify the validation split on (the encoded targets by default)."""
        return np.asarray(y_enc)
