"""The task contract: what a fitted estimator's outputs mean, declared once.

:class:`Task` is one predicted quantity (its name, kind, classes and the output of the
head that holds it), :class:`EstimatorTask` what an estimator predicts (its ``task_``),
and :class:`FaceEstimator` the engine's base of every estimator: it builds its network
for a target (``skface._targets``: labels, ages, age groups, or several side by side),
declares ``task_`` and ``output_head_`` from the fitted target, and every surface
(reports, plots, ONNX export, the command line, scoring) asks these instead of the
estimator's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._labels import class_names
from ..nets import heads
from ._base import FaceNetBase

__all__ = ["EstimatorTask", "FaceEstimator", "Task"]


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



class FaceEstimator(FaceNetBase):
    """The base of every estimator: a target on the shared engine.

    A subclass says which target it learns from ``y`` (``_learn_target``, in fit) and
    how it rebuilds that target from its fitted attributes (``_target``); the target
    (``skface._targets``) encodes and decodes ``y`` and gives the network's width, the
    output head and the tasks. ``task_`` and ``output_head_`` come from the fitted
    attributes only, so that models loaded from files get them too.
    """

    # what predict returns: "classification", "regression" or "multi-task"
    _task_kind = "classification"

    def _learn_target(self, y):
        """The target learned from ``y`` (its classes, age scale or groups)."""
        raise NotImplementedError

    def _target(self):
        """The fitted target, rebuilt from the fitted attributes."""
        raise NotImplementedError

    def _fit_target(self, y) -> int:
        target = self._learn_target(y)
        for key, value in target.fitted().items():
            setattr(self, key, value)
        return target.width

    def _encode_target(self, y) -> np.ndarray:
        return self._target().encode(y)

    def _decode_target(self, y_enc):
        return self._target().decode(y_enc)

    def _strata(self, y_enc):
        return self._target().codes(y_enc)

    def _build_task(self) -> EstimatorTask:
        return EstimatorTask(self._task_kind, self._target().tasks())

    def _build_head(self) -> heads.OutputHead:
        return self._target().head()

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
