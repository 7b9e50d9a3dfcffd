"""skface: scikit-learn compatible age, gender and race prediction from face images.

The data layer (``skface.datasets``, :class:`ImageLoader`, :class:`UTKFaceLabelDecoder`,
:class:`AgeBinEncoder`) needs numpy, pandas, Pillow and scikit-learn; importing
``skface`` does not import torch.
"""

from . import datasets, exceptions
from ._age_bins import AGE_BIN_PRESETS, AgeBinEncoder
from ._draw import annotate_image, annotate_video, draw_predictions
from ._face_cropper import FaceCropper
from ._image_loader import ImageLoader
from ._imaging import CacheInfo, clear_image_cache, image_cache_info, set_image_cache_limit
from ._label_decoder import UTKFaceLabelDecoder
from ._labels import GENDER_NAMES, MAX_AGE, RACE_NAMES
from ._lazy_images import LazyImages
from ._safe_io import load_model, save_model
from ._scoring import make_task_scorer

__version__ = "0.1.0.dev0"

__all__ = [
    "AGE_BIN_PRESETS",
    "GENDER_NAMES",
    "MAX_AGE",
    "RACE_NAMES",
    "AgeBinEncoder",
    "CacheInfo",
    "FaceCropper",
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

# The estimators and networks need torch: they are imported on first use, so that the
# data layer above stays importable (and fast to import) without it.
_LAZY = {
    "AcceleratedAgeBinner": "._accelerate",
    "AcceleratedAgeRegressor": "._accelerate",
    "AcceleratedFaceAttributes": "._accelerate",
    "AcceleratedGenderClassifier": "._accelerate",
    "AcceleratedRaceClassifier": "._accelerate",
    "AgeBinner": "._estimators",
    "AgeRegressor": "._estimators",
    "FaceAttributes": "._estimators",
    "GenderClassifier": "._estimators",
    "RaceClassifier": "._estimators",
    "analyze": "._analyze",
    "export_onnx": "._onnx",
    "nets": ".nets",
    "plots": ".plots",  # matplotlib is imported by the plotting functions, not here
}
__all__ += sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name in ("nets", "plots") else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skface' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
