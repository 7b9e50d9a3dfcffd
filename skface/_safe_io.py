"""Model files that run no code when loaded: safetensors weights plus a JSON description.

joblib (pickle) files can run any code when loaded. :func:`save_model` writes a fitted
skface estimator or Pipeline as one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the network weights as tensors, and in the file's metadata a JSON description of
every step (class names, the parameters that define the model, fitted attributes).
:func:`load_model` rebuilds the model from that description alone; runtime settings
(devices, workers, compilation, precision, callbacks, training options) are never the
file's: they take their defaults, or what the caller of :func:`load_model` gives. A
file names classes only by names in a fixed registry (:func:`safe_class`): nothing it
names is imported, what it asks for is bounded before anything is allocated, and every
way it can be wrong raises :class:`~skface.exceptions.ModelFileError` naming the file and the field.

Needs the optional ``safetensors`` package: ``pip install "skface[safetensors]"``.
"""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np

from ._registry import add_class, class_name, defines_model, model_params, registered
from ._utils import MAX_IMAGE_SIDE, import_optional
from .exceptions import ModelFileError

__all__ = ["load_model", "save_model"]

FORMAT = "skface-model"
FORMAT_VERSION = 1

# skorch's bookkeeping and the live torch objects: rebuilt by initialize(), not stored
_RUNTIME_ATTRIBUTES = {
    "initialized_", "virtual_params_", "init_context_", "callbacks_", "prefixes_",
    "cuda_dependent_attributes_", "module_", "criterion_", "optimizer_", "device_",
    "precision_", "history_",
}
_NOT_PARAMS = {"_params_to_validate"}


def _safetensors():
    st = import_optional("safetensors.torch", "safetensors", "save_model and load_model")
    return st, import_optional("safetensors", "safetensors").safe_open


# --------------------------------------------------------------------------- the classes

# A model file names classes only by the names in the class table (skface._registry):
# skface's classes join it where they are defined; torch's loss classes (the values the
# criterion parameter may take) are added by _registry().
# the only parameter that may hold a class, and the role of the class it may hold
_PARAM_ROLES = {"criterion": "criterion"}
_populated = False


def _registry() -> dict[str, tuple[str, type]]:
    """Every class a model file may name, by the name written in it."""
    global _populated
    if not _populated:
        import torch
        from torch.nn.modules.loss import _Loss

        # skface's own classes register themselves where they are defined
        from . import (  # noqa: F401
            _age_bins,
            _age_estimators,
            _classifiers,
            _face_cropper,
            _image_loader,
            _label_decoder,
            _multitask,
        )

        for name in dir(torch.nn):
            obj = getattr(torch.nn, name)
            if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, _Loss):
                if class_name(obj, "criterion") is None:
                    add_class(f"torch.nn:{name}", "criterion", obj)
        _populated = True
    return registered()


def _names_of(role: str) -> list[str]:
    return sorted(k for k, (r, _) in _registry().items() if r == role)


def _listed(role: str) -> str:
    names = _names_of(role)
    return ", ".join(names) if len(names) <= 10 else (
        f"{', '.join(names[:8])} and {len(names) - 8} more of torch")


