"""Export a fitted model to ONNX, for use outside Python.

The graph takes the uint8 images :class:`~skface.ImageLoader` makes (``(n, size, size,
channels)``, any ``n``) and does everything after decoding: conversion to float,
normalisation, the network, test-time flip averaging and the estimator's last step
(softmax, expected age, age groups). Decoding and resizing files stay outside the
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

from ._labels import MAX_AGE
from ._utils import atomic_file, check_file_output

__all__ = ["export_onnx"]

DEFAULT_OPSET = 18


class _Exported(nn.Module):
    """The fitted network plus the estimator's last step, as torch operations."""

    def __init__(self, est):
        super().__init__()
        from ._estimators import (
            AgeBinner,
            AgeRegressor,
            FaceAttributes,
            _FaceClassifier,
        )

        self.face = est.module_
        self.kind = type(est).__name__
        self.names: list[str]
        if isinstance(est, _FaceClassifier):
            self.names = ["probabilities"]
        elif isinstance(est, AgeRegressor):
            self.names = ["age"]
            self.dex = bool(est._dex())
            self.y_mean, self.y_scale = float(est.y_mean_), float(est.y_scale_)
        elif isinstance(est, AgeBinner):
            self.names = ["probabilities", "age"]
            self.head = est._head()
            self.register_buffer("year_to_group", torch.from_numpy(
                est._year_to_group().astype(np.float32)), persistent=False)
            self.register_buffer("representative", torch.from_numpy(
                est.bin_encoder_.representative_ages_.astype(np.float32)), persistent=False)
        elif isinstance(est, FaceAttributes):
            self.slices = {t: tuple(int(v) for v in s) for t, s in est.slices_.items()}
            self.names = [("age" if t == "age" else f"{t}_probabilities") for t in self.slices]
            self.y_mean, self.y_scale = float(est.y_mean_), float(est.y_scale_)
        else:
            raise TypeError(f"export_onnx does not know {type(est).__name__}.")

    @staticmethod
    def _expected_year(out: torch.Tensor) -> torch.Tensor:
        years = torch.arange(out.shape[1], dtype=torch.float32, device=out.device)
        return torch.softmax(out.float(), dim=1) @ years

    def _ordinal_proba(self, out: torch.Tensor) -> torch.Tensor:
        above = torch.sigmoid(out.float())  # P(group > k); made rank-consistent
        columns = [above[:, :1]]
        for k in range(1, above.shape[1]):
            columns.append(torch.minimum(columns[-1], above[:, k:k + 1]))
        ones = torch.ones_like(above[:, :1])
        cum = torch.cat([ones, *columns, torch.zeros_like(ones)], dim=1)
        return (cum[:, :-1] - cum[:, 1:]).clamp_min(0)

    def forward(self, images: torch.Tensor):
        out = self.face(images).float()
        if self.kind in ("GenderClassifier", "RaceClassifier"):
            return torch.softmax(out, dim=1)
        if self.kind == "AgeRegressor":
            age = self._expected_year(out) if self.dex else out[:, 0] * self.y_scale + self.y_mean
            return age.clamp(0.0, float(MAX_AGE))
        if self.kind == "AgeBinner":
            if self.head == "years":
                p_years = torch.softmax(out, dim=1)
                return p_years @ self.year_to_group, self._expected_year(out)
            proba = torch.softmax(out, dim=1) if self.head == "softmax" \
                else self._ordinal_proba(out)
            return proba, proba @ self.representative
        outputs = []
        for task, (a, b) in self.slices.items():
            if task == "age" and b - a > 1:
                outputs.append(self._expected_year(out[:, a:b]).clamp(0.0, float(MAX_AGE)))
            elif task == "age":
                outputs.append((out[:, a] * self.y_scale + self.y_mean).clamp(0.0, float(MAX_AGE)))
            else:
                outputs.append(torch.softmax(out[:, a:b], dim=1))
        return tuple(outputs)


def _metadata(est, names: list[str], loader) -> dict[str, str]:
    from . import __version__

    h, w, c = est.image_shape_
    classes = getattr(est, "classes_", None)
    if isinstance(classes, dict):
        classes = {k: np.asarray(v).tolist() for k, v in classes.items()}
    elif classes is not None:
        classes = np.asarray(classes).tolist()
    meta = {
        "skface_version": __version__,
        "estimator": type(est).__name__,
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
        The graph's output names: ``["probabilities"]`` for the classifiers (columns
        in the order of ``classes_``), ``["age"]`` for AgeRegressor,
        ``["probabilities", "age"]`` for AgeBinner (groups, and the expected age),
        and ``age``, ``gender_probabilities``, ``race_probabilities`` (those it was
        fitted on) for FaceAttributes. The input is ``images``: uint8, shape
        ``(batch, height, width, channels)``, any batch size. The file's metadata
        records the estimator, the input shape, the class labels and the
        ImageLoader settings.

    Raises
    ------
    ValueError
        If the opset is older than 17 or the model is not fitted.
    ImportError
        If ``onnxscript`` (needed by PyTorch's exporter) is missing.
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
    check_is_fitted(est, "n_outputs_")
    try:
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'export_onnx needs onnxscript (PyTorch\'s ONNX exporter uses it): pip install '
            '"skface[onnx]"') from exc
    check_file_output(path, overwrite=True)  # a folder, a link to nothing: before the work
    wrapper = _Exported(est).eval().to("cpu")
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
        program.model.metadata_props.update(_metadata(est, wrapper.names, loader))
        with atomic_file(path, overwrite=True, make_parents=False) as tmp:
            program.save(tmp)
    finally:
        est.module_.to(est.device_)
    return list(wrapper.names)
