"""``fit``, ``partial_fit`` and the checks of their inputs; the network's outputs for
prediction."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from skorch import NeuralNet
from torch import nn
from torch.utils.data import Subset

from .._lazy_images import LazyImages
from ..exceptions import TrainingInterruptedWarning
from ._arrays import check_images_array
from ._module import FaceModule


class FitMixin:
    """Training and prediction entry points of :class:`~skface._engine.FaceNetBase`."""

    def _check_X(self, X, *, reset: bool) -> np.ndarray | LazyImages:
        if isinstance(X, (torch.utils.data.Dataset, Subset)) and not reset:
            return X  # skorch's scorers pass the validation dataset itself
        if not isinstance(X, LazyImages):  # LazyImages: uint8 by construction
            X = check_images_array(X, name=type(self).__name__)
        if reset:
            self.image_shape_ = tuple(int(v) for v in X.shape[1:])
        elif tuple(X.shape[1:]) != tuple(self.image_shape_):
            h, w, c = self.image_shape_
            raise ValueError(
                f"{type(self).__name__} was fitted on {h}x{w} images with {c} channel(s); got "
                f"images of shape {X.shape[1:]}. Load them the same way, e.g. "
                f"ImageLoader(size={h}, color={'grayscale' if c == 1 else 'rgb'!r})."
            )
        return X

    @staticmethod
    def _check_lengths(X, y) -> None:
        if y is None:
            raise ValueError("y is required: pass the labels to fit.")
        n_y = len(y)
        if n_y != len(X):
            raise ValueError(
                f"X has {len(X)} images but y has {n_y} labels; they must match one to one.")

    def _refresh_module_settings(self) -> None:
        """Apply parameters set with ``set_params`` after fitting (augmentation,
        precision, test-time flips, memory layout) to the next training call."""
        module = self.module_
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        if isinstance(module, FaceModule):
            module.augment = self._augment_spec()
            module.tta = bool(self.tta)
            module.channels_last = bool(self.channels_last)
            module.generator = getattr(self, "_module_generator_", None)
        self.precision_ = self._resolve_precision(self.device_)

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Fit the network on images ``X`` (uint8, ``(n, h, w, c)``) and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            uint8 images (float images in [0, 1] or [0, 255] are converted once).
        y : array-like
            The targets, of the kind the estimator describes.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each image in the training (and validation)
            loss; the loss is the mean of the weighted per-image losses.
        **fit_params : dict
            ``epochs=`` (train this many epochs instead of ``max_epochs``), or
            anything skorch passes on.

        Returns
        -------
        self
            The fitted estimator.
        """
        self._check_parameters()
        warm = bool(self.warm_start and self.initialized_)
        X = self._check_X(X, reset=not warm)
        self._check_lengths(X, y)
        if not warm:
            self.n_outputs_ = self._fit_target(y)
            self._start_streams()
        y_enc = self._weighted(self._training_target(X, y), self._sample_weights(y, sample_weight))
        with self._seeded():
            if not warm:
                self._initialize_seeded()
            NeuralNet.partial_fit(self, X, y_enc, **fit_params)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self._loop_epochs_ = self.max_epochs if epochs is None else epochs
        self._refresh_module_settings()
        self._apply_optimizer_params()  # the schedule plans from the rates as set now
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            if self._stopped_early():
                raise  # early stopping ended training: nothing to warn about
            # skorch stops training here and still runs on_train_end, where early
            # stopping restores the best epoch's weights: the model stays usable.
            done = len(self.history_)
            best = self._best_epoch()
            kept = (f"the weights of the best epoch ({best}) are kept" if best
                    else "the weights of the last epoch are kept")
            warnings.warn(
                f"{type(self).__name__}: training interrupted after {done} epoch(s); {kept}. "
                "The model can be used (and saved) as it is, or trained further with "
                "partial_fit.", TrainingInterruptedWarning, stacklevel=2)
            raise
        finally:
            self._loop_epochs_ = None

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Train for more epochs, keeping the current weights (fits first if needed).

        The learning-rate schedule, the random streams and the validation split
        continue from the previous call.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            uint8 images.
        y : array-like
            The targets.
        classes : array-like, optional
            Classifiers: every label ``y`` may ever hold (required by scikit-learn's
            incremental-learning convention only on the first call; later calls must
            give the same classes).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each image in the loss.
        **fit_params : dict
            ``epochs=`` or anything skorch passes on.

        Returns
        -------
        self
            The estimator.
        """
        if not self.initialized_:
            self._partial_fit_classes_ = classes
            try:
                return self.fit(X, y, sample_weight=sample_weight, **fit_params)
            finally:
                self._partial_fit_classes_ = None
        self._check_parameters()
        self._check_partial_fit_classes(classes)
        X = self._check_X(X, reset=False)
        self._check_lengths(X, y)
        y_enc = self._weighted(self._training_target(X, y), self._sample_weights(y, sample_weight))
        with self._seeded():
            NeuralNet.partial_fit(self, X, y_enc, **fit_params)
        return self

    def _check_partial_fit_classes(self, classes) -> None:
        """Refuse ``classes`` that differ from the fitted ones (classifiers override)."""
        if classes is not None:
            raise ValueError(f"{type(self).__name__} is not a classifier: partial_fit takes "
                             "no classes.")

    def _training_target(self, X, y) -> np.ndarray:
        """The targets the network trains on (``_encode_target`` unless overridden)."""
        return self._encode_target(y)

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "initialized_", False)) and hasattr(self, "n_outputs_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator.")

    def _forward_outputs(self, X) -> np.ndarray:
        """Network outputs for images ``X`` as float32 numpy, in evaluation mode."""
        self._check_fitted()
        X = self._check_X(X, reset=False)
        _warn_if_synthetic(self)
        return self.forward(X, training=False).float().numpy()


def _warn_if_synthetic(est) -> None:
    """Warn when a model whose ``training_data_`` says synthetic faces predicts."""
    described = getattr(est, "training_data_", None)
    if isinstance(described, dict) and described.get("synthetic"):
        from .._utils import printable
        from ..exceptions import SyntheticModelWarning

        warnings.warn(
            f"{type(est).__name__} was trained on synthetic cartoon faces "
            f"({printable(str(described.get('source') or 'skface.datasets.make_faces'))}), "
            "not on photos of people: its predictions on real faces mean nothing. Train it "
            "on a labelled folder of face photos (skface train FOLDER).",
            SyntheticModelWarning, stacklevel=4)
