"""
Gender and race on UTKFace, and where the errors are
====================================================

Train :class:`~skface.GenderClassifier` and :class:`~skface.RaceClassifier` on real
UTKFace crops, then look past the overall accuracy: a confusion matrix per task and
the accuracy per gender, race and age group. UTKFace's labels are coarse and given by
the data set (binary gender, five race groups, one of them "Others"); see the data
guide on responsible use.

Run it as ``python utkface_gender_and_race.py path/to/UTKFace``, or with the environment
variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses **synthetic**
faces and says so (the figures then say nothing about real faces).
``SKFACE_EXAMPLE_N`` sets the number of images. The defaults (5,000 images, 20 epochs
for each of the two models) train for less than half as long as one fit with skface's
defaults on the whole folder, which ``benchmarks/bench_accuracy.py`` measures.
"""

# %%
# Data: images decoded once, shared by both models
# ------------------------------------------------
import os
import sys
import warnings

import matplotlib.pyplot as plt
from sklearn.model_selection import train_test_split

from skface import GenderClassifier, ImageLoader, RaceClassifier
from skface.datasets import load_utkface, make_faces
from skface.plots import group_metrics, plot_confusion_matrix

n = int(os.environ.get("SKFACE_EXAMPLE_N", "5000"))
epochs = 3 if n < 1000 else 20
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)
    print(f"real UTKFace images from {utkface} "
          f"({len(faces.attrs['malformed'])} malformed file names left out)")
    faces = faces.sample(n=min(n, len(faces)), random_state=0).reset_index(drop=True)
    X = ImageLoader(size=48).transform(faces["path"])
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    X, faces = make_faces(n, size=48, random_state=0)
train, test = train_test_split(faces.index.to_numpy(), test_size=0.25, random_state=0,
                               stratify=faces["race"])
groups = faces.iloc[test].reset_index(drop=True)

# %%
# Two classifiers, names as labels
# --------------------------------
# One confusion matrix per task; the tables give the accuracy per group, the overall
# figure first.
for task, cls in (("gender", GenderClassifier), ("race", RaceClassifier)):
    y = faces[f"{task}_name"].to_numpy()
    clf = cls(max_epochs=epochs, verbose=0, random_state=0).fit(X[train], y[train])
    pred = clf.predict(X[test])
    print(f"{task}: held-out accuracy {(pred == y[test]).mean():.3f}")
    table = group_metrics(y[test], pred, groups, task=task)
    print(table.round(3).to_string(index=False))
    plot_confusion_matrix(y[test], pred, labels=clf.classes_)
plt.show()
