"""Model files that run no code when loaded: safetensors weights plus a JSON description.

joblib (pickle) files can run any code when loaded. :func:`save_model` writes a fitted
skface estimator or Pipeline as one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the network weights as tensors, and in the file's metadata a JSON description of
every step (class name from a fixed list, parameters, fitted attributes).
:func:`load_model` rebuilds the model from that description alone: it creates only
skface's own classes, resolves class-valued parameters (loss, optimiser) only to classes
of torch and skface of the expected kind, and refuses files it did not write.

Needs the optional ``safetensors`` package: ``pip install "skface[safetensors]"``.
"""

from __future__ import annotations

import importlib
import json
import math
import os

import numpy as np

from .exceptions import ModelFileError

__all__ = ["load_model", "save_model"]

FORMAT = "skface-model"
FORMAT_VERSION = 1
_INSTALL_HINT = 'pip install "skface[safetensors]"'

# classes a file may name, by the name written in it
_STEP_CLASSES = {
    "ImageLoader": "skface._image_loader",
    "FaceCropper": "skface._face_cropper",
    "UTKFaceLabelDecoder": "skface._label_decoder",
    "AgeBinEncoder": "skface._age_bins",
    "GenderClassifier": "skface._estimators",
    "RaceClassifier": "skface._estimators",
    "AgeRegressor": "skface._estimators",
    "AgeBinner": "skface._estimators",
    "FaceAttributes": "skface._estimators",
}
# skorch's bookkeeping and the live torch objects: rebuilt by initialize(), not stored
_RUNTIME_ATTRIBUTES = {
    "initialized_", "virtual_params_", "init_context_", "callbacks_", "prefixes_",
    "cuda_dependent_attributes_", "module_", "criterion_", "optimizer_", "device_",
    "precision_", "history_",
}
_NOT_PARAMS = {"_params_to_validate"}


def _safetensors():
    try:
        import safetensors.torch as st
        from safetensors import safe_open
    except ImportError as exc:
        raise ImportError(
            "save_model and load_model need the safetensors package, an optional "
            f"dependency of skface; install it with {_INSTALL_HINT}."
        ) from exc
    return st, safe_open


# --------------------------------------------------------------------------- encoding


def _class_ref(cls: type, where: str) -> dict:
    module = cls.__module__
    if module.split(".")[0] not in ("torch", "skface", "skorch"):
        raise ValueError(
            f"save_model: {where} is {module}.{cls.__qualname__}, a class outside torch, "
            "skorch and skface, which the safe format cannot name. Use joblib for this "
            "model, or a class from skface or torch.")
    return {"__class__": f"{module}:{cls.__qualname__}"}


