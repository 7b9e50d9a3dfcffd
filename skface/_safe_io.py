"""Model files that run no code when loaded: safetensors weights plus a JSON description.

joblib (pickle) files can run any code when loaded. :func:`save_model` writes a fitted
skface estimator or Pipeline as one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the network weights as tensors, and in the file's metadata a JSON description of
every step (class names, the parameters that define the model, fitted attributes).
:func:`load_model` rebuilds the model from that description alone; runtime settings
(devices, workers, compilation, precision, callbacks, training options) are never the
file's: they take their defaults, or what the caller of :func:`load_model` gives. A
file names classes only by names in a fixed registry (:func:`skface._registry.safe_class`):
nothing it names is imported, what it asks for is bounded before anything is allocated,
and every way it can be wrong raises :class:`~skface.exceptions.ModelFileError` naming
the file and the field. :func:`load_model_file` reads either kind of model file (safe,
or joblib), as the command line and the demo do.

This module reads and writes the file; the description inside it is
:mod:`skface._model_description`'s, the checks it passes :mod:`skface._model_checks`'.
Importing it imports neither numpy nor torch (the command line's parser imports it).

Needs the optional ``safetensors`` package: ``pip install "skface[safetensors]"``.
"""

from __future__ import annotations

import json
import os
import re

from ._model_checks import (
    MAX_DEPTH,
    MAX_DESCRIPTION_BYTES,
    MAX_HEADER_BYTES,
    Invalid,
    int_in,
    lookup,
    show,
)
from ._registry import defines_model
from ._utils import import_optional
from .exceptions import ModelFileError

__all__ = ["MODEL_SUFFIXES", "load_model", "load_model_file", "save_model"]

FORMAT = "skface-model"
FORMAT_VERSION = 1
# model files by suffix: what `skface train` writes, and how a file is read
MODEL_SUFFIXES = {".joblib": "joblib", ".safetensors": "safetensors"}


