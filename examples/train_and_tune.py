"""
Train, tune and save a gender classifier
========================================

``make_pipeline(ImageLoader(), GenderClassifier())`` is an ordinary scikit-learn
estimator: it fits on file paths, tunes with ``GridSearchCV`` and saves with joblib.

Run it as ``python train_and_tune.py path/to/UTKFace``, or with the environment
variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses **synthetic**
cartoon faces from ``make_faces``, written to a temporary folder (removed at the end),
and says so; it then runs anywhere in a minute or two. ``SKFACE_EXAMPLE_N`` sets the
number of images (1,200 by default).

A grid search costs one fit per candidate and fold, plus the refit: the 2 x 2 grid
with ``cv=3`` below is 13 fits, so budget about 13 times one fit. The settings here
(32 px, a small network, 4 epochs) keep each fit short; with skface's defaults (48 px,
36 epochs) one fit on all of UTKFace takes a quarter of an hour or more on a CPU.
"""

# %%
# Data: paths and labels
# ----------------------
import os
import sys
import tempfile
import time
import warnings

import joblib
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader, image_cache_info
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "1200"))
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
workdir = tempfile.TemporaryDirectory(prefix="skface-tune-")
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)
    faces = faces.sample(n=min(n, len(faces)), random_state=0).reset_index(drop=True)
    print(f"{len(faces)} real UTKFace images from {utkface}")
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    faces = make_faces(n, size=48, directory=workdir.name, random_state=0)
train, test = train_test_split(faces, test_size=0.25, random_state=0)

# %%
# A grid search over learning rate and batch size
# -----------------------------------------------
# Each of the 2 x 2 x 3 fits reuses the decoded images: ImageLoader decodes once per
# process.
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
model_file = os.path.join(workdir.name, "gender.joblib")
joblib.dump(search.best_estimator_, model_file)
model = joblib.load(model_file)
print(model.predict(test["path"][:5].tolist()), test["gender_name"][:5].tolist())

workdir.cleanup()  # the model file and the synthetic images, if any