class _Invalid(Exception):
    """A description that load_model refuses: ``field`` says where, ``reason`` why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _lookup(ref, role: str, where: str) -> type:
    """The registered class that ``ref`` names, of role ``role``; nothing is imported."""
    if not isinstance(ref, str):
        raise _Invalid(where, f"a class name must be a string, not {_show(ref)}")
    table = _registry()
    entry = table.get(ref)
    if entry is None and ":" in ref:
        # earlier files name a class by where it was defined ("torch.optim.adamw:AdamW",
        # "skface._estimators:SmoothedCrossEntropy"): the class of that name registered
        # for an enclosing package. This is a lookup in the table, never an import.
        module, _, qualname = ref.partition(":")
        parts = module.split(".")
        for i in range(len(parts) - 1, 0, -1):
            entry = table.get(".".join(parts[:i]) + ":" + qualname)
            if entry is not None:
                break
    if entry is None or entry[0] != role:
        kind = "class" if role == "step" else f"{role} class"
        raise _Invalid(where, f"unknown {kind} {_show(ref)}; a skface model file names only "
                              f"these: {_listed(role)}")
    return entry[1]


# --------------------------------------------------------------------------- limits

# What a file may ask for, checked before anything is allocated. The weights of a
# fitted network must all be in the file, so its layers are bounded by the file's
# length; these bound the rest.
# image sides (ImageLoader and FaceCropper size, image_shape_) are bounded as the
# parameters are: MAX_IMAGE_SIDE pixels
_MAX_THREADS = 256  # |n_jobs|
_MAX_PIXELS = 2 * 89_478_485  # max_pixels: Pillow's own decompression-bomb error limit
_MAX_BATCH = 65_536  # batch_size
_MAX_ARCH_INT = 8_192  # any integer in a network's architecture parameters (module__*)
_MAX_DEPTH = 32  # nesting of the JSON description
# The description is a few KB (parameters, fitted attributes, one row per epoch), the
# safetensors header it sits in a little more (one entry per tensor). Both are bounded
# before they are parsed, so a padded file is refused before it costs memory.
MAX_DESCRIPTION_BYTES = 1 << 20
MAX_HEADER_BYTES = 8 << 20


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_limits(params: dict, where: str) -> None:
    """Raise _Invalid for a parameter that asks for more than a model file may."""
    for key, value in params.items():
        field = f"{where} parameter {key}"
        if key == "size" and not _int_in(value, 1, MAX_IMAGE_SIDE):
            raise _Invalid(field, f"{_show(value)} is not an image side in pixels from 1 to "
                                  f"{MAX_IMAGE_SIDE}")
        if key == "max_pixels" and value is not None and not _int_in(value, 1, _MAX_PIXELS):
            raise _Invalid(field, f"{_show(value)} is not None or a pixel count from 1 to "
                                  f"{_MAX_PIXELS:,}")
        if key == "n_jobs" and value is not None and not _int_in(value, -_MAX_THREADS,
                                                                 _MAX_THREADS):
            raise _Invalid(field, f"{_show(value)} is not None or a thread count within "
                                  f"+-{_MAX_THREADS}")
        if (key == "batch_size" or key.endswith("__batch_size")) and not (
                (value == -1 and not isinstance(value, bool)) or _int_in(value, 1, _MAX_BATCH)):
            raise _Invalid(field, f"{_show(value)} is not -1 or a batch size from 1 to "
                                  f"{_MAX_BATCH:,}")
        if key.startswith("module__"):
            stack = [value]
            while stack:
                v = stack.pop()
                if isinstance(v, (list, tuple)):
                    stack.extend(v)
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and (
                        abs(v) > _MAX_ARCH_INT):
                    raise _Invalid(field, f"{_show(value)} asks for a network wider than "
                                          f"{_MAX_ARCH_INT:,}")


# --------------------------------------------------------------------------- encoding


def _class_ref(cls: type, role: str | None, where: str) -> dict:
    _registry()
    name = class_name(cls, role) if role is not None else None
    if name is None:
        allowed = (f"names only these {role} classes: {_listed(role)}"
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
        return {"__estimator__": _describe(value, where)[0]}
    raise ValueError(
        f"save_model: {where} is a {type(value).__name__}, which the safe format cannot "
        "store. Use joblib for this model (load only files you trust).")


def _step_name(cls: type) -> str | None:
    _registry()
    return class_name(cls, "step")


def _describe(est, where: str) -> tuple[dict, dict]:
    """``(description, tensors)`` of one skface estimator or transformer."""
    import torch

    _registry()
    name = _step_name(type(est))
    if name is None:
        raise ValueError(
            f"save_model: {where} is a {type(est).__module__}.{type(est).__qualname__}; the "
            f"safe format stores skface's own classes only ({_listed('step')}).")
    # only what defines the model: runtime and training settings are the loader's
    params = {k: v for k, v in est.get_params(deep=False).items()
              if k not in _NOT_PARAMS and defines_model(type(est), k)}
    if "module" in params and not isinstance(params["module"], str):
        raise ValueError(
            f"save_model: {where} uses the network class {params['module']!r}; the safe "
            "format stores networks by registered name. Register it with "
            "skface.nets.register_model and pass its name as module=.")
    try:  # what load_model would refuse is not written
        _check_limits(params, where)
    except _Invalid as exc:
        raise ValueError(f"save_model: {exc}; the safe format stores models within these "
                         "limits only. Use joblib for this one.") from None
    desc = {
        "class": name,
        "params": {k: _encode(v, f"{where} parameter {k}", _PARAM_ROLES.get(k))
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


def _json_depth_ok(obj, limit: int) -> bool:
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
        raise _Invalid(where, f"{_show(value)} is not a number, inf, -inf or nan")
    return _NON_FINITE[text]


def _decode_array(value: dict, where: str) -> np.ndarray:
    items, dtype, shape = value["__ndarray__"], value["dtype"], value["shape"]
    if not isinstance(items, list):
        raise _Invalid(where, "an array's items must be a list")
    if not isinstance(dtype, str) or (dtype != "object" and dtype not in _ARRAY_DTYPES):
        raise _Invalid(where, f"array dtype {_show(dtype)} is not one of "
                              f"{sorted(_ARRAY_DTYPES | {'object'})}")
    if not (isinstance(shape, list) and len(shape) <= 32
            and all(_int_in(n, 0, 2**63) for n in shape)):
        raise _Invalid(where, f"array shape {_show(shape)} is not a list of at most 32 "
                              "non-negative sizes")
    if math.prod(shape) != len(items):  # checked before anything is allocated
        raise _Invalid(where, f"array shape {shape} does not hold its {len(items)} items")
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
        raise _Invalid(where, f"array items do not fit its dtype {dtype}")
    try:
        if dtype == "object":
            out = np.empty(len(values), dtype=object)
            out[:] = values
        else:
            out = np.array(values, dtype=dtype)
        return out.reshape(shape)
    except (OverflowError, ValueError, TypeError) as exc:
        raise _Invalid(where, f"array items do not fit its dtype {dtype} ({exc})") from None


def _decode(value, where: str, depth: int = 0):
    if depth > _MAX_DEPTH:
        raise _Invalid(where, f"nested more than {_MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, where, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise _Invalid(where, f"unexpected value {_show(value)}")
    keys = frozenset(value)
    if keys == {"__class__"}:
        raise _Invalid(where, "a class is not allowed here; only the parameters "
                              f"{sorted(_PARAM_ROLES)} hold classes")
    if keys not in _TAGS:
        raise _Invalid(where, f"unknown entry {sorted(keys)[:5]}")
    if "__float__" in value:
        return _non_finite(value, where)
    if "__ndarray__" in value:
        return _decode_array(value, where)
    inner = next(iter(value.values()))
    if "__tuple__" in value:
        if not isinstance(inner, list):
            raise _Invalid(where, "a tuple's items must be a list")
        return tuple(_decode(v, where, depth + 1) for v in inner)
    if "__dict__" in value:
        if not isinstance(inner, dict):
            raise _Invalid(where, "a dict's items must be a JSON object")
        return {k: _decode(v, f"{where}[{k!r}]", depth + 1) for k, v in inner.items()}
    return _rebuild(inner, {}, where, depth + 1)  # __estimator__


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
        raise _Invalid(f"{where} params", f"must be a JSON object, not {_show(raw)}")
    is_net = issubclass(cls, NeuralNet)
    params = {}
    for key, value in raw.items():
        field = f"{where} parameter {key}"
        if not _is_parameter(cls, key):
            raise _Invalid(field, f"not a parameter of {cls.__name__}")
        if not defines_model(cls, key):
            raise _Invalid(field, f"not a parameter a model file may set: a {cls.__name__} "
                                  f"file sets only {_allowed(cls)}; settings such as "
                                  "devices, workers, precision or training options are "
                                  "given when loading, never by the file")
        role = None if "__" in key else _PARAM_ROLES.get(key)
        if role is not None and isinstance(value, dict) and set(value) == {"__class__"}:
            params[key] = _lookup(value["__class__"], role, field)
        else:
            params[key] = _decode(value, field, depth + 1)
    if is_net and "module" in params:
        from .nets import list_models

        if not isinstance(params["module"], str) or params["module"].lower() not in (
                list_models()):
            raise _Invalid(f"{where} parameter module",
                           f"{_show(params['module'])} is not a registered network "
                           f"({', '.join(list_models())}); register yours with "
                           "skface.nets.register_model before loading")
    _check_limits(params, where)
    return params


def _is_parameter(cls: type, key: str) -> bool:
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
        raise _Invalid(f"{where} fitted", f"must be a JSON object, not {_show(raw)}")
    fitted = {}
    for key, value in raw.items():
        field = f"{where} attribute {key}"
        if not _ATTRIBUTE.fullmatch(key) or key in _RUNTIME_ATTRIBUTES - {"device_"} or (
                isinstance(getattr(cls, key, None), property)):  # computed, as task_ is
            raise _Invalid(field, "not a fitted attribute a model file may set")
        fitted[key] = _decode(value, field, depth + 1)
    checks = {
        "device_": (lambda v: isinstance(v, str) and _DEVICE.fullmatch(v),
                    "a device such as 'cpu' or 'cuda:0'"),
        "image_shape_": (lambda v: isinstance(v, tuple) and len(v) == 3
                         and _int_in(v[0], 1, MAX_IMAGE_SIDE)
                         and _int_in(v[1], 1, MAX_IMAGE_SIDE) and v[2] in (1, 3)
                         and not isinstance(v[2], bool),
                         f"a (height, width, 1 or 3) tuple of sides up to {MAX_IMAGE_SIDE}"),
        "n_outputs_": (lambda v: _int_in(v, 1, 2**31), "a positive number of outputs"),
        "classes_": (lambda v: (isinstance(v, np.ndarray) and v.ndim == 1) or (
                         isinstance(v, dict) and all(isinstance(c, np.ndarray) and c.ndim == 1
                                                     for c in v.values())),
                     "a 1-d array of labels"),
    }
    for key, (ok, what) in checks.items():
        if key in fitted and not ok(fitted[key]):
            raise _Invalid(f"{where} attribute {key}", f"{_show(fitted[key])} is not {what}")
    from skorch import NeuralNet

    if "device_" in fitted and not issubclass(cls, NeuralNet):
        raise _Invalid(f"{where} attribute device_", f"{cls.__name__} has no network")
    if "device_" in fitted and not {"image_shape_", "n_outputs_"} <= set(fitted):
        missing = sorted({"image_shape_", "n_outputs_"} - set(fitted))
        raise _Invalid(f"{where} fitted", f"a fitted network needs the attributes {missing}")
    return fitted


def _takes_weights(module) -> bool:
    """Whether a network (a registry name or a class) has a ``weights`` parameter."""
    import inspect

    from .nets import get_model_builder

    try:
        builder = get_model_builder(module) if isinstance(module, str) else module
        return "weights" in inspect.signature(builder).parameters
    except (TypeError, ValueError):  # an nn.Module instance, or no signature
        return False


def _expected_tensors(est) -> dict[str, tuple[tuple[int, ...], object]]:
    """Shape and dtype of every tensor the network needs, built on the meta device.

    Nothing is allocated: the shapes are compared with the file's tensors (whose size
    the file's own length bounds) before the real network is built.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    allocations = {torch.empty, torch.empty_strided, torch.zeros, torch.ones, torch.full,
                   torch.rand, torch.randn, torch.randint, torch.eye}

    class OnMeta(TorchFunctionMode):
        # like `with torch.device("meta")`, but only for new storage: tensors made from
        # Python values (torch.as_tensor(3)) stay real, so code that reads them works
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in allocations:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    device = est.device
    est.device = "meta"
    try:
        with OnMeta():
            est._initialize_module()
            est._initialize_criterion()
        expected = {}
        for prefix in ("module", "criterion"):
            part = getattr(est, f"{prefix}_", None)
            if isinstance(part, torch.nn.Module):
                optional = getattr(part, "optional_state", {})
                derived = getattr(part, "derived_state", ())
                for key, t in part.state_dict().items():
                    if key in derived:
                        continue  # rebuilt from the fitted attributes, not stored
                    # entries with a default (input statistics): absent in older files,
                    # one value or one per channel
                    kind = _OPTIONAL if key in optional else (tuple(t.shape), t.dtype)
                    expected[f"{prefix}.{key}"] = kind
        return expected
    finally:
        est.device = device
        for attr in ("module_", "criterion_"):
            est.__dict__.pop(attr, None)


