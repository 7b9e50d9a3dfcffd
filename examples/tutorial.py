"""
Tutorial: from a labelled folder to faces in a group photo
==========================================================

The guide's tutorial (``docs/tutorial.md``) on a small subset, end to end: hold out a
test set, train one :class:`~skface.FaceAttributes` network for age, gender and race,
write its evaluation report with ``skface evaluate``, and analyze a group photo with
:func:`skface.analyze`, using the trained model and, where ``skface[faces]`` is
installed, the pretrained age and gender models that need no training.

Run it as ``python tutorial.py path/to/UTKFace``, or with the environment variable
``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses **synthetic** cartoon
faces from :func:`skface.datasets.make_faces` and says so: it then runs anywhere, but
its figures say nothing about real faces. ``SKFACE_EXAMPLE_N`` sets the number of
images (1,000 by default, about a minute or two on a laptop's CPU; the documentation
is built with a few hundred). Everything it writes goes to a temporary folder, removed
at the end. A model worth using needs the whole folder and the default schedule: the
tutorial says how.
"""

# %%
# A labelled folder, and a test set the model never sees
# ------------------------------------------------------
# UTKFace's file names carry the labels (``26_1_2_....jpg.chip.jpg``: age 26, female,
# Asian); :func:`~skface.datasets.load_utkface` decodes them into one row per image.
# A quarter of the images is set aside before training, so the report below scores
# the model on faces it has never seen. Written as CSV label tables, the two parts
# are what ``skface train`` and ``skface evaluate`` read, as a folder would be.
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import warnings

import joblib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

import skface
from skface import FaceAttributes, ImageLoader
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "1000"))
utkface = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if utkface and not os.path.isdir(utkface):
    sys.exit(f"No UTKFace folder at {utkface!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
workdir = tempfile.TemporaryDirectory(prefix="skface-tutorial-")
work = workdir.name
if utkface:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed names are listed in attrs instead
        faces = load_utkface(utkface)
    print(f"real UTKFace images from {utkface} "
          f"({len(faces.attrs['malformed'])} malformed file names left out)")
    faces = faces.sample(n=min(n, len(faces)), random_state=0)
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    os.mkdir(os.path.join(work, "faces"))
    make_faces(n, size=64, directory=os.path.join(work, "faces"), random_state=0)
    faces = load_utkface(os.path.join(work, "faces"))
faces = faces.reset_index(drop=True)
print(faces[["age", "gender_name", "race_name"]].describe(include="all").loc[
    ["count", "mean", "top"]])

train, test = train_test_split(faces, test_size=0.25, random_state=0,
                               stratify=faces["gender"])
columns = ["path", "age", "gender", "race"]
train[columns].to_csv(os.path.join(work, "train.csv"), index=False)
test[columns].to_csv(os.path.join(work, "test.csv"), index=False)
print(f"{len(train)} images to train on, {len(test)} held out")

# %%
# One network for age, gender and race
# ------------------------------------
# :class:`~skface.FaceAttributes` shares one network between the three tasks: for the
# time of one single-task fit it gives skface's best gender model and a race model as
# good as a dedicated one, with age beside them. From the shell this step is
# ``skface train train.csv --target all -o faces.joblib``; from Python it is a
# scikit-learn Pipeline. The schedule here is short so that the example stays quick;
# leave ``max_epochs`` at its default for a real model.
model = make_pipeline(
    ImageLoader(size=48),
    FaceAttributes(max_epochs=12 if len(train) >= 500 else 4, verbose=0, random_state=0),
)
model.fit(train["path"], train[["age", "gender", "race"]])
model_file = os.path.join(work, "faces.joblib")
joblib.dump(model, model_file)
print(model.predict(test["path"][:3].tolist()))  # a DataFrame; UTKFace's codes, as trained

# %%
# The evaluation report
# ---------------------
# ``skface evaluate`` predicts every held-out image once and writes a report folder:
# ``index.html`` shows the metrics with their 95% confidence intervals, the figures
# per gender, race and age group (small groups flagged), the confusion matrices,
# predicted against true age and the learning curves. ``metrics.json`` holds the
# same figures for scripts.
report = os.path.join(work, "report")
# the skface this script imported, also where it is not installed (a checkout)
here = os.path.dirname(skface.__path__[0])
env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
    here, os.environ.get("PYTHONPATH")]))}
done = subprocess.run([sys.executable, "-m", "skface", "evaluate", model_file,
                       os.path.join(work, "test.csv"), "-o", report],
                      capture_output=True, text=True, env=env)
if done.returncode != 0:
    sys.exit(f"skface evaluate failed:\n{done.stderr}")
print("report:", sorted(name for name in os.listdir(report) if not name.startswith(".")))
with open(os.path.join(report, "metrics.json")) as f:
    metrics = json.load(f)
for task, m in metrics["tasks"].items():
    low, high = m["ci_95"]
    print(f"{task}: {m['metric']} {m['value']:.3f} (95% interval {low:.3f} to "
          f"{high:.3f}, {m['n']} held-out images)")

figures = [name for name in ("group_metrics_gender.png", "confusion_matrix_race.png")
           if os.path.exists(os.path.join(report, name))]
if figures:
    fig, axes = plt.subplots(1, len(figures), figsize=(5 * len(figures), 4),
                             layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], figures, strict=True):
        ax.imshow(plt.imread(os.path.join(report, name)))
        ax.set_title(name)
        ax.set_axis_off()
    plt.show()

# %%
# A group photo
# -------------
# A photo with several people: three held-out faces pasted on a canvas.
# :func:`skface.analyze` finds the faces, crops each as UTKFace frames its images and
# predicts on it: one row per face, with its box, the predictions by name, the
# probabilities and a status (an unreadable file or a photo without a face gets a row
# saying so). From the shell: ``skface analyze photo.png --model faces.joblib``.
if utkface:
    pasted = [Image.open(p).convert("RGB") for p in test["path"].iloc[:3]]
else:
    pasted = [Image.fromarray(img) for img in make_faces(3, size=200, random_state=1)[0]]
rng = np.random.default_rng(0)
canvas = np.full((360, 640, 3), (150, 170, 190), dtype=np.uint8)
canvas = np.clip(canvas + rng.normal(0, 6, canvas.shape), 0, 255).astype(np.uint8)
photo = Image.fromarray(canvas)
for face, (x, y, side) in zip(pasted, [(30, 90, 170), (250, 60, 150), (450, 120, 140)],
                              strict=True):
    photo.paste(face.resize((side, side)), (x, y))
photo_file = os.path.join(work, "photo.png")
photo.save(photo_file)
if utkface:  # what the labels say, left to right
    print("true labels:", test[["age", "gender_name", "race_name"]].iloc[:3]
          .to_dict("records"))

have_detector = importlib.util.find_spec("cv2") is not None
if have_detector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic-faces notice, said above
        table = skface.analyze([photo_file], model)
    print(table.drop(columns=["file"]).round(2).to_string(index=False))
    drawn, _ = skface.annotate_image(model, photo_file)
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.imshow(drawn)
    ax.set_axis_off()
    plt.show()
else:
    print('finding faces needs OpenCV: pip install "skface[detect]"')

# %%
# No training: the pretrained models
# ----------------------------------
# With ``skface[faces]`` installed, ``skface.analyze(photos)`` without a model predicts
# age and gender with dlib's public-domain networks, trained elsewhere on real faces.
# Race has no pretrained model: it needs a model trained on your labels, such as the
# one above. ``skface analyze photo.png`` is the same from the shell.
if have_detector and all(importlib.util.find_spec(m) for m in ("dlib", "onnxruntime")):
    pretrained = skface.analyze([photo_file])
    print(pretrained.drop(columns=["file"]).round(2).to_string(index=False))
    print(pretrained.attrs.get("notes"))
else:
    print('the pretrained models need pip install "skface[faces,detect]"')

workdir.cleanup()  # the tables, the model, the report and the photo
