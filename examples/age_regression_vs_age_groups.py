"""
Age in years or age groups?
===========================

Age can be predicted two ways: as a number (regression) or as a class among age groups
(decades, groups of equal size, life stages). skface has both:
:class:`~skface.AgeRegressor` predicts years; :class:`~skface.AgeBinner` predicts a
group, the probability of every group, and an expected age. This example trains both
on the same images and compares them on the same held-out part.

Run it as ``python age_regression_vs_age_groups.py path/to/UTKFace``, or with the
environment variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses
**synthetic** cartoon faces and says so. ``SKFACE_EXAMPLE_N`` sets the number of images
(3,000 by default, with 20 epochs for each of the four models: about a third of the
training of one fit with skface's defaults on the whole folder; use a few thousand
images or more for meaningful figures).
"""

# %%
# Data
# ----
import os
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from skface import AgeBinEncoder, AgeBinner, AgeRegressor, ImageLoader
from skface.datasets import load_utkface, make_faces
from skface.plots import plot_age_predictions

n = int(os.environ.get("SKFACE_EXAMPLE_N", "3000"))
epochs = 3 if n < 1000 else 20
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
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
ages = faces["age"].to_numpy(dtype=float)
X_train, X_test, age_train, age_test = train_test_split(X, ages, test_size=0.25,
                                                        random_state=0)

# %%
# Three ways to cut ages into groups
# ----------------------------------
# ``AgeBinEncoder`` turns ages into ordered groups; AgeBinner uses it inside.
for bins in ("decades", "balanced", "life_stages"):
    enc = AgeBinEncoder(bins, n_bins=5).fit(age_train)
    print(f"{bins:<12}", dict(zip(enc.labels_, enc.counts_.tolist(), strict=True)))

# %%
# Train and compare
# -----------------
# Every model learns a distribution over the years 0..116 by default (DEX); the
# regressor reports its expected value, the binner sums it per group.
common = {"max_epochs": epochs, "verbose": 0, "random_state": 0}
rows = []
reg = AgeRegressor(**common).fit(X_train, age_train)
rows.append(("AgeRegressor", "years", np.abs(reg.predict(X_test) - age_test).mean(), None))
for bins in ("decades", "balanced", "life_stages"):
    binner = AgeBinner(bins=bins, n_bins=5, **common).fit(X_train, age_train)
    mae = np.abs(binner.predict_age(X_test) - age_test).mean()
    rows.append(("AgeBinner", bins, mae, binner.score(X_test, age_test)))
table = pd.DataFrame(rows, columns=["estimator", "groups", "MAE (years)", "group accuracy"])
print(table.round(3).to_string(index=False))

# %%
# Predicted against true age, for the regressor
plot_age_predictions(age_test, reg.predict(X_test))
plt.show()

# %%
# A group's probability comes with every prediction
# --------------------------------------------------
proba = pd.DataFrame(binner.predict_proba(X_test[:3]), columns=binner.classes_)
proba["true age"] = age_test[:3]
print(proba.round(2).to_string(index=False))
