"""The model-file class table: which classes a safe model file may name, and how.

A model file (:func:`skface.save_model`) names classes only by the names in this table,
never by an import path: loading looks a name up here, and nothing outside the table can
be created. skface's classes join it where they are defined, with the :func:`safe_class`
decorator (steps with the parameters that define their model); the model-file module adds
torch's loss classes and reads the table. This module imports nothing of skface, so that
every layer can register its classes without importing the model-file module above it
(as torchvision's ``models/_api.py`` keeps its registry).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["ROLES", "add_class", "class_name", "defines_model", "model_params",
           "registered", "safe_class"]

ROLES = ("step", "criterion")

_CLASSES: dict[str, tuple[str, type]] = {}  # name written in files -> (role, class)
_NAMES: dict[type, str] = {}  # class -> the name written for it
# step class -> the parameters that define its model: the only ones a file stores and
# restores; a name ending in "__" stands for every parameter with that prefix
_MODEL_PARAMS: dict[type, tuple[str, ...]] = {}


def add_class(name: str, role: str, cls: type) -> None:
    """Let model files name ``cls`` as ``name`` in ``role``; a name is never reused."""
    if role not in ROLES:
        raise ValueError(f"unknown model-file role {role!r}; one of {list(ROLES)}")
    if _CLASSES.setdefault(name, (role, cls)) != (role, cls):
        raise ValueError(f"{name!r} already names {_CLASSES[name][1]!r} in model files")
    _NAMES.setdefault(cls, name)


def safe_class(role: str, name: str | None = None, *, params=None):
    """Class decorator: let model files written by :func:`skface.save_model` name this class.

    Parameters
    ----------
    role : {"step", "criterion"}
        Where a file may name it: as a Pipeline step (or a fitted sub-estimator), or
        as the value of the ``criterion`` parameter.
    name : str, optional
        The name written in files; never changes once files carry it. Defaults to the
        class name for steps and ``"skface:ClassName"`` otherwise.
    params : sequence of str
        Steps only, and required for them: the parameters that define the model (its
        network and the network's arguments, image size and mode, classes, target
        encoding, output head, inference options). A file stores these and no others;
        every other parameter (devices, threads and workers, compilation, precision,
        callbacks, data-loading options, training settings, verbosity) takes its
        default on loading, or what the caller of :func:`skface.load_model` gives. A
        name ending in ``"__"`` (``"module__"``) stands for every parameter with that
        prefix.

    Returns
    -------
    decorator : callable
        Registers the class and returns it unchanged.
    """
    if (role == "step") != (params is not None):
        raise ValueError("safe_class: params= names the model-defining parameters of a "
                         "step, and of steps only")
    allowed = tuple(params) if params is not None else ()

    def wrapper(cls: type) -> type:
        add_class(name or (cls.__name__ if role == "step" else f"skface:{cls.__name__}"),
                  role, cls)
        if role == "step":
            _MODEL_PARAMS[cls] = allowed
        return cls

    return wrapper


def registered() -> Mapping[str, tuple[str, type]]:
    """Every class registered so far, ``{name written in files: (role, class)}``, as a
    read-only view of the table."""
    return MappingProxyType(_CLASSES)


def class_name(cls: type, role: str) -> str | None:
    """The name files write for ``cls`` in ``role``, or None if it has none there."""
    name = _NAMES.get(cls)
    return name if name is not None and _CLASSES[name][0] == role else None


def model_params(cls: type) -> tuple[str, ...]:
    """The parameters of a step class that a model file stores (see :func:`safe_class`)."""
    return _MODEL_PARAMS.get(cls, ())


def defines_model(cls: type, key: str) -> bool:
    """Whether parameter ``key`` of step class ``cls`` is one a model file carries."""
    return any(key == p or (p.endswith("__") and key.startswith(p) and len(key) > len(p))
               for p in _MODEL_PARAMS.get(cls, ()))