def _encode(value, where: str):
    """JSON-ready form of a parameter or fitted attribute; errors name ``where``."""
    from sklearn.base import BaseEstimator

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise ValueError(f"save_model: {where} is an array of {value.dtype}.")
        kind = "object" if value.dtype.kind in "UO" else str(value.dtype)
        return {"__ndarray__": [_encode(v, where) for v in value.ravel().tolist()],
                "dtype": kind, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"save_model: {where} is a dict with keys that are not strings.")
        return {"__dict__": {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, type):
        return _class_ref(value, where)
    if isinstance(value, BaseEstimator) and type(value).__name__ in _STEP_CLASSES:
        return {"__estimator__": _describe(value, where)[0]}
    raise ValueError(
        f"save_model: {where} is a {type(value).__name__}, which the safe format cannot "
        "store. Use joblib for this model (load only files you trust).")


def _describe(est, where: str) -> tuple[dict, dict]:
    """``(description, tensors)`` of one skface estimator or transformer."""
    import torch

    name = type(est).__name__
    if _STEP_CLASSES.get(name) != type(est).__module__:
        raise ValueError(
            f"save_model: {where} is a {type(est).__module__}.{name}; the safe format "
            f"stores skface's own classes only ({', '.join(sorted(_STEP_CLASSES))}).")
    params = {k: v for k, v in est.get_params(deep=False).items() if k not in _NOT_PARAMS}
    if params.get("teacher") is not None:  # served fit only; its weights are not needed
        params["teacher"] = None
    if "module" in params and not isinstance(params["module"], str):
        raise ValueError(
            f"save_model: {where} uses the network class {params['module']!r}; the safe "
            "format stores networks by registered name. Register it with "
            "skface.nets.register_model and pass its name as module=.")
    for key in ("callbacks", "train_split"):
        if params.get(key) is not None:
            raise ValueError(f"save_model: {where} has {key}={params[key]!r}; the safe format "
                             f"stores models with {key}=None only. Use joblib for this one.")
    desc = {
        "class": name,
        "params": {k: _encode(v, f"{where} parameter {k}") for k, v in params.items()},
        "fitted": {},
    }
    tensors: dict[str, torch.Tensor] = {}
    for key, value in vars(est).items():
        if key.endswith("_") and not key.startswith("_") and key not in _RUNTIME_ATTRIBUTES:
            desc["fitted"][key] = _encode(value, f"{where} attribute {key}")
    if getattr(est, "initialized_", False):
        desc["fitted"]["device_"] = str(est.device_)
        desc["history"] = _encode(est.history_.to_list(), f"{where} history_")
        for prefix, part in (("module", est.module_), ("criterion", est.criterion_)):
            for key, t in part.state_dict().items():
                tensors[f"{prefix}.{key}"] = t.detach().to("cpu").contiguous()
    return desc, tensors


def _resolve_class(ref: str, where: str, kinds: tuple[type, ...]) -> type:
    module, _, qualname = ref.partition(":")
    if module.split(".")[0] not in ("torch", "skface", "skorch") or not qualname:
        raise ModelFileError(f"{where}: refers to {ref!r}, outside torch, skorch and skface.")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, kinds)):
        raise ModelFileError(f"{where}: {ref!r} is not a class of the expected kind.")
    return obj


def _class_kinds() -> tuple[type, ...]:
    import skorch.dataset
    import torch

    from ._engine import _BatchIterator

    return (torch.nn.Module, torch.optim.Optimizer, torch.utils.data.Dataset,
            torch.utils.data.DataLoader, skorch.dataset.Dataset, _BatchIterator)


