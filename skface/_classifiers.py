"""The classifiers: gender and race (any labels), one label target each.

Both are :class:`~skface._targets.LabelTarget` on the shared engine; what they add to
it is a classifier's: class weights, a teacher's soft targets, ``predict_proba`` and
accuracy as ``score``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._engine import MODEL_PARAMS
from ._engine._task import FaceEstimator
from ._registry import safe_class
from ._targets import FIXED_CLASS_COUNTS, LabelTarget, labels_1d
from .nets.losses import SmoothedCrossEntropy

__all__ = ["GenderClassifier", "RaceClassifier"]


class _FaceClassifier(ClassifierMixin, FaceEstimator):
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        max_classes = FIXED_CLASS_COUNTS.get(self._task)
        tags.classifier_tags.multi_class = max_classes is None or max_classes > 2
        return tags

    def _learn_target(self, y) -> LabelTarget:
        return LabelTarget.learn(self._task, y, name=type(self).__name__,
                                 classes=getattr(self, "_partial_fit_classes_", None))

    def _target(self) -> LabelTarget:
        return LabelTarget.from_fitted(self._task, self)

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

        labels = labels_1d(y, type(self).__name__)
        per_class = compute_sample_weight(self.class_weight, labels).astype(np.float32)
        return per_class if weights is None else per_class * weights


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
        given = np.unique(labels_1d(classes, f"{name}.partial_fit classes"))
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
        labels = self._target().true_labels(y, f"{type(self).__name__}.score")
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
