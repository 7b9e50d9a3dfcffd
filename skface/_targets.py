"""Targets as parts: what an estimator learns to predict, each kind written once.

A target knows how to check, encode and decode its ``y``, the width of the network
output it needs, its loss, its output head and the tasks it declares:

- :class:`LabelTarget`: class labels (gender, race, any labels), one logit per class;
- :class:`AgeTarget`: age in years, one logit per year (a distribution) or one value;
- :class:`AgeGroupTarget`: age groups learned from ages (:class:`~skface.AgeBinEncoder`),
  with an expected age beside them;
- :class:`MultiTarget`: several of these side by side, ``y`` a label table.

An estimator learns its target in ``fit`` (``learn``), keeps what it learned as its
fitted attributes (``fitted``) and rebuilds the target from them whenever it needs it
(``from_fitted``), so that models loaded from files get the same target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._age_bins import AgeBinEncoder
from ._engine._task import Task
from ._labels import GENDER_NAMES, MAX_AGE, TASKS, check_ages
from .exceptions import LabelError
from .nets import heads
from .nets.losses import AgeDistributionLoss, OrdinalLoss, SmoothedCrossEntropy

__all__ = ["FIXED_CLASS_COUNTS", "AgeGroupTarget", "AgeTarget", "LabelTarget", "MultiTarget",
           "labels_1d"]

# tasks whose number of labels is fixed, whatever the labels are called
FIXED_CLASS_COUNTS = {"gender": len(GENDER_NAMES)}


def labels_1d(y, name: str) -> np.ndarray:
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


def _class_labels(y, name: str, max_classes: int | None = None) -> np.ndarray:
    """The labels of a classification target, refusing what scikit-learn's classifiers refuse.

    A continuous target (numbers with fractions, such as ages 25.5) or a multilabel
    one raises LabelError with scikit-learn's words (``Unknown label type: continuous``);
    more distinct labels than half the samples warn, as scikit-learn does. A task with
    a fixed number of labels (gender's two) refuses more, such as whole-number ages.
    """
    labels = labels_1d(y, name)
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


# --------------------------------------------------------------------------- labels


class LabelTarget:
    """Class labels: one output (a logit) per class, in the order of ``classes``.

    Parameters
    ----------
    task : str
        The task's name (``"gender"``, ``"race"``, or ``"classification"`` for any
        labels); ``"gender"`` allows two labels at most.
    classes : ndarray
        The sorted labels seen in fit.
    name : str
        Who is asking, for error messages (``"GenderClassifier"``).
    """

    def __init__(self, task: str, classes: np.ndarray, *, name: str):
        self.task, self.classes, self.name = task, classes, name

    @classmethod
    def learn(cls, task: str, y, *, name: str, classes=None) -> LabelTarget:
        """The labels of ``y`` (or every label of ``classes``, when given, which must
        hold those of ``y``), refusing what scikit-learn's classifiers refuse."""
        max_classes = FIXED_CLASS_COUNTS.get(task)
        labels = _class_labels(y, name, max_classes)
        if classes is not None:  # partial_fit(classes=...): every label y may ever hold
            fitted = np.unique(_class_labels(classes, f"{name}.partial_fit classes",
                                             max_classes))
            _encode_labels(labels, fitted, name)
        else:
            fitted = np.unique(labels)
        if len(fitted) < 2:
            raise ValueError(f"{name} needs at least two classes in y; got only "
                             f"{fitted.tolist()}.")
        return cls(task, fitted, name=name)

    @property
    def width(self) -> int:
        return len(self.classes)

    def fitted(self) -> dict:
        return {"classes_": self.classes}

    @classmethod
    def from_fitted(cls, task: str, estimator) -> LabelTarget:
        return cls(task, estimator.classes_, name=type(estimator).__name__)

    def encode_column(self, y) -> np.ndarray:
        """Positions of the labels in ``classes`` (int64); unseen labels raise LabelError."""
        return _encode_labels(labels_1d(y, self.name), self.classes, self.name)

    encode = encode_column

    def codes(self, encoded) -> np.ndarray:
        """Class positions of encoded targets (the first column of soft targets)."""
        encoded = np.asarray(encoded)
        return (encoded[:, 0] if encoded.ndim == 2 else encoded).astype(np.int64)

    def decode(self, encoded) -> np.ndarray:
        return self.classes[self.codes(encoded)]

    def true_labels(self, y, where: str) -> np.ndarray:
        """``y`` as labels to score against, refusing labels of another kind."""
        labels = labels_1d(y, where)
        _check_label_kind(labels, self.classes, where)
        return labels

    def loss(self, **params) -> SmoothedCrossEntropy:
        return SmoothedCrossEntropy(**params)

    def head(self) -> heads.OutputHead:
        return heads.ClassProbabilities()

    def tasks(self, output: str = "probabilities") -> tuple[Task, ...]:
        return (Task(self.task, "classification", output, classes=self.classes),)


# --------------------------------------------------------------------------- ages


