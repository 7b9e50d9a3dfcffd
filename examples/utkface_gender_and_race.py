"""
Gender and race on UTKFace, and where the errors are
====================================================

Train :class:`~skface.GenderClassifier` and :class:`~skface.RaceClassifier` on real
UTKFace crops, then look past the overall accuracy: a confusion matrix per task and
the accuracy per gender, race and age group. UTKFace's labels are coarse and given by
the data set (binary gender, five race groups, one of them "Others"); see the data
guide on responsible use.

Uses ``$SKFACE_UTKFACE_DIR`` or ``../shared/datasets/UTKFace`` (synthetic faces when
neither exists); ``SKFACE_EXAMPLE_N`` sets the number of images. The defaults (5,000
images, 20 epochs each) take about 15 minutes on two CPU cores; the benchmark in
``benchmarks/bench_accuracy.py`` trains on the whole folder.
"""

# %%
# Data: images decoded once, shared by both models
# ------------------------------------------------
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; drop this line in a notebook

from sklearn.model_selection import train_test_split

from skface import GenderClassifier, ImageLoader, RaceClassifier
from skface.datasets import load_utkface, make_faces
from skface.plots import group_metrics, plot_confusion_matrix

n = int(os.environ.get("SKFACE_EXAMPLE_N", "5000"))
epochs = 3 if n < 1000 else 20
utkface = Path(os.environ.get("SKFACE_UTKFACE_DIR", Path(__file__).resolve().parents[2]
                              / "shared" / "datasets" / "UTKFace"))
if utkface.is_dir():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the five malformed real file names are left out
        faces = load_utkface(utkface).sample(n=n, random_state=0).reset_index(drop=True)
    X = ImageLoader(size=48).transform(faces["path"])
else:
    X, faces = make_faces(n, size=48, random_state=0)
train, test = train_test_split(faces.index.to_numpy(), test_size=0.25, random_state=0,
                               stratify=faces["race"])
groups = faces.iloc[test].reset_index(drop=True)

# %%
# Two classifiers, names as labels
# --------------------------------
for task, cls in (("gender", GenderClassifier), ("race", RaceClassifier)):
    y = faces[f"{task}_name"].to_numpy()
    clf = cls(max_epochs=epochs, verbose=0, random_state=0).fit(X[train], y[train])
    pred = clf.predict(X[test])
    print(f"{task}: held-out accuracy {(pred == y[test]).mean():.3f}")
    table = group_metrics(y[test], pred, groups, task=task)
    print(table.round(3).to_string(index=False))
    plot_confusion_matrix(y[test], pred, labels=clf.classes_).savefig(f"confusion_{task}.png")
