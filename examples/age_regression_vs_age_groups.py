"""
Age in years or age groups?
===========================

The seed notebooks predicted age two ways: as a number (regression) and as a class
among age groups (decades, groups of equal size, life stages). skface has both:
:class:`~skface.AgeRegressor` predicts years; :class:`~skface.AgeBinner` predicts a
group, the probability of every group, and an expected age. This example trains both
on the same images and compares them on the same held-out part.

It uses the real UTKFace images when they are found (``$SKFACE_UTKFACE_DIR``, or
``../shared/datasets/UTKFace`` beside the checkout), and **synthetic** cartoon faces
otherwise. ``SKFACE_EXAMPLE_N`` sets the number of images (CI keeps it small; use a few
thousand or the whole folder for meaningful figures; the default, 3,000 images and
20 epochs per model, takes about ten minutes on two CPU cores).
"""

# %%
# Data
# ----
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from skface import AgeBinEncoder, AgeBinner, AgeRegressor, ImageLoader
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "3000"))
epochs = 3 if n < 1000 else 20
utkface = Path(os.environ.get("SKFACE_UTKFACE_DIR", Path(__file__).resolve().parents[2]
                              / "shared" / "datasets" / "UTKFace"))
if utkface.is_dir():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the five malformed real file names are left out
        faces = load_utkface(utkface).sample(n=n, random_state=0)
    X = ImageLoader(size=48).transform(faces["path"])
    print(f"{n} real UTKFace images")
else:
    X, faces = make_faces(n, size=48, random_state=0)
    print(f"{n} SYNTHETIC faces (no UTKFace folder at {utkface})")
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
# A group's probability comes with every prediction
# --------------------------------------------------
proba = pd.DataFrame(binner.predict_proba(X_test[:3]), columns=binner.classes_)
proba["true age"] = age_test[:3]
print(proba.round(2).to_string(index=False))