_OPTIONAL = "optional"  # a state entry with a default: any (1, 1|3, 1, 1) float32 tensor


def _fits(tensor, expected) -> bool:
    import torch

    if expected == _OPTIONAL:
        return (tensor.dtype == torch.float32 and tensor.dim() == 4
                and tuple(tensor.shape) in ((1, 1, 1, 1), (1, 3, 1, 1)))
    return (tuple(tensor.shape), tensor.dtype) == expected


def _check_tensors(expected: dict, tensors: dict, where: str) -> None:
    missing = sorted(k for k in set(expected) - set(tensors) if expected[k] != _OPTIONAL)
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors) if not _fits(tensors[k], expected[k]))
    non_finite = sorted(k for k in tensors if tensors[k].is_floating_point()
                        and not bool(tensors[k].isfinite().all()))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({', '.join(missing[:3])}...)")
    if extra:
        problems.append(f"{len(extra)} not used by the network ({', '.join(extra[:3])}...)")
    if wrong:
        k = wrong[0]
        needs = ("one value or one per channel, float32" if expected[k] == _OPTIONAL
                 else f"{expected[k][0]} {expected[k][1]}")
        problems.append(f"{len(wrong)} of the wrong shape or dtype ({k}: "
                        f"{tuple(tensors[k].shape)} {tensors[k].dtype}, the network needs "
                        f"{needs})")
    if non_finite:
        problems.append(f"{len(non_finite)} holding values that are not finite, nan or inf "
                        f"({', '.join(non_finite[:3])}...)")
    if problems:
        raise _Invalid(f"{where} weights", "the tensors do not fit the network its "
                                           f"description builds: {'; '.join(problems)}")


