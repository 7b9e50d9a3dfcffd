"""Errors and warnings raised by skface.

Every error names the file or value at fault and says what to do about it.
"""

from __future__ import annotations

__all__ = [
    "FaceDetectionError",
    "FacesLeftOutWarning",
    "ImageLoadError",
    "LabelError",
    "MalformedFileNameError",
    "MalformedFileNameWarning",
    "MissingDependencyError",
    "ModelFileError",
    "NoFaceWarning",
    "SyntheticModelWarning",
    "TrainingInterruptedWarning",
]


class ImageLoadError(ValueError):
    """One or more image files could not be read.

    Parameters
    ----------
    message : str
        What went wrong, naming the files.
    failures : list of (str, str), optional
        ``(path, reason)`` for every file that failed.

    Attributes
    ----------
    failures : list of (str, str)
        ``(path, reason)`` for every file that failed, in input order.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.failures = list(failures or [])


class LabelError(ValueError):
    """A label (age, gender, race, age group, ...) is missing or out of range."""


class MalformedFileNameError(LabelError):
    """A file name does not follow the expected labelled naming scheme.

    Parameters
    ----------
    message : str
        What went wrong, naming the files.
    files : list of (str, str), optional
        ``(file name, reason)`` for every malformed name.

    Attributes
    ----------
    files : list of (str, str)
        ``(file name, reason)`` for every malformed name.
    """

    def __init__(self, message: str, files: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.files = list(files or [])


class MalformedFileNameWarning(UserWarning):
    """A file was left out because its name does not carry valid labels."""


class FaceDetectionError(ValueError):
    """No face, or more faces than allowed, in one or more images.

    Parameters
    ----------
    message : str
        What went wrong, naming the images.
    failures : list of (str, str), optional
        ``(file path or "image at position i", reason)`` for every image at fault.

    Attributes
    ----------
    failures : list of (str, str)
        ``(file path or "image at position i", reason)`` for every image at fault,
        in input order.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.failures = list(failures or [])


class FacesLeftOutWarning(UserWarning):
    """Faces were found but left out: ``FaceCropper(multiple="largest")`` kept only the
    largest face of some images (use :func:`skface.analyze` for one row per face)."""


class NoFaceWarning(UserWarning):
    """No face was found and the whole image (its centre square) was used instead."""


class TrainingInterruptedWarning(UserWarning):
    """Training was interrupted (Ctrl-C) before its last epoch.

    As in skorch, ``fit`` then returns normally and the model keeps the weights it has
    (those of the best epoch, with early stopping). A program that must not use such a
    model can turn this warning into an error, for example
    ``warnings.simplefilter("error", TrainingInterruptedWarning)``, as the ``skface
    train`` command does to leave no model file behind.
    """


class ModelFileError(ValueError):
    """A file is not a model written by :func:`skface.save_model`, or is damaged.

    Loading a model file never creates anything the file names outside skface's fixed
    list of classes; every way a file can be wrong (foreign, truncated, tampered with,
    asking for more than a model needs) raises this error.

    Parameters
    ----------
    message : str
        What is wrong with the file.
    path : str, optional
        The file at fault.
    field : str, optional
        Where in the file (see ``field`` below).

    Attributes
    ----------
    path : str or None
        The file at fault.
    field : str or None
        Where in the file: ``"metadata"``, ``"description"``, ``"tensors"``, or a step
        and its parameter or attribute, such as ``"step 'imageloader' parameter size"``.
    """

    def __init__(self, message: str, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field


class SyntheticModelWarning(UserWarning):
    """A model trained on synthetic cartoon faces is predicting: its answers mean nothing
    on photos of people."""


class MissingDependencyError(ImportError):
    """An optional dependency that a feature needs is not installed, or cannot be imported.

    The message names the feature, the missing package and the ``pip`` command that
    installs it (``pip install "skface[<extra>]"``); ``name``, as on every
    ``ImportError``, is the module that could not be imported. The command line exits
    with status 4 on this error.

    Parameters
    ----------
    message : str
        What is missing, what needs it and how to install it.
    package : str, optional
        The module that could not be imported, such as ``"cv2"``.
    extra : str, optional
        The skface extra that installs it, such as ``"detect"``.

    Attributes
    ----------
    extra : str or None
        The skface extra that installs it.
    install : str or None
        The command that installs it: ``pip install "skface[<extra>]"``.
    """

    def __init__(self, message: str, package: str | None = None, extra: str | None = None):
        super().__init__(message, name=package)
        self.extra = extra
        self.install = None if extra is None else f'pip install "skface[{extra}]"'

    def __reduce__(self):
        return type(self), (str(self), self.name, self.extra)
