"""
Quickstart
==========

Fit a gender classifier on image files and predict from file names, in five lines of
scikit-learn.

Run it as ``python quickstart.py path/to/UTKFace``, or with the environment variable
``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses **synthetic** cartoon
faces from :func:`skface.datasets.make_faces`, written as JPEG files named in UTKFace's
scheme into a temporary folder (removed at the end), and says so: it then runs
anywhere in under a minute, but its accuracy says nothing about real faces.
``SKFACE_EXAMPLE_N`` sets the number of images (1,500 by default; the documentation is
built with a few hundred).
"""

# %%
# Data: file paths and labels
# ---------------------------
import os
import sys
import tempfile
import warnings

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "1500"))
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
workdir = tempfile.TemporaryDirectory(prefix="skface-quickstart-")
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)  # labels decoded from the file names
    print(f"real UTKFace images from {utkface} "
          f"({len(faces.attrs['malformed'])} malformed file names left out)")
    faces = faces.sample(n=min(n, len(faces)), random_state=0)
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    make_faces(n, size=64, directory=workdir.name, random_state=0)  # 26_1_2_....jpg.chip.jpg
    faces = load_utkface(workdir.name)  # labels decoded from the file names
print(faces[["age", "gender_name", "race_name"]].head(3))
train, test = train_test_split(faces, test_size=0.25, random_state=0)

# %%
# Fit and predict
# ---------------
# ImageLoader turns paths into a uint8 array; the classifier trains a small CNN on it.
model = make_pipeline(ImageLoader(size=32),
                      GenderClassifier(max_epochs=5, verbose=0, random_state=0))
model.fit(train["path"], train["gender_name"])
print("held-out accuracy:", round(model.score(test["path"], test["gender_name"]), 3))
print(model.predict(test["path"][:5].tolist()), model.predict_proba(test["path"][:2].tolist()))

workdir.cleanup()  # the synthetic images, if any
