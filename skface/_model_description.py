"""The description inside a safe model file: one JSON object per step, written and read.

:func:`describe` turns a skface estimator or transformer into its description (class
name, the parameters that define the model, fitted attributes, one history row per
epoch) and its tensors; :func:`rebuild` makes the step again from them, through the
checks of :mod:`skface._model_checks`, importing nothing the description names. Values
are JSON with a few tags (``__tuple__``, ``__ndarray__``, ``__float__`` for inf and nan,
``__dict__``, ``__estimator__`` for a fitted sub-estimator, ``__class__`` for a registered
class). Reading and writing the file itself is :mod:`skface._safe_io`'s.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from ._model_checks import (
    MAX_DEPTH,
    PARAM_ROLES,
    Invalid,
    all_finite,
    check_limits,
    check_tensors,
    class_table,
    expected_tensors,
    int_in,
    listed,
    lookup,
    show,
    takes_weights,
)
from ._registry import class_name, defines_model, model_params
from ._utils import MAX_IMAGE_SIDE

__all__ = ["describe", "is_parameter", "json_depth_ok", "rebuild"]

# skorch's bookkeeping and the live torch objects: rebuilt by initialize(), not stored
_RUNTIME_ATTRIBUTES = {
    "initialized_", "virtual_params_", "init_context_", "callbacks_", "prefixes_",
    "cuda_dependent_attributes_", "module_", "criterion_", "optimizer_", "device_",
    "precision_", "history_",
}
_NOT_PARAMS = {"_params_to_validate"}


# --------------------------------------------------------------------------- encoding


def _class_ref(cls: type, role: str | None, where: str) -> dict:
    class_table()
    name = class_name(cls, role) if role is not None else None
    if name is None:
        allowed = (f"names only these {role} classes: {listed(role)}"
                   if role else "holds classes only as criterion, optimizer, iterator_train, "
                                "iterator_valid and dataset")
        raise ValueError(
            f"save_model: {where} is the class {cls.__module__}.{cls.__qualname__}; the safe "
            f"format {allowed}. Use joblib for this model (load only files you trust).")
    return {"__class__": name}


_SCALARS = (type(None), bool, int, float, str, np.integer, np.floating, np.bool_)


def _encode(value, where: str, role: str | None = None):
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
        if value.dtype.kind not in "UO" and value.dtype.name not in _ARRAY_DTYPES:
            raise ValueError(f"save_model: {where} is an array of {value.dtype}.")
        items = value.ravel().tolist()
        if value.dtype.kind == "O" and not all(isinstance(v, _SCALARS) for v in items):
            raise ValueError(f"save_model: {where} is an object array holding values other "
                             "than numbers and strings, which the safe format cannot store.")
        kind = "object" if value.dtype.kind in "UO" else str(value.dtype)
        return {"__ndarray__": [_encode(v, where) for v in items],
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
        return _class_ref(value, role, where)
    if isinstance(value, BaseEstimator) and _step_name(type(value)):
        return {"__estimator__": describe(value, where)[0]}
    raise ValueError(
        f"save_model: {where} is a {type(value).__name__}, which the safe format cannot "
        "store. Use joblib for this model (load only files you trust).")


def _step_name(cls: type) -> str | None:
    class_table()
    return class_name(cls, "step")


def describe(est, where: str) -> tuple[dict, dict]:
    """``(description, tensors)`` of one skface estimator or transformer."""
    import torch

    class_table()
    name = _step_name(type(est))
    if name is None:
        raise ValueError(
            f"save_model: {where} is a {type(est).__module__}.{type(est).__qualname__}; the "
            f"safe format stores skface's own classes only ({listed('step')}).")
    # only what defines the model: runtime and training settings are the loader's
    params = {k: v for k, v in est.get_params(deep=False).items()
              if k not in _NOT_PARAMS and defines_model(type(est), k)}
    if "module" in params and not isinstance(params["module"], str):
        raise ValueError(
            f"save_model: {where} uses the network class {params['module']!r}; the safe "
            "format stores networks by registered name. Register it with "
            "skface.nets.register_model and pass its name as module=.")
    try:  # what load_model would refuse is not written
        check_limits(type(est), params, where)
    except Invalid as exc:
        raise ValueError(f"save_model: {exc}; the safe format stores models within these "
                         "limits only. Use joblib for this one.") from None
    desc = {
        "class": name,
        "params": {k: _encode(v, f"{where} parameter {k}", PARAM_ROLES.get(k))
                   for k, v in params.items()},
        "fitted": {},
    }
    tensors: dict[str, torch.Tensor] = {}
    for key, value in vars(est).items():
        if key.endswith("_") and not key.startswith("_") and key not in _RUNTIME_ATTRIBUTES:
            desc["fitted"][key] = _encode(value, f"{where} attribute {key}")
    if getattr(est, "initialized_", False):
        desc["fitted"]["device_"] = str(est.device_)
        # one row per epoch; the per-batch rows would make the description grow with
        # the training set, and say nothing about the model
        epochs = [{k: v for k, v in row.items() if k != "batches"}
                  for row in est.history_.to_list()]
        desc["history"] = _encode(epochs, f"{where} history_")
        for prefix, part in (("module", est.module_), ("criterion", est.criterion_)):
            derived = getattr(part, "derived_state", ())
            for key, t in part.state_dict().items():
                if key not in derived:  # what the outputs mean is described above
                    tensors[f"{prefix}.{key}"] = t.detach().to("cpu").contiguous()
    return desc, tensors


# --------------------------------------------------------------------------- decoding

_ARRAY_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "float32", "float64"}
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_TAGS = {frozenset({"__float__"}), frozenset({"__tuple__"}), frozenset({"__dict__"}),
         frozenset({"__ndarray__", "dtype", "shape"}), frozenset({"__estimator__"})}


def json_depth_ok(obj, limit: int) -> bool:
    """Whether ``obj`` nests at most ``limit`` lists and dicts deep (no recursion)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        children = (value.values() if isinstance(value, dict)
                    else value if isinstance(value, list) else ())
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return False
                stack.append((child, depth + 1))
    return True


