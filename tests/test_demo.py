"""The Gradio demo: built from a fitted model, served on 127.0.0.1, called over HTTP."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time

import numpy as np
import pytest
from PIL import Image

from skface import FaceCropper, GenderClassifier
from skface.datasets import make_faces
from skface.exceptions import ImageLoadError

from .conftest import UTKFACE as UTKFACE_DIR
from .conftest import png_header_only

needs_gradio = pytest.mark.skipif(
    importlib.util.find_spec("gradio") is None or importlib.util.find_spec("cv2") is None,
    reason='the demo needs Gradio and OpenCV: pip install "skface[demo]"')

FACE = "10_0_0_20170120220628194.jpg.chip.jpg"  # found by the Haar cascade when pasted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model():
    X, y = make_faces(200, size=32, random_state=0)
    return GenderClassifier(module="basic_cnn", max_epochs=1, verbose=0,
                            random_state=0).fit(X, y["gender_name"])


@pytest.fixture(scope="module")
def served(model):
    from skface._demo import build_demo

    demo = build_demo(model, title="skface test")
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                quiet=True, share=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _photo(tmp_path, face: Image.Image | None):
    photo = Image.new("RGB", (320, 240), (150, 170, 190))
    if face is not None:
        photo.paste(face.resize((140, 140)), (90, 50))
    path = tmp_path / "photo.png"
    photo.save(path)
    return path


def _rows(table) -> list:
    return table["data"] if isinstance(table, dict) else table.to_numpy().tolist()


def _records(table) -> list[dict]:
    """The table's rows as dicts by column name."""
    headers = table["headers"] if isinstance(table, dict) else list(table.columns)
    return [dict(zip(headers, row, strict=True)) for row in _rows(table)]


@pytest.mark.slow
@needs_gradio
def test_served_demo_finds_no_face_in_a_plain_picture(served, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(served, verbose=False)
    image, table = client.predict(handle_file(str(_photo(tmp_path, None))), api_name="/predict")
    assert all(v in (None, "") for row in _rows(table) for v in row)
    assert np.asarray(Image.open(image)).shape == (240, 320, 3)


@pytest.mark.slow
@needs_gradio
@pytest.mark.utkface
@pytest.mark.skipif(not (UTKFACE_DIR / FACE).exists(), reason=f"no UTKFace folder at {UTKFACE_DIR}")
def test_served_demo_draws_a_prediction_on_the_face(served, model, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(served, verbose=False)
    path = _photo(tmp_path, Image.open(UTKFACE_DIR / FACE).convert("RGB"))
    image, table = client.predict(handle_file(str(path)), api_name="/predict")
    (row,) = _records(table)
    x, y, w, h, label = (row[c] for c in ("x", "y", "w", "h", "label"))
    assert abs(x - 90) < 15 and abs(w - 140) < 20 and label in ("female", "male")
    assert abs(row["p(female)"] + row["p(male)"] - 1) < 1e-3  # probabilities shown
    drawn = np.asarray(Image.open(image).convert("RGB")).astype(int)
    original = np.asarray(Image.open(path).convert("RGB")).astype(int)
    changed = np.abs(drawn - original).max(axis=2) > 40  # Gradio re-encodes: small noise
    assert changed[y:y + h, x:x + w].sum() > 100  # the box is drawn on the face
    assert changed[:y, x:x + w].sum() > 100  # the label above it
    assert not changed[y + 8:y + h - 8, x + 8:x + w - 8].any()  # not over the face
    assert not changed[:, :60].any() and not changed[:, 260:].any()  # and nowhere else


@needs_gradio
def test_demo_refuses_a_model_it_cannot_size(tmp_path):
    from skface._demo import build_demo

    class Opaque:
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ValueError, match="cannot tell which image size"):
        build_demo(Opaque())


def test_without_gradio_the_error_says_how_to_install(monkeypatch):
    from skface import _demo

    monkeypatch.setitem(sys.modules, "gradio", None)
    with pytest.raises(ImportError, match=r'pip install "skface\[demo\]"'):
        _demo.build_demo(object())


@pytest.mark.slow
@needs_gradio
@pytest.mark.timeout(120)
def test_served_demo_decodes_uploads_itself_and_refuses_other_formats(served, tmp_path):
    from gradio_client import Client, handle_file

    upload = tmp_path / "holiday.jpg"
    upload.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\nshowpage\n")
    client = Client(served, verbose=False)
    with pytest.raises(Exception, match=r"holiday\.jpg") as info:
        client.predict(handle_file(str(upload)), api_name="/predict")
    assert "EPS" in str(info.value) and "not an allowed raster format" in str(info.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [5000, 9500])  # under and over Pillow's own limit
def test_uploads_are_capped_in_pixels_before_decoding(tmp_path, side):
    from skface._demo import MAX_UPLOAD_PIXELS, read_upload

    assert MAX_UPLOAD_PIXELS < side * side
    path = png_header_only(tmp_path / "huge.png", side, side)  # decoding it would take GBs
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match=rf"huge\.png.*{side}x{side}.*at most"):
        read_upload(path)
    assert time.perf_counter() - start < 5


