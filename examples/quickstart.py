"""
Quickstart
==========

Fit a gender classifier on image files and predict from file names, in five lines of
scikit-learn. The images here are **synthetic** cartoon faces from
:func:`skface.datasets.make_faces`, written as JPEG files named in UTKFace's scheme, so
this runs anywhere in under a minute; the other examples use real UTKFace images.
"""

# %%
import os
import tempfile

from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "1500"))
folder = tempfile.mkdtemp(prefix="skface-quickstart-")
make_faces(n, size=64, directory=folder, random_state=0)  # files like 26_1_2_....jpg.chip.jpg

faces = load_utkface(folder)  # labels decoded from the file names
print(faces[["age", "gender_name", "race_name"]].head(3))
train, test = train_test_split(faces, test_size=0.25, random_state=0)

# %%
# ImageLoader turns paths into a uint8 array; the classifier trains a small CNN on it.
model = make_pipeline(ImageLoader(size=32),
                      GenderClassifier(max_epochs=5, verbose=0, random_state=0))
model.fit(train["path"], train["gender_name"])
print("held-out accuracy:", round(model.score(test["path"], test["gender_name"]), 3))
print(model.predict(test["path"][:5].tolist()), model.predict_proba(test["path"][:2].tolist()))
