"""
Faces in ordinary photos
========================

The estimators learn from aligned face crops. For an ordinary photo,
:class:`~skface.FaceCropper` finds the faces with OpenCV's bundled Haar cascade
(``pip install "skface[detect]"``; nothing is downloaded) and crops them the way
UTKFace is framed, so it takes ``ImageLoader``'s place in front of a fitted estimator.
:func:`~skface.draw_predictions` then draws the boxes and predictions on the photo.

The "photo" here is made by pasting two UTKFace faces onto a plain background. Run it
as ``python faces_in_photos.py path/to/UTKFace``, or with the environment variable
``SKFACE_UTKFACE_DIR`` naming the folder. Without either it uses **synthetic** cartoon
faces and says so; the cascade finds those less reliably (where it finds none,
``no_face="full"`` uses the whole photo, with a warning naming it).
``SKFACE_EXAMPLE_N`` sets the number of training images (3,000 by default). The photo
is written to a temporary folder, removed at the end.
"""

# %%
# A model trained on crops
# ------------------------
import os
import sys
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.pipeline import make_pipeline

from skface import FaceCropper, GenderClassifier, ImageLoader, draw_predictions
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "3000"))
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
    # two faces the cascade finds at the sizes pasted below, kept out of training
    names = ["10_0_0_20170120220628194.jpg.chip.jpg", "14_0_0_20170102234323550.jpg.chip.jpg"]
    file_names = faces["path"].map(os.path.basename)
    if file_names.isin(names).sum() != 2:  # another copy of the data set: any two faces
        names = file_names.iloc[:2].tolist()
    pasted = [Image.open(os.path.join(utkface, name)).convert("RGB") for name in names]
    faces = faces[~file_names.isin(names)]
    faces = faces.sample(n=min(n, len(faces)), random_state=0)
    X = ImageLoader(size=48).transform(faces["path"])
else:
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"{n} SYNTHETIC faces")
    X, faces = make_faces(n, size=48, random_state=0)
    pasted = [Image.fromarray(img) for img in make_faces(2, size=200, random_state=1)[0]]
model = GenderClassifier(max_epochs=3 if n < 1000 else 20, verbose=0, random_state=0)
model.fit(X, faces["gender_name"])

# %%
# A photo with two faces
# ----------------------
workdir = tempfile.TemporaryDirectory(prefix="skface-photos-")
photo_file = os.path.join(workdir.name, "photo.png")
photo = Image.new("RGB", (480, 320), (150, 170, 190))
for face, (x, y, side) in zip(pasted, [(40, 60, 140), (320, 120, 90)], strict=True):
    photo.paste(face.resize((side, side)), (x, y))
photo.save(photo_file)

# %%
# Detect, crop, predict, draw
# ---------------------------
# ``multiple="all"`` keeps every face; ``crop`` returns the crops and, row for row,
# where each was found. With ``no_face="full"`` a photo without a face is used whole,
# with a warning naming it, instead of an error.
cropper = FaceCropper(size=48, multiple="all", no_face="full")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    crops, boxes = cropper.crop([photo_file])
for w in caught:
    print("warning:", w.message)
print(boxes[["face", "n_faces", "detected", "x", "y", "w", "h"]].to_string(index=False))
proba = model.predict_proba(crops)
labels = [f"{c} {p:.0%}" for c, p in zip(model.classes_[proba.argmax(1)], proba.max(1),
                                          strict=True)]
drawn = draw_predictions(np.asarray(photo), boxes, labels)
print("predictions:", labels)
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
ax.imshow(drawn)
ax.set_axis_off()
plt.show()

# %%
# The same as one pipeline
# ------------------------
# FaceCropper's output has ImageLoader's layout, so it slots in front of the fitted
# estimator (keep ``multiple="largest"`` there: one row per photo).
pipe = make_pipeline(FaceCropper(size=48, no_face="full"), model)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    print("largest face:", pipe.predict([photo_file]))

workdir.cleanup()  # the photo
