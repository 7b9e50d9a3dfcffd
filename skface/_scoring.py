"""Scorers for one task of a fitted skface model, for scikit-learn's CV tools."""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature

import numpy as np
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.metrics._scorer import _BaseScorer

__all__ = ["make_task_scorer"]

_RESPONSES = ("predict", "predict_proba")


def _default_score(y_true, y_pred, *, sample_weight=None) -> float:
    """Accuracy of a classification task; mean absolute error of a regression task.

    The default ``score_func`` of :func:`make_task_scorer`: the scorer picks the
    metric (and negates the error) by the task's kind. Called directly it gives the
    accuracy.
    """
    return float(accuracy_score(y_true, y_pred, sample_weight=sample_weight))


class TaskScorer(_BaseScorer):
    """Score one task of a fitted model against the truth derived from ``y``.

    Made by :func:`make_task_scorer`; called by scikit-learn as
    ``scorer(estimator, X, y)``. A scikit-learn scorer: under metadata routing it
    asks for what ``set_score_request`` names (``sample_weight`` is passed on to the
    metric only when requested, as scikit-learn's own scorers do).
    """

    def __init__(self, task: str, score_func: Callable, sign: int, kwargs: dict,
                 response_method: str = "predict"):
        super().__init__(score_func, sign, kwargs, response_method)
        self.task = task

    # read-only views kept for code that inspected the scorer before it was built on
    # scikit-learn's scorer class
    @property
    def score_func(self) -> Callable:
        return self._score_func

    @property
    def response_method(self) -> str:
        return self._response_method

    @property
    def greater_is_better(self) -> bool:
        return self._sign > 0

    @property
    def kwargs(self) -> dict:
        return dict(self._kwargs)

    def __repr__(self) -> str:
        func = ("default" if self._score_func is _default_score
                else getattr(self._score_func, "__name__", repr(self._score_func)))
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        extra = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        return (f"make_task_scorer({self.task!r}, {func}{sign}, "
                f"response_method={self._response_method!r}{extra})")

    def _score(self, method_caller, estimator, X, y_true, **kwargs) -> float:
        self._warn_overlap(
            message=("There is an overlap between set kwargs of this scorer instance and "
                     "passed metadata. Please pass them either as kwargs to "
                     "make_task_scorer or metadata, but not both."),
            kwargs=kwargs)
        final = estimator
        if hasattr(estimator, "steps"):  # a Pipeline: its transformers, then its model
            if len(estimator.steps) > 1:
                X = estimator[:-1].transform(X)
            final = estimator[-1]
        if not hasattr(final, "task_"):
            raise TypeError(
                f"make_task_scorer scores skface models; got {type(final).__name__}, "
                "which has no task_.")
        task = final.task_[self.task]
        y = y_true
        if hasattr(y, "columns"):  # a label table: the task's own column
            if task.label not in y.columns:
                raise ValueError(
                    f"y has no column {task.label!r}, which holds the truth of task "
                    f"{task.name!r}; its columns are {list(y.columns)}.")
            y = y[task.label]
        truth = task.true_labels(np.asarray(y))
        func, sign = self._score_func, self._sign
        if func is _default_score:
            if task.kind == "classification":
                func, sign = accuracy_score, 1
            else:
                func, sign = mean_absolute_error, -1
        scoring_kwargs = {**self._kwargs, **kwargs}
        if self._response_method == "predict_proba":
            if task.kind != "classification":
                raise ValueError(
                    f"task {task.name!r} is a regression: it has no probabilities; use "
                    "response_method='predict'.")
            pred = self._probabilities(final.predict_outputs(X)[task.output], task, func)
            if "labels" not in scoring_kwargs and "labels" in signature(func).parameters:
                scoring_kwargs["labels"] = task.classes
        else:
            pred = task.predictions(final.predict_outputs(X))
        return sign * float(func(truth, pred, **scoring_kwargs))

    def _probabilities(self, proba: np.ndarray, task, func) -> np.ndarray:
        """The task's probability columns as scikit-learn's scorers pass them: the
        positive class's column alone for a two-class task, all columns otherwise."""
        classes = np.asarray(task.classes)
        if len(classes) != 2:
            return proba
        pos_label = self._kwargs.get("pos_label")
        if pos_label is None:
            default = signature(func).parameters.get("pos_label")
            pos_label = None if default is None else default.default
        if pos_label is None:  # scikit-learn's rule: the greater label is positive
            return proba[:, 1]
        where = np.flatnonzero(classes.astype(object) == pos_label)
        if len(where) == 0:
            raise ValueError(
                f"pos_label={pos_label!r} is not a valid label of task {task.name!r}: it "
                f"should be one of {classes.tolist()}. Pass make_task_scorer(..., "
                "pos_label=<label>).")
        return proba[:, int(where[0])]


def make_task_scorer(task: str, score_func: Callable | None = None, *,
                     response_method: str = "predict", greater_is_better: bool = True,
                     **kwargs) -> TaskScorer:
    """Make a scorer for one task of a fitted skface model.

    The scorer turns ``y`` into that task's truth as the model itself does (ages
    into the age groups of a fitted :class:`~skface.AgeBinner`, a column of a label
    table for :class:`~skface.FaceAttributes`) and compares it with the task's
    predictions. Pass it as ``scoring=`` to :func:`~sklearn.model_selection.cross_val_score`,
    :class:`~sklearn.model_selection.GridSearchCV` and the like; it accepts a fitted
    model or a Pipeline that ends with one.

    Parameters
    ----------
    task : str
        A task name of the model's ``task_``: ``"age_group"``, ``"age"``,
        ``"gender"`` or ``"race"``.
    score_func : callable or None, default=None
        ``score_func(y_true, y_pred, **kwargs)``, such as
        :func:`sklearn.metrics.balanced_accuracy_score` or
        :func:`sklearn.metrics.log_loss`. None: accuracy for a classification task,
        the negated mean absolute error for a regression task.
    response_method : {"predict", "predict_proba"}, default="predict"
        Compare labels (or years), or probabilities. As in scikit-learn's scorers, a
        two-class task passes the positive class's column alone (``pos_label`` of
        ``kwargs``, else the metric's own ``pos_label`` default, else the greater
        label), so that :func:`~sklearn.metrics.roc_auc_score` and the like work;
        a task of more classes passes every column, with the task's classes as
        ``labels=`` where the metric takes them.
    greater_is_better : bool, default=True
        False negates ``score_func``'s value (for losses such as ``log_loss``).
    **kwargs
        More arguments of ``score_func``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning a float, greater is better. It is a
        scikit-learn scorer: with metadata routing on,
        ``scorer.set_score_request(sample_weight=True)`` has ``sample_weight`` passed
        to the metric.

    Examples
    --------
    >>> from sklearn.metrics import log_loss
    >>> from skface import make_task_scorer
    >>> scoring = {"accuracy": make_task_scorer("age_group"),
    ...            "log_loss": make_task_scorer("age_group", log_loss,
    ...                                         response_method="predict_proba",
    ...                                         greater_is_better=False)}
    """
    if not isinstance(task, str):
        raise TypeError(f"task must be a task name such as 'age_group', got {task!r}.")
    if response_method not in _RESPONSES:
        raise ValueError(
            f"response_method must be one of {list(_RESPONSES)}, got {response_method!r}.")
    if score_func is not None and not callable(score_func):
        raise TypeError(f"score_func must be callable, got {score_func!r}.")
    if score_func is None:
        score_func = _default_score
    sign = 1 if greater_is_better else -1
    return TaskScorer(task, score_func, sign, kwargs, response_method)
