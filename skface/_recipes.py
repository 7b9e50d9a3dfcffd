"""skface's recipes: its best combination of models for each task, the scikit-learn way.

A recipe is a :class:`~sklearn.ensemble.StackingClassifier` (or ``StackingRegressor``)
whose members are ordinary Pipelines from image paths: an SVM on face-recognition
descriptors (:class:`~skface.FaceEmbedder`), a pretrained network where one exists, and
optionally a CNN trained from scratch; a linear model learns from their out-of-fold
predictions how much to trust each. The members decode each image once and embed it
once per process, however many folds the stack fits.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC, SVR
from sklearn.utils.validation import check_is_fitted

from ._engine._task import EstimatorTask, Task
from ._face_embedder import FaceEmbedder
from ._image_loader import ImageLoader
from ._pretrained import PretrainedAgeRegressor, PretrainedGenderClassifier

__all__ = ["EMBEDDING", "RECIPE_TASKS", "FaceStackingClassifier", "FaceStackingRegressor",
           "make_stack"]

# the side of a face crop as FaceCropper and UTKFace frame it: the members without an
# ImageLoader (FaceEmbedder, the pretrained networks) read images at their own size
_CROP_SIZE = 200


def _cnn(task: str, random_state):
    """The CNN trained from scratch for ``task`` (imported on use: it needs torch)."""
    import skface

    cls = {"gender": skface.GenderClassifier, "race": skface.RaceClassifier,
           "age": skface.AgeRegressor}[task]
    return cls(random_state=random_state)


# task -> (kind, the embedding member's learner, the pretrained member or None); the
# learners' C and the descriptors' framing (EMBEDDING) were chosen on a dev split of
# UTKFace's training images (docs/benchmarks.md)
RECIPE_TASKS: dict[str, tuple[str, object, object]] = {
    "gender": ("classification", lambda: SVC(C=10.0), PretrainedGenderClassifier),
    "race": ("classification", lambda: SVC(C=30.0), None),
    "age": ("regression", lambda: SVR(C=100.0, epsilon=1.0), PretrainedAgeRegressor),
}
"""What each recipe stacks: its kind, the embedding learner, and the pretrained member."""

# The embedding member's descriptors: of each crop's central square, as the crops come
# (UTKFace's, FaceCropper's), which beat the five-point re-alignment on the dev split
EMBEDDING = {"align": False}


class _FaceStacking:
    """``task_``, ``predict_outputs`` and ``image_shape_`` for a stack of face models."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the members read images: file paths, in-memory images, ImageLoader's arrays
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the stacked predictions ``transform`` returns, as scikit-learn
        names them (``<class>_<member>`` or ``<class>_<member><i>``).

        Parameters
        ----------
        input_features : None
            Ignored (the input is images, which are never passed through).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "estimators_")
        prefix = type(self).__name__.lower()
        members = [name for name, est in self.estimators if est != "drop"]
        names = []
        for member, width in zip(members, self._n_feature_outs, strict=True):
            names += [f"{prefix}_{member}"] if width == 1 else [
                f"{prefix}_{member}{i}" for i in range(width)]
        return np.asarray(names, dtype=object)

    @property
    def image_shape_(self) -> tuple[int, int, int]:
        """The image size ``analyze`` gives the members: a 200 px face crop, or the
        largest image a member's ImageLoader makes if that is larger."""
        sizes = [step.size for _, member in self.estimators if isinstance(member, Pipeline)
                 for _, step in member.steps if isinstance(step, ImageLoader)]
        side = max([*sizes, _CROP_SIZE])
        return (side, side, 3)


