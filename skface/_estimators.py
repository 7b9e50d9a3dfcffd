"""The estimators: thin subclasses of the shared engine.

Each says how ``y`` is encoded and decoded, which loss it trains with and how many
outputs its network needs; everything else lives in :mod:`skface._engine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._age_bins import AgeBinEncoder
from ._engine import MODEL_PARAMS, FaceNetBase
from ._labels import GENDER_NAMES, MAX_AGE, check_ages, class_names
from ._registry import safe_class
from .exceptions import LabelError
from .nets import heads

__all__ = [
    "AgeBinner",
    "AgeDistributionLoss",
    "AgeRegressor",
    "EstimatorTask",
    "FaceAttributes",
    "GenderClassifier",
    "RaceClassifier",
    "SmoothedCrossEntropy",
    "Task",
]


@safe_class("criterion")
class SmoothedCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy with label smoothing 0.1 by default (``criterion__label_smoothing``)."""

    def __init__(self, label_smoothing: float = 0.1, **kwargs):
        super().__init__(label_smoothing=label_smoothing, **kwargs)


def _labels_1d(y, name: str) -> np.ndarray:
    y = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y, dtype=object)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} expects y as one column of labels, got shape {y.shape}.")
    missing = pd.isna(pd.Series(y, dtype=object)).to_numpy()
    if missing.any():
        rows = np.flatnonzero(missing)[:5].tolist()
        raise LabelError(
            f"{name}: y has {int(missing.sum())} missing label(s) (rows {rows}); drop these "
            "samples from X and y together.")
    values = y.tolist()
    text = [v for v in values if isinstance(v, str)]
    if text and len(text) != len(values):
        other = next(v for v in values if not isinstance(v, str))
        raise LabelError(
            f"{name}: y mixes text and number labels (e.g. {text[0]!r} and {other!r}); use "
            "one kind for every sample, codes or names.")
    return np.asarray(values)  # the labels' natural dtype (int, str, ...), not object


# tasks whose number of labels is fixed, whatever the labels are called
_FIXED_CLASS_COUNTS = {"gender": len(GENDER_NAMES)}


def _class_labels(y, name: str, max_classes: int | None = None) -> np.ndarray:
    """The labels of a classification target, refusing what scikit-learn's classifiers refuse.

    A continuous target (numbers with fractions, such as ages 25.5) or a multilabel
    one raises LabelError with scikit-learn's words (``Unknown label type: continuous``);
    more distinct labels than half the samples warn, as scikit-learn does. A task with
    a fixed number of labels (gender's two) refuses more, such as whole-number ages.
    """
    labels = _labels_1d(y, name)
    advice = ("a classifier takes class labels, codes or names. To predict ages use "
              "AgeRegressor, or AgeBinner for age groups.")
    try:
        check_classification_targets(labels)
    except ValueError as exc:
        raise LabelError(
            f"{name}: {exc} y holds {type_of_target(labels)} values (e.g. "
            f"{labels[:3].tolist()}); {advice}") from None
    if max_classes is not None:
        found = pd.unique(pd.Series(labels, dtype=object).dropna())
        if len(found) > max_classes:
            raise LabelError(
                f"{name}: y holds {len(found)} distinct labels (e.g. {found[:3].tolist()}), "
                f"but this task has {max_classes}; {advice}")
    return labels


def _is_text(values: np.ndarray) -> bool:
    return any(isinstance(v, str) for v in np.asarray(values, dtype=object).tolist())


def _check_label_kind(labels: np.ndarray, classes: np.ndarray, name: str) -> None:
    """Refuse labels of another kind (text or numbers) than the fitted ``classes``."""
    if len(labels) and _is_text(labels) != _is_text(classes):
        unknown = sorted(set(labels.tolist()) - set(classes.tolist()), key=str)
        raise LabelError(
            f"{name}: label(s) {unknown[:5]} are {'text' if _is_text(labels) else 'numbers'}"
            f" and can never match the classes seen in fit ({classes.tolist()}). Use labels "
            "of the kind the model was fitted on (codes or names).")


def _encode_labels(labels: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Positions of ``labels`` in the sorted ``classes``; unseen labels raise LabelError."""
    index = {v: i for i, v in enumerate(classes.tolist())}
    values = labels.tolist()
    unknown = np.array([v not in index for v in values], dtype=bool)
    codes = np.array([index.get(v, 0) for v in values], dtype=np.int64)
    if unknown.any():
        raise LabelError(
            f"{name}: label(s) {sorted(set(labels[unknown].tolist()), key=str)[:5]} were not "
            f"seen in fit (classes: {classes.tolist()}). Use labels of the kind the model was "
            "fitted on (codes or names), or refit with every class present.")
    return codes.astype(np.int64)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """What one predicted quantity of a fitted estimator means.

    Attributes
    ----------
    name : str
        ``"gender"``, ``"race"``, ``"age"`` (years) or ``"age_group"``.
    kind : {"classification", "regression"}
        Labels out of ``classes``, or a number (years).
    output : str
        The output of the estimator's ``output_head_`` (and of its exported ONNX
        graph) that holds it: ``"probabilities"`` (one column per class, in the
        order of ``classes``), ``"age"`` (years), or ``"<task>_probabilities"`` in
        a multi-task model.
    classes : ndarray or None
        The labels of a classification task, in the order of the probability
        columns; None for a regression task.
    label : str
        The label column that holds the truth for this task (``"age"`` for
        ``"age_group"``, whose groups come from ages).
    from_label : callable or None
        Turns values of ``label`` into this task's labels (ages into age groups);
        None when they are this task's labels already.
    """

    name: str
    kind: str
    output: str
    classes: np.ndarray | None = None
    label: str = ""
    from_label: Callable | None = None

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def predictions(self, outputs: dict) -> np.ndarray:
        """This task's predictions from ``output_head_`` outputs (a dict of arrays).

        The most probable class's label for a classification task, the value as
        float64 for a regression task.
        """
        values = np.asarray(outputs[self.output])
        if self.kind == "classification":
            return self.classes[values.argmax(1)]
        return values.astype(np.float64)

    @property
    def names(self) -> list[str] | None:
        """What each of ``classes`` is called, for people to read; None for a regression.

        UTKFace's codes become their names (gender ``1`` is ``"female"``, race ``2``
        ``"Asian"``); other labels are shown as they are.
        """
        if self.classes is None:
            return None
        return class_names(self.name, self.classes)

    def named(self, labels) -> np.ndarray:
        """Predicted (or true) labels of this task as their names (an object array)."""
        labels = np.asarray(labels)
        if self.classes is None:
            return labels
        lookup = dict(zip(np.asarray(self.classes, dtype=object).tolist(), self.names,
                          strict=True))
        return np.array([lookup.get(v, str(v)) for v in labels.tolist()], dtype=object)

    def true_labels(self, values) -> np.ndarray:
        """Values of the ``label`` column as this task's labels (or ages)."""
        if self.from_label is not None:
            return np.asarray(self.from_label(values))
        if self.kind == "regression":
            return np.asarray(values, dtype=np.float64)
        return np.asarray(values)


@dataclass(frozen=True)
class EstimatorTask:
    """What a fitted estimator predicts: its ``task_``.

    Attributes
    ----------
    kind : {"classification", "regression", "multi-task"}
        What ``predict`` returns: labels, years, or a DataFrame of several tasks.
    tasks : tuple of Task
        Every quantity the estimator predicts, the one ``predict`` returns first
        (an :class:`AgeBinner` also predicts the age, with ``predict_age``).
    """

    kind: str
    tasks: tuple[Task, ...]

    @property
    def name(self) -> str:
        """The task's name, or the names of a multi-task model's tasks joined by "+"."""
        if self.kind == "multi-task":
            return "+".join(t.name for t in self.tasks)
        return self.tasks[0].name

    @property
    def classes(self):
        """The labels of the main task, or ``{task: labels}`` for a multi-task model."""
        if self.kind == "multi-task":
            return {t.name: t.classes for t in self.tasks if t.classes is not None}
        return self.tasks[0].classes

    def __getitem__(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r}; the tasks are {[t.name for t in self.tasks]}.")