def _rebuild(desc, tensors: dict, where: str, depth: int = 0, settings: dict | None = None):
    import torch

    if depth > _MAX_DEPTH:
        raise _Invalid(where, f"nested more than {_MAX_DEPTH} levels deep")
    if not isinstance(desc, dict):
        raise _Invalid(where, f"a step must be a JSON object, not {_show(desc)}")
    missing = sorted({"class", "params", "fitted"} - set(desc))
    unknown = sorted(set(desc) - _STEP_KEYS)
    if missing or unknown:
        raise _Invalid(where, f"missing keys {missing}" if missing else f"unknown keys {unknown}")
    cls = _lookup(desc["class"], "step", f"{where} class")
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
        raise _Invalid(f"{where} params", f"{cls.__name__} refuses them: {exc}") from None
    if settings:  # the caller's runtime settings: their errors are the caller's
        est.set_params(**settings)
        if hasattr(est, "_parameter_constraints"):
            est._validate_params()
    for key, value in fitted.items():
        setattr(est, key, value)
    if not fitted_network:
        if tensors:
            raise _Invalid(f"{where} weights", f"{len(tensors)} tensors for an unfitted step")
        return est
    history = _decode(desc.get("history", []), f"{where} history", depth + 1)
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise _Invalid(f"{where} history", "must be a list of epochs")
    # the network's weights come from the file: read no pretrained-weights file, neither
    # one the parameters name nor one the network loads by default (its "imagenet")
    had_weights = "module__weights" in vars(est)
    weights = getattr(est, "module__weights", None)
    blank_weights = had_weights or _takes_weights(est.module)
    if blank_weights:
        est.module__weights = None
    try:
        try:
            expected = _expected_tensors(est)
        except Exception as exc:  # any failure here is the file's
            raise _Invalid(f"{where} params", f"no {cls.__name__} network can be built from "
                                              f"them: {exc}") from None
        _check_tensors(expected, tensors, where)
        try:
            est.initialize()
        except Exception as exc:  # any failure here is the file's
            raise _Invalid(f"{where} params", f"no {cls.__name__} can be set up from "
                                              f"them: {exc}") from None
        try:
            for prefix, part in (("module", est.module_), ("criterion", est.criterion_)):
                state = {k[len(prefix) + 1:]: t for k, t in tensors.items()
                         if k.startswith(prefix + ".")}
                if isinstance(part, torch.nn.Module):
                    part.load_state_dict(state, strict=True)
        except Exception as exc:  # any failure here is the file's
            raise _Invalid(f"{where} weights", f"the network cannot be set up: {exc}") from None
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
        raise _Invalid(f"{where} fitted", f"the model does not predict on a blank {h}x{w} "
                                          f"image: {type(exc).__name__}: {exc}") from None
    if not all(_all_finite(out) for out in outputs):
        raise _Invalid(f"{where} weights", f"the model predicts values that are not finite "
                                           f"(nan or inf) on a blank {h}x{w} image")
    return est


