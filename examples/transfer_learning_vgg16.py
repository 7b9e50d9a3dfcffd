"""
Transfer learning with VGG16 weights from a local file
======================================================

``module="vgg16"`` is VGG16 with torchvision's parameter names, so an ImageNet state
dict saved from torchvision loads into it: ``module__weights`` is the path of that
LOCAL file (skface never downloads anything), ``module__trainable_blocks`` freezes all
but the last convolutional blocks, and ``module__pooling="avg"`` puts global average
pooling and one small linear layer in place of VGG's 120-million-parameter head.

To get real ImageNet weights, on a machine with torchvision::

    import torch, torchvision
    torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), "vgg16.pth")

This example has no network, so it saves the freshly initialised weights of a VGG16 as
a stand-in file (in a temporary folder, removed at the end): the mechanism is the same,
the accuracy is not. Run it as ``python transfer_learning_vgg16.py path/to/UTKFace``,
or with the environment variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without
either it uses **synthetic** faces and says so. ``SKFACE_EXAMPLE_N`` sets the number of
images (2,000 by default).
"""

# %%
# A state dict file in torchvision's format
# -----------------------------------------
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from sklearn.model_selection import train_test_split

from skface import GenderClassifier, ImageLoader
from skface.datasets import load_utkface, make_faces
from skface.nets import get_model

n = int(os.environ.get("SKFACE_EXAMPLE_N", "2000"))
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")

workdir = tempfile.TemporaryDirectory(prefix="skface-vgg-")
weights = Path(workdir.name) / "vgg16-stand-in.pth"
stand_in = get_model("vgg16", n_outputs=1000)  # torchvision's key names and shapes
torch.save({k: v for k, v in stand_in.state_dict().items() if k.startswith("features.")},
           weights)
print(f"{weights.name}: {weights.stat().st_size / 2**20:.0f} MiB of convolution weights")

# %%
# Data
# ----
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)
    faces = faces.sample(n=min(n, len(faces)), random_state=0)
    X = ImageLoader(size=48).transform(faces["path"])
    print(f"{len(faces)} real UTKFace images from {utkface}")
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    X, faces = make_faces(n, size=48, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, faces["gender_name"].to_numpy(),
                                                    test_size=0.25, random_state=0)

# %%
# Fine-tune the last two blocks
# -----------------------------
clf = GenderClassifier(
    module="vgg16",
    module__weights=weights,
    module__trainable_blocks=2,
    module__pooling="avg",
    lr=3e-4,
    max_epochs=2 if n < 1000 else 8,
    verbose=0,
    random_state=0,
)
clf.fit(X_train, y_train)
net = clf.module_.net
frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
print(f"parameters: {sum(p.numel() for p in net.parameters()):,}, frozen: {frozen:,}")
print("held-out accuracy:", round(clf.score(X_test, y_test), 3))

workdir.cleanup()  # the stand-in weights file