class FaceStackingClassifier(_FaceStacking, StackingClassifier):
    """A :class:`~sklearn.ensemble.StackingClassifier` of face models for one task.

    scikit-learn's stacking, unchanged, that also says what it predicts (``task_``)
    so that :func:`skface.analyze`, reports and the command line use it like any skface
    model. Made by :func:`make_stack`; the parameters are ``StackingClassifier``'s
    with ``task`` first.

    Parameters
    ----------
    task : {"gender", "race"}
        What the labels are.
    estimators : list of (str, estimator)
        The members, each taking image paths (or images).
    final_estimator : estimator, default=None
        Learns from the members' out-of-fold predictions (LogisticRegression when None).
    cv : int, cross-validation generator or iterable, default=None
        The folds the members' out-of-fold predictions come from (5 when None).
    stack_method : {"auto", "predict_proba", "decision_function", "predict"}, \
            default="auto"
        Which output of each member is stacked.
    n_jobs : int, default=None
        Members fitted at once (each member parallelises itself).
    passthrough : bool, default=False
        Whether the final estimator sees the input too (False for images).
    verbose : int, default=0
        Verbosity.

    Attributes
    ----------
    task_ : EstimatorTask
        What the model predicts, for skface's reports and ``analyze``.
    classes_, estimators_, named_estimators_, final_estimator_, stack_method_
        As :class:`~sklearn.ensemble.StackingClassifier` has them.

    See Also
    --------
    skface.make_stack : skface's recipe for a task.
    """

    def __init__(self, task: str, estimators, final_estimator=None, *, cv=None,
                 stack_method: str = "auto", n_jobs=None, passthrough: bool = False,
                 verbose: int = 0):
        super().__init__(estimators, final_estimator, cv=cv, stack_method=stack_method,
                         n_jobs=n_jobs, passthrough=passthrough, verbose=verbose)
        self.task = task

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self.task != "gender"
        return tags

    @property
    def task_(self) -> EstimatorTask:
        """What the fitted model predicts: its task, with ``classes_``."""
        check_is_fitted(self)
        return EstimatorTask("classification", (
            Task(self.task, "classification", "probabilities", classes=self.classes_),))

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """The class probabilities as skface's estimators give their outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            What the members take: image paths or images.

        Returns
        -------
        outputs : dict of str to ndarray
            ``"probabilities"``: float32 of shape (n_samples, n_classes), in the order
            of ``classes_``.
        """
        return {"probabilities": self.predict_proba(X).astype(np.float32)}


class FaceStackingRegressor(_FaceStacking, StackingRegressor):
    """A :class:`~sklearn.ensemble.StackingRegressor` of face models predicting age.

    scikit-learn's stacking, unchanged, that also says what it predicts (``task_``) so
    that :func:`skface.analyze`, reports and the command line use it like any skface
    model. Made by :func:`make_stack`; the parameters are ``StackingRegressor``'s with
    ``task`` first.

    Parameters
    ----------
    task : {"age"}
        What the targets are (years).
    estimators : list of (str, estimator)
        The members, each taking image paths (or images).
    final_estimator : estimator, default=None
        Learns from the members' out-of-fold predictions (RidgeCV when None).
    cv : int, cross-validation generator or iterable, default=None
        The folds the members' out-of-fold predictions come from (5 when None).
    n_jobs : int, default=None
        Members fitted at once (each member parallelises itself).
    passthrough : bool, default=False
        Whether the final estimator sees the input too (False for images).
    verbose : int, default=0
        Verbosity.

    Attributes
    ----------
    task_ : EstimatorTask
        What the model predicts, for skface's reports and ``analyze``.
    estimators_, named_estimators_, final_estimator_
        As :class:`~sklearn.ensemble.StackingRegressor` has them.

    See Also
    --------
    skface.make_stack : skface's recipe for a task.
    """

    def __init__(self, task: str, estimators, final_estimator=None, *, cv=None,
                 n_jobs=None, passthrough: bool = False, verbose: int = 0):
        super().__init__(estimators, final_estimator, cv=cv, n_jobs=n_jobs,
                         passthrough=passthrough, verbose=verbose)
        self.task = task

    @property
    def task_(self) -> EstimatorTask:
        """What the fitted model predicts: age in years."""
        check_is_fitted(self)
        return EstimatorTask("regression", (Task(self.task, "regression", "age"),))

    def predict_outputs(self, X) -> dict[str, np.ndarray]:
        """The predicted ages as skface's estimators give their outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or ndarray of images
            What the members take: image paths or images.

        Returns
        -------
        outputs : dict of str to ndarray
            ``"age"``: float32 of shape (n_samples,), in years.
        """
        return {"age": self.predict(X).astype(np.float32)}


