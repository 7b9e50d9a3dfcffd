"""Scorers for one task of a fitted skface model, for scikit-learn's CV tools."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["make_task_scorer"]

_RESPONSES = ("predict", "predict_proba")


class TaskScorer:
    """Score one task of a fitted model against the truth derived from ``y``.

    Made by :func:`make_task_scorer`; called by scikit-learn as
    ``scorer(estimator, X, y)``.
    """

    def __init__(self, task: str, score_func: Callable | None, response_method: str,
                 greater_is_better: bool, kwargs: dict):
        self.task = task
        self.score_func = score_func
        self.response_method = response_method
        self.greater_is_better = greater_is_better
        self.kwargs = kwargs

    def __repr__(self) -> str:
        func = getattr(self.score_func, "__name__", "default")
        return (f"make_task_scorer({self.task!r}, {func}, "
                f"response_method={self.response_method!r})")

    def __call__(self, estimator, X, y, sample_weight=None) -> float:
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
        if hasattr(y, "columns"):  # a label table: the task's own column
            if task.label not in y.columns:
                raise ValueError(
                    f"y has no column {task.label!r}, which holds the truth of task "
                    f"{task.name!r}; its columns are {list(y.columns)}.")
            y = y[task.label]
        truth = task.true_labels(np.asarray(y))
        outputs = final.predict_outputs(X)
        kwargs = dict(self.kwargs)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        if self.response_method == "predict_proba":
            if task.kind != "classification":
                raise ValueError(
                    f"task {task.name!r} is a regression: it has no probabilities; use "
                    "response_method='predict'.")
            pred = outputs[task.output]
            kwargs.setdefault("labels", task.classes)
        else:
            pred = task.predictions(outputs)
        func = self.score_func
        sign = 1.0 if self.greater_is_better else -1.0
        if func is None:
            from sklearn.metrics import accuracy_score, mean_absolute_error

            if task.kind == "classification":
                func, sign = accuracy_score, 1.0
            else:
                func, sign = mean_absolute_error, -1.0
        return sign * float(func(truth, pred, **kwargs))


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
        Compare labels (or years), or the probability columns; with
        ``"predict_proba"`` the task's classes pass as ``labels=``.
    greater_is_better : bool, default=True
        False negates ``score_func``'s value (for losses such as ``log_loss``).
    **kwargs
        More arguments of ``score_func``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning a float, greater is better.

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
    return TaskScorer(task, score_func, response_method, bool(greater_is_better), kwargs)