class AgeTarget:
    """Age in years, standardised for training: one output per year 0..116 (learned as
    a distribution, read as its expected age) or one value.

    Parameters
    ----------
    y_mean, y_scale : float
        Mean and standard deviation of the training ages.
    width : int
        ``MAX_AGE + 1`` (a distribution over years) or 1 (a standardised value).
    """

    def __init__(self, y_mean: float, y_scale: float, width: int):
        self.y_mean, self.y_scale, self.width = y_mean, y_scale, width

    @classmethod
    def learn(cls, y, *, distribution: bool) -> AgeTarget:
        ages = check_ages(y)
        return cls(float(ages.mean()), float(ages.std()) or 1.0,
                   MAX_AGE + 1 if distribution else 1)

    def fitted(self) -> dict:
        return {"y_mean_": self.y_mean, "y_scale_": self.y_scale}

    @classmethod
    def from_fitted(cls, estimator, width: int) -> AgeTarget:
        """The age target of a fitted estimator whose network has ``width`` age outputs."""
        return cls(estimator.y_mean_, estimator.y_scale_, width)

    def encode_column(self, y) -> np.ndarray:
        """Standardised ages (float64)."""
        return (check_ages(y) - self.y_mean) / self.y_scale

    def encode(self, y) -> np.ndarray:
        return self.encode_column(y).astype(np.float32)[:, None]

    def decode(self, encoded) -> np.ndarray:
        """Encoded targets back in years (to the thousandth: float32 noise is dropped)."""
        encoded = np.asarray(encoded, dtype=np.float64)
        column = encoded[:, 0] if encoded.ndim == 2 else encoded
        return np.round(column * self.y_scale + self.y_mean, 3)

    def true_labels(self, y, where: str) -> np.ndarray:
        return check_ages(y)

    def loss(self, **params) -> AgeDistributionLoss:
        """The loss of the distribution over years (``width > 1``)."""
        return AgeDistributionLoss(self.y_mean, self.y_scale, **params)

    def head(self) -> heads.OutputHead:
        # the network's width says what it learned: one class per year, or one value
        if self.width > 1:
            return heads.ExpectedAge(self.width)
        return heads.ScalarAge(self.y_mean, self.y_scale, max_age=MAX_AGE)

    def tasks(self, output: str = "age") -> tuple[Task, ...]:
        return (Task("age", "regression", output),)


# --------------------------------------------------------------------------- age groups

# how an age-group model reads its outputs: group logits, CORAL's cumulative logits,
# or a distribution over years summed into the groups
GROUP_HEADS = ("softmax", "ordinal", "years")


class AgeGroupTarget:
    """Age groups of ages ``y`` (:class:`~skface.AgeBinEncoder`), with an expected age.

    Parameters
    ----------
    encoder : AgeBinEncoder
        Fitted: the groups, their labels and representative ages.
    head : {"softmax", "ordinal", "years"}
        ``"years"`` learns a distribution over years (``ages``) summed into groups.
    ages : AgeTarget or None
        The age scale of the ``"years"`` head.
    """

    def __init__(self, encoder: AgeBinEncoder, head: str, ages: AgeTarget | None = None):
        self.encoder, self.head_kind, self.ages = encoder, head, ages
        self.classes = np.asarray(encoder.labels_, dtype=object)

    @classmethod
    def learn(cls, y, *, bins, n_bins: int, head: str, name: str) -> AgeGroupTarget:
        bins = list(bins) if not isinstance(bins, str) else bins
        encoder = AgeBinEncoder(bins, n_bins=n_bins).fit(y)
        if encoder.n_bins_ < 2:
            raise ValueError(f"{name} needs at least two age groups.")
        ages = AgeTarget.learn(y, distribution=True) if head == "years" else None
        return cls(encoder, head, ages)

    @property
    def width(self) -> int:
        if self.head_kind == "years":
            return MAX_AGE + 1
        return 1 if self.head_kind == "ordinal" else self.encoder.n_bins_

    def fitted(self) -> dict:
        return {"bin_encoder_": self.encoder, "classes_": self.classes,
                **(self.ages.fitted() if self.ages is not None else {})}

    @classmethod
    def from_fitted(cls, estimator, head: str) -> AgeGroupTarget:
        ages = None
        if head == "years" and hasattr(estimator, "y_mean_"):
            ages = AgeTarget.from_fitted(estimator, MAX_AGE + 1)
        return cls(estimator.bin_encoder_, head, ages)

    def ordinal_outputs(self):
        """Initial CORAL thresholds: the logits of P(group > k) in the training data
        (0 for the other heads)."""
        if self.head_kind != "ordinal":
            return 0
        counts = self.encoder.counts_.astype(np.float64)
        above = 1.0 - np.cumsum(counts)[:-1] / counts.sum()
        above = np.clip(above, 1e-3, 1 - 1e-3)
        return np.log(above / (1 - above))

    def encode(self, y) -> np.ndarray:
        if self.head_kind == "years":
            return self.ages.encode(y)
        return self.encoder.transform(y)

    def codes(self, encoded) -> np.ndarray:
        """Group codes of encoded targets."""
        if self.head_kind == "years":
            return self.encoder.transform(self.ages.decode(encoded))
        return np.asarray(encoded)

    def decode(self, encoded) -> np.ndarray:
        return self.classes[self.codes(encoded)]

    def true_labels(self, y, where: str) -> np.ndarray:
        """The groups of true ages ``y``."""
        return self.classes[self.encoder.transform(y)]

    def loss(self, **params):
        if self.head_kind == "years":
            return self.ages.loss(**params)
        if self.head_kind == "ordinal":
            return OrdinalLoss(**params)
        return SmoothedCrossEntropy(**params)

    def year_to_group(self) -> np.ndarray:
        """(117, n_groups) 0/1 matrix: which group each whole year falls in."""
        codes = self.encoder.transform(np.arange(MAX_AGE + 1, dtype=np.float64))
        return np.eye(self.encoder.n_bins_)[codes]

    def head(self) -> heads.OutputHead:
        if self.head_kind == "years":
            return heads.GroupsFromYears(self.year_to_group())
        groups = (heads.ClassProbabilities() if self.head_kind == "softmax"
                  else heads.OrdinalProbabilities())
        return heads.RepresentativeAge(groups, self.encoder.representative_ages_)

    def tasks(self, output: str = "probabilities") -> tuple[Task, ...]:
        encoder, classes = self.encoder, self.classes

        def groups_of(ages) -> np.ndarray:
            return classes[encoder.transform(np.asarray(ages, dtype=np.float64))]

        return (Task("age_group", "classification", output, classes=classes, label="age",
                     from_label=groups_of),
                Task("age", "regression", "age"))