def _all_finite(value) -> bool:
    """Whether every float in a prediction (array, DataFrame, dict or list) is finite."""
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return all(_all_finite(value[c].to_numpy()) for c in value.columns)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(v) for v in value)
    arr = np.asarray(value)
    if arr.dtype.kind in "fc":
        return bool(np.isfinite(arr).all())
    if arr.dtype.kind == "O":
        return all(not isinstance(v, float) or math.isfinite(v) for v in arr.ravel())
    return True


# --------------------------------------------------------------------------- public


def save_model(model, path: str | os.PathLike) -> None:
    """Save a fitted skface model in a format that runs no code when loaded.

    The file is a safetensors file: the network weights as tensors and, in its
    metadata, a JSON description of the model (class names, the parameters that
    define the model, fitted attributes such as ``classes_``, the training history
    with one row per epoch). It is written atomically (a temporary file beside
    ``path``, renamed when complete).

    Only the parameters that define the model are stored: the network and its
    arguments (``module``, ``module__*``), the loss (``criterion``, ``criterion__*``),
    image size and mode, age bins and output head, test-time flipping. Runtime and
    training settings (device, workers, compilation, precision, callbacks, optimiser,
    learning rate, epochs, batch size, augmentation, verbosity) are not: the loaded
    model has their defaults, or what the caller gives :func:`load_model`.

    Parameters
    ----------
    model : Pipeline or estimator
        A skface estimator (fitted or not), or a Pipeline of skface steps such as
        ``make_pipeline(ImageLoader(size=48), GenderClassifier())``. Networks must be
        given by registered name (``module="skfacenet"``); anything the format cannot
        name raises a ``ValueError`` that says so (use joblib for such models).
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

    from ._outputs import atomic_file
    from ._version import __version__

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


def load_model(path: str | os.PathLike, **params):
    """Load a model written by :func:`save_model`, running no code from the file.

    Nothing the file names is imported: every class comes from a fixed registry of
    skface's own classes (its estimators and transformers, their losses) and torch's
    loss classes, looked up by the name written in the file; networks come from
    :mod:`skface.nets`' registry by name. A file sets only the parameters that define
    the model (see :func:`save_model`); a file naming any other parameter is refused.
    Every runtime setting (device, threads and workers, compilation, precision,
    callbacks, data-loading options, training settings, verbosity) takes its default,
    or the value given here. What the file asks for is bounded before anything is
    allocated (the description's size, image sides up to 1024 px, network sizes), and
    the weights must be exactly the tensors, shapes and dtypes of the network the
    description builds, with finite values. A model fitted on a GPU loads on a
    CPU-only machine.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.
    **params
        Runtime settings for the loaded model, as ``set_params`` takes them
        (``device="cpu"``, ``batch_size=64``; for a Pipeline,
        ``genderclassifier__device="cpu"``), applied before the network is set up.
        Parameters that define the model come from the file and cannot be given here;
        change them after loading with ``set_params`` if you mean to.

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
        file, say), or anything in it is inconsistent or out of bounds; the message and
        the error's ``path`` and ``field`` say where.
    ValueError
        If ``params`` names a parameter the model does not have, or one that defines
        the model.
    """
    path = os.fspath(path)
    try:
        return _load(path, params)
    except _Invalid as exc:
        raise ModelFileError(f"{path!r}: {exc.field}: {exc.reason}. It was not written by "
                             "skface.save_model, or was changed since; get the model file "
                             "again from where it came from.",
                             path=path, field=exc.field) from None


def _header_size(path: str) -> int | None:
    """The length of a safetensors file's JSON header (its first 8 bytes), or None.

    Only a non-empty regular file is opened, without blocking (a named pipe would block
    safe_open, a device never end): a missing file is FileNotFoundError, anything else
    a ModelFileError.
    """
    from ._files import FileRefused, open_regular

    try:
        with open_regular(path, advice="pass a model file written by skface.save_model") as f:
            head = f.read(8)
    except FileRefused as exc:
        if exc.missing:
            raise FileNotFoundError(f"model file {path!r} does not exist") from None
        raise ModelFileError(f"model file {path!r}: {exc}", path=path, field="file") from None
    return int.from_bytes(head, "little") if len(head) == 8 else None


def _split_settings(settings: dict, names: list | None, steps: list) -> list[dict]:
    """The caller's runtime settings, per step; a model-defining one is refused."""
    per_step: list[dict] = [{} for _ in steps]
    for key, value in settings.items():
        if names is None:
            index, param = 0, key
        else:
            name, dunder, param = key.partition("__")
            if not dunder or name not in names:
                raise ValueError(f"load_model: {key!r} names no step of the saved Pipeline; "
                                 f"give settings as <step>__<parameter>, steps: {names}")
            index = names.index(name)
        cls = _lookup(steps[index].get("class"), "step", f"step {index} class")
        if defines_model(cls, param):
            raise ValueError(f"load_model: {key!r} defines the saved model, so it comes "
                             "from the file; change it after loading with set_params if "
                             "you mean to")
        if not _is_parameter(cls, param):
            raise ValueError(f"load_model: {key!r} is not a parameter of {cls.__name__}")
        per_step[index][param] = value
    return per_step