def _non_finite(value: dict, where: str) -> float:
    text = value.get("__float__") if set(value) == {"__float__"} else None
    if not isinstance(text, str) or text not in _NON_FINITE:
        raise Invalid(where, f"{show(value)} is not a number, inf, -inf or nan")
    return _NON_FINITE[text]


def _decode_array(value: dict, where: str) -> np.ndarray:
    items, dtype, shape = value["__ndarray__"], value["dtype"], value["shape"]
    if not isinstance(items, list):
        raise Invalid(where, "an array's items must be a list")
    if not isinstance(dtype, str) or (dtype != "object" and dtype not in _ARRAY_DTYPES):
        raise Invalid(where, f"array dtype {show(dtype)} is not one of "
                              f"{sorted(_ARRAY_DTYPES | {'object'})}")
    if not (isinstance(shape, list) and len(shape) <= 32
            and all(int_in(n, 0, 2**63) for n in shape)):
        raise Invalid(where, f"array shape {show(shape)} is not a list of at most 32 "
                              "non-negative sizes")
    if math.prod(shape) != len(items):  # checked before anything is allocated
        raise Invalid(where, f"array shape {shape} does not hold its {len(items)} items")
    values = [_non_finite(v, where) if isinstance(v, dict) else v for v in items]
    if dtype == "object":
        ok = all(isinstance(v, (type(None), bool, int, float, str)) for v in values)
    elif dtype == "bool":
        ok = all(isinstance(v, bool) for v in values)
    elif dtype.startswith(("int", "uint")):
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    else:
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not ok:
        raise Invalid(where, f"array items do not fit its dtype {dtype}")
    try:
        if dtype == "object":
            out = np.empty(len(values), dtype=object)
            out[:] = values
        else:
            out = np.array(values, dtype=dtype)
        return out.reshape(shape)
    except (OverflowError, ValueError, TypeError) as exc:
        raise Invalid(where, f"array items do not fit its dtype {dtype} ({exc})") from None


