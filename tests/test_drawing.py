"""draw_predictions: labels outside the face box, inside the image, legible on small faces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skface import draw_predictions
from skface._draw import MIN_FONT, label_plates

LABELS = ["5 · male · White", "32 · female · Asian", "100 · female · Others", "7"]
SIZES = [40, 61, 120, 300]


def _positions(side: int, width: int, height: int) -> dict[str, tuple[int, int]]:
    """Where a ``side``-pixel face can sit: centre, against each edge and in each corner."""
    right, bottom = width - side, height - side
    mid_x, mid_y = right // 2, bottom // 2
    return {"centre": (mid_x, mid_y), "top": (mid_x, 0), "bottom": (mid_x, bottom),
            "left": (0, mid_y), "right": (right, mid_y), "top left": (0, 0),
            "top right": (right, 0), "bottom left": (0, bottom),
            "bottom right": (right, bottom)}


def _overlap(a, b) -> bool:
    """Whether rectangles ``(x0, y0, x1, y1)`` (ends excluded) share a pixel."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize("side", SIZES)
@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 640), (400, 400)])
def test_label_plates_lie_inside_the_image_and_outside_the_face(side, width, height):
    for where, (x, y) in _positions(side, width, height).items():
        for label in LABELS:
            (plate,) = label_plates([(x, y, side, side)], [label], width, height)
            x0, y0, x1, y1 = plate.plate
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (where, plate.plate)
            assert not _overlap(plate.plate, (x, y, x + side, y + side)), (where, side)
            # above the face when there is room, else below it
            assert (y1 == y) if y >= y1 - y0 else (y0 == y + side), (where, plate.plate)
            assert plate.text.replace("\n", " · ") == label  # nothing dropped
            assert plate.font.size >= MIN_FONT  # legible on small faces too


@pytest.mark.parametrize(("width", "height"), [(1000, 560), (1920, 1080), (3000, 4000)])
@pytest.mark.parametrize("side", [40, 61, 120])
def test_a_small_face_in_a_large_photo_gets_a_label_legible_at_screen_size(
        side, width, height):
    """Photos are shown scaled down to a screen: the smallest text grows with the image
    (at least 1/50 of its long side), so a small face's label stays readable there; the
    plate still lies inside the image and outside the face."""
    for where, (x, y) in _positions(side, width, height).items():
        (plate,) = label_plates([(x, y, side, side)], ["27 · female · Asian"], width, height)
        assert plate.font.size >= max(MIN_FONT, max(width, height) / 50 - 1), where
        x0, y0, x1, y1 = plate.plate
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (where, plate.plate)
        assert not _overlap(plate.plate, (x, y, x + side, y + side)), (where, side)


@pytest.mark.parametrize("side", SIZES)
def test_drawn_labels_cover_no_face_pixel_and_stay_in_the_image(side):
    rng = np.random.default_rng(side)
    height, width = 480, 640
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for where, (x, y) in _positions(side, width, height).items():
        out = draw_predictions(image, [(x, y, side, side)], ["32 · female · Asian"])
        changed = (out != image).any(axis=2)
        (plate,) = label_plates([(x, y, side, side)], ["32 · female · Asian"], width, height)
        x0, y0, x1, y1 = plate.plate
        thick = max(1, round(min(height, width) / 100))
        face = np.zeros_like(changed)
        face[y + thick:y + side - thick, x + thick:x + side - thick] = True
        assert not changed[face].any(), where  # nothing over the face inside the outline
        assert changed[y0:y1, x0:x1].mean() > 0.9, where  # the plate is drawn
        drawn = np.zeros_like(changed)
        drawn[y:y + side, x:x + side] = True  # the outline
        drawn[y0:y1, x0:x1] = True
        assert not changed[~drawn].any(), where  # nothing else changes


def test_a_small_face_gets_a_label_wider_than_its_box_kept_inside_the_image():
    (plate,) = label_plates([(600, 200, 40, 40)], ["100 · female · Others"], 640, 480)
    x0, _, x1, y1 = plate.plate
    assert x1 - x0 > 40 and x1 == 640  # wider than the box, moved left to stay inside
    assert "\n" not in plate.text and y1 == 200


def test_a_narrow_image_breaks_the_label_into_lines_and_a_box_filling_it_gets_its_bottom():
    (plate,) = label_plates([(10, 40, 60, 60)], ["100 · female · Others"], 80, 120)
    x0, y0, x1, y1 = plate.plate
    assert "\n" in plate.text and 0 <= x0 < x1 <= 80 and 0 <= y0 < y1 <= 120
    # a face crop: the box is the whole image, no room above or below it
    (plate,) = label_plates([(0, 0, 200, 200)], ["12 · female · White"], 200, 200)
    x0, y0, x1, y1 = plate.plate
    assert y1 == 200 and y0 > 150 and 0 <= x0 < x1 <= 200


def test_drawing_leaves_the_input_alone_and_checks_its_arguments():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    before = image.copy()
    boxes = pd.DataFrame({"x": [30, 140], "y": [40, 100], "w": [60, 40], "h": [50, 40]})
    out = draw_predictions(image, boxes, ["age 31", "female"])
    np.testing.assert_array_equal(image, before)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (out[40, 30:90] == (255, 64, 0)).all()  # the top edge of the outline
    changed = (out != image).any(axis=2)
    assert changed[100:120, 140:160].any()  # a box cut by the image is drawn cut
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        draw_predictions(image, boxes, ["x"])
    no_labels = draw_predictions(image, boxes)
    assert not (no_labels != image).any(axis=2)[:40].any()  # boxes only: no plate above