def _load(path: str, settings: dict):
    from sklearn.pipeline import Pipeline

    _, safe_open = _safetensors()
    header = _header_size(path)
    if header is None or header > MAX_HEADER_BYTES:  # bounded before it is parsed
        raise ModelFileError(
            f"{path!r} is not a model file written by skface.save_model (its first bytes "
            f"declare a header of {header or 0:,} bytes; a model file's header is at most "
            f"{MAX_HEADER_BYTES:,}). joblib files load with joblib.load, which runs code: "
            "load those only if you trust them.", path=path, field="file")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors' own errors for foreign files
        raise ModelFileError(
            f"{path!r} is not a model file written by skface.save_model ({exc}). joblib "
            "files load with joblib.load, which runs code: load those only if you trust "
            "them.", path=path, field="file") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path!r} is a safetensors file, but not one written by skface.save_model "
            "(no skface description in its metadata).", path=path, field="metadata")
    if "description" not in metadata:
        raise _Invalid("metadata", "no description of the model")
    text = metadata["description"]
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DESCRIPTION_BYTES:
        raise _Invalid("description", f"{size:,} bytes; a model's description is at most "
                                      f"{MAX_DESCRIPTION_BYTES:,}")
    try:
        description = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise _Invalid("description", f"not valid JSON ({type(exc).__name__})") from None
    if not _json_depth_ok(description, 4 * _MAX_DEPTH):
        raise _Invalid("description", f"nested more than {4 * _MAX_DEPTH} levels deep")
    if not isinstance(description, dict):
        raise _Invalid("description", "must be a JSON object")
    version = description.get("version")
    if not _int_in(version, 0, 2**31):
        raise _Invalid("description version", f"{_show(version)} is not a format version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} was written in skface model format {version}; this skface reads "
            f"format {FORMAT_VERSION}. Load it with the skface version that wrote it "
            f"({_show(description.get('skface', 'unknown'))}).",
            path=path, field="description version")
    if description.get("format", FORMAT) != FORMAT:
        raise _Invalid("description format", f"{_show(description['format'])} is not {FORMAT!r}")
    steps, pipeline = description.get("steps"), description.get("pipeline", False)
    if not isinstance(pipeline, bool):
        raise _Invalid("description pipeline", f"{_show(pipeline)} is not true or false")
    if not (isinstance(steps, list) and steps and (pipeline or len(steps) == 1)):
        raise _Invalid("description steps", f"{_show(steps)} is not a list of "
                                             f"{'steps' if pipeline else 'one step'}")
    for i, desc in enumerate(steps):
        if not isinstance(desc, dict):
            raise _Invalid(f"step {i}", f"a step must be a JSON object, not {_show(desc)}")
    names = [desc.get("name") for desc in steps]
    if pipeline and not (all(isinstance(n, str) and n and "__" not in n for n in names)
                         and len(set(names)) == len(names)):
        raise _Invalid("description steps", f"step names {_show(names)} are not distinct "
                                             "names without '__'")
    tensor_name = re.compile(r"(0|[1-9][0-9]{0,5})\.(module|criterion)\..+")
    stray = sorted(k for k in tensors if not (m := tensor_name.fullmatch(k))
                   or int(m.group(1)) >= len(steps))
    if stray:
        raise _Invalid("tensors", f"{len(stray)} tensors belong to no step "
                                  f"({', '.join(map(repr, stray[:3]))})")
    per_step = _split_settings(settings, names if pipeline else None, steps)
    built = []
    for i, desc in enumerate(steps):
        prefix = f"{i}."
        step_tensors = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
        where = f"step {names[i]!r}" if names[i] is not None else f"step {i}"
        built.append((names[i], _rebuild(desc, step_tensors, where, settings=per_step[i])))
    if pipeline:
        return Pipeline(built)
    return built[0][1]
