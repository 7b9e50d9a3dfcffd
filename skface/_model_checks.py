"""What a safe model file may name and ask for, checked before anything is built.

Three checks that :mod:`skface._model_description` applies while it reads a file: the
class table its names are looked up in (:mod:`skface._registry`, with torch's loss
classes added here), the bounds on its parameters (each class's own
``_parameter_constraints``, which ``fit`` checks too, plus the network sizes those do not
bound), and that its tensors are exactly those of the network its description builds.
Each refusal is an :class:`Invalid` naming the field; :func:`skface.load_model` turns it
into a :class:`~skface.exceptions.ModelFileError` naming the file as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ._registry import add_class, registered

__all__ = ["MAX_ARCH_INT", "MAX_DEPTH", "MAX_DESCRIPTION_BYTES", "MAX_HEADER_BYTES",
           "PARAM_ROLES", "Invalid", "all_finite", "check_limits", "check_tensors",
           "class_table", "expected_tensors", "int_in", "listed", "lookup", "show",
           "takes_weights"]

# --------------------------------------------------------------------------- the classes

# A model file names classes only by the names in the class table (skface._registry):
# skface's classes join it where they are defined; torch's loss classes (the values the
# criterion parameter may take) are added by class_table().
# the only parameter that may hold a class, and the role of the class it may hold
PARAM_ROLES = {"criterion": "criterion"}
_populated = False


def class_table() -> Mapping[str, tuple[str, type]]:
    """Every class a model file may name, by the name written in it."""
    global _populated
    if not _populated:
        import torch
        from torch.nn.modules.loss import _Loss

        # skface's own classes register themselves where they are defined (their
        # losses with them): importing the public step classes registers them all
        from . import (  # noqa: F401
            AgeBinEncoder,
            AgeBinner,
            AgeRegressor,
            FaceAttributes,
            FaceCropper,
            GenderClassifier,
            ImageLoader,
            RaceClassifier,
            UTKFaceLabelDecoder,
        )

        for name in dir(torch.nn):
            obj = getattr(torch.nn, name)
            if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, _Loss):
                add_class(f"torch.nn:{name}", "criterion", obj)
        _populated = True
    return registered()


def listed(role: str) -> str:
    """The names a file may write for a class of ``role``, for an error message."""
    names = sorted(k for k, (r, _) in class_table().items() if r == role)
    return ", ".join(names) if len(names) <= 10 else (
        f"{', '.join(names[:8])} and {len(names) - 8} more of torch")


class Invalid(Exception):
    """A description that load_model refuses: ``field`` says where, ``reason`` why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def show(value) -> str:
    """``repr(value)``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def lookup(ref, role: str, where: str) -> type:
    """The registered class that ``ref`` names, of role ``role``; nothing is imported."""
    if not isinstance(ref, str):
        raise Invalid(where, f"a class name must be a string, not {show(ref)}")
    entry = class_table().get(ref)
    if entry is None or entry[0] != role:
        kind = "class" if role == "step" else f"{role} class"
        raise Invalid(where, f"unknown {kind} {show(ref)}; a skface model file names only "
                             f"these: {listed(role)}")
    return entry[1]


# --------------------------------------------------------------------------- limits

# What a file may ask for, checked before anything is allocated. The weights of a
# fitted network must all be in the file, so its layers are bounded by the file's
# length. A step's own parameters are bounded by its class's _parameter_constraints
# (what fit accepts: image sides up to MAX_IMAGE_SIDE pixels...); these bound the rest.
MAX_ARCH_INT = 8_192  # any integer in a network's architecture parameters (module__*)
MAX_DEPTH = 32  # nesting of the JSON description
# The description is a few KB (parameters, fitted attributes, one row per epoch), the
# safetensors header it sits in a little more (one entry per tensor). Both are bounded
# before they are parsed, so a padded file is refused before it costs memory.
MAX_DESCRIPTION_BYTES = 1 << 20
MAX_HEADER_BYTES = 8 << 20


def int_in(value, low: int, high: int) -> bool:
    """Whether ``value`` is an int (not a bool) from ``low`` to ``high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_limits(cls: type, params: dict, where: str) -> None:
    """Raise Invalid for a parameter of ``cls`` that asks for more than a model file may.

    A parameter the class constrains is checked against its ``_parameter_constraints``
    (a JSON ``true`` is no number, though Python's ``True`` is an int); a network's
    arguments (``module__*``), which no constraint bounds, are bounded by
    :data:`MAX_ARCH_INT`.
    """
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        make_constraint,
        validate_parameter_constraints,
    )

    constraints = getattr(cls, "_parameter_constraints", {})
    for key, value in params.items():
        field = f"{where} parameter {key}"
        if key in constraints:
            allowed = constraints[key]
            if isinstance(value, bool) and not any(
                    (isinstance(c, str) and c == "boolean") or c is bool for c in allowed):
                raise Invalid(field, f"{show(value)} is not "
                                     f"{' or '.join(str(make_constraint(c)) for c in allowed)}")
            try:
                validate_parameter_constraints({key: allowed}, {key: value},
                                               caller_name=cls.__name__)
            except InvalidParameterError as exc:
                raise Invalid(field, str(exc).rstrip(".")) from None
        elif key.startswith("module__"):
            stack = [value]
            while stack:
                v = stack.pop()
                if isinstance(v, (list, tuple)):
                    stack.extend(v)
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and (
                        abs(v) > MAX_ARCH_INT):
                    raise Invalid(field, f"{show(value)} asks for a network wider than "
                                         f"{MAX_ARCH_INT:,}")


# --------------------------------------------------------------------------- weights


def takes_weights(module) -> bool:
    """Whether a network (a registry name or a class) has a ``weights`` parameter."""
    import inspect

    from .nets import get_model_builder

    try:
        builder = get_model_builder(module) if isinstance(module, str) else module
        return "weights" in inspect.signature(builder).parameters
    except (TypeError, ValueError):  # an nn.Module instance, or no signature
        return False


def expected_tensors(est) -> dict[str, tuple[tuple[int, ...], object]]:
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


def check_tensors(expected: dict, tensors: dict, where: str) -> None:
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
        raise Invalid(f"{where} weights", "the tensors do not fit the network its "
                                           f"description builds: {'; '.join(problems)}")


def all_finite(value) -> bool:
    """Whether every float in a prediction (array, DataFrame, dict or list) is finite."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return all(all_finite(value[c].to_numpy()) for c in value.columns)
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(all_finite(v) for v in value)
    arr = np.asarray(value)
    if arr.dtype.kind in "fc":
        return bool(np.isfinite(arr).all())
    if arr.dtype.kind == "O":
        return all(not isinstance(v, float) or math.isfinite(v) for v in arr.ravel())
    return True
