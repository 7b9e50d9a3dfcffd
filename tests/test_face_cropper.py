"""FaceCropper, draw_predictions and annotate_video, on real UTKFace faces pasted into scenes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from skface import FaceCropper, ImageLoader, annotate_video, draw_predictions
from skface.exceptions import FaceDetectionError, ImageLoadError, NoFaceWarning

from .conftest import BIG, BIG_AT, RAW_ONLY, SMALL, SMALL_AT, UTKFACE, folder_state

needs_utkface = pytest.mark.skipif(
    not UTKFACE.is_dir(),
    reason=f"real UTKFace faces not found at {UTKFACE} (they are not shipped with skface; "
    "set SKFACE_UTKFACE_DIR to a UTKFace folder)",
)
needs_cv2 = pytest.mark.skipif(
    importlib.util.find_spec("cv2") is None,
    reason='OpenCV is not installed: pip install "skface[detect]"',
)

def _flatten(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def _close(square, expected, tol=6) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(square, expected, strict=True))


# --------------------------------------------------------------------------- import


def test_importing_the_modules_does_not_import_cv2():
    code = ("import sys, skface._face_cropper, skface._draw; "
            "print('cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_without_opencv_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes "import cv2" fail
    with pytest.raises(ImportError, match=r'pip install "skface\[detect\]"'):
        FaceCropper().fit(np.zeros((1, 20, 20, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- detection


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_all_finds_both_faces_where_they_were_pasted(scene_path, faces):
    crops, boxes = FaceCropper(size=48, multiple="all").crop([scene_path])
    assert crops.shape == (2, 48, 48, 3) and crops.dtype == np.uint8
    assert boxes["input"].tolist() == [0, 0]
    assert boxes["path"].tolist() == [scene_path, scene_path]
    assert boxes["face"].tolist() == [0, 1]  # largest first
    assert boxes["n_faces"].tolist() == [2, 2]
    assert boxes["detected"].all()
    squares = boxes[["crop_x", "crop_y", "crop_side"]].to_numpy()
    assert _close(squares[0], BIG_AT) and _close(squares[1], SMALL_AT), squares
    # the crops are framed like the UTKFace files they were pasted from
    big, small = ImageLoader(size=48, cache=False).transform([UTKFACE / BIG, UTKFACE / SMALL])
    diff = lambda a, b: np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
    assert diff(crops[0], big) < 12 and diff(crops[1], small) < 12
    assert diff(crops[0], small) > 30
    # transform gives the same crops, in detect's order
    cropper = FaceCropper(size=48, multiple="all")
    np.testing.assert_array_equal(cropper.fit_transform([scene_path]), crops)
    pd.testing.assert_frame_equal(cropper.detect([scene_path]), boxes)


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_largest_keeps_the_bigger_face_and_counts_the_others(scene_path):
    cropper = FaceCropper(size=32)
    crops = cropper.transform([scene_path, scene_path])
    assert crops.shape == (2, 32, 32, 3)
    boxes = cropper.detect([scene_path, scene_path])
    assert boxes["input"].tolist() == [0, 1] and boxes["n_faces"].tolist() == [2, 2]
    assert _close(boxes[["crop_x", "crop_y", "crop_side"]].to_numpy()[0], BIG_AT)


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_multiple_error_names_the_file_and_what_to_do(scene_path, faces, tmp_path):
    one = tmp_path / "one face.jpg"
    faces[BIG].save(one)
    with pytest.raises(FaceDetectionError, match="2 faces found") as info:
        FaceCropper(multiple="error").transform([str(one), scene_path])
    assert info.value.failures[0][0] == scene_path and len(info.value.failures) == 1
    assert repr(scene_path) in str(info.value) and "multiple='all'" in str(info.value)


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_a_picture_without_face_raises_naming_it(scene_path, no_face_path):
    with pytest.raises(FaceDetectionError, match="no face found") as info:
        FaceCropper().transform([scene_path, no_face_path])
    assert info.value.failures == [(no_face_path, info.value.failures[0][1])]
    assert repr(no_face_path) in str(info.value) and "no_face='full'" in str(info.value)
    with pytest.raises(FaceDetectionError, match="image at position 0"):
        FaceCropper().transform(np.zeros((1, 64, 64, 3), dtype=np.uint8))


@needs_cv2
def test_no_face_full_uses_the_whole_image_and_says_so(no_face_path):
    cropper = FaceCropper(size=40, no_face="full")
    with pytest.warns(NoFaceWarning, match="landscape.png"):
        crops, boxes = cropper.crop([no_face_path])
    assert crops.shape == (1, 40, 40, 3) and crops.dtype == np.uint8
    assert boxes["detected"].tolist() == [False] and boxes["n_faces"].tolist() == [0]
    assert boxes[["x", "y", "w", "h"]].to_numpy().tolist() == [[40, 0, 120, 120]]
    whole = ImageLoader(size=40, fit_mode="crop", cache=False).transform([no_face_path])
    assert np.abs(crops.astype(int) - whole.astype(int)).mean() < 2


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_arrays_give_the_same_crops_as_files(scene_path):
    image = np.asarray(Image.open(scene_path).convert("RGB"))
    cropper = FaceCropper(size=32, multiple="all")
    from_file = cropper.transform([scene_path])
    np.testing.assert_array_equal(cropper.transform(image[None]), from_file)
    # a list of images of different sizes; the right one keeps only the small face
    crops, boxes = cropper.crop([image, image[:, 240:]])
    assert crops.shape == (3, 32, 32, 3)
    assert boxes["input"].tolist() == [0, 0, 1] and boxes["path"].isna().all()
    np.testing.assert_array_equal(crops[2], from_file[1])
    # greyscale in, three channels out
    grey = np.asarray(Image.open(scene_path).convert("L"))[None, :, :, None]
    out = cropper.transform(grey)
    assert out.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_utkface_crops_themselves_are_found_and_framed_like_themselves():
    # RAW_ONLY is missed on its own crop and found again inside a black border
    boxes = FaceCropper().detect([UTKFACE / RAW_ONLY, UTKFACE / BIG])
    assert boxes["detected"].all()
    for _, row in boxes.iterrows():
        assert abs(row["crop_side"] - 200) <= 35
        assert abs(row["crop_x"] + row["crop_side"] / 2 - 100) <= 25
        assert abs(row["crop_y"] + row["crop_side"] / 2 - 100) <= 25


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_in_a_pipeline_with_a_downstream_estimator(scene_path):
    paths = [scene_path, str(UTKFACE / RAW_ONLY), str(UTKFACE / SMALL)]
    model = make_pipeline(FaceCropper(size=24), FunctionTransformer(_flatten),
                          DummyClassifier(strategy="most_frequent"))
    model.fit(paths, ["a", "b", "b"])
    assert model.predict(paths).tolist() == ["b", "b", "b"]
    clone(model).fit(paths, ["a", "a", "b"])


def test_init_only_stores_and_fit_validates():
    cropper = FaceCropper(multiple="every", size=0)  # no error yet
    assert cropper.get_params()["multiple"] == "every"
    with pytest.raises(InvalidParameterError):
        cropper.fit(np.zeros((1, 8, 8, 3), dtype=np.uint8))
    for bad in ({"margin": -0.1}, {"scale_factor": 1.0}, {"no_face": "skip"}):
        with pytest.raises(InvalidParameterError):
            FaceCropper(**bad).fit(["a.jpg"])
    params = {"size": 64, "margin": 0.2, "multiple": "all", "no_face": "full",
              "scale_factor": 1.2, "min_neighbors": 3, "min_size": 20}
    assert clone(FaceCropper(**params)).get_params() == params


@needs_cv2
def test_tags_and_statelessness():
    cropper = FaceCropper()
    tags = get_tags(cropper)
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert not tags.requires_fit
    check_is_fitted(cropper)
    assert cropper.fit(["x.jpg"]) is cropper and vars(cropper) == vars(FaceCropper())


@needs_cv2
def test_bad_inputs_say_what_to_pass(tmp_path):
    cropper = FaceCropper()
    with pytest.raises(TypeError, match="wrap it in a list"):
        cropper.transform("photo.jpg")
    with pytest.raises(ValueError, match=r"X\[None\]"):
        cropper.transform(np.zeros((30, 30, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        cropper.transform(np.zeros((1, 30, 30, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="mixing"):
        cropper.transform([np.zeros((30, 30, 3), dtype=np.uint8), "photo.jpg"])
    missing = str(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="file not found") as info:
        cropper.transform([missing])
    assert info.value.failures == [(missing, "file not found")]


# --------------------------------------------------------------------------- drawing


def test_drawing_changes_pixels_inside_the_box_only():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    before = image.copy()
    boxes = pd.DataFrame({"x": [30, 140], "y": [20, 100], "w": [60, 40], "h": [50, 40]})
    out = draw_predictions(image, boxes, ["age 31", "female"])
    np.testing.assert_array_equal(image, before)  # input untouched
    assert out.shape == image.shape and out.dtype == np.uint8
    inside = np.zeros(image.shape[:2], dtype=bool)
    inside[20:70, 30:90] = True
    inside[100:120, 140:160] = True  # the second box is clipped by the image
    changed = (out != image).any(axis=2)
    assert not changed[~inside].any()
    outline = np.r_[changed[20, 30:90], changed[69, 30:90], changed[20:70, 30], changed[20:70, 89]]
    assert outline.mean() > 0.95  # (random pixels may already have the outline's colour)
    assert changed[22:28, 32:50].mean() > 0.9  # the label strip at the top left
    assert not changed[40:65, 40:85].any()  # the face itself is left as it was
    assert changed[100:120, 140:160].any()
    assert (out[20, 30:90] == (255, 64, 0)).all()  # the top edge of the outline
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        draw_predictions(image, boxes, ["x"])


# --------------------------------------------------------------------------- video


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _read_video(path: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_annotate_video_writes_a_new_file_with_every_frame(scene_path, tmp_path):
    scene = np.asarray(Image.open(scene_path).convert("RGB"))
    frames = [np.roll(scene, 4 * k, axis=1) for k in range(6)]  # the faces move right
    source_dir, out_dir = tmp_path / "in", tmp_path / "out"
    source_dir.mkdir()
    out_dir.mkdir()
    src = source_dir / "clip.mp4"
    _write_video(src, frames)
    before = folder_state(source_dir)

    cropper = FaceCropper(size=24, multiple="all")
    crops = cropper.transform([scene_path])
    model = make_pipeline(FunctionTransformer(_flatten), DummyClassifier()).fit(
        crops, ["face", "face"])
    dst = out_dir / "annotated.mp4"
    found = annotate_video(model, src, dst, cropper=cropper)

    assert folder_state(source_dir) == before  # nothing written next to the source
    assert sorted(p.name for p in out_dir.iterdir()) == ["annotated.mp4"]  # no leftovers
    written = _read_video(dst)
    assert len(written) == len(_read_video(src)) == 6
    assert found["frame"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert set(found["label"]) == {"face"}
    x, y = int(found["x"].iloc[0]), int(found["y"].iloc[0])
    assert abs(x - BIG_AT[0]) <= 12  # the big face, in the first frame
    # the outline was drawn: the box's top edge is orange, not the face's pixels
    edge = written[0][y + 1, x + 60 : x + 120].astype(int)
    assert (edge[:, 0] > 200).all() and (edge[:, 2] < 90).all()

    # an existing dst is refused, and replaced only when asked
    with pytest.raises(FileExistsError, match="overwrite=True"):
        annotate_video(model, src, dst, cropper=cropper)
    with pytest.raises(FileExistsError, match="source video"):
        annotate_video(model, src, src, cropper=cropper, overwrite=True)
    # a Pipeline that starts with its own FaceCropper crops with it (every face), and
    # every=3 detects on frames 0 and 3 only, drawing their boxes on the frames between
    path_model = make_pipeline(FaceCropper(size=24),
                               FunctionTransformer(_flatten), DummyClassifier())
    path_model.fit([scene_path, scene_path], ["face", "face"])
    found = annotate_video(path_model, src, dst, every=3, overwrite=True)
    assert found["frame"].tolist() == [0, 0, 3, 3]
    assert len(_read_video(dst)) == 6
    assert folder_state(source_dir) == before
    assert sorted(p.name for p in out_dir.iterdir()) == ["annotated.mp4"]
    # a cropper passed explicitly is used as given: largest face only
    found = annotate_video(model, src, dst, overwrite=True,
                           cropper=FaceCropper(size=24, multiple="largest"))
    assert found["frame"].tolist() == [0, 1, 2, 3, 4, 5]