class _FaceEstimator(FaceNetBase):
    """What every estimator shares: a declared task and the head that computes it.

    Subclasses implement ``_build_task()`` (the kind and the tasks) and ``_build_head()``
    (the :class:`~skface.nets.heads.OutputHead`), both from fitted attributes only,
    so that models saved by earlier releases get them too.
    """

    def _build_task(self) -> EstimatorTask:
        raise NotImplementedError

    def _build_head(self) -> heads.OutputHead:
        raise NotImplementedError

    @property
    def task_(self) -> EstimatorTask:
        """What the fitted model predicts: its ``kind`` and ``tasks``.

        ``kind`` is ``"classification"``, ``"regression"`` or ``"multi-task"``;
        each of ``tasks`` has its name, kind, classes and the output of
        ``output_head_`` that holds it.
        """
        self._check_fitted()
        return self._build_task()

    @property
    def output_head_(self) -> heads.OutputHead:
        """The torch module turning raw network outputs into probabilities and ages."""
        self._check_fitted()
        return self._build_head()

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """Everything the model predicts for images ``X``, from one pass of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        outputs : dict of str to ndarray
            The outputs of ``output_head_`` as float32 arrays, keyed by name
            (``"probabilities"``, ``"age"``, ``"gender_probabilities"``...: see
            ``task_``), the same as the exported ONNX graph's outputs.
        """
        head = self.output_head_
        return head.predict(self._forward_outputs(X))

    def _predict_task(self, X, name: str | None = None) -> np.ndarray:
        task = self.task_
        task = task.tasks[0] if name is None else task[name]
        return task.predictions(self.predict_outputs(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True  # every estimator learns from y
        return tags

    def _valid_score(self, net, X, y, task: str | None = None):
        # a score printed per epoch: accuracy, or MAE in years, of the main task or of
        # one task of a multi-task model (whose y, as callbacks see it, is a label table)
        declared = self._build_task()
        task = declared.tasks[0] if task is None else declared[task]
        pred = task.predictions(self._build_head().predict(net.forward(X)))
        if isinstance(y, pd.DataFrame):
            y = task.true_labels(y[task.label].to_numpy())
        elif np.ndim(y) == 2:  # a label table as skorch's Dataset holds it: one column a task
            y = task.true_labels(np.asarray(y)[:, list(self.tasks_).index(task.label)])
        if task.kind == "regression":
            return float(np.abs(pred - np.asarray(y, dtype=np.float64)).mean())
        return float((pred == np.asarray(y)).mean())


# --------------------------------------------------------------------------- classifiers


class _FaceClassifier(ClassifierMixin, _FaceEstimator):
    _stratify = True
    _valid_score_name = "valid_acc"
    # the task predicted: its name in task_, and the FaceAttributes task whose
    # probabilities a teacher gives
    _task: str = "classification"

    _parameter_constraints: dict = {
        "teacher": [None, HasMethods(["predict_proba"])],
        "distill_weight": [Interval(Real, 0, 1, closed="both")],
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(self, module="skfacenet", *args, criterion=SmoothedCrossEntropy,
                 teacher=None, distill_weight: float = 0.5, class_weight=None, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.teacher = teacher
        self.distill_weight = distill_weight
        self.class_weight = class_weight

    # the number of labels of the task, where it is fixed (gender's two)
    _max_classes: int | None = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self._max_classes is None or self._max_classes > 2
        return tags

    def _fit_target(self, y) -> int:
        name = type(self).__name__
        y = _class_labels(y, name, self._max_classes)
        classes = getattr(self, "_partial_fit_classes_", None)
        if classes is not None:  # partial_fit(classes=...): every label y may ever hold
            self.classes_ = np.unique(_class_labels(classes, f"{name}.partial_fit classes",
                                                    self._max_classes))
            _encode_labels(y, self.classes_, name)
        else:
            self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least two classes in y; got only "
                f"{self.classes_.tolist()}.")
        return len(self.classes_)

    def _encode_target(self, y) -> np.ndarray:
        name = type(self).__name__
        return _encode_labels(_labels_1d(y, name), self.classes_, name)

    def _training_target(self, X, y) -> np.ndarray:
        codes = self._encode_target(y)
        if self.teacher is None:
            return codes
        w = self.distill_weight
        soft = (1 - w) * np.eye(len(self.classes_))[codes] + w * self._teacher_proba(X)
        # column 0 keeps the label for stratifying and for the validation accuracy
        return np.column_stack([codes, soft]).astype(np.float32)

    def _teacher_proba(self, X) -> np.ndarray:
        name = type(self).__name__
        teacher = self.teacher
        if not hasattr(teacher, "predict_proba"):
            raise TypeError(f"{name}: teacher must be a fitted estimator with predict_proba; "
                            f"got {type(teacher).__name__}.")
        try:
            check_is_fitted(teacher)
        except NotFittedError:
            raise NotFittedError(
                f"{name}: the teacher ({type(teacher).__name__}) is not fitted. Fit it first; "
                "inside clone or GridSearchCV wrap the fitted teacher in "
                "sklearn.frozen.FrozenEstimator so that it is not copied unfitted.") from None
        proba, classes = teacher.predict_proba(X), getattr(teacher, "classes_", None)
        if isinstance(proba, dict):
            if self._task not in proba:
                raise ValueError(f"{name}: the teacher predicts {sorted(proba)}, not "
                                 f"{self._task!r}.")
            proba, classes = proba[self._task], classes[self._task]
        if classes is None or np.asarray(classes).tolist() != self.classes_.tolist():
            raise ValueError(
                f"{name}: the teacher's classes {np.asarray(classes).tolist()} differ from the "
                f"labels in y {self.classes_.tolist()}; fit both on the same kind of labels.")
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != (len(X), len(self.classes_)):
            raise ValueError(f"{name}: the teacher's predict_proba has shape {proba.shape}; "
                             f"expected {(len(X), len(self.classes_))}.")
        return proba

    def _loss_target(self, y_true):
        if y_true.dim() == 2:  # [label, soft target...]: train on the soft target
            return y_true[:, 1:]
        return y_true

    def _sample_weights(self, y, sample_weight):
        weights = super()._sample_weights(y, sample_weight)
        if self.class_weight is None:
            return weights
        from sklearn.utils.class_weight import compute_sample_weight

        labels = _labels_1d(y, type(self).__name__)
        per_class = compute_sample_weight(self.class_weight, labels).astype(np.float32)
        return per_class if weights is None else per_class * weights

    def _strata(self, y_enc):
        y_enc = np.asarray(y_enc)
        return (y_enc[:, 0] if y_enc.ndim == 2 else y_enc).astype(np.int64)

    def _decode_target(self, y_enc):
        return self.classes_[self._strata(y_enc)]

    def _build_task(self) -> EstimatorTask:
        return EstimatorTask("classification", (
            Task(self._task, "classification", "probabilities", classes=self.classes_),))

    def _build_head(self) -> heads.OutputHead:
        return heads.ClassProbabilities()

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            float32 probabilities; each row sums to 1.
        """
        return self.predict_outputs(X)["probabilities"]

    def predict(self, X) -> np.ndarray:
        """Most probable class of each image, in the labels ``y`` was given in.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            One of ``classes_`` per image.
        """
        return self._predict_task(X)

    def _check_partial_fit_classes(self, classes) -> None:
        if classes is None:
            return
        name = type(self).__name__
        given = np.unique(_labels_1d(classes, f"{name}.partial_fit classes"))
        if given.tolist() != self.classes_.tolist():
            raise ValueError(
                f"{name}.partial_fit: classes {given.tolist()} differ from the classes the "
                f"model was fitted with {self.classes_.tolist()}; refit to change them.")

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy on ``X`` against labels ``y``, as scikit-learn's classifiers score.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.
        y : array-like of shape (n_samples,)
            The true labels, of the kind seen in ``fit`` (codes or names).
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each image in the score.

        Returns
        -------
        score : float
            The share of images whose predicted label is ``y``'s (weighted by
            ``sample_weight`` when given). A label that was not among ``classes_``
            (a class absent from the training fold of a cross-validation) can never
            be predicted: its images count as errors.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        LabelError
            If ``y`` holds labels of another kind than ``classes_`` (codes for a
            model fitted on names, or names for one fitted on codes): they can never
            match, as scikit-learn refuses to compare a mix of text and number labels.
        """
        self._check_fitted()
        name = type(self).__name__
        labels = _labels_1d(y, name)
        _check_label_kind(labels, self.classes_, f"{name}.score")
        return float(accuracy_score(labels, self.predict(X), sample_weight=sample_weight))


@safe_class("step", params=MODEL_PARAMS)
class GenderClassifier(_FaceClassifier):
    """Predict gender from face images: a CNN classifier in scikit-learn's shape.

    ``y`` may use any two labels (0/1, ``"male"``/``"female"``, ...); ``predict``
    returns the same labels and ``predict_proba`` one column per ``classes_``.
    Takes the uint8 ``(n, h, w, c)`` arrays :class:`~skface.ImageLoader` makes.

    Parameters
    ----------
    module : str or nn.Module class, default="skfacenet"
        Network: a name from :func:`skface.nets.list_models` or a class following
        the registry's contract. Its parameters pass as ``module__<name>``
        (e.g. ``module__width=48``).
    criterion : loss class or str, default=SmoothedCrossEntropy
        Training loss: by default cross-entropy with label smoothing 0.1
        (``criterion__label_smoothing``); a name among ``"cross_entropy"``,
        ``"l1"``, ``"mse"`` and ``"huber"``, or a torch loss class.
    optimizer : torch optimiser class, default=torch.optim.AdamW
        Its parameters pass as ``optimizer__<name>`` (e.g. ``optimizer__weight_decay``).
        Weight decay applies to weight matrices and filters, not to biases and
        normalisation parameters.
    lr : float, default=2e-3
        Peak learning rate, reached after ``warmup_epochs`` and decayed to zero on a
        cosine over ``max_epochs``.
    max_epochs : int, default=36
        Training epochs: the learning-rate schedule spans them (``fit``'s
        ``epochs=`` overrides it for one call). Training times are in the
        benchmarks.
    batch_size : int, default=128
        Images per training step and per prediction batch; -1 puts all the images
        in one batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        skorch's iterator over the training data. With the default, and no
        ``iterator_train__*`` options other than ``batch_size``, ``shuffle`` and
        ``drop_last``, batches are gathered from one tensor instead (no per-image
        Python work); any other iterator or option takes skorch's own path.
    iterator_valid : class, default=torch.utils.data.DataLoader
        The same for validation and prediction (``iterator_valid__*`` options).
    dataset : class, default=skorch.dataset.Dataset
        skorch's dataset class; another class takes skorch's own data path
        (``dataset__*`` options pass on).
    train_split : callable or None, default=None
        A skorch splitter (e.g. ``skorch.helper.predefined_split``); when None a
        seeded ``validation_fraction`` split is used.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        skorch callbacks to run besides the built-in ones (the per-epoch log, the
        validation score, the learning-rate schedule and, when on, early stopping);
        an ``LRScheduler`` among them replaces the built-in schedule.
        ``"disable"`` runs no callback at all (the learning rate then stays at
        ``lr``). Their parameters pass as ``callbacks__<name>__<parameter>``.
    predict_nonlinearity : callable, None or "auto", default="auto"
        skorch's parameter; not used here: ``predict`` and ``predict_proba`` go
        through ``output_head_``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains it further, as ``partial_fit``
        does (the weights, the learning-rate schedule, the random streams and the
        validation split continue), instead of starting afresh.
    verbose : int, default=1
        1 prints a line per epoch; 0 is silent.
    device : str, torch.device or None, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    compile : bool, default=False
        Compile the network with ``torch.compile`` (its arguments pass as
        ``compile__<name>``).
    use_caching : bool or "auto", default="auto"
        Whether the per-epoch scoring callbacks reuse the validation predictions
        (skorch's parameter); False computes them again, holding less memory.
    torch_load_kwargs : dict or None, default=None
        Arguments skorch passes to ``torch.load`` in ``load_params``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, augmentation and the validation split:
        equal seeds give equal predictions on the same machine.
    augment : bool or dict, default=True
        Batched augmentation on the device during training: horizontal flip,
        shift, scale, rotation, brightness and contrast. A dict sets strengths
        (keys of ``skface._engine.DEFAULT_AUGMENT``; missing keys are off), and can
        add colour jitter, ``"saturation"`` (off by default).
    tta : bool, default=True
        Average predictions over each image and its mirror image.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast precision. ``"auto"``: bfloat16 on CUDA devices, and for training
        on CPUs that compute it natively (AVX512-BF16 or AMX); float32 elsewhere and
        for prediction on CPU (bfloat16 kernels are slow for small CPU batches).
    channels_last : bool, default=True
        Channels-last memory layout for the convolutions.
    validation_fraction : float, default=0.1
        Share of the training data held out for the per-epoch validation figures
        (and early stopping, when on); 0 trains on everything.
    early_stopping : bool, default=False
        Stop when the validation score (``valid_acc`` for classifiers, ``valid_mae``
        for AgeRegressor, the validation loss for FaceAttributes) has not improved
        for ``patience`` epochs, and restore the best epoch's weights. Off by
        default: the cosine schedule ends at a learning rate of zero, and its last
        epochs are the best ones.
    patience : int or None, default=None
        Epochs without improvement before early stopping ends training; None: a
        quarter of ``max_epochs``, at least 8.
    warmup_epochs : float, default=1.0
        Epochs (a fraction allowed) over which the learning rate rises linearly to
        ``lr`` at the start of training; 0 starts at ``lr``.
    mixup : float, default=0.0
        Mixup: train on convex blends of image pairs with the loss blended alike;
        the value is ``a`` of the ``Beta(a, a)`` blend weight (0.2 is usual; 0 is off).
    cutmix : float, default=0.0
        CutMix: paste a box of a partner image (area from ``Beta(a, a)``). With both
        mixup and cutmix on, each batch uses one of them at random.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (e.g. 0.998) and use it
        for validation, early stopping and prediction.
    teacher : fitted estimator or None, default=None
        Knowledge distillation: a fitted model whose ``predict_proba`` on the
        training images (the same array this estimator is given) becomes part of the
        target. A :class:`FaceAttributes` teacher gives its ``"gender"`` task; any
        other teacher needs ``classes_`` equal to this estimator's. Its
        probabilities are computed once, at the start of ``fit``. ``clone`` (and so
        ``GridSearchCV``) copies a teacher unfitted: wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to share the fitted one.
    distill_weight : float, default=0.5
        With a teacher, train on ``(1 - w) * one_hot(y) + w * teacher_proba``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers:
        ``{label: weight}``, or ``"balanced"`` for weights inversely proportional to
        the class frequencies in ``y``. Multiplies ``fit``'s ``sample_weight``.
    **kwargs
        Parameters of the parts, by prefix: ``module__*``, ``optimizer__*``,
        ``criterion__*``, ``callbacks__*``, ``iterator_train__*``,
        ``iterator_valid__*``, ``dataset__*`` and ``compile__*``.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted.
    history_ : skorch History
        Per-epoch losses and validation accuracy.
    module_ : torch.nn.Module
        The fitted network with its on-device preprocessing.
    image_shape_ : tuple
        ``(height, width, channels)`` of the training images.
    task_ : EstimatorTask
        What the model predicts: ``kind`` (``"classification"``, ``"regression"``
        or ``"multi-task"``) and ``tasks``, each with its name, kind, classes and
        the output of ``output_head_`` that holds it.
    output_head_ : skface.nets.heads.OutputHead
        The torch module that turns the network's raw outputs into probabilities
        and ages; ``predict``, ``predict_proba`` and the exported ONNX graph all go
        through it.

    See Also
    --------
    RaceClassifier, AgeRegressor, AgeBinner, FaceAttributes

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import ImageLoader, GenderClassifier
    >>> pipe = make_pipeline(ImageLoader(size=64), GenderClassifier(max_epochs=20))
    """

    _max_classes = _FIXED_CLASS_COUNTS["gender"]

    _task = "gender"


@safe_class("step", params=MODEL_PARAMS)
class RaceClassifier(_FaceClassifier):
    """Predict race group from face images: a CNN classifier in scikit-learn's shape.

    ``y`` may use any labels (UTKFace's codes 0-4, names, FairFace's seven groups);
    ``predict`` returns the same labels. Takes the uint8 ``(n, h, w, c)`` arrays
    :class:`~skface.ImageLoader` makes. The groups are coarse categories assigned by
    the datasets' annotators; report errors per group.

    Parameters
    ----------
    module : str or nn.Module class, default="skfacenet"
        Network: a name from :func:`skface.nets.list_models` or a class following
        the registry's contract. Its parameters pass as ``module__<name>``
        (e.g. ``module__width=48``).
    criterion : loss class or str, default=SmoothedCrossEntropy
        Training loss: by default cross-entropy with label smoothing 0.1
        (``criterion__label_smoothing``); a name among ``"cross_entropy"``,
        ``"l1"``, ``"mse"`` and ``"huber"``, or a torch loss class.
    optimizer : torch optimiser class, default=torch.optim.AdamW
        Its parameters pass as ``optimizer__<name>`` (e.g. ``optimizer__weight_decay``).
        Weight decay applies to weight matrices and filters, not to biases and
        normalisation parameters.
    lr : float, default=2e-3
        Peak learning rate, reached after ``warmup_epochs`` and decayed to zero on a
        cosine over ``max_epochs``.
    max_epochs : int, default=36
        Training epochs: the learning-rate schedule spans them (``fit``'s
        ``epochs=`` overrides it for one call). Training times are in the
        benchmarks.
    batch_size : int, default=128
        Images per training step and per prediction batch; -1 puts all the images
        in one batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        skorch's iterator over the training data. With the default, and no
        ``iterator_train__*`` options other than ``batch_size``, ``shuffle`` and
        ``drop_last``, batches are gathered from one tensor instead (no per-image
        Python work); any other iterator or option takes skorch's own path.
    iterator_valid : class, default=torch.utils.data.DataLoader
        The same for validation and prediction (``iterator_valid__*`` options).
    dataset : class, default=skorch.dataset.Dataset
        skorch's dataset class; another class takes skorch's own data path
        (``dataset__*`` options pass on).
    train_split : callable or None, default=None
        A skorch splitter (e.g. ``skorch.helper.predefined_split``); when None a
        seeded ``validation_fraction`` split is used.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        skorch callbacks to run besides the built-in ones (the per-epoch log, the
        validation score, the learning-rate schedule and, when on, early stopping);
        an ``LRScheduler`` among them replaces the built-in schedule.
        ``"disable"`` runs no callback at all (the learning rate then stays at
        ``lr``). Their parameters pass as ``callbacks__<name>__<parameter>``.
    predict_nonlinearity : callable, None or "auto", default="auto"
        skorch's parameter; not used here: ``predict`` and ``predict_proba`` go
        through ``output_head_``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains it further, as ``partial_fit``
        does (the weights, the learning-rate schedule, the random streams and the
        validation split continue), instead of starting afresh.
    verbose : int, default=1
        1 prints a line per epoch; 0 is silent.
    device : str, torch.device or None, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    compile : bool, default=False
        Compile the network with ``torch.compile`` (its arguments pass as
        ``compile__<name>``).
    use_caching : bool or "auto", default="auto"
        Whether the per-epoch scoring callbacks reuse the validation predictions
        (skorch's parameter); False computes them again, holding less memory.
    torch_load_kwargs : dict or None, default=None
        Arguments skorch passes to ``torch.load`` in ``load_params``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, augmentation and the validation split:
        equal seeds give equal predictions on the same machine.
    augment : bool or dict, default=True
        Batched augmentation on the device during training: horizontal flip,
        shift, scale, rotation, brightness and contrast. A dict sets strengths
        (keys of ``skface._engine.DEFAULT_AUGMENT``; missing keys are off), and can
        add colour jitter, ``"saturation"`` (off by default).
    tta : bool, default=True
        Average predictions over each image and its mirror image.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast precision. ``"auto"``: bfloat16 on CUDA devices, and for training
        on CPUs that compute it natively (AVX512-BF16 or AMX); float32 elsewhere and
        for prediction on CPU (bfloat16 kernels are slow for small CPU batches).
    channels_last : bool, default=True
        Channels-last memory layout for the convolutions.
    validation_fraction : float, default=0.1
        Share of the training data held out for the per-epoch validation figures
        (and early stopping, when on); 0 trains on everything.
    early_stopping : bool, default=False
        Stop when the validation score (``valid_acc`` for classifiers, ``valid_mae``
        for AgeRegressor, the validation loss for FaceAttributes) has not improved
        for ``patience`` epochs, and restore the best epoch's weights. Off by
        default: the cosine schedule ends at a learning rate of zero, and its last
        epochs are the best ones.
    patience : int or None, default=None
        Epochs without improvement before early stopping ends training; None: a
        quarter of ``max_epochs``, at least 8.
    warmup_epochs : float, default=1.0
        Epochs (a fraction allowed) over which the learning rate rises linearly to
        ``lr`` at the start of training; 0 starts at ``lr``.
    mixup : float, default=0.0
        Mixup: train on convex blends of image pairs with the loss blended alike;
        the value is ``a`` of the ``Beta(a, a)`` blend weight (0.2 is usual; 0 is off).
    cutmix : float, default=0.0
        CutMix: paste a box of a partner image (area from ``Beta(a, a)``). With both
        mixup and cutmix on, each batch uses one of them at random.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (e.g. 0.998) and use it
        for validation, early stopping and prediction.
    teacher : fitted estimator or None, default=None
        Knowledge distillation: a fitted model whose ``predict_proba`` on the
        training images (the same array this estimator is given) becomes part of the
        target. A :class:`FaceAttributes` teacher gives its ``"race"`` task; any
        other teacher needs ``classes_`` equal to this estimator's. Its
        probabilities are computed once, at the start of ``fit``. ``clone`` (and so
        ``GridSearchCV``) copies a teacher unfitted: wrap it in
        :class:`sklearn.frozen.FrozenEstimator` to share the fitted one.
    distill_weight : float, default=0.5
        With a teacher, train on ``(1 - w) * one_hot(y) + w * teacher_proba``.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers:
        ``{label: weight}``, or ``"balanced"`` for weights inversely proportional to
        the class frequencies in ``y``. Multiplies ``fit``'s ``sample_weight``.
    **kwargs
        Parameters of the parts, by prefix: ``module__*``, ``optimizer__*``,
        ``criterion__*``, ``callbacks__*``, ``iterator_train__*``,
        ``iterator_valid__*``, ``dataset__*`` and ``compile__*``.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted.
    history_ : skorch History
        Per-epoch losses and validation accuracy.
    module_ : torch.nn.Module
        The fitted network with its on-device preprocessing.
    image_shape_ : tuple
        ``(height, width, channels)`` of the training images.
    task_ : EstimatorTask
        What the model predicts: ``kind`` (``"classification"``, ``"regression"``
        or ``"multi-task"``) and ``tasks``, each with its name, kind, classes and
        the output of ``output_head_`` that holds it.
    output_head_ : skface.nets.heads.OutputHead
        The torch module that turns the network's raw outputs into probabilities
        and ages; ``predict``, ``predict_proba`` and the exported ONNX graph all go
        through it.

    See Also
    --------
    GenderClassifier, FaceAttributes

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import ImageLoader, RaceClassifier
    >>> pipe = make_pipeline(ImageLoader(size=64), RaceClassifier(class_weight="balanced"))
    """

    _task = "race"


# --------------------------------------------------------------------------- age


@safe_class("step", params=MODEL_PARAMS)
class AgeRegressor(RegressorMixin, _FaceEstimator):
    """Predict age in years from face images: a CNN regressor in scikit-learn's shape.

    The network learns standardised ages; predictions are in years, clipped to
    0..116. ``score`` is R² as for every scikit-learn regressor; the validation MAE
    (years) is printed per epoch. Takes the uint8 ``(n, h, w, c)`` arrays
    :class:`~skface.ImageLoader` makes.

    Parameters
    ----------
    module : str or nn.Module class, default="skfacenet"
        Network: a name from :func:`skface.nets.list_models` or a class following
        the registry's contract. Its parameters pass as ``module__<name>``
        (e.g. ``module__width=48``).
    criterion : {"l1", "mse", "huber", "dex"} or loss class, default="dex"
        Training loss on standardised ages. ``"dex"``: age as one class per
        year 0..116, trained on a Gaussian label distribution (sigma
        ``criterion__sigma`` years, default 2) plus L1 on the expected age, and
        predicted as the expected value (DEX / DLDL-v2).
    optimizer : torch optimiser class, default=torch.optim.AdamW
        Its parameters pass as ``optimizer__<name>`` (e.g. ``optimizer__weight_decay``).
        Weight decay applies to weight matrices and filters, not to biases and
        normalisation parameters.
    lr : float, default=2e-3
        Peak learning rate, reached after ``warmup_epochs`` and decayed to zero on a
        cosine over ``max_epochs``.
    max_epochs : int, default=36
        Training epochs: the learning-rate schedule spans them (``fit``'s
        ``epochs=`` overrides it for one call). Training times are in the
        benchmarks.
    batch_size : int, default=128
        Images per training step and per prediction batch; -1 puts all the images
        in one batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        skorch's iterator over the training data. With the default, and no
        ``iterator_train__*`` options other than ``batch_size``, ``shuffle`` and
        ``drop_last``, batches are gathered from one tensor instead (no per-image
        Python work); any other iterator or option takes skorch's own path.
    iterator_valid : class, default=torch.utils.data.DataLoader
        The same for validation and prediction (``iterator_valid__*`` options).
    dataset : class, default=skorch.dataset.Dataset
        skorch's dataset class; another class takes skorch's own data path
        (``dataset__*`` options pass on).
    train_split : callable or None, default=None
        A skorch splitter (e.g. ``skorch.helper.predefined_split``); when None a
        seeded ``validation_fraction`` split is used.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        skorch callbacks to run besides the built-in ones (the per-epoch log, the
        validation score, the learning-rate schedule and, when on, early stopping);
        an ``LRScheduler`` among them replaces the built-in schedule.
        ``"disable"`` runs no callback at all (the learning rate then stays at
        ``lr``). Their parameters pass as ``callbacks__<name>__<parameter>``.
    predict_nonlinearity : callable, None or "auto", default="auto"
        skorch's parameter; not used here: ``predict`` and ``predict_proba`` go
        through ``output_head_``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains it further, as ``partial_fit``
        does (the weights, the learning-rate schedule, the random streams and the
        validation split continue), instead of starting afresh.
    verbose : int, default=1
        1 prints a line per epoch; 0 is silent.
    device : str, torch.device or None, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    compile : bool, default=False
        Compile the network with ``torch.compile`` (its arguments pass as
        ``compile__<name>``).
    use_caching : bool or "auto", default="auto"
        Whether the per-epoch scoring callbacks reuse the validation predictions
        (skorch's parameter); False computes them again, holding less memory.
    torch_load_kwargs : dict or None, default=None
        Arguments skorch passes to ``torch.load`` in ``load_params``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, augmentation and the validation split:
        equal seeds give equal predictions on the same machine.
    augment : bool or dict, default=True
        Batched augmentation on the device during training: horizontal flip,
        shift, scale, rotation, brightness and contrast. A dict sets strengths
        (keys of ``skface._engine.DEFAULT_AUGMENT``; missing keys are off), and can
        add colour jitter, ``"saturation"`` (off by default).
    tta : bool, default=True
        Average predictions over each image and its mirror image.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast precision. ``"auto"``: bfloat16 on CUDA devices, and for training
        on CPUs that compute it natively (AVX512-BF16 or AMX); float32 elsewhere and
        for prediction on CPU (bfloat16 kernels are slow for small CPU batches).
    channels_last : bool, default=True
        Channels-last memory layout for the convolutions.
    validation_fraction : float, default=0.1
        Share of the training data held out for the per-epoch validation figures
        (and early stopping, when on); 0 trains on everything.
    early_stopping : bool, default=False
        Stop when the validation score (``valid_acc`` for classifiers, ``valid_mae``
        for AgeRegressor, the validation loss for FaceAttributes) has not improved
        for ``patience`` epochs, and restore the best epoch's weights. Off by
        default: the cosine schedule ends at a learning rate of zero, and its last
        epochs are the best ones.
    patience : int or None, default=None
        Epochs without improvement before early stopping ends training; None: a
        quarter of ``max_epochs``, at least 8.
    warmup_epochs : float, default=1.0
        Epochs (a fraction allowed) over which the learning rate rises linearly to
        ``lr`` at the start of training; 0 starts at ``lr``.
    mixup : float, default=0.0
        Mixup: train on convex blends of image pairs with the loss blended alike;
        the value is ``a`` of the ``Beta(a, a)`` blend weight (0.2 is usual; 0 is off).
    cutmix : float, default=0.0
        CutMix: paste a box of a partner image (area from ``Beta(a, a)``). With both
        mixup and cutmix on, each batch uses one of them at random.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (e.g. 0.998) and use it
        for validation, early stopping and prediction.
    **kwargs
        Parameters of the parts, by prefix: ``module__*``, ``optimizer__*``,
        ``criterion__*``, ``callbacks__*``, ``iterator_train__*``,
        ``iterator_valid__*``, ``dataset__*`` and ``compile__*``.

    Attributes
    ----------
    y_mean_, y_scale_ : float
        Mean and standard deviation of the training ages.
    history_ : skorch History
        Per-epoch losses and validation MAE (years).
    module_ : torch.nn.Module
        The fitted network with its on-device preprocessing.
    image_shape_ : tuple
        ``(height, width, channels)`` of the training images.
    task_ : EstimatorTask
        What the model predicts: ``kind`` (``"classification"``, ``"regression"``
        or ``"multi-task"``) and ``tasks``, each with its name, kind, classes and
        the output of ``output_head_`` that holds it.
    output_head_ : skface.nets.heads.OutputHead
        The torch module that turns the network's raw outputs into probabilities
        and ages; ``predict``, ``predict_proba`` and the exported ONNX graph all go
        through it.

    See Also
    --------
    AgeBinner : Age as ordered groups.
    FaceAttributes : Age, gender and race with one network.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import AgeRegressor, ImageLoader
    >>> pipe = make_pipeline(ImageLoader(size=64), AgeRegressor(criterion="dex"))
    """

    _valid_score_name = "valid_mae"

    def __init__(self, module="skfacenet", *args, criterion="dex", **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def _dex(self) -> bool:
        return isinstance(self.criterion, str) and self.criterion.lower() == "dex"

    def _fit_target(self, y) -> int:
        ages = check_ages(y)
        self.y_mean_ = float(ages.mean())
        self.y_scale_ = float(ages.std()) or 1.0
        return MAX_AGE + 1 if self._dex() else 1

    def _encode_target(self, y) -> np.ndarray:
        ages = check_ages(y)
        return ((ages - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]

    def initialize_criterion(self):
        if self._dex():
            self.criterion_ = AgeDistributionLoss(
                self.y_mean_, self.y_scale_, **self.get_params_for("criterion"))
            return self
        return super().initialize_criterion()

    def _build_task(self) -> EstimatorTask:
        return EstimatorTask("regression", (Task("age", "regression", "age"),))

    def _build_head(self) -> heads.OutputHead:
        # the network's width says what it learned: one class per year, or one value
        if self.n_outputs_ > 1:
            return heads.ExpectedAge(self.n_outputs_)
        return heads.ScalarAge(self.y_mean_, self.y_scale_, max_age=MAX_AGE)

    def _decode_target(self, y_enc):
        return np.asarray(y_enc, dtype=np.float64)[:, 0] * self.y_scale_ + self.y_mean_

    def predict(self, X) -> np.ndarray:
        """Age in years of each image, clipped to 0..116.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        ages : ndarray of shape (n_samples,)
            Predicted ages in years (float64).
        """
        return self._predict_task(X)

    # skorch's NeuralNet.predict_proba would return the raw network outputs; a
    # regressor has no class probabilities (hasattr(reg, "predict_proba") is False)
    @available_if(lambda self: False)
    def predict_proba(self, X):  # pragma: no cover - never available
        raise AttributeError("predict_proba")


@safe_class("criterion")
class AgeDistributionLoss(nn.Module):
    """Age as a distribution over one-year classes (DEX with label distributions).

    KL divergence to a Gaussian of width ``sigma`` years centred on the true age
    (cross-entropy less the target's entropy, so a perfect prediction costs 0),
    plus ``l1_weight`` times the L1 distance (in standard deviations of the training
    ages) between the expected age under the predicted distribution and the true age
    (the DLDL-v2 recipe). Targets arrive standardised, as :class:`AgeRegressor`
    encodes them.
    """

    def __init__(self, y_mean: float, y_scale: float, sigma: float = 2.0,
                 l1_weight: float = 1.0):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"criterion__sigma must be positive (years), got {sigma!r}")
        self.y_mean, self.y_scale = float(y_mean), float(y_scale)
        self.sigma, self.l1_weight = float(sigma), float(l1_weight)
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ages = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype)
        years = y.reshape(-1, 1).to(logits.dtype) * self.y_scale + self.y_mean
        target = torch.softmax(-((ages[None, :] - years) ** 2) / (2 * self.sigma**2), dim=1)
        log_p = torch.log_softmax(logits, dim=1)
        # KL divergence to the label distribution: cross-entropy less the target's own
        # entropy, so that a perfect prediction costs 0 (same gradients as cross-entropy)
        kl = (target * (torch.log(target.clamp_min(1e-30)) - log_p)).sum(dim=1)
        expected = (log_p.exp() * ages).sum(dim=1)
        l1 = (expected - years[:, 0]).abs() / self.y_scale
        loss = kl + self.l1_weight * l1
        return loss if self.reduction == "none" else loss.mean()


class _OrdinalLoss(nn.Module):
    """Binary cross-entropy on cumulative targets ``y > k``, summed over k (CORAL)."""

    def __init__(self):
        super().__init__()
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        k = torch.arange(logits.shape[1], device=logits.device)
        targets = (y.long()[:, None] > k[None, :]).float()
        loss = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss = loss.sum(dim=1)
        return loss if self.reduction == "none" else loss.mean()


_BINNER_HEADS = ("softmax", "ordinal", "years")


@safe_class("step", params=(*MODEL_PARAMS, "head", "bins", "n_bins"))
class AgeBinner(_FaceEstimator):
    """Predict age groups from face images, with an expected age.

    ``y`` is age in years; the groups come from :class:`~skface.AgeBinEncoder`
    (decades, balanced counts, life stages, FairFace's nine, or edges). ``predict``
    gives group labels such as ``"20-29"``, ``predict_proba`` one column per group
    and ``predict_age`` the expected age.

    Because ``y`` holds ages rather than the labels ``predict`` returns, AgeBinner
    is not a scikit-learn classifier (``sklearn.base.is_classifier`` is False):
    scikit-learn's tools then leave the ages as they are. Cross-validation splits
    with ``KFold`` unless given another splitter,
    ``cross_val_predict(..., method="predict_proba")`` gives one column per group,
    and the default scoring (``scoring=None``) is :meth:`score`, the accuracy of
    the groups. For other metrics, use :func:`~skface.make_task_scorer`
    (``make_task_scorer("age_group", log_loss, response_method="predict_proba",
    greater_is_better=False)``): scikit-learn's named classification scorers
    such as ``"accuracy"`` compare predictions with ``y`` itself, the ages. With
    ``bins="balanced"`` the groups are learned from each fit's ages, so folds of a
    cross-validation can have different groups; give fixed ``bins`` to compare folds.

    Three output heads:

    - ``"years"`` (default): one class per year 0..116, trained as
      :class:`AgeRegressor`'s ``criterion="dex"`` (a Gaussian label distribution
      plus L1 on the expected age); a group's probability is the sum over its years.
      The network learns age itself, so neighbouring groups share what they learn.
    - ``"softmax"``: one class per group, label-smoothed cross-entropy.
    - ``"ordinal"``: CORAL, one score plus ``n_bins - 1`` learned thresholds and
      binary cross-entropy on ``age > group k``, so neighbouring mistakes cost less
      than distant ones and the probabilities are rank-consistent.

    Parameters
    ----------
    bins : str or array-like, default=(0, 6, 12, 25, 35, 45, 60, 80, inf)
        As :class:`~skface.AgeBinEncoder`'s ``bins``.
    n_bins : int, default=8
        Number of groups for ``bins="balanced"``.
    head : {"years", "softmax", "ordinal"}, default="years"
        What the network outputs (see above).
    module : str or nn.Module class, default="skfacenet"
        Network: a name from :func:`skface.nets.list_models` or a class following
        the registry's contract. Its parameters pass as ``module__<name>``
        (e.g. ``module__width=48``).
    criterion : loss class or None, default=None
        None: the head's loss (``AgeDistributionLoss``, label-smoothed
        cross-entropy or the CORAL loss); ``criterion__*`` parameters pass on.
    optimizer : torch optimiser class, default=torch.optim.AdamW
        Its parameters pass as ``optimizer__<name>`` (e.g. ``optimizer__weight_decay``).
        Weight decay applies to weight matrices and filters, not to biases and
        normalisation parameters.
    lr : float, default=2e-3
        Peak learning rate, reached after ``warmup_epochs`` and decayed to zero on a
        cosine over ``max_epochs``.
    max_epochs : int, default=36
        Training epochs: the learning-rate schedule spans them (``fit``'s
        ``epochs=`` overrides it for one call). Training times are in the
        benchmarks.
    batch_size : int, default=128
        Images per training step and per prediction batch; -1 puts all the images
        in one batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        skorch's iterator over the training data. With the default, and no
        ``iterator_train__*`` options other than ``batch_size``, ``shuffle`` and
        ``drop_last``, batches are gathered from one tensor instead (no per-image
        Python work); any other iterator or option takes skorch's own path.
    iterator_valid : class, default=torch.utils.data.DataLoader
        The same for validation and prediction (``iterator_valid__*`` options).
    dataset : class, default=skorch.dataset.Dataset
        skorch's dataset class; another class takes skorch's own data path
        (``dataset__*`` options pass on).
    train_split : callable or None, default=None
        A skorch splitter (e.g. ``skorch.helper.predefined_split``); when None a
        seeded ``validation_fraction`` split is used.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        skorch callbacks to run besides the built-in ones (the per-epoch log, the
        validation score, the learning-rate schedule and, when on, early stopping);
        an ``LRScheduler`` among them replaces the built-in schedule.
        ``"disable"`` runs no callback at all (the learning rate then stays at
        ``lr``). Their parameters pass as ``callbacks__<name>__<parameter>``.
    predict_nonlinearity : callable, None or "auto", default="auto"
        skorch's parameter; not used here: ``predict`` and ``predict_proba`` go
        through ``output_head_``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains it further, as ``partial_fit``
        does (the weights, the learning-rate schedule, the random streams and the
        validation split continue), instead of starting afresh.
    verbose : int, default=1
        1 prints a line per epoch; 0 is silent.
    device : str, torch.device or None, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    compile : bool, default=False
        Compile the network with ``torch.compile`` (its arguments pass as
        ``compile__<name>``).
    use_caching : bool or "auto", default="auto"
        Whether the per-epoch scoring callbacks reuse the validation predictions
        (skorch's parameter); False computes them again, holding less memory.
    torch_load_kwargs : dict or None, default=None
        Arguments skorch passes to ``torch.load`` in ``load_params``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, augmentation and the validation split:
        equal seeds give equal predictions on the same machine.
    augment : bool or dict, default=True
        Batched augmentation on the device during training: horizontal flip,
        shift, scale, rotation, brightness and contrast. A dict sets strengths
        (keys of ``skface._engine.DEFAULT_AUGMENT``; missing keys are off), and can
        add colour jitter, ``"saturation"`` (off by default).
    tta : bool, default=True
        Average predictions over each image and its mirror image.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast precision. ``"auto"``: bfloat16 on CUDA devices, and for training
        on CPUs that compute it natively (AVX512-BF16 or AMX); float32 elsewhere and
        for prediction on CPU (bfloat16 kernels are slow for small CPU batches).
    channels_last : bool, default=True
        Channels-last memory layout for the convolutions.
    validation_fraction : float, default=0.1
        Share of the training data held out for the per-epoch validation figures
        (and early stopping, when on); 0 trains on everything.
    early_stopping : bool, default=False
        Stop when the validation score (``valid_acc`` for classifiers, ``valid_mae``
        for AgeRegressor, the validation loss for FaceAttributes) has not improved
        for ``patience`` epochs, and restore the best epoch's weights. Off by
        default: the cosine schedule ends at a learning rate of zero, and its last
        epochs are the best ones.
    patience : int or None, default=None
        Epochs without improvement before early stopping ends training; None: a
        quarter of ``max_epochs``, at least 8.
    warmup_epochs : float, default=1.0
        Epochs (a fraction allowed) over which the learning rate rises linearly to
        ``lr`` at the start of training; 0 starts at ``lr``.
    mixup : float, default=0.0
        Mixup: train on convex blends of image pairs with the loss blended alike;
        the value is ``a`` of the ``Beta(a, a)`` blend weight (0.2 is usual; 0 is off).
    cutmix : float, default=0.0
        CutMix: paste a box of a partner image (area from ``Beta(a, a)``). With both
        mixup and cutmix on, each batch uses one of them at random.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (e.g. 0.998) and use it
        for validation, early stopping and prediction.
    **kwargs
        Parameters of the parts, by prefix: ``module__*``, ``optimizer__*``,
        ``criterion__*``, ``callbacks__*``, ``iterator_train__*``,
        ``iterator_valid__*``, ``dataset__*`` and ``compile__*``.

    Attributes
    ----------
    classes_ : ndarray of str
        Group labels, youngest first.
    bin_encoder_ : AgeBinEncoder
        The fitted binning (edges, representative ages).
    y_mean_, y_scale_ : float
        Mean and standard deviation of the training ages (``head="years"`` only).
    history_ : skorch History
        Per-epoch losses and validation accuracy of the groups.
    module_ : torch.nn.Module
        The fitted network with its on-device preprocessing.
    image_shape_ : tuple
        ``(height, width, channels)`` of the training images.
    task_ : EstimatorTask
        What the model predicts: ``kind`` (``"classification"``, ``"regression"``
        or ``"multi-task"``) and ``tasks``, each with its name, kind, classes and
        the output of ``output_head_`` that holds it.
    output_head_ : skface.nets.heads.OutputHead
        The torch module that turns the network's raw outputs into probabilities
        and ages; ``predict``, ``predict_proba`` and the exported ONNX graph all go
        through it.

    See Also
    --------
    AgeRegressor, AgeBinEncoder

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import AgeBinner, ImageLoader
    >>> pipe = make_pipeline(ImageLoader(size=64), AgeBinner(bins="decades", head="ordinal"))
    """

    _stratify = True
    _valid_score_name = "valid_acc"

    def __init__(self, module="skfacenet", *args, bins=(0, 6, 12, 25, 35, 45, 60, 80, np.inf),
                 n_bins: int = 8, head: str = "years", criterion=None, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.bins = bins
        self.n_bins = n_bins
        self.head = head

    def _head(self) -> str:
        if self.head not in _BINNER_HEADS:
            raise ValueError(
                f"AgeBinner head={self.head!r} is not one of {list(_BINNER_HEADS)}.")
        return self.head

    def _fit_target(self, y) -> int:
        head = self._head()
        bins = list(self.bins) if not isinstance(self.bins, str) else self.bins
        self.bin_encoder_ = AgeBinEncoder(bins, n_bins=self.n_bins).fit(y)
        self.classes_ = np.asarray(self.bin_encoder_.labels_, dtype=object)
        k = self.bin_encoder_.n_bins_
        if k < 2:
            raise ValueError("AgeBinner needs at least two age groups.")
        if head == "years":
            ages = check_ages(y)
            self.y_mean_ = float(ages.mean())
            self.y_scale_ = float(ages.std()) or 1.0
            return MAX_AGE + 1
        return 1 if head == "ordinal" else k

    def _ordinal_outputs(self):
        """Initial CORAL thresholds: the logits of P(group > k) in the training data."""
        if self._head() != "ordinal":
            return 0
        counts = self.bin_encoder_.counts_.astype(np.float64)
        above = 1.0 - np.cumsum(counts)[:-1] / counts.sum()
        above = np.clip(above, 1e-3, 1 - 1e-3)
        return np.log(above / (1 - above))

    def _encode_target(self, y) -> np.ndarray:
        if self._head() == "years":
            ages = check_ages(y)
            return ((ages - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]
        return self.bin_encoder_.transform(y)

    def _true_codes(self, y_enc) -> np.ndarray:
        """Group codes of encoded targets."""
        y_enc = np.asarray(y_enc)
        if self._head() == "years":
            years = np.round(y_enc[:, 0] * self.y_scale_ + self.y_mean_, 3)  # float32 noise
            return self.bin_encoder_.transform(years)
        return y_enc

    def _strata(self, y_enc):
        return self._true_codes(y_enc)

    def initialize_criterion(self):
        if self.criterion is None:
            head = self._head()
            params = self.get_params_for("criterion")
            if head == "years":
                self.criterion_ = AgeDistributionLoss(self.y_mean_, self.y_scale_, **params)
            elif head == "ordinal":
                self.criterion_ = _OrdinalLoss(**params)
            else:
                self.criterion_ = SmoothedCrossEntropy(**params)
            return self
        return super().initialize_criterion()

    def _year_to_group(self) -> np.ndarray:
        """(117, n_groups) 0/1 matrix: which group each whole year falls in."""
        codes = self.bin_encoder_.transform(np.arange(MAX_AGE + 1, dtype=np.float64))
        return np.eye(self.bin_encoder_.n_bins_)[codes]

    def _build_task(self) -> EstimatorTask:
        encoder, classes = self.bin_encoder_, self.classes_

        def groups_of(ages) -> np.ndarray:
            return classes[encoder.transform(np.asarray(ages, dtype=np.float64))]

        return EstimatorTask("classification", (
            Task("age_group", "classification", "probabilities", classes=classes,
                 label="age", from_label=groups_of),
            Task("age", "regression", "age"),
        ))

    def _build_head(self) -> heads.OutputHead:
        head = self._head()
        if head == "years":
            return heads.GroupsFromYears(self._year_to_group())
        groups = heads.ClassProbabilities() if head == "softmax" else heads.OrdinalProbabilities()
        return heads.RepresentativeAge(groups, self.bin_encoder_.representative_ages_)

    def _decode_target(self, y_enc):
        return self.classes_[self._true_codes(y_enc)]

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each age group, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_groups)
            float32 probabilities; each row sums to 1.
        """
        return self.predict_outputs(X)["probabilities"]

    def predict(self, X) -> np.ndarray:
        """Age group label of each image: the most probable group.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        groups : ndarray of shape (n_samples,)
            One of ``classes_`` (such as ``"20-29"``) per image.
        """
        return self._predict_task(X)

    def predict_age(self, X) -> np.ndarray:
        """Expected age in years.

        Under the year distribution for ``head="years"``; otherwise group
        probabilities times the groups' representative ages.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        ages : ndarray of shape (n_samples,)
            Expected ages in years (float64).
        """
        return self._predict_task(X, "age")

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of the predicted groups against the groups of the true ages ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.
        y : array-like of shape (n_samples,)
            The true ages in years.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each image in the score.

        Returns
        -------
        score : float
            The share of images whose predicted group holds the true age.
        """
        check_is_fitted(self, "bin_encoder_")
        true = self.classes_[self.bin_encoder_.transform(y)]
        return accuracy_score(true, self.predict(X), sample_weight=sample_weight)


# --------------------------------------------------------------------------- multi-task

_TASKS = ("age", "gender", "race")
_AGE_LOSSES = ("dex", "l1")


def _smoothed_entropy(k: int, smoothing: float) -> float:
    """Entropy (nats) of a one-hot target over ``k`` classes smoothed by ``smoothing``."""
    import math

    hit, miss = 1 - smoothing + smoothing / k, smoothing / k
    return -(hit * math.log(hit) if hit > 0 else 0.0) - (
        (k - 1) * miss * math.log(miss) if miss > 0 else 0.0)


@safe_class("criterion")
class UncertaintyWeightedLoss(nn.Module):
    """Sum of task losses weighted by learned homoscedastic uncertainty.

    ``loss = sum_t exp(-s_t) * L_t + s_t`` with one learned ``s_t`` (a log variance)
    per task (Kendall, Gal and Cipolla, 2018): a task whose loss stays high gets a
    lower weight, and the ``+ s_t`` term stops every weight from shrinking to zero.

    Parameters
    ----------
    slices : dict of str to (int, int)
        Output columns of each task.
    label_smoothing : float, default=0.1
        For the classification tasks.
    age_loss : {"dex", "l1"}, default="dex"
        ``"dex"``: the age head has one output per year 0..116 and learns
        :class:`AgeDistributionLoss` (as ``AgeRegressor``'s default); ``"l1"``: one
        output, L1 on the standardised age.
    sigma : float, default=2.0
        Width in years of the age label distribution (``"dex"`` only).
    y_mean, y_scale : float, default=0.0, 1.0
        Mean and standard deviation of the training ages (set by FaceAttributes).
    """

    def __init__(self, slices: dict, label_smoothing: float = 0.1, age_loss: str = "dex",
                 sigma: float = 2.0, y_mean: float = 0.0, y_scale: float = 1.0):
        super().__init__()
        if age_loss not in _AGE_LOSSES:
            raise ValueError(
                f"criterion__age_loss must be one of {list(_AGE_LOSSES)}, got {age_loss!r}")
        self.slices = dict(slices)
        self.label_smoothing = label_smoothing
        self.age_loss = age_loss
        self.log_vars = nn.Parameter(torch.zeros(len(self.slices)))
        self.dex = AgeDistributionLoss(y_mean, y_scale, sigma=sigma)
        self.reduction = "mean"  # "none": one loss per sample (sample weights)

    def task_losses(self, out: torch.Tensor, y: torch.Tensor,
                    reduction: str = "mean") -> list[torch.Tensor]:
        """Each task's loss, averaged over the batch (or per sample with "none")."""
        losses = []
        self.dex.reduction = reduction
        for j, (task, (a, b)) in enumerate(self.slices.items()):
            target = y[:, j]
            if task == "age" and self.age_loss == "dex":
                losses.append(self.dex(out[:, a:b], target))
            elif task == "age":
                losses.append(nn.functional.l1_loss(out[:, a], target.float(),
                                                    reduction=reduction))
            else:
                # less the smoothed target's entropy (a KL divergence): a task's loss
                # then measures its difficulty, not the floor label smoothing sets
                losses.append(nn.functional.cross_entropy(
                    out[:, a:b], target.long(), label_smoothing=self.label_smoothing,
                    reduction=reduction) - _smoothed_entropy(b - a, self.label_smoothing))
        return losses

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = torch.stack(self.task_losses(out, y, self.reduction), dim=0)
        weights = torch.exp(-self.log_vars)
        if self.reduction == "none":  # (tasks, batch) -> one loss per sample
            return (weights[:, None] * losses + self.log_vars[:, None]).sum(dim=0)
        return (weights * losses + self.log_vars).sum()


@safe_class("step", params=MODEL_PARAMS)
class FaceAttributes(_FaceEstimator):
    """Predict age, gender and race at once with one shared network.

    One trunk, one output head per task (age: a distribution over years 0..116, as
    :class:`AgeRegressor`'s default, or one standardised value with
    ``criterion__age_loss="l1"``; gender and race: one logit per class), trained on
    the sum of the task losses weighted by learned uncertainty
    (``UncertaintyWeightedLoss``): the balance between the tasks is learned, not
    tuned by hand.

    ``y`` is a DataFrame with any of the columns ``age`` (years), ``gender`` and
    ``race`` (any labels), e.g. the output of :class:`~skface.UTKFaceLabelDecoder`.
    ``predict`` returns a DataFrame with the same columns.

    Parameters
    ----------
    module : str or nn.Module class, default="skfacenet"
        Network: a name from :func:`skface.nets.list_models` or a class following
        the registry's contract. Its parameters pass as ``module__<name>``
        (e.g. ``module__width=48``).
    criterion : loss class, default=UncertaintyWeightedLoss
        Built with the task layout; ``criterion__label_smoothing``,
        ``criterion__age_loss`` (``"dex"``, the default, or ``"l1"``) and
        ``criterion__sigma`` pass on.
    optimizer : torch optimiser class, default=torch.optim.AdamW
        Its parameters pass as ``optimizer__<name>`` (e.g. ``optimizer__weight_decay``).
        Weight decay applies to weight matrices and filters, not to biases and
        normalisation parameters.
    lr : float, default=2e-3
        Peak learning rate, reached after ``warmup_epochs`` and decayed to zero on a
        cosine over ``max_epochs``.
    max_epochs : int, default=36
        Training epochs: the learning-rate schedule spans them (``fit``'s
        ``epochs=`` overrides it for one call). Training times are in the
        benchmarks.
    batch_size : int, default=128
        Images per training step and per prediction batch; -1 puts all the images
        in one batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        skorch's iterator over the training data. With the default, and no
        ``iterator_train__*`` options other than ``batch_size``, ``shuffle`` and
        ``drop_last``, batches are gathered from one tensor instead (no per-image
        Python work); any other iterator or option takes skorch's own path.
    iterator_valid : class, default=torch.utils.data.DataLoader
        The same for validation and prediction (``iterator_valid__*`` options).
    dataset : class, default=skorch.dataset.Dataset
        skorch's dataset class; another class takes skorch's own data path
        (``dataset__*`` options pass on).
    train_split : callable or None, default=None
        A skorch splitter (e.g. ``skorch.helper.predefined_split``); when None a
        seeded ``validation_fraction`` split is used.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        skorch callbacks to run besides the built-in ones (the per-epoch log, the
        validation score, the learning-rate schedule and, when on, early stopping);
        an ``LRScheduler`` among them replaces the built-in schedule.
        ``"disable"`` runs no callback at all (the learning rate then stays at
        ``lr``). Their parameters pass as ``callbacks__<name>__<parameter>``.
    predict_nonlinearity : callable, None or "auto", default="auto"
        skorch's parameter; not used here: ``predict`` and ``predict_proba`` go
        through ``output_head_``.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted model trains it further, as ``partial_fit``
        does (the weights, the learning-rate schedule, the random streams and the
        validation split continue), instead of starting afresh.
    verbose : int, default=1
        1 prints a line per epoch; 0 is silent.
    device : str, torch.device or None, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    compile : bool, default=False
        Compile the network with ``torch.compile`` (its arguments pass as
        ``compile__<name>``).
    use_caching : bool or "auto", default="auto"
        Whether the per-epoch scoring callbacks reuse the validation predictions
        (skorch's parameter); False computes them again, holding less memory.
    torch_load_kwargs : dict or None, default=None
        Arguments skorch passes to ``torch.load`` in ``load_params``.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, augmentation and the validation split:
        equal seeds give equal predictions on the same machine.
    augment : bool or dict, default=True
        Batched augmentation on the device during training: horizontal flip,
        shift, scale, rotation, brightness and contrast. A dict sets strengths
        (keys of ``skface._engine.DEFAULT_AUGMENT``; missing keys are off), and can
        add colour jitter, ``"saturation"`` (off by default).
    tta : bool, default=True
        Average predictions over each image and its mirror image.
    precision : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Autocast precision. ``"auto"``: bfloat16 on CUDA devices, and for training
        on CPUs that compute it natively (AVX512-BF16 or AMX); float32 elsewhere and
        for prediction on CPU (bfloat16 kernels are slow for small CPU batches).
    channels_last : bool, default=True
        Channels-last memory layout for the convolutions.
    validation_fraction : float, default=0.1
        Share of the training data held out for the per-epoch validation figures
        (and early stopping, when on); 0 trains on everything.
    early_stopping : bool, default=False
        Stop when the validation score (``valid_acc`` for classifiers, ``valid_mae``
        for AgeRegressor, the validation loss for FaceAttributes) has not improved
        for ``patience`` epochs, and restore the best epoch's weights. Off by
        default: the cosine schedule ends at a learning rate of zero, and its last
        epochs are the best ones.
    patience : int or None, default=None
        Epochs without improvement before early stopping ends training; None: a
        quarter of ``max_epochs``, at least 8.
    warmup_epochs : float, default=1.0
        Epochs (a fraction allowed) over which the learning rate rises linearly to
        ``lr`` at the start of training; 0 starts at ``lr``.
    mixup : float, default=0.0
        Mixup: train on convex blends of image pairs with the loss blended alike;
        the value is ``a`` of the ``Beta(a, a)`` blend weight (0.2 is usual; 0 is off).
    cutmix : float, default=0.0
        CutMix: paste a box of a partner image (area from ``Beta(a, a)``). With both
        mixup and cutmix on, each batch uses one of them at random.
    ema_decay : float or None, default=None
        Keep an exponential moving average of the weights (e.g. 0.998) and use it
        for validation, early stopping and prediction.
    **kwargs
        Parameters of the parts, by prefix: ``module__*``, ``optimizer__*``,
        ``criterion__*``, ``callbacks__*``, ``iterator_train__*``,
        ``iterator_valid__*``, ``dataset__*`` and ``compile__*``.

    Attributes
    ----------
    tasks_ : list of str
        The tasks, in the order of ``y``'s columns.
    classes_ : dict of str to ndarray
        Labels of the gender and race tasks.
    task_weights_ : dict of str to float
        The learned weights ``exp(-s_t)``.
    history_ : skorch History
        Per-epoch losses.
    module_ : torch.nn.Module
        The fitted network with its on-device preprocessing.
    image_shape_ : tuple
        ``(height, width, channels)`` of the training images.
    task_ : EstimatorTask
        What the model predicts: ``kind`` (``"classification"``, ``"regression"``
        or ``"multi-task"``) and ``tasks``, each with its name, kind, classes and
        the output of ``output_head_`` that holds it.
    output_head_ : skface.nets.heads.OutputHead
        The torch module that turns the network's raw outputs into probabilities
        and ages; ``predict``, ``predict_proba`` and the exported ONNX graph all go
        through it.

    See Also
    --------
    AgeRegressor, GenderClassifier, RaceClassifier

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skface import FaceAttributes, ImageLoader
    >>> pipe = make_pipeline(ImageLoader(size=64), FaceAttributes(max_epochs=20))
    """

    def __init__(self, module="skfacenet", *args, criterion=UncertaintyWeightedLoss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def _fit_target(self, y) -> int:
        if not isinstance(y, pd.DataFrame):
            raise TypeError(
                "FaceAttributes expects y as a DataFrame with columns among "
                f"{list(_TASKS)} (e.g. UTKFaceLabelDecoder().fit_transform(paths)); got "
                f"{type(y).__name__}.")
        tasks = [c for c in y.columns if c in _TASKS]
        extra = [c for c in y.columns if c not in _TASKS]
        if not tasks or extra:
            raise ValueError(
                f"FaceAttributes: y's columns must be among {list(_TASKS)}; got "
                f"{list(y.columns)}.")
        self.tasks_ = tasks
        self.classes_ = {}
        self.slices_ = {}
        start = 0
        for task in tasks:
            if task == "age":
                ages = check_ages(y["age"])
                self.y_mean_, self.y_scale_ = float(ages.mean()), float(ages.std()) or 1.0
                width = MAX_AGE + 1 if self._age_dex() else 1
            else:
                labels = _class_labels(y[task], f"FaceAttributes ({task})",
                                       _FIXED_CLASS_COUNTS.get(task))
                self.classes_[task] = np.unique(labels)
                width = len(self.classes_[task])
                if width < 2:
                    raise ValueError(f"FaceAttributes: {task} needs at least two classes.")
            self.slices_[task] = (start, start + width)
            start += width
        return start

    def _encode_target(self, y) -> np.ndarray:
        if not isinstance(y, pd.DataFrame) or list(y.columns) != self.tasks_:
            raise ValueError(f"FaceAttributes was fitted on y columns {self.tasks_}; got "
                             f"{list(getattr(y, 'columns', []))}.")
        cols = []
        for task in self.tasks_:
            if task == "age":
                cols.append((check_ages(y["age"]) - self.y_mean_) / self.y_scale_)
            else:
                name = f"FaceAttributes ({task})"
                cols.append(_encode_labels(_labels_1d(y[task], name), self.classes_[task], name))
        return np.stack(cols, axis=1).astype(np.float32)

    def _valid_scores(self) -> list[tuple[str, str | None]]:
        # one column per task in the epoch table: valid_age_mae, valid_gender_acc...
        return [(f"valid_{t}_{'mae' if t == 'age' else 'acc'}", t)
                for t in getattr(self, "tasks_", [])]

    def _decode_target(self, y_enc):
        """Encoded targets back as the label table ``y`` was (for callbacks)."""
        y_enc = np.asarray(y_enc)
        columns = {}
        for j, task in enumerate(self.tasks_):
            if task == "age":
                columns[task] = np.round(y_enc[:, j] * self.y_scale_ + self.y_mean_, 3)
            else:
                columns[task] = self.classes_[task][y_enc[:, j].astype(np.int64)]
        return pd.DataFrame(columns)

    def _age_dex(self) -> bool:
        age_loss = self.get_params_for("criterion").get("age_loss", "dex")
        if age_loss not in _AGE_LOSSES:
            raise ValueError(
                f"criterion__age_loss must be one of {list(_AGE_LOSSES)}, got {age_loss!r}")
        return age_loss == "dex"

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        if isinstance(self.criterion, type):
            if "age" in self.slices_ and issubclass(self.criterion, UncertaintyWeightedLoss):
                kwargs = {"y_mean": self.y_mean_, "y_scale": self.y_scale_, **kwargs}
            self.criterion_ = self.criterion(self.slices_, **kwargs)
            return self
        return super().initialize_criterion()

    @property
    def task_weights_(self) -> dict:
        check_is_fitted(self, "criterion_")
        weights = torch.exp(-self.criterion_.log_vars.detach().cpu()).tolist()
        return dict(zip(self.tasks_, weights, strict=True))

    def _build_task(self) -> EstimatorTask:
        tasks = []
        for task in self.slices_:
            if task == "age":
                tasks.append(Task("age", "regression", "age"))
            else:
                tasks.append(Task(task, "classification", f"{task}_probabilities",
                                  classes=self.classes_[task]))
        return EstimatorTask("multi-task", tuple(tasks))

    def _build_head(self) -> heads.OutputHead:
        per_task = {}
        for task, (a, b) in self.slices_.items():
            if task == "age" and b - a > 1:  # a distribution over years
                per_task[task] = heads.ExpectedAge(b - a)
            elif task == "age":
                per_task[task] = heads.ScalarAge(self.y_mean_, self.y_scale_, max_age=MAX_AGE)
            else:
                per_task[task] = heads.ClassProbabilities()
        return heads.MultiTask(self.slices_, per_task)

    def predict(self, X) -> pd.DataFrame:
        """Predicted age (years), gender and race labels, one row per image.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        predictions : DataFrame of shape (n_samples, n_tasks)
            One column per task in ``tasks_``: ``age`` in years, ``gender`` and
            ``race`` in the labels ``y`` was given in.
        """
        outputs = self.predict_outputs(X)
        return pd.DataFrame({t.name: t.predictions(outputs) for t in self.task_.tasks})

    def predict_proba(self, X) -> dict:
        """Class probabilities of the gender and race tasks.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.

        Returns
        -------
        proba : dict of str to ndarray of shape (n_samples, n_classes)
            For each classification task, float32 probabilities with columns in
            the order of ``classes_[task]``.
        """
        outputs = self.predict_outputs(X)
        return {t.name: outputs[t.output] for t in self.task_.tasks
                if t.kind == "classification"}

    def score(self, X, y, sample_weight=None) -> float:
        """Mean of the task scores: R² for age, accuracy for gender and race.

        Parameters
        ----------
        X : array-like of shape (n_samples, height, width, channels) or LazyImages
            Images of the size and channels the model was fitted on.
        y : DataFrame of shape (n_samples, n_tasks)
            The true labels, with the columns of ``tasks_``.
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each image in the scores.

        Returns
        -------
        score : float
            The mean of the tasks' scores.
        """
        pred = self.predict(X)
        scores = []
        for task in self.tasks_:
            if task == "age":
                scores.append(r2_score(check_ages(y["age"]), pred["age"],
                                       sample_weight=sample_weight))
            else:
                name = f"FaceAttributes.score ({task})"
                labels = _labels_1d(y[task], name)
                _check_label_kind(labels, self.classes_[task], name)
                scores.append(accuracy_score(labels, pred[task], sample_weight=sample_weight))
        return float(np.mean(scores))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y is a label table, one column per task: multi-output, never a single column
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags


# what each of the command line's ``skface train --target`` choices trains
TARGET_ESTIMATORS: dict[str, type[_FaceEstimator]] = {
    "age": AgeRegressor,
    "gender": GenderClassifier,
    "race": RaceClassifier,
    "age_bins": AgeBinner,
    "all": FaceAttributes,
}
