"""The multi-task estimator: age, gender and race at once, targets side by side.

:class:`FaceAttributes` learns a :class:`~skface._targets.MultiTarget` (an age target
and label targets, one slice of the network's outputs each) and trains them together
with :class:`~skface.nets.losses.UncertaintyWeightedLoss`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import check_is_fitted

from ._engine import MODEL_PARAMS
from ._engine._task import FaceEstimator
from ._registry import safe_class
from ._targets import MultiTarget
from .nets.losses import AGE_LOSSES, UncertaintyWeightedLoss

__all__ = ["FaceAttributes"]


@safe_class("step", params=MODEL_PARAMS)
class FaceAttributes(FaceEstimator):
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

    _task_kind = "multi-task"

    def __init__(self, module="skfacenet", *args, criterion=UncertaintyWeightedLoss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def _learn_target(self, y) -> MultiTarget:
        return MultiTarget.learn(y, name=type(self).__name__,
                                 age_distribution=self._age_dex())

    def _target(self) -> MultiTarget:
        return MultiTarget.from_fitted(self)

    def _valid_scores(self) -> list[tuple[str, str | None]]:
        # one column per task in the epoch table: valid_age_mae, valid_gender_acc...
        return [(f"valid_{t}_{'mae' if t == 'age' else 'acc'}", t)
                for t in getattr(self, "tasks_", [])]

    def _age_dex(self) -> bool:
        age_loss = self.get_params_for("criterion").get("age_loss", "dex")
        if age_loss not in AGE_LOSSES:
            raise ValueError(
                f"criterion__age_loss must be one of {list(AGE_LOSSES)}, got {age_loss!r}")
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
        truth = self._target().true_labels(y, f"{type(self).__name__}.score")
        scores = []
        for task, labels in truth.items():
            if task == "age":
                scores.append(r2_score(labels, pred["age"], sample_weight=sample_weight))
            else:
                scores.append(accuracy_score(labels, pred[task], sample_weight=sample_weight))
        return float(np.mean(scores))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y is a label table, one column per task: multi-output, never a single column
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags
