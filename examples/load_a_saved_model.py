"""
Use a saved model from other code
=================================

A fitted skface Pipeline saved with joblib is all another program needs: it loads with
``joblib.load`` and predicts from file paths, with no training code around. ``skface
train`` writes such files too. joblib files are pickles, which run code when loaded:
load only files you trust.

The model is trained here on **synthetic** faces so that the example runs anywhere.
"""

# %%
# Write a model file (elsewhere: ``python -m skface train ... -o gender.joblib``)
# -------------------------------------------------------------------------------
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import joblib
from sklearn.pipeline import make_pipeline

from skface import GenderClassifier, ImageLoader
from skface.datasets import make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "600"))
folder = Path(tempfile.mkdtemp(prefix="skface-deploy-"))
faces = make_faces(n, size=48, directory=folder / "faces", random_state=0)
model = make_pipeline(ImageLoader(size=32), GenderClassifier(max_epochs=3, verbose=0,
                                                             random_state=0))
model.fit(faces["path"], faces["gender_name"])
joblib.dump(model, folder / "gender.joblib")

# %%
# Load it in a fresh Python process and predict
# ---------------------------------------------
# The other program only imports joblib (skface must be installed for the classes).
other_program = f"""
import joblib
model = joblib.load({str(folder / "gender.joblib")!r})
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
