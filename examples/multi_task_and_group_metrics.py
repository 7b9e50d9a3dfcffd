"""
One network for age, gender and race, and who it fails
======================================================

:class:`~skface.FaceAttributes` shares one network between the three tasks and learns
how much weight each task's loss gets. Its predictions come as a DataFrame. A single
overall figure hides groups the model serves worse: :func:`skface.plots.group_metrics`
breaks accuracy and MAE down by gender, race and age group, next to the overall
figure, and the ``plot_*`` functions draw them.

Real UTKFace images when found (``$SKFACE_UTKFACE_DIR`` or
``../shared/datasets/UTKFace``), synthetic faces otherwise; ``SKFACE_EXAMPLE_N`` sets the
number of images.
"""

# %%
# Data and a multi-task fit
# -------------------------
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; drop this line in a notebook

from sklearn.model_selection import train_test_split

from skface import FaceAttributes, ImageLoader
from skface.datasets import load_utkface, make_faces
from skface.plots import group_metrics, plot_group_metrics, plot_learning_curves

n = int(os.environ.get("SKFACE_EXAMPLE_N", "4000"))
utkface = Path(os.environ.get("SKFACE_UTKFACE_DIR", Path(__file__).resolve().parents[2]
                              / "shared" / "datasets" / "UTKFace"))
if utkface.is_dir():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the five malformed real file names are left out
        faces = load_utkface(utkface).sample(n=n, random_state=0).reset_index(drop=True)
    X = ImageLoader(size=48).transform(faces["path"])
else:
    X, faces = make_faces(n, size=48, random_state=0)
train, test = train_test_split(faces.index.to_numpy(), test_size=0.25, random_state=0)
labels = faces[["age", "gender", "race"]].astype({"age": float, "gender": int, "race": int})

model = FaceAttributes(max_epochs=3 if n < 1000 else 20, verbose=0, random_state=0)
model.fit(X[train], labels.iloc[train])
print("learned task weights:", {k: round(v, 2) for k, v in model.task_weights_.items()})
pred = model.predict(X[test])
print(pred.head())

# %%
# Per-group figures
# -----------------
# One row per group, the overall figure first; ``vs_overall`` is the gap to it,
# ``ci_low`` and ``ci_high`` its 95% confidence interval, and ``small`` flags groups of
# fewer than 30 images, whose gap may be chance.
groups = faces.iloc[test].reset_index(drop=True)
gender_table = group_metrics(groups["gender"], pred["gender"], groups, task="gender")
print(gender_table.round(3).to_string(index=False))
age_table = group_metrics(groups["age"], pred["age"], groups, task="age")
print(age_table.round(2).to_string(index=False))

# %%
# Figures
# -------
plot_group_metrics(age_table).savefig("age_mae_by_group.png")
plot_learning_curves(model).savefig("learning_curves.png")
print("wrote age_mae_by_group.png and learning_curves.png")