def make_stack(task: str, *, cnn: bool = False, pretrained: bool = True, cv=5,
               random_state: int | None = 0) -> FaceStackingClassifier | FaceStackingRegressor:
    """skface's best recipe for ``task``: face knowledge and, optionally, a CNN, stacked.

    The members are Pipelines from image paths:

    - ``"embedding"``: :class:`~skface.FaceEmbedder` (``align=False``: face crops framed
      as UTKFace's and FaceCropper's are embedded as they come) and an RBF
      support-vector machine (``SVC``, or ``SVR`` for age);
    - ``"pretrained"`` (gender and age): dlib's pretrained network
      (:class:`~skface.PretrainedGenderClassifier`, :class:`~skface.PretrainedAgeRegressor`);
    - ``"cnn"`` (with ``cnn=True``): ``ImageLoader()`` and skface's CNN for the task
      (:class:`~skface.GenderClassifier`, :class:`~skface.RaceClassifier`,
      :class:`~skface.AgeRegressor`), trained from scratch.

    A logistic regression (a ridge regression for age) learns how to combine their
    out-of-fold predictions. Each image is decoded once and embedded once per process
    however many folds are fitted; the CNN member is trained once per fold and once on
    everything (``cv + 1`` trainings), which is why it is off by default on a CPU.

    Needs ``pip install "skface[faces]"``.

    On UTKFace (docs/benchmarks.md, "Face knowledge"), the recipes beat skface's
    single CNNs for gender and race; for age the stack without the CNN is weaker than
    :class:`~skface.AgeRegressor` alone, and ``cnn=True`` (even with the CNN shortened to
    12 epochs: ``stack.set_params(cnn__ageregressor__max_epochs=12)``) makes it better.

    Parameters
    ----------
    task : {"gender", "race", "age"}
        What ``y`` will be: gender or race labels, or ages in years.
    cnn : bool, default=False
        Add skface's CNN for the task as a member (``cv + 1`` trainings of it).
    pretrained : bool, default=True
        Add dlib's pretrained network for the task, where there is one.
    cv : int or cross-validation generator, default=5
        The folds of the members' out-of-fold predictions.
    random_state : int or None, default=0
        Seed of the CNN member.

    Returns
    -------
    stack : FaceStackingClassifier or FaceStackingRegressor
        Unfitted; ``fit(paths, y)`` trains it.

    See Also
    --------
    skface.FaceEmbedder : The face-recognition descriptors.
    skface.analyze : Predict with it on photos.

    Examples
    --------
    >>> from skface import make_stack
    >>> stack = make_stack("race")
    >>> [name for name, _ in stack.estimators]
    ['embedding']
    >>> stack = make_stack("gender", cnn=True)
    >>> [name for name, _ in stack.estimators]
    ['embedding', 'pretrained', 'cnn']
    """
    if task not in RECIPE_TASKS:
        raise ValueError(f"task must be one of {sorted(RECIPE_TASKS)}, got {task!r}.")
    kind, learner, network = RECIPE_TASKS[task]
    members = [("embedding", make_pipeline(FaceEmbedder(**EMBEDDING), learner()))]
    if pretrained and network is not None:
        members.append(("pretrained", network()))
    if cnn:
        members.append(("cnn", make_pipeline(ImageLoader(), _cnn(task, random_state))))
    if kind == "classification":
        return FaceStackingClassifier(task, members, LogisticRegression(max_iter=1000), cv=cv)
    return FaceStackingRegressor(task, members, RidgeCV(), cv=cv)
