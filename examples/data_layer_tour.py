"""
A tour of the data layer
========================

From a folder of face images to pixel arrays and labels, ready for an estimator.

The example reads the real UTKFace folder when it finds one (``$SKFACE_UTKFACE_DIR``
or ``../shared/datasets/UTKFace`` beside the checkout) and otherwise makes
**synthetic** cartoon faces, so it runs anywhere. ``SKFACE_EXAMPLE_N`` limits how
many images are used (CI sets it to keep the run short).
"""

# %%
# Find the images and their labels
# ---------------------------------
# ``load_utkface`` reads labels from file names only; it opens no image. The real
# dataset has five malformed names: they are left out with a warning naming each.
import os
import tempfile
import time
import warnings
from pathlib import Path

from skface import AgeBinEncoder, ImageLoader, UTKFaceLabelDecoder, image_cache_info
from skface.datasets import check_images, load_utkface, make_faces

folder = Path(os.environ.get("SKFACE_UTKFACE_DIR",
                             Path(__file__).resolve().parents[2] / "shared/datasets/UTKFace"))
n = int(os.environ.get("SKFACE_EXAMPLE_N", "0")) or None
if not folder.is_dir():
    folder = Path(tempfile.mkdtemp(prefix="skface-example-"))
    make_faces(n or 500, directory=folder, random_state=0)
    print(f"UTKFace not found: using synthetic faces in {folder}")

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

# %%
# Labels from the same paths, and age groups
# ------------------------------------------
y = UTKFaceLabelDecoder().fit_transform(faces["path"])
for bins in ("decades", "life_stages", "balanced"):
    enc = AgeBinEncoder(bins, n_bins=6).fit(y["age"])
    groups = zip(enc.labels_, enc.counts_, strict=True)
    print(f"{bins:>12}: " + ", ".join(f"{label} ({count})" for label, count in groups))
