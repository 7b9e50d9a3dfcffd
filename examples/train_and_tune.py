"""
Train, tune and save a gender classifier
========================================

``make_pipeline(ImageLoader(), GenderClassifier())`` is an ordinary scikit-learn
estimator: it fits on file paths, tunes with ``GridSearchCV`` and saves with joblib.

The example uses **synthetic** cartoon faces from ``make_faces`` so it runs anywhere in
a minute; point ``folder`` at a UTKFace folder for real figures. ``SKFACE_EXAMPLE_N``
sets the number of images (CI keeps it small).
"""

# %%
# Data: paths and labels
# ----------------------
import os
import tempfile
import time
from pathlib import Path

import joblib
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader, image_cache_info
from skface.datasets import make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "1200"))
folder = Path(tempfile.mkdtemp(prefix="skface-example-"))
faces = make_faces(n, size=48, directory=folder, random_state=0)
train, test = train_test_split(faces, test_size=0.25, random_state=0)

# %%
# A grid search over learning rate and batch size
# -----------------------------------------------
# Each of the 4 x 3 fits reuses the decoded images: ImageLoader decodes once per process.
pipe = make_pipeline(ImageLoader(size=32),
                     GenderClassifier(module="basic_cnn", max_epochs=4, verbose=0,
                                      random_state=0))
grid = {"genderclassifier__lr": [1e-3, 3e-3], "genderclassifier__batch_size": [32, 64]}
t0 = time.perf_counter()
search = GridSearchCV(pipe, grid, cv=3).fit(train["path"], train["gender"])
print(f"grid search: {time.perf_counter() - t0:.0f} s, best {search.best_params_}, "
      f"CV accuracy {search.best_score_:.3f}")
print(f"images decoded: {image_cache_info().decodes} for {len(faces)} files")
print(f"held-out accuracy: {search.score(test['path'], test['gender']):.3f}")

# %%
# Save, load, predict from paths
# ------------------------------
model_file = folder / "gender.joblib"
joblib.dump(search.best_estimator_, model_file)
model = joblib.load(model_file)
print(model.predict(test["path"][:5].tolist()), test["gender_name"][:5].tolist())