def _decode(value, where: str, depth: int = 0):
    if depth > MAX_DEPTH:
        raise Invalid(where, f"nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise Invalid(where, f"unexpected value {show(value)}")
    keys = frozenset(value)
    if keys == {"__class__"}:
        raise Invalid(where, "a class is not allowed here; only the parameters "
                              f"{sorted(PARAM_ROLES)} hold classes")
    if keys not in _TAGS:
        raise Invalid(where, f"unknown entry {sorted(keys)[:5]}")
    if "__float__" in value:
        return _non_finite(value, where)
    if "__ndarray__" in value:
        return _decode_array(value, where)
    inner = next(iter(value.values()))
    if "__tuple__" in value:
        if not isinstance(inner, list):
            raise Invalid(where, "a tuple's items must be a list")
        return tuple(_decode(v, where, depth + 1) for v in inner)
    if "__dict__" in value:
        if not isinstance(inner, dict):
            raise Invalid(where, "a dict's items must be a JSON object")
        return {k: _decode(v, f"{where}[{k!r}]", depth + 1) for k, v in inner.items()}
    return rebuild(inner, {}, where, depth + 1)  # __estimator__


_STEP_KEYS = {"class", "params", "fitted", "history", "name"}
_PREFIXES = ("module", "criterion", "optimizer", "iterator_train", "iterator_valid", "dataset",
             "callbacks", "compile")
_DEVICE = re.compile(r"(cpu|mps|cuda)(:[0-9]{1,3})?")
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*_")
_PARAMETER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _decode_params(cls: type, desc: dict, where: str, depth: int) -> dict:
    from skorch import NeuralNet

    raw = desc["params"]
    if not isinstance(raw, dict):
        raise Invalid(f"{where} params", f"must be a JSON object, not {show(raw)}")
    is_net = issubclass(cls, NeuralNet)
    params = {}
    for key, value in raw.items():
        field = f"{where} parameter {key}"
        if not is_parameter(cls, key):
            raise Invalid(field, f"not a parameter of {cls.__name__}")
        if not defines_model(cls, key):
            raise Invalid(field, f"not a parameter a model file may set: a {cls.__name__} "
                                  f"file sets only {_allowed(cls)}; settings such as "
                                  "devices, workers, precision or training options are "
                                  "given when loading, never by the file")
        role = None if "__" in key else PARAM_ROLES.get(key)
        if role is not None and isinstance(value, dict) and set(value) == {"__class__"}:
            params[key] = lookup(value["__class__"], role, field)
        else:
            params[key] = _decode(value, field, depth + 1)
    if is_net and "module" in params:
        from .nets import list_models

        if not isinstance(params["module"], str) or params["module"].lower() not in (
                list_models()):
            raise Invalid(f"{where} parameter module",
                          f"{show(params['module'])} is not a registered network "
                          f"({', '.join(list_models())}); register yours with "
                          "skface.nets.register_model before loading")
    check_limits(cls, params, where)
    return params


def is_parameter(cls: type, key: str) -> bool:
    """Whether ``key`` names a parameter of step class ``cls`` (or, for a network, one
    of its components' parameters: ``module__width``)."""
    from skorch import NeuralNet

    prefix, dunder, _ = key.partition("__")
    if not _PARAMETER.fullmatch(key):
        return False
    if dunder:
        return issubclass(cls, NeuralNet) and prefix in _PREFIXES
    return key in cls().get_params(deep=False)


def _allowed(cls: type) -> str:
    names = [p + "*" if p.endswith("__") else p for p in model_params(cls)]
    return ", ".join(names) if names else "no parameters"


def _decode_fitted(cls: type, desc: dict, where: str, depth: int) -> dict:
    raw = desc["fitted"]
    if not isinstance(raw, dict):
        raise Invalid(f"{where} fitted", f"must be a JSON object, not {show(raw)}")
    fitted = {}
    for key, value in raw.items():
        field = f"{where} attribute {key}"
        if not _ATTRIBUTE.fullmatch(key) or key in _RUNTIME_ATTRIBUTES - {"device_"} or (
                isinstance(getattr(cls, key, None), property)):  # computed, as task_ is
            raise Invalid(field, "not a fitted attribute a model file may set")
        fitted[key] = _decode(value, field, depth + 1)
    checks = {
        "device_": (lambda v: isinstance(v, str) and _DEVICE.fullmatch(v),
                    "a device such as 'cpu' or 'cuda:0'"),
        "image_shape_": (lambda v: isinstance(v, tuple) and len(v) == 3
                         and int_in(v[0], 1, MAX_IMAGE_SIDE)
                         and int_in(v[1], 1, MAX_IMAGE_SIDE) and v[2] in (1, 3)
                         and not isinstance(v[2], bool),
                         f"a (height, width, 1 or 3) tuple of sides up to {MAX_IMAGE_SIDE}"),
        "n_outputs_": (lambda v: int_in(v, 1, 2**31), "a positive number of outputs"),
        "classes_": (lambda v: (isinstance(v, np.ndarray) and v.ndim == 1) or (
                         isinstance(v, dict) and all(isinstance(c, np.ndarray) and c.ndim == 1
                                                     for c in v.values())),
                     "a 1-d array of labels"),
    }
    for key, (ok, what) in checks.items():
        if key in fitted and not ok(fitted[key]):
            raise Invalid(f"{where} attribute {key}", f"{show(fitted[key])} is not {what}")
    from skorch import NeuralNet

    if "device_" in fitted and not issubclass(cls, NeuralNet):
        raise Invalid(f"{where} attribute device_", f"{cls.__name__} has no network")
    if "device_" in fitted and not {"image_shape_", "n_outputs_"} <= set(fitted):
        missing = sorted({"image_shape_", "n_outputs_"} - set(fitted))
        raise Invalid(f"{where} fitted", f"a fitted network needs the attributes {missing}")
    return fitted



def rebuild(desc, tensors: dict, where: str, depth: int = 0, settings: dict | None = None):
    import torch

    if depth > MAX_DEPTH:
        raise Invalid(where, f"nested more than {MAX_DEPTH} levels deep")
    if not isinstance(desc, dict):
        raise Invalid(where, f"a step must be a JSON object, not {show(desc)}")
    missing = sorted({"class", "params", "fitted"} - set(desc))
    unknown = sorted(set(desc) - _STEP_KEYS)
    if missing or unknown:
        raise Invalid(where, f"missing keys {missing}" if missing else f"unknown keys {unknown}")
    cls = lookup(desc["class"], "step", f"{where} class")
    params = _decode_params(cls, desc, where, depth)
    fitted = _decode_fitted(cls, desc, where, depth)
    # the file says whether the network was fitted; where it runs is the caller's choice
    fitted_network = fitted.pop("device_", None) is not None
    try:
        est = cls(**{k: v for k, v in params.items() if "__" not in k})
        est.set_params(**{k: v for k, v in params.items() if "__" in k})
        if hasattr(est, "_parameter_constraints"):
            est._validate_params()  # scikit-learn's own checks of the parameters
    except Exception as exc:  # any refusal by the class is the file's fault
        raise Invalid(f"{where} params", f"{cls.__name__} refuses them: {exc}") from None
    if settings:  # the caller's runtime settings: their errors are the caller's
        est.set_params(**settings)
        if hasattr(est, "_parameter_constraints"):
            est._validate_params()
    for key, value in fitted.items():
        setattr(est, key, value)
    if not fitted_network:
        if tensors:
            raise Invalid(f"{where} weights", f"{len(tensors)} tensors for an unfitted step")
        return est
    history = _decode(desc.get("history", []), f"{where} history", depth + 1)
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise Invalid(f"{where} history", "must be a list of epochs")
    # the network's weights come from the file: read no pretrained-weights file, neither
    # one the parameters name nor one the network loads by default (its "imagenet")
    had_weights = "module__weights" in vars(est)
    weights = getattr(est, "module__weights", None)
    blank_weights = had_weights or takes_weights(est.module)
    if blank_weights:
        est.module__weights = None
    try:
        try:
            expected = expected_tensors(est)
        except Exception as exc:  # any failure here is the file's
            raise Invalid(f"{where} params", f"no {cls.__name__} network can be built from "
                                              f"them: {exc}") from None
        check_tensors(expected, tensors, where)
        try:
            est.initialize()
        except Exception as exc:  # any failure here is the file's
            raise Invalid(f"{where} params", f"no {cls.__name__} can be set up from "
                                              f"them: {exc}") from None
        try:
            for prefix, part in (("module", est.module_), ("criterion", est.criterion_)):
                state = {k[len(prefix) + 1:]: t for k, t in tensors.items()
                         if k.startswith(prefix + ".")}
                if isinstance(part, torch.nn.Module):
                    part.load_state_dict(state, strict=True)
        except Exception as exc:  # any failure here is the file's
            raise Invalid(f"{where} weights", f"the network cannot be set up: {exc}") from None
    finally:
        if had_weights:
            est.module__weights = weights
        elif blank_weights:
            del est.module__weights
    from skorch.history import History

    est.history_ = History(history)
    # fitted attributes of the wrong kind (classes_ that do not match the outputs, a
    # sub-estimator that is not one) show at once, not at the user's first predict
    h, w, c = est.image_shape_
    blank = np.zeros((1, h, w, c), dtype=np.uint8)
    try:
        outputs = [est.predict(blank)]
        if hasattr(est, "predict_proba"):
            outputs.append(est.predict_proba(blank))
    except Exception as exc:  # any failure here is the file's
        raise Invalid(f"{where} fitted", f"the model does not predict on a blank {h}x{w} "
                                          f"image: {type(exc).__name__}: {exc}") from None
    if not all(all_finite(out) for out in outputs):
        raise Invalid(f"{where} weights", f"the model predicts values that are not finite "
                                           f"(nan or inf) on a blank {h}x{w} image")
    return est