def test_uploads_are_capped_in_bytes(tmp_path):
    from skface._demo import MAX_UPLOAD_BYTES, read_upload

    photo = _photo(tmp_path, None)
    assert read_upload(photo).shape == (240, 320, 3)
    with pytest.raises(ImageLoadError, match=r"photo\.png.*bytes, above the demo's limit"):
        read_upload(photo, max_bytes=photo.stat().st_size - 1)
    assert 1024**2 <= MAX_UPLOAD_BYTES <= 100 * 1024**2


@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs OpenCV")
def test_the_upload_handler_reads_through_the_decoder(tmp_path, model):
    from skface._demo import predict_upload

    drawn, faces = predict_upload(model, _photo(tmp_path, None), cropper=FaceCropper(size=32))
    assert drawn.shape == (240, 320, 3) and faces.empty
    with pytest.raises(ImageLoadError, match="file not found"):
        predict_upload(model, tmp_path / "gone.png")


@pytest.mark.utkface
@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs OpenCV")
@pytest.mark.skipif(not (UTKFACE_DIR / FACE).exists(), reason=f"no UTKFace folder at {UTKFACE_DIR}")
@pytest.mark.parametrize("side", [61, 140])
def test_the_upload_handler_gives_probabilities_and_labels_outside_the_faces(tmp_path, model,
                                                                             side):
    from skface._demo import predict_upload
    from skface._draw import label_plates

    photo = Image.new("RGB", (320, 240), (150, 170, 190))
    face = Image.open(UTKFACE_DIR / FACE).convert("RGB")
    photo.paste(face.resize((side, side)), (90, 20))  # near the top: label room is short
    photo.save(tmp_path / "photo.png")
    drawn, faces = predict_upload(model, tmp_path / "photo.png", cropper=FaceCropper(size=32))
    assert {"face", "x", "y", "w", "h", "p(female)", "p(male)", "label"} <= set(faces.columns)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[["p(female)", "p(male)"]].sum(axis=1), 1, atol=1e-3)
    x, y, w, h = (int(v) for v in faces.loc[0, ["x", "y", "w", "h"]])
    assert faces.loc[0, "label"] in ("female", "male")
    (plate,) = label_plates([(x, y, w, h)], [faces.loc[0, "label"]], 320, 240)
    x0, y0, x1, y1 = plate.plate
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert y1 <= y or y0 >= y + h  # the label is outside the face box
    changed = np.abs(drawn.astype(int) - np.asarray(photo).astype(int)).max(axis=2) > 0
    assert changed[y0:y1, x0:x1].mean() > 0.9


@pytest.mark.utkface
@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs OpenCV")
@pytest.mark.skipif(not (UTKFACE_DIR / FACE).exists(), reason=f"no UTKFace folder at {UTKFACE_DIR}")
def test_a_face_crop_upload_is_one_face_predicted_as_analyze_predicts_it(tmp_path, model):
    from skface import analyze
    from skface._demo import predict_upload

    path = tmp_path / "crop.png"
    Image.open(UTKFACE_DIR / FACE).convert("RGB").save(path)
    drawn, faces = predict_upload(model, path)
    assert faces[["x", "y", "w", "h"]].values.tolist() == [[0, 0, 200, 200]]
    expected = analyze([str(path)], model)
    np.testing.assert_allclose(faces["p(female)"], expected["p(female)"], atol=1e-4)
    assert drawn.shape == (200, 200, 3)


@needs_gradio
def test_the_demo_image_has_no_caption_over_the_first_face(model):
    import gradio as gr

    from skface._demo import build_demo

    demo = build_demo(model, title="skface test")
    images = [b for b in demo.blocks.values() if isinstance(b, gr.Image)]
    assert images and all(not image.show_label for image in images)
    tables = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe)]
    assert len(tables) == 1 and "probability" in tables[0].label