# --------------------------------------------------------------------------- side by side


class MultiTarget:
    """Several targets side by side: ``y`` is a label table with one column per task,
    and each task gets its own slice of the network's outputs.

    Parameters
    ----------
    parts : dict of str to target
        One target per task (column of ``y``), in the order of the columns.
    name : str
        Who is asking, for error messages.
    """

    def __init__(self, parts: dict, *, name: str):
        self.parts, self.name = dict(parts), name
        self.slices, start = {}, 0
        for task, part in self.parts.items():
            self.slices[task] = (start, start + part.width)
            start += part.width

    @classmethod
    def learn(cls, y, *, name: str, age_distribution: bool) -> MultiTarget:
        if not isinstance(y, pd.DataFrame):
            raise TypeError(
                f"{name} expects y as a DataFrame with columns among {list(TASKS)} (e.g. "
                f"UTKFaceLabelDecoder().fit_transform(paths)); got {type(y).__name__}.")
        tasks = [c for c in y.columns if c in TASKS]
        extra = [c for c in y.columns if c not in TASKS]
        if not tasks or extra:
            raise ValueError(
                f"{name}: y's columns must be among {list(TASKS)}; got {list(y.columns)}.")
        parts = {}
        for task in tasks:
            if task == "age":
                parts[task] = AgeTarget.learn(y["age"], distribution=age_distribution)
            else:
                parts[task] = LabelTarget.learn(task, y[task], name=f"{name} ({task})")
        return cls(parts, name=name)

    @property
    def width(self) -> int:
        return sum(part.width for part in self.parts.values())

    def fitted(self) -> dict:
        fitted = {"tasks_": list(self.parts), "slices_": dict(self.slices),
                  "classes_": {task: part.classes for task, part in self.parts.items()
                               if isinstance(part, LabelTarget)}}
        for part in self.parts.values():
            if isinstance(part, AgeTarget):
                fitted.update(part.fitted())
        return fitted

    @classmethod
    def from_fitted(cls, estimator) -> MultiTarget:
        name = type(estimator).__name__
        parts = {}
        for task, (a, b) in estimator.slices_.items():
            if task == "age":
                parts[task] = AgeTarget.from_fitted(estimator, b - a)
            else:
                parts[task] = LabelTarget(task, estimator.classes_[task],
                                          name=f"{name} ({task})")
        return cls(parts, name=name)

    def encode(self, y) -> np.ndarray:
        if not isinstance(y, pd.DataFrame) or list(y.columns) != list(self.parts):
            raise ValueError(f"{self.name} was fitted on y columns {list(self.parts)}; got "
                             f"{list(getattr(y, 'columns', []))}.")
        return np.stack([part.encode_column(y[task]) for task, part in self.parts.items()],
                        axis=1).astype(np.float32)

    def decode(self, encoded) -> pd.DataFrame:
        """Encoded targets back as the label table ``y`` was."""
        encoded = np.asarray(encoded)
        return pd.DataFrame({task: part.decode(encoded[:, j])
                             for j, (task, part) in enumerate(self.parts.items())})

    def true_labels(self, y, where: str) -> dict:
        return {task: part.true_labels(y[task], f"{where} ({task})")
                for task, part in self.parts.items()}

    def head(self) -> heads.OutputHead:
        return heads.MultiTask(self.slices, {task: part.head()
                                             for task, part in self.parts.items()})

    def tasks(self) -> tuple[Task, ...]:
        found = []
        for task, part in self.parts.items():
            output = "age" if isinstance(part, AgeTarget) else f"{task}_probabilities"
            found += part.tasks(output)
        return tuple(found)
