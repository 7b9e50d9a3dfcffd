"""The age estimators: age in years (AgeRegressor) and age groups (AgeBinner).

:class:`AgeRegressor` learns an :class:`~skface._targets.AgeTarget`, :class:`AgeBinner`
an :class:`~skface._targets.AgeGroupTarget` (the groups of the ages, and for the
``"years"`` head the same age target); the age logic itself lives in the targets.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._engine import MODEL_PARAMS
from ._engine._task import FaceEstimator
from ._registry import safe_class
from ._targets import GROUP_HEADS, AgeGroupTarget, AgeTarget

__all__ = ["AgeBinner", "AgeRegressor"]


@safe_class("step", params=MODEL_PARAMS)
class AgeRegressor(RegressorMixin, FaceEstimator):
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
    _task_kind = "regression"

    def __init__(self, module="skfacenet", *args, criterion="dex", **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)

    def _dex(self) -> bool:
        return isinstance(self.criterion, str) and self.criterion.lower() == "dex"

    def _learn_target(self, y) -> AgeTarget:
        return AgeTarget.learn(y, distribution=self._dex())

    def _target(self) -> AgeTarget:
        return AgeTarget.from_fitted(self, self.n_outputs_)

    def initialize_criterion(self):
        if self._dex():
            self.criterion_ = self._target().loss(**self.get_params_for("criterion"))
            return self
        return super().initialize_criterion()

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


@safe_class("step", params=(*MODEL_PARAMS, "head", "bins", "n_bins"))
class AgeBinner(FaceEstimator):
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

    _parameter_constraints: dict = {
        "head": [StrOptions(set(GROUP_HEADS))],
    }

    def __init__(self, module="skfacenet", *args, bins=(0, 6, 12, 25, 35, 45, 60, 80, np.inf),
                 n_bins: int = 8, head: str = "years", criterion=None, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.bins = bins
        self.n_bins = n_bins
        self.head = head

    def _learn_target(self, y) -> AgeGroupTarget:
        return AgeGroupTarget.learn(y, bins=self.bins, n_bins=self.n_bins, head=self.head,
                                    name=type(self).__name__)

    def _target(self) -> AgeGroupTarget:
        return AgeGroupTarget.from_fitted(self, self.head)

    def _ordinal_outputs(self):
        return self._target().ordinal_outputs()

    def initialize_criterion(self):
        if self.criterion is None:
            self.criterion_ = self._target().loss(**self.get_params_for("criterion"))
            return self
        return super().initialize_criterion()

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
        true = self._target().true_labels(y, f"{type(self).__name__}.score")
        return accuracy_score(true, self.predict(X), sample_weight=sample_weight)