def _decode(value, where: str):
    if isinstance(value, list):
        return [_decode(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(_decode(v, where) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, where) for k, v in value["__dict__"].items()}
    if "__ndarray__" in value:
        items = [_decode(v, where) for v in value["__ndarray__"]]
        dtype = object if value["dtype"] == "object" else np.dtype(value["dtype"])
        out = np.empty(len(items), dtype=dtype)
        out[:] = items
        return out.reshape(value["shape"])
    if "__class__" in value:
        return _resolve_class(value["__class__"], where, _class_kinds())
    if "__estimator__" in value:
        return _rebuild(value["__estimator__"], {}, where)
    raise ModelFileError(f"{where}: unknown entry {sorted(value)}.")


def _rebuild(desc: dict, tensors: dict, where: str):
    import torch

    name = desc.get("class")
    if name not in _STEP_CLASSES:
        raise ModelFileError(f"{where}: unknown class {name!r}; expected one of "
                             f"{sorted(_STEP_CLASSES)}.")
    cls = getattr(importlib.import_module(_STEP_CLASSES[name]), name)
    params = {k: _decode(v, f"{where} parameter {k}") for k, v in desc["params"].items()}
    est = cls(**{k: v for k, v in params.items() if "__" not in k})
    est.set_params(**{k: v for k, v in params.items() if "__" in k})
    fitted = {k: _decode(v, f"{where} attribute {k}") for k, v in desc["fitted"].items()}
    device = fitted.pop("device_", None)
    for key, value in fitted.items():
        setattr(est, key, value)
    if device is None:
        return est
    if device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"  # a model fitted on a GPU predicts on a CPU-only machine
    # the network's weights come from the file: do not read a pretrained-weights file
    weights = getattr(est, "module__weights", None)
    if weights is not None:
        est.module__weights = None
    user_device = est.device
    est.device = device
    try:
        est.initialize()
    finally:
        est.device = user_device
        if weights is not None:
            est.module__weights = weights
    for prefix, part in (("module", est.module_), ("criterion", est.criterion_)):
        state = {k[len(prefix) + 1:]: t for k, t in tensors.items()
                 if k.startswith(prefix + ".")}
        try:
            part.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(f"{where}: the {prefix} weights do not fit: {exc}") from None
    from skorch.history import History

    est.history_ = History(_decode(desc.get("history", []), f"{where} history"))
    return est


# --------------------------------------------------------------------------- public


def save_model(model, path: str | os.PathLike) -> None:
    """Save a fitted skface model in a format that runs no code when loaded.

    The file is a safetensors file: the network weights as tensors and, in its
    metadata, a JSON description of the model (class names, parameters, fitted
    attributes such as ``classes_``, the training history). It is written atomically
    (a temporary file beside ``path``, renamed when complete).

    Parameters
    ----------
    model : Pipeline or estimator
        A skface estimator (fitted or not), or a Pipeline of skface steps such as
        ``make_pipeline(ImageLoader(size=48), GenderClassifier())``. Networks must be
        given by registered name (``module="skfacenet"``), without custom callbacks
        or ``train_split``; anything the format cannot name raises a ``ValueError``
        that says so (use joblib for such models). A distillation ``teacher`` is
        not saved: it served ``fit`` only, and the loaded model has ``teacher=None``.
    path : str or path-like
        File to write, conventionally ending in ``.safetensors``.

    See Also
    --------
    load_model : Read the file back.

    Examples
    --------
    >>> from skface import ImageLoader, GenderClassifier, save_model, load_model
    >>> from sklearn.pipeline import make_pipeline
    >>> pipe = make_pipeline(ImageLoader(size=32), GenderClassifier(max_epochs=1))
    >>> save_model(pipe, "unfitted.safetensors")  # doctest: +SKIP
    """
    from sklearn.pipeline import Pipeline

    from . import __version__
    from ._utils import atomic_file

    st, _ = _safetensors()
    if isinstance(model, Pipeline):
        steps = [(name, step) for name, step in model.steps]
    else:
        steps = [(None, model)]
    description = {"format": FORMAT, "version": FORMAT_VERSION, "skface": __version__,
                   "pipeline": isinstance(model, Pipeline), "steps": []}
    tensors = {}
    for i, (name, step) in enumerate(steps):
        where = f"step {name!r}" if name is not None else "the model"
        if step in (None, "passthrough"):
            raise ValueError(f"save_model: {where} is {step!r}; remove it from the Pipeline.")
        desc, step_tensors = _describe(step, where)
        desc["name"] = name
        description["steps"].append(desc)
        tensors.update({f"{i}.{k}": t for k, t in step_tensors.items()})
    metadata = {"format": FORMAT, "description": json.dumps(description)}
    with atomic_file(path, overwrite=True, make_parents=False) as tmp:
        st.save_file(tensors, tmp, metadata=metadata)


def load_model(path: str | os.PathLike):
    """Load a model written by :func:`save_model`, running no code from the file.

    Only skface's own classes are created, with the parameters and fitted attributes
    in the file; class-valued parameters (loss, optimiser) resolve only to classes of
    torch, skorch and skface of the expected kind. A model fitted on a GPU loads on a
    CPU-only machine.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    model : Pipeline or estimator
        What was saved, ready to ``predict``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelFileError
        If the file is not a safetensors file written by :func:`save_model` (a joblib
        file, say), or its description or weights are inconsistent.
    """
    from sklearn.pipeline import Pipeline

    _, safe_open = _safetensors()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for foreign files
        raise ModelFileError(
            f"{path!r} is not a model file written by skface.save_model ({exc}). joblib "
            "files load with joblib.load, which runs code: load those only if you trust "
            "them.") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path!r} is a safetensors file, but not one written by skface.save_model "
            "(no skface description in its metadata).")
    try:
        description = json.loads(metadata["description"])
        version = description["version"]
        steps = description["steps"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path!r}: its skface description is damaged ({exc}).") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} was written in skface model format {version}; this skface reads "
            f"format {FORMAT_VERSION}. Load it with the skface version that wrote it "
            f"({description.get('skface', 'unknown')}).")
    built = []
    for i, desc in enumerate(steps):
        prefix = f"{i}."
        step_tensors = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
        where = f"{path!r} step {desc.get('name') or i}"
        built.append((desc.get("name"), _rebuild(desc, step_tensors, where)))
    if description.get("pipeline"):
        return Pipeline(built)
    return built[0][1]
