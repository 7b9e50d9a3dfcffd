"""skface: scikit-learn compatible age, gender and race prediction from face images.

The data layer (``skface.datasets``, :class:`ImageLoader`, :class:`UTKFaceLabelDecoder`,
:class:`AgeBinEncoder`) needs numpy, pandas, Pillow and scikit-learn; the estimators and
networks need torch. Each public name is imported on first use: ``import skface``
imports none of these libraries (so the ``skface`` command's ``--version`` and ``--help``
answer at once), and using the data layer does not import torch.
"""

from . import exceptions
from ._version import __version__

__all__ = [
    "AGE_BIN_PRESETS",
    "GENDER_NAMES",
    "MAX_AGE",
    "RACE_NAMES",
    "AgeBinEncoder",
    "CacheInfo",
    "FaceCropper",
    "FaceEmbedder",
    "ImageLoader",
    "LazyImages",
    "UTKFaceLabelDecoder",
    "__version__",
    "annotate_image",
    "annotate_video",
    "clear_image_cache",
    "datasets",
    "draw_predictions",
    "exceptions",
    "image_cache_info",
    "load_model",
    "make_task_scorer",
    "save_model",
    "set_image_cache_limit",
]

# The data layer, imported on first use: it needs numpy, pandas and scikit-learn.
_DATA_LAYER = {
    "AGE_BIN_PRESETS": "._age_bins",
    "AgeBinEncoder": "._age_bins",
    "CacheInfo": "._image_batches",
    "FaceCropper": "._face_cropper",
    "FaceEmbedder": "._face_embedder",
    "GENDER_NAMES": "._labels",
    "ImageLoader": "._image_loader",
    "LazyImages": "._lazy_images",
    "MAX_AGE": "._labels",
    "RACE_NAMES": "._labels",
    "UTKFaceLabelDecoder": "._label_decoder",
    "annotate_image": "._draw",
    "annotate_video": "._draw",
    "clear_image_cache": "._image_batches",
    "datasets": ".datasets",
    "draw_predictions": "._draw",
    "image_cache_info": "._image_batches",
    "load_model": "._safe_io",
    "make_task_scorer": "._scoring",
    "save_model": "._safe_io",
    "set_image_cache_limit": "._image_batches",
}
# The estimators and networks need torch: they too are imported on first use, so that
# the data layer stays importable (and fast to import) without it.
_LAZY = {
    "AcceleratedAgeBinner": "._accelerate",
    "AcceleratedAgeRegressor": "._accelerate",
    "AcceleratedFaceAttributes": "._accelerate",
    "AcceleratedGenderClassifier": "._accelerate",
    "AcceleratedRaceClassifier": "._accelerate",
    "AgeBinner": "._age_estimators",
    "AgeRegressor": "._age_estimators",
    "FaceAttributes": "._multitask",
    "FaceStackingClassifier": "._recipes",
    "FaceStackingRegressor": "._recipes",
    "GenderClassifier": "._classifiers",
    "PretrainedAgeRegressor": "._pretrained",
    "PretrainedFaceAttributes": "._pretrained",
    "PretrainedGenderClassifier": "._pretrained",
    "RaceClassifier": "._classifiers",
    "analyze": "._analyze",
    "export_onnx": "._onnx",
    "make_stack": "._recipes",
    "nets": ".nets",
    "plots": ".plots",  # matplotlib is imported by the plotting functions, not here
}
__all__ += sorted(_LAZY)
_LAZY.update(_DATA_LAYER)
_MODULES = ("datasets", "nets", "plots")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name in _MODULES else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skface' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
