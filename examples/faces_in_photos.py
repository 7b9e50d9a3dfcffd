"""
Faces in ordinary photos
========================

The estimators learn from aligned face crops. For an ordinary photo,
:class:`~skface.FaceCropper` finds the faces with OpenCV's bundled Haar cascade
(``pip install "skface[detect]"``; nothing is downloaded) and crops them the way
UTKFace is framed, so it takes ``ImageLoader``'s place in front of a fitted estimator.
:func:`~skface.draw_predictions` then draws the boxes and predictions on the photo.

The "photo" here is made by pasting two real UTKFace faces onto a plain background
(``$SKFACE_UTKFACE_DIR`` or ``../shared/datasets/UTKFace``); without that folder the
example uses synthetic cartoon faces, which the cascade finds less reliably (where it
finds none, ``no_face="full"`` uses the whole photo, with a warning naming it).
``SKFACE_EXAMPLE_N`` sets the number of training images.
"""

# %%
# A model trained on crops
# ------------------------
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.pipeline import make_pipeline

from skface import FaceCropper, GenderClassifier, ImageLoader, draw_predictions
from skface.datasets import load_utkface, make_faces

n = int(os.environ.get("SKFACE_EXAMPLE_N", "3000"))
utkface = Path(os.environ.get("SKFACE_UTKFACE_DIR", Path(__file__).resolve().parents[2]
                              / "shared" / "datasets" / "UTKFace"))
real = utkface.is_dir()
if real:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the five malformed real file names are left out
        faces = load_utkface(utkface).sample(n=n, random_state=0)
    # two faces the cascade finds at these sizes, not among the training images
    pasted = [Image.open(utkface / name).convert("RGB") for name in
              ("10_0_0_20170120220628194.jpg.chip.jpg", "14_0_0_20170102234323550.jpg.chip.jpg")]
    faces = faces[~faces["path"].str.endswith(("20170120220628194.jpg.chip.jpg",
                                               "20170102234323550.jpg.chip.jpg"))]
    X = ImageLoader(size=48).transform(faces["path"])
else:
    X, faces = make_faces(n + 2, size=48, random_state=0)
    pasted = [Image.fromarray(img) for img in make_faces(2, size=200, random_state=1)[0]]
    X, faces = X[:n], faces.iloc[:n]
model = GenderClassifier(max_epochs=3 if n < 1000 else 20, verbose=0, random_state=0)
model.fit(X, faces["gender_name"])

# %%
# A photo with two faces
# ----------------------
photo = Image.new("RGB", (480, 320), (150, 170, 190))
for face, (x, y, side) in zip(pasted, [(40, 60, 140), (320, 120, 90)], strict=True):
    photo.paste(face.resize((side, side)), (x, y))
photo.save("photo.png")

# %%
# Detect, crop, predict, draw
# ---------------------------
# ``multiple="all"`` keeps every face; ``crop`` returns the crops and, row for row,
# where each was found. With ``no_face="full"`` a photo without a face is used whole,
# with a warning naming it, instead of an error.
cropper = FaceCropper(size=48, multiple="all", no_face="full")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    crops, boxes = cropper.crop(["photo.png"])
for w in caught:
    print("warning:", w.message)
print(boxes[["path", "face", "n_faces", "detected", "x", "y", "w", "h"]].to_string(index=False))
proba = model.predict_proba(crops)
labels = [f"{c} {p:.0%}" for c, p in zip(model.classes_[proba.argmax(1)], proba.max(1),
                                          strict=True)]
drawn = draw_predictions(np.asarray(photo), boxes, labels)
Image.fromarray(drawn).save("photo_with_predictions.png")
print("predictions:", labels, "- drawn on photo_with_predictions.png")

# %%
# The same as one pipeline
# ------------------------
# FaceCropper's output has ImageLoader's layout, so it slots in front of the fitted
# estimator (keep ``multiple="largest"`` there: one row per photo).
pipe = make_pipeline(FaceCropper(size=48, no_face="full"), model)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    print("largest face:", pipe.predict(["photo.png"]))