def _safetensors():
    st = import_optional("safetensors.torch", "safetensors", "save_model and load_model")
    return st, import_optional("safetensors", "safetensors").safe_open


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
        name raises a ``ValueError`` that says so (use joblib for such models), as do
        models without a network of their own (the pretrained estimators,
        :func:`~skface.make_stack`'s recipes).
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

    from ._model_description import describe
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
        if hasattr(step, "predict_outputs") and "module" not in step.get_params(deep=False):
            # a model without a network of its own: a pretrained one, or a combination
            raise ValueError(
                f"save_model: {where} is a {type(step).__name__}, which has no network of "
                "its own (no module) for the safe format to store: its predictions come "
                "from pretrained models in installed packages, or from the models it "
                "combines. Save it with joblib instead (joblib.dump(model, "
                "'model.joblib')); a pretrained estimator's joblib file is tiny, as its "
                "networks stay in the installed packages.")
        desc, step_tensors = describe(step, where)
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
    except Invalid as exc:
        raise ModelFileError(f"{path!r}: {exc.field}: {exc.reason}. It was not written by "
                             "skface.save_model, or was changed since; get the model file "
                             "again from where it came from.",
                             path=path, field=exc.field) from None


_MODEL_HINT = ("pass a model file: a .safetensors file written by skface.save_model, or a "
               "joblib file (.joblib) written by `skface train` or joblib.dump (joblib files "
               "run code when loaded: use only ones you trust)")


# how a joblib file starts: a pickle of protocol 2 or later, or one of the compressed
# streams joblib writes (zlib, gzip, bz2, lzma, xz, lz4, and its old "ZF" files)
_JOBLIB_STARTS = (b"\x80", b"x", b"\x1f\x8b", b"BZh", b"]\x00\x00", b"\xfd7zXZ",
                  b"\x04\x22\x4d\x18", b"ZF")
_IMAGE_STARTS = {b"\xff\xd8\xff": "JPEG", b"\x89PNG": "PNG", b"GIF8": "GIF", b"BM": "BMP",
                 b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
_TEXT_KINDS = {".py": "Python source", ".csv": "a table", ".tsv": "a table",
               ".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".html": "HTML",
               ".ipynb": "a notebook"}


def _not_a_model(path: str, head: bytes) -> str | None:
    """What a file that is no model file holds, from its first bytes, or None if it
    may be a joblib file. The file's bytes are never part of the answer.

    A file is read with joblib (pickle) only if it starts as joblib files do: pickle
    reads anything else as instructions, so that a text file would be taken for a list
    of modules to import.
    """
    if not head:
        return "an empty file (0 bytes)"
    for start, name in _IMAGE_STARTS.items():
        if head.startswith(start):
            return f"a {name} image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head.startswith(b"%PDF-"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return ("a ZIP archive (such as a PyTorch checkpoint written by torch.save, which "
                "skface does not read)")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of the head is text
        cut = exc.reason == "unexpected end of data" and exc.start > 0
        text = head[:exc.start].decode("utf-8") if cut else None
    if text is not None and not any(c < " " and c not in "\t\n\r\f" for c in text):
        kind = _TEXT_KINDS.get(os.path.splitext(path)[1].lower())
        return "a text file" + (f" ({kind})" if kind else "")
    if head.startswith(_JOBLIB_STARTS):
        return None
    return "neither a safetensors file nor a joblib file (unknown binary content)"


def _is_safetensors(path: str, f) -> bool:
    """By suffix, or by content: an 8-byte little-endian header length, then '{'."""
    if MODEL_SUFFIXES.get(os.path.splitext(path)[1].lower()) == "safetensors":
        return True
    size = os.fstat(f.fileno()).st_size
    head = f.read(9)
    f.seek(0)
    return (len(head) == 9 and head[8:9] == b"{"
            and 2 <= int.from_bytes(head[:8], "little") <= size - 8)


def load_model_file(path: str | os.PathLike):
    """The model in ``path``: a safetensors model file or a joblib file.

    A safetensors file (by its ``.safetensors`` suffix or its content) is read with
    :func:`skface.load_model`, which runs no code from the file; anything else with
    ``joblib.load``, which does.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    model : estimator or Pipeline

    Raises
    ------
    ModelFileError
        If ``path`` is missing, not a regular file, empty, not a model file, or a
        joblib file holding something other than a fitted model; the message names the
        file and says what to pass instead. The command line exits with code 3.
    """
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from ._files import FileRefused, open_regular

    path = os.fspath(path)
    try:  # a named pipe or a device would block or never end: refused, called what it is
        f = open_regular(path, advice=_MODEL_HINT, allow_empty=True)
    except FileRefused as exc:
        if exc.missing:
            raise ModelFileError(f"model file {path!r} does not exist; {_MODEL_HINT}",
                                 path=path) from None
        raise ModelFileError(f"model file {path!r}: {exc}", path=path) from None
    with f:
        if _is_safetensors(path, f):
            f.close()
            return load_model(path)
        what = _not_a_model(path, f.read(512))
        if what is not None:
            raise ModelFileError(f"{path!r} is not a model file: it is {what}; {_MODEL_HINT}",
                                 path=path)
        f.seek(0)
        import joblib

        try:
            model = joblib.load(f)  # the file checked, not whatever the path names now
        except Exception as exc:  # pickle raises anything at all on a file that is not one
            reason = f"{type(exc).__name__}: {exc}"
            raise ModelFileError(
                f"{path!r} is not a model file: neither a safetensors file written by "
                f"skface.save_model nor a joblib file ({reason[:200]}); {_MODEL_HINT}",
                path=path) from None
    if not (isinstance(model, BaseEstimator) and hasattr(model, "predict")):
        raise ModelFileError(
            f"{path!r} holds a {type(model).__module__}.{type(model).__name__}, not a "
            f"model that predicts; {_MODEL_HINT}", path=path)
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ModelFileError(
            f"{path!r} holds a {type(model).__name__} that was never fitted; pass a "
            "trained model, as `skface train` writes", path=path) from None
    return model


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
    from ._model_description import is_parameter

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
        cls = lookup(steps[index].get("class"), "step", f"step {index} class")
        if defines_model(cls, param):
            raise ValueError(f"load_model: {key!r} defines the saved model, so it comes "
                             "from the file; change it after loading with set_params if "
                             "you mean to")
        if not is_parameter(cls, param):
            raise ValueError(f"load_model: {key!r} is not a parameter of {cls.__name__}")
        per_step[index][param] = value
    return per_step


def _load(path: str, settings: dict):
    from sklearn.pipeline import Pipeline

    from ._model_description import json_depth_ok, rebuild

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
        raise Invalid("metadata", "no description of the model")
    text = metadata["description"]
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DESCRIPTION_BYTES:
        raise Invalid("description", f"{size:,} bytes; a model's description is at most "
                                      f"{MAX_DESCRIPTION_BYTES:,}")
    try:
        description = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Invalid("description", f"not valid JSON ({type(exc).__name__})") from None
    if not json_depth_ok(description, 4 * MAX_DEPTH):
        raise Invalid("description", f"nested more than {4 * MAX_DEPTH} levels deep")
    if not isinstance(description, dict):
        raise Invalid("description", "must be a JSON object")
    version = description.get("version")
    if not int_in(version, 0, 2**31):
        raise Invalid("description version", f"{show(version)} is not a format version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!r} was written in skface model format {version}; this skface reads "
            f"format {FORMAT_VERSION}. Load it with the skface version that wrote it "
            f"({show(description.get('skface', 'unknown'))}).",
            path=path, field="description version")
    if description.get("format", FORMAT) != FORMAT:
        raise Invalid("description format", f"{show(description['format'])} is not {FORMAT!r}")
    steps, pipeline = description.get("steps"), description.get("pipeline", False)
    if not isinstance(pipeline, bool):
        raise Invalid("description pipeline", f"{show(pipeline)} is not true or false")
    if not (isinstance(steps, list) and steps and (pipeline or len(steps) == 1)):
        raise Invalid("description steps", f"{show(steps)} is not a list of "
                                             f"{'steps' if pipeline else 'one step'}")
    for i, desc in enumerate(steps):
        if not isinstance(desc, dict):
            raise Invalid(f"step {i}", f"a step must be a JSON object, not {show(desc)}")
    names = [desc.get("name") for desc in steps]
    if pipeline and not (all(isinstance(n, str) and n and "__" not in n for n in names)
                         and len(set(names)) == len(names)):
        raise Invalid("description steps", f"step names {show(names)} are not distinct "
                                             "names without '__'")
    tensor_name = re.compile(r"(0|[1-9][0-9]{0,5})\.(module|criterion)\..+")
    stray = sorted(k for k in tensors if not (m := tensor_name.fullmatch(k))
                   or int(m.group(1)) >= len(steps))
    if stray:
        raise Invalid("tensors", f"{len(stray)} tensors belong to no step "
                                  f"({', '.join(map(repr, stray[:3]))})")
    per_step = _split_settings(settings, names if pipeline else None, steps)
    built = []
    for i, desc in enumerate(steps):
        prefix = f"{i}."
        step_tensors = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
        where = f"step {names[i]!r}" if names[i] is not None else f"step {i}"
        built.append((names[i], rebuild(desc, step_tensors, where, settings=per_step[i])))
    if pipeline:
        return Pipeline(built)
    return built[0][1]
