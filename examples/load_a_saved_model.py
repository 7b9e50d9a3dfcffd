"""
Use a saved model from other code
=================================

A fitted skface Pipeline saved with joblib is all another program needs: it loads with
``joblib.load`` and predicts from file paths, with no training code around. ``skface
train`` writes such files too. joblib files are pickles, which run code when loaded:
load only files you trust (``skface.save_model`` writes a format that runs no code).

Run it as ``python load_a_saved_model.py path/to/UTKFace``, or with the environment
variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without either it trains on
**synthetic** faces and says so, so it runs anywhere. ``SKFACE_EXAMPLE_N`` sets the
number of images (600 by default). The model file is written to a temporary folder,
removed at the end.
"""

# %%
# Write a model file (elsewhere: ``python -m skface train ... -o gender.joblib``)
# -------------------------------------------------------------------------------
import os
import subprocess
import sys
import tempfile
import warnings

import joblib
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "600"))
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
workdir = tempfile.TemporaryDirectory(prefix="skface-deploy-")
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)
    faces = faces.sample(n=min(n, len(faces)), random_state=0).reset_index(drop=True)
    print(f"{len(faces)} real UTKFace images from {utkface}")
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    faces = make_faces(n, size=48, directory=os.path.join(workdir.name, "faces"),
                       random_state=0)
model = make_pipeline(ImageLoader(size=32), GenderClassifier(max_epochs=3, verbose=0,
                                                             random_state=0))
model.fit(faces["path"], faces["gender_name"])
model_file = os.path.join(workdir.name, "gender.joblib")
joblib.dump(model, model_file)

# %%
# Load it in a fresh Python process and predict
# ---------------------------------------------
# The other program only imports joblib (skface must be installed for the classes).
other_program = f"""
import joblib
model = joblib.load({model_file!r})
paths = {faces["path"][:3].tolist()!r}
for path, label in zip(paths, model.predict(paths)):
    print(path.rsplit("/", 1)[-1], "->", label)
"""
done = subprocess.run([sys.executable, "-c", other_program], capture_output=True, text=True,
                      check=True)
print(done.stdout)

# %%
# The same predictions as the model that was saved
print(model.predict(faces["path"][:3].tolist()))

workdir.cleanup()  # the model file and the synthetic images, if any
