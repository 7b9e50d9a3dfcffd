"""
A tour of the data layer
========================

From a folder of face images to pixel arrays and labels, ready for an estimator.

Run it as ``python data_layer_tour.py path/to/UTKFace``, or with the environment
variable ``SKFACE_UTKFACE_DIR`` naming the folder. Without either it writes
**synthetic** cartoon faces into a temporary folder (removed at the end) and says so, so
it runs anywhere. ``SKFACE_EXAMPLE_N`` limits how many images are used (all of the
folder, or 500 synthetic ones, by default).
"""

# %%
# Find the images and their labels
# ---------------------------------
# ``load_utkface`` reads labels from file names only; it opens no image. The real
# dataset has five malformed names: they are left out with a warning naming each.
import os
import sys
import tempfile
import time
import warnings

import matplotlib.pyplot as plt

from skface import AgeBinEncoder, ImageLoader, UTKFaceLabelDecoder, image_cache_info
from skface.datasets import check_images, load_utkface, make_faces
from skface.plots import plot_sample_grid

n = int(os.environ.get("SKFACE_EXAMPLE_N", "0")) or None
folder = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKFACE_UTKFACE_DIR")
if folder and not os.path.isdir(folder):
    sys.exit(f"No UTKFace folder at {folder!r}: pass the folder of UTKFace images as "
             "the first argument or set SKFACE_UTKFACE_DIR to it.")
workdir = tempfile.TemporaryDirectory(prefix="skface-tour-")
if not folder:
    folder = workdir.name
    make_faces(n or 500, directory=folder, random_state=0)
    print("No UTKFace folder given (first argument or SKFACE_UTKFACE_DIR): using "
          f"SYNTHETIC faces written to {folder}")

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    faces = load_utkface(folder)
for w in caught:
    print("warning:", str(w.message).splitlines()[0])
faces = faces.sample(n=min(n, len(faces)), random_state=0) if n else faces
print(faces.head())
print(faces[["gender_name", "race_name"]].value_counts().unstack())

# %%
# Check the files, then load the pixels
# -------------------------------------
# ``check_images`` decodes everything once and names unreadable files; ``ImageLoader``
# would raise on them, naming each, rather than skip one and misalign X and y.
report = check_images(faces["path"])
print(f"{(~report['readable']).sum()} unreadable of {len(report)}")

loader = ImageLoader(size=64)
t0 = time.perf_counter()
X = loader.fit_transform(faces["path"])
t1 = time.perf_counter()
X_again = loader.transform(faces["path"])
t2 = time.perf_counter()
print(f"{X.shape} {X.dtype}: first call {len(X) / (t1 - t0):,.0f} images/s, "
      f"second call {len(X) / (t2 - t1):,.0f} images/s from the cache")
print(image_cache_info())
plot_sample_grid(X, faces[["age", "gender_name", "race_name"]], n=12, random_state=0)
plt.show()

# %%
# Labels from the same paths, and age groups
# ------------------------------------------
y = UTKFaceLabelDecoder().fit_transform(faces["path"])
for bins in ("decades", "life_stages", "balanced"):
    enc = AgeBinEncoder(bins, n_bins=6).fit(y["age"])
    groups = zip(enc.labels_, enc.counts_, strict=True)
    print(f"{bins:>12}: " + ", ".join(f"{label} ({count})" for label, count in groups))

workdir.cleanup()  # the synthetic images, if any
