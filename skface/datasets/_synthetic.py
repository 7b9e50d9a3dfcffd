"""Synthetic cartoon "faces" with known labels, for tests and examples.

The images drawn here are NOT photographs and NOT faces of people. They are
simple cartoons (an oval head, hair, eyes, a mouth) whose look is tied to an age,
gender and race label drawn at random, so that estimators can be trained and
tested with no download. They say nothing about how real people look.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.utils import check_random_state

from .._utils import MAX_IMAGE_SIDE
from ._base import make_label_frame

__all__ = ["make_faces"]

_MIN_AGE_DRAWN = 1
_MAX_AGE_DRAWN = 90
_MIN_SIZE = 16
_JPEG_QUALITY = 95
# File name time stamps count seconds from here; they are not capture times.
_EPOCH = pd.Timestamp("1970-01-01 00:00:00")
_PIXELS_PER_BATCH = 1 << 18  # images are drawn in batches of about this many pixels
_N_UNIFORMS = 40  # uniform random numbers drawn per image (a few are spare)
_F32 = np.float32

# Skin tone per race code (0 White, 1 Black, 2 Asian, 3 Indian, 4 Others), RGB.
# Neighbouring tones overlap once tone jitter and lighting are applied.
_SKIN_TONES = np.array(
    [
        [238, 200, 178],  # 0: light, pinkish
        [96, 60, 42],  # 1: dark brown
        [228, 192, 136],  # 2: light, yellowish
        [162, 106, 72],  # 3: medium brown
        [206, 146, 110],  # 4: warm tan
    ],
    dtype=_F32,
)
_HAIR_COLOURS = np.array(
    [
        [28, 24, 24],  # black
        [62, 42, 30],  # dark brown
        [105, 72, 45],  # brown
        [205, 172, 112],  # blond
        [135, 62, 36],  # auburn
    ],
    dtype=_F32,
)
# Cumulative probabilities of the hair colours above, per race code: code 0 gets
# any colour, the others mostly black or dark brown.
_HAIR_CUMPROB = np.cumsum(
    [
        [0.20, 0.25, 0.25, 0.20, 0.10],
        [0.75, 0.25, 0.00, 0.00, 0.00],
        [0.80, 0.20, 0.00, 0.00, 0.00],
        [0.70, 0.28, 0.02, 0.00, 0.00],
        [0.55, 0.35, 0.08, 0.00, 0.02],
    ],
    axis=1,
)
_IRIS_COLOURS = np.array([[55, 35, 25], [40, 90, 150], [70, 110, 70]], dtype=_F32)
_GREY = np.array([214, 214, 210], dtype=_F32)
_LIPSTICK = np.array([188, 52, 78], dtype=_F32)


def _check_int(value, name: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer; got {value!r} of type {type(value).__name__}."
        )
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}; got {value}.")
    return int(value)


def _check_noise(noise) -> float:
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, numbers.Real):
        raise TypeError(
            "noise must be a real number (the standard deviation of the pixel noise as a "
            f"fraction of the 0-255 range); got {noise!r} of type {type(noise).__name__}."
        )
    noise = float(noise)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(
            "noise must be a finite number >= 0 (0.05, the default, is a standard deviation "
            f"of about 13 grey levels); got {noise}."
        )
    return noise


def _draw_params(seed: int, n: int) -> tuple[np.ndarray, ...]:
    """Labels and one row of uniform random numbers per image.

    Image ``i`` only uses row ``i``, so the first images do not change when
    ``n_samples`` grows.
    """
    u = np.random.default_rng(seed).random((n, _N_UNIFORMS))
    span = _MAX_AGE_DRAWN - _MIN_AGE_DRAWN + 1
    age = (_MIN_AGE_DRAWN + np.floor(u[:, 0] * span)).astype(np.int64)
    gender = (u[:, 1] < 0.5).astype(np.int64)
    race = np.floor(u[:, 2] * 5).astype(np.int64)
    return age, gender, race, u


def _soft(d, px):
    """Anti-aliased coverage of pixels whose centre is ``d`` outside an edge (face units)."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _col(v):
    """Per-image values as a (B, 1, 1) float32 array (scalars pass through)."""
    v = np.asarray(v, dtype=_F32)
    return v.reshape(-1, 1, 1) if v.ndim else v


class _Canvas:
    """A batch of images being drawn, with shapes placed in face units.

    Face units: the head is centred at (0, 0) with a half-height of about 0.6;
    ``x`` points right and ``y`` down. ``X`` has shape (B, 1, W) and ``Y``
    (B, H, 1), so masks broadcast to (B, H, W). Each shape is only computed inside
    the window of rows and columns it can reach in some image of the batch.
    """

    def __init__(self, rgb: np.ndarray, cx, cy, scale):
        # rgb is planar, (channel, image, row, column), so blending loops run along rows.
        self.rgb = rgb
        self.size = size = rgb.shape[-1]
        coords = (np.arange(size, dtype=_F32) + 0.5) * _F32(2.0 / size) - 1.0
        self.cx, self.cy, self.scale = (np.asarray(a, _F32) for a in (cx, cy, scale))
        self.X = (coords[None, None, :] - _col(cx)) / _col(scale)
        self.Y = (coords[None, :, None] - _col(cy)) / _col(scale)
        self.px = _col((2.0 / size) / self.scale)  # one pixel, in face units

    def _span(self, centre, lo, hi) -> slice:
        first = np.min(centre + self.scale * np.asarray(lo, _F32))
        last = np.max(centre + self.scale * np.asarray(hi, _F32))
        half = self.size / 2.0
        start = int(np.floor((first + 1.0) * half - 0.5)) - 2
        stop = int(np.ceil((last + 1.0) * half - 0.5)) + 3
        return slice(max(start, 0), min(max(stop, 0), self.size))

    def window(self, x_lo, x_hi, y_lo, y_hi) -> tuple[slice, slice]:
        """Row and column slices covering a face-unit box in every image."""
        return self._span(self.cy, y_lo, y_hi), self._span(self.cx, x_lo, x_hi)

    def grid(self, win, mirror=False):
        rows, cols = win
        X = self.X[:, :, cols]
        return (np.abs(X) if mirror else X), self.Y[:, rows, :]

    def paint(self, win, cov, colour):
        """Blend ``colour`` (B, 3) over the window with coverage ``cov`` (B, h, w)."""
        rows, cols = win
        region = self.rgb[:, :, rows, cols]
        colour = np.asarray(colour, _F32).T[:, :, None, None]
        region -= colour
        region *= 1.0 - cov
        region += colour

    def shade(self, win, factor):
        """Multiply the window by ``factor`` (B, h, w)."""
        rows, cols = win
        self.rgb[:, :, rows, cols] *= factor

    def ellipse(self, win, x0, y0, a, b, *, mirror=False, taper=None, bend=None):
        """Coverage of an ellipse; ``mirror`` draws it on both sides of x = 0.

        ``taper`` narrows the lower half (a chin), ``bend`` curves it (a smile).
        """
        X, Y = self.grid(win, mirror)
        a, b = _col(a), _col(b)
        dx = X - _col(x0)
        dy = Y - _col(y0)
        if bend is not None:
            dy = dy - _col(bend) * dx * dx
        if taper is not None:
            a = a * (1.0 - _col(taper) * np.clip(dy / b, 0.0, 1.0) ** 2)
        nx = dx / a
        ny = dy / b
        level = nx * nx + ny * ny - 1.0
        # Level / gradient approximates the distance to the outline near it.
        grad = 2.0 * np.sqrt((nx / a) ** 2 + (ny / b) ** 2) + 1e-3
        return _soft(level / grad, self.px)

    def segment(self, win, x0, y0, x1, y1, half_width, *, mirror=False):
        """Coverage of a thick line segment."""
        X, Y = self.grid(win, mirror)
        x0, y0, x1, y1 = (_col(v) for v in (x0, y0, x1, y1))
        ex, ey = x1 - x0, y1 - y0
        t = np.clip(((X - x0) * ex + (Y - y0) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        dist = np.hypot(X - x0 - t * ex, Y - y0 - t * ey)
        return _soft(dist - _col(half_width), self.px)


def _draw(rgb: np.ndarray, age, gender, race, u) -> None:
    """Draw one batch of cartoons into ``rgb`` (3, B, H, W), float 0-255, no noise."""
    n = len(age)
    age = age.astype(_F32)
    female = gender.astype(bool)

    # Age cues: childness (rounder face, larger eyes set lower, narrower
    # shoulders), wrinkles from about 30, hair turning grey from about 45.
    child = np.clip((17.0 - age) / 13.0, 0.0, 1.0)
    wrinkle = np.clip((age - 28.0 + 8.0 * (u[:, 29] - 0.5)) / 50.0, 0.0, 1.0)
    grey = np.clip((age - 45.0 + 16.0 * (u[:, 20] - 0.5)) / 28.0, 0.0, 0.95)

    # Position (a few pixels) and scale (+-10 %) jitter.
    cx = 0.16 * (u[:, 3] - 0.5)
    cy = -0.14 + 0.16 * (u[:, 4] - 0.5)
    scale = 0.70 * (0.9 + 0.2 * u[:, 5]) * (1.0 - 0.08 * child)
    c = _Canvas(rgb, cx, cy, scale)

    # Head geometry.
    fa = 0.45 + 0.07 * child + 0.03 * (u[:, 31] - 0.5)  # half-width
    fb = 0.62 - 0.06 * child  # half-height
    ey = -0.07 + 0.09 * child  # eye line, lower in children
    ex = 0.19 + 0.01 * child
    eye_size = 1.0 + 0.45 * child + 0.15 * (u[:, 32] - 0.5)
    ew = 0.085 * eye_size
    eh = np.where(race == 2, 0.034, 0.058) * eye_size  # narrower eyes for code 2
    my = 0.36 - 0.05 * child  # mouth line

    # Colours.
    bg = 30.0 + 200.0 * u[:, 6:9]
    bg += (bg.mean(axis=1, keepdims=True) - bg) * u[:, 9:10]  # partly desaturated
    skin = _SKIN_TONES[race] * (0.94 + 0.12 * u[:, 13:14]) + 12.0 * (u[:, 14:17] - 0.5)
    hair = _HAIR_COLOURS[(u[:, 17:18] > _HAIR_CUMPROB[race]).sum(axis=1).clip(0, 4)]
    hair = hair + (_GREY - hair) * grey[:, None]
    shirt = 25.0 + 210.0 * u[:, 25:28]
    iris = _IRIS_COLOURS[np.where(race == 0, np.floor(u[:, 24] * 3), 0).astype(np.int64)]
    lips = np.where(
        female[:, None],
        _LIPSTICK + 30.0 * (u[:, 22:23] - 0.5),
        skin * 0.72 + np.array([28, 4, 4], _F32),
    )

    # Gender cues: long hair framing the face down to the shoulders (most
    # girls and women, few boys and men), red and fuller lips, beards on some men.
    long_hair = np.where(female, u[:, 18] < 0.9, u[:, 18] < 0.06)
    hair_bottom = 0.75 + 0.55 * u[:, 19]
    beard = ~female & (age >= 18) & (u[:, 21] < 0.3)
    recede = (~female & (age >= 45) & (u[:, 30] < 0.4)) * np.clip((age - 40.0) / 40.0, 0, 1)
    glasses = u[:, 28] < 0.12  # a nuisance, independent of the labels

    rgb[...] = bg.T[:, :, None, None]

    # Shoulders (narrower for children), ears, then long hair over them.
    win = c.window(-1.3, 1.3, 0.8, 2.6)
    c.paint(win, c.ellipse(win, 0.0, 1.55, 1.15 - 0.35 * child, 0.72), shirt)
    win = c.window(-0.7, 0.7, -0.2, 0.2)
    c.paint(win, c.ellipse(win, fa + 0.02, -0.01, 0.07, 0.12, mirror=True), skin * 0.93)
    if long_hair.any():
        win = c.window(-0.8, 0.8, -0.85, 1.4)
        X, Y = c.grid(win)
        top = c.ellipse(win, 0.0, -0.02, fa + 0.16, fb + 0.13)
        sides = (
            _soft(np.abs(X) - _col(fa + 0.17), c.px)
            * _soft(Y - _col(hair_bottom), c.px)
            * (Y > -0.02)
        )
        c.paint(win, np.maximum(top, sides) * _col(long_hair), hair)
    # Neck and head.
    win = c.window(-0.3, 0.3, 0.2, 1.2)
    X, Y = c.grid(win)
    neck = _soft(np.abs(X) - 0.2 + 0.04 * _col(child), c.px) * _soft(Y - 1.1, c.px)
    c.paint(win, neck, skin * 0.88)
    face_win = c.window(-0.6, 0.6, -0.75, 0.75)
    face = c.ellipse(face_win, 0.0, 0.0, fa, fb, taper=0.22 * (1.0 - child))
    c.paint(face_win, face, skin)
    # Wrinkles, more and darker with age: forehead lines, crow's feet, folds
    # from nose to mouth, lines under the eyes.
    if np.any(wrinkle > 0):
        w = _col(wrinkle)
        X, Y = c.grid(face_win)
        dark = np.zeros(face.shape, _F32)
        for k in range(3):
            line = _soft(np.abs(Y - _col(ey - 0.2 - 0.075 * k) + 0.15 * X * X) - 0.012, c.px)
            line *= _soft(np.abs(X) - (0.24 - 0.04 * k), c.px)
            np.maximum(dark, line * np.clip(4.0 * w - k, 0.0, 1.0), out=dark)
        for slope in (-0.08, 0.06):
            crow = c.segment(face_win, ex + ew + 0.02, ey, ex + ew + 0.1, ey + slope, 0.012,
                             mirror=True)
            np.maximum(dark, crow * np.clip(3.0 * w - 0.5, 0.0, 1.0), out=dark)
        fold = c.segment(face_win, 0.08, 0.14, 0.17, my + 0.02, 0.014, mirror=True)
        np.maximum(dark, fold * np.clip(3.0 * w, 0.0, 1.0), out=dark)
        bags = c.ellipse(face_win, ex, ey + eh + 0.03, ew * 0.8, 0.012, mirror=True)
        np.maximum(dark, bags * np.clip(2.5 * w - 0.6, 0.0, 1.0), out=dark)
        c.shade(face_win, 1.0 - (0.25 + 0.35 * w) * dark * face)
    if beard.any():  # below the mouth line and along the jaw
        X, Y = c.grid(face_win)
        jaw = _soft(_col(my) - 0.1 - Y + 0.25 * X * X, c.px)
        c.paint(face_win, face * jaw * _col(0.9 * beard), hair)
    # Hair on top of the head, with a hairline that recedes in some older men.
    win = c.window(-0.7, 0.7, -0.9, 0.1)
    X, Y = c.grid(win)
    hairline = -0.36 - 0.06 * _col(child) - 0.18 * _col(recede) + 0.5 * X * X
    cap = c.ellipse(win, 0.0, -0.03, fa + 0.05, fb + 0.08) * _soft(Y - hairline, c.px)
    c.paint(win, cap, hair)

    # Eyebrows and eyes (white, iris, pupil), both sides at once.
    win = c.window(-0.5, 0.5, -0.4, 0.25)
    brows = c.segment(win, ex - ew, ey - eh - 0.07, ex + ew, ey - eh - 0.085, 0.018,
                      mirror=True)
    c.paint(win, brows, hair * 0.8)
    c.paint(win, c.ellipse(win, ex, ey, ew, eh, mirror=True), np.full((n, 3), 245.0, _F32))
    eyes = c.ellipse(win, ex, ey, ew * 0.98, eh * 0.98, mirror=True)
    c.paint(win, c.ellipse(win, ex, ey, eh * 1.1, eh * 1.1, mirror=True) * eyes, iris)
    pupils = c.ellipse(win, ex, ey, eh * 0.5, eh * 0.5, mirror=True) * eyes
    c.paint(win, pupils, np.full((n, 3), 12.0, _F32))
    if glasses.any():
        win = c.window(-0.45, 0.45, -0.35, 0.2)
        X, Y = c.grid(win, mirror=True)
        rims = _soft(np.abs(np.hypot(X - _col(ex), Y - _col(ey)) - _col(ew * 1.35)) - 0.015,
                     c.px)
        bridge = c.segment(win, 0.0, ey - 0.02, ex - ew * 1.35, ey - 0.02, 0.013, mirror=True)
        c.paint(win, np.maximum(rims, bridge) * _col(glasses), np.full((n, 3), 20.0, _F32))
    # Nose (a shadow) and mouth (how much it smiles is a nuisance).
    win = c.window(-0.15, 0.15, 0.0, 0.3)
    c.paint(win, c.ellipse(win, 0.0, 0.15 - 0.03 * child, 0.05, 0.035) * 0.55, skin * 0.72)
    win = c.window(-0.35, 0.35, 0.15, 0.55)
    mouth_h = np.where(female, 0.055, 0.042) * (1.0 - 0.2 * child)
    mouth = c.ellipse(win, 0.0, my, 0.16 - 0.03 * child, mouth_h, bend=1.8 * (u[:, 23] - 0.3))
    c.paint(win, mouth, lips)

    # Lighting: overall brightness and a gentle gradient in a random direction.
    strength = 0.25 * u[:, 11]
    angle = 2.0 * np.pi * u[:, 12]
    coords = (np.arange(c.size, dtype=_F32) + 0.5) * _F32(2.0 / c.size) - 1.0
    light = _col(0.82 + 0.32 * u[:, 10]) * (
        1.0
        + _col(strength * np.cos(angle)) * coords[None, None, :]
        + _col(strength * np.sin(angle)) * coords[None, :, None]
    )
    rgb *= light


def _draw_batches(age, gender, race, u, size: int, noise: float, noise_seed: int):
    """Yield ``(slice, uint8 images)`` batch after batch, noise included."""
    n_samples = len(age)
    batch = max(1, min(n_samples, _PIXELS_PER_BATCH // (size * size)))
    canvas = np.empty((3, batch, size, size), dtype=_F32)
    pixel_noise = np.empty((batch, 3, size, size), dtype=_F32)
    noise_rng = np.random.default_rng(noise_seed)
    for start in range(0, n_samples, batch):
        part = slice(start, min(start + batch, n_samples))
        m = part.stop - part.start
        rgb = canvas[:, :m]
        _draw(rgb, age[part], gender[part], race[part], u[part])
        if noise > 0:
            # Drawn image after image, so an image's noise does not depend on batching.
            noise_rng.standard_normal(dtype=_F32, out=pixel_noise[:m])
            pixel_noise[:m] *= _F32(255.0 * noise)
            rgb += pixel_noise[:m].transpose(1, 0, 2, 3)
        rgb += 0.5  # rounds to nearest when truncated below
        np.clip(rgb, 0.0, 255.0, out=rgb)
        yield part, rgb.astype(np.uint8).transpose(1, 2, 3, 0)


def _file_names(age, gender, race) -> tuple[list[str], np.ndarray]:
    """UTKFace-style names, with one second between consecutive time stamps."""
    stamps = _EPOCH + pd.to_timedelta(np.arange(len(age)), unit="s")
    when = stamps.strftime("%Y%m%d%H%M%S") + "000"
    names = [
        f"{a}_{g}_{r}_{w}.jpg.chip.jpg" for a, g, r, w in zip(age, gender, race, when, strict=True)
    ]
    return names, stamps.as_unit("us").to_numpy()


def make_faces(
    n_samples: int = 100,
    *,
    size: int = 64,
    directory: str | os.PathLike | None = None,
    random_state: int | np.random.RandomState | None = None,
    noise: float = 0.05,
) -> tuple[np.ndarray, pd.DataFrame] | pd.DataFrame:
    """Generate SYNTHETIC cartoon face-like images with age, gender and race labels.

    The images are drawings made up by this function, **not photographs and not
    faces of real people**: an oval head with hair, eyes, eyebrows, a nose shadow
    and a mouth over shoulders, in front of a plain background. They exist so
    that tests, examples and tutorials can train and evaluate skface estimators
    in seconds with no download. Nothing learnt from them transfers to real
    faces, and how each label is drawn is a crude cartoon convention, not a
    statement about how people of any age, gender or race look.

    Labels are drawn at random, independently and uniformly: age a whole number
    of years from 1 to 90, gender 0 (male) or 1 (female), race 0 to 4 (skface's
    codes: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others). Each label changes
    the drawing:

    - **race** sets the skin tone (five tones that overlap once tone jitter and
      lighting are applied) and eye height (narrower eyes for code 2), and
      makes light hair and blue or green eyes possible for code 0;
    - **gender** sets hair length (long hair down to the shoulders for 90 % of
      code 1 and 6 % of code 0), lip colour and fullness, and gives a beard to
      some adults coded 0;
    - **age** sets face proportions (children: rounder face, larger eyes set
      lower, narrower shoulders), forehead lines, crow's feet and folds that
      grow in number and darkness from about 30, hair turning grey from about
      45, and a receding hairline in some older men.

    Variation unrelated to the labels keeps the tasks from being trivial: a few
    pixels of position jitter, +-10 % head size, background, shirt and hair
    colour, smile, glasses, brightness, a lighting gradient and pixel noise.

    Parameters
    ----------
    n_samples : int, default=100
        Number of images, at least 1.
    size : int, default=64
        Height and width of the square images in pixels, from 16 to 1024.
    directory : str or path-like, default=None
        If given, write the images there as JPEG files (quality 95) named the way
        UTKFace names its aligned crops, ``{age}_{gender}_{race}_{datetime}.jpg.chip.jpg``,
        and return only the label frame. ``datetime`` has 17 digits
        (``yyyymmddHHMMSSFFF``): 1970-01-01 00:00:00.000 for the first image and
        one second more for each next one, so names are unique; it is not a
        capture time. The directory is created if missing. No file is ever
        overwritten: if any name to be written exists already, nothing is written.
    random_state : int, RandomState instance or None, default=None
        Seeds the labels, the drawings and the noise. Pass an int for
        reproducible output: the same value gives byte-identical images and the
        same labels (with the same numpy version). Image ``i`` does not depend on
        ``n_samples``: the first images of a larger set are those of a smaller
        one, and the labels do not depend on ``size`` or ``noise`` either.
    noise : float, default=0.05
        Standard deviation of the Gaussian pixel noise, as a fraction of the 0-255
        range (0.05 is about 13 grey levels); 0 for none.

    Returns
    -------
    images : ndarray of shape (n_samples, size, size, 3), dtype uint8
        RGB images. Only returned when ``directory`` is None.
    labels : pandas.DataFrame
        One row per image, in the order drawn, with skface's label columns
        ``age`` (float64, years), ``gender`` (Int8), ``gender_name``
        (categorical), ``race`` (Int8) and ``race_name`` (categorical). In memory
        there is no ``path`` column, since there are no files. With
        ``directory`` the frame has the columns that
        :func:`~skface.datasets.load_utkface` gives for that folder: ``path``
        (``directory`` joined with the file name) first, the label columns, then
        ``captured_at`` (the fake time stamp of the file name); rows stay in the
        order drawn, where the loader sorts them by file name.

    Raises
    ------
    TypeError
        If ``n_samples``, ``size``, ``noise`` or ``directory`` has the wrong type.
    ValueError
        If ``n_samples`` < 1, ``size`` < 16 or > 1024, ``noise`` is negative or not finite,
        or ``random_state`` is not a valid seed.
    FileExistsError
        If a file to be written already exists in ``directory``.
    NotADirectoryError
        If ``directory`` exists and is not a directory.

    See Also
    --------
    skface.datasets.load_utkface : Load a folder of UTKFace-named images.
    sklearn.datasets.make_classification : Generate a random classification problem.

    Notes
    -----
    Drawing is vectorised with numpy and anti-aliased; 1,000 images of 64 x 64
    pixels take a fraction of a second.

    Examples
    --------
    >>> from skface.datasets import make_faces
    >>> images, labels = make_faces(8, size=32, random_state=0)
    >>> images.shape, images.dtype
    ((8, 32, 32, 3), dtype('uint8'))
    >>> list(labels.columns)
    ['age', 'gender', 'gender_name', 'race', 'race_name']

    Writing UTKFace-style files instead:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     frame = make_faces(3, directory=folder, random_state=0)
    >>> list(frame.columns)
    ['path', 'age', 'gender', 'gender_name', 'race', 'race_name', 'captured_at']
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    size = _check_int(size, "size", _MIN_SIZE, MAX_IMAGE_SIDE)
    noise = _check_noise(noise)
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise TypeError(
            f"directory must be None, a str or a path-like object; got {directory!r} "
            f"of type {type(directory).__name__}."
        )
    rng = check_random_state(random_state)
    param_seed, noise_seed = (int(s) for s in rng.randint(0, 2**32, size=2, dtype=np.uint64))
    age, gender, race, u = _draw_params(param_seed, n_samples)

    targets = None
    if directory is not None:
        directory = os.fspath(directory)
        if os.path.exists(directory) and not os.path.isdir(directory):
            raise NotADirectoryError(
                f"directory {directory!r} exists and is not a directory; pass the path of a "
                "directory (it is created if missing)."
            )
        names, captured_at = _file_names(age, gender, race)
        targets = [os.path.join(directory, name) for name in names]
        existing = [t for t in targets if os.path.lexists(t)]
        if existing:
            more = f" and {len(existing) - 1} other file(s)" if len(existing) > 1 else ""
            raise FileExistsError(
                f"make_faces will not overwrite {existing[0]!r}{more}. Choose an empty "
                "directory (or delete the earlier synthetic images) and try again; nothing "
                "was written."
            )

    batches = _draw_batches(age, gender, race, u, size, noise, noise_seed)
    if targets is None:
        images = np.empty((n_samples, size, size, 3), dtype=np.uint8)
        for part, pixels in batches:
            images[part] = pixels
        labels = make_label_frame([""] * n_samples, age=age, gender=gender, race=race)
        return images, labels.drop(columns="path")

    os.makedirs(directory, exist_ok=True)
    for part, pixels in batches:  # one batch in memory at a time
        for image, target in zip(pixels, targets[part], strict=True):
            try:
                with open(target, "xb") as fh:
                    Image.fromarray(image).save(fh, format="JPEG", quality=_JPEG_QUALITY)
            except FileExistsError:
                raise FileExistsError(
                    f"make_faces will not overwrite {target!r}, which appeared while the "
                    "images were being written. Choose an empty directory and try again."
                ) from None
    return make_label_frame(
        targets, age=age, gender=gender, race=race, extra={"captured_at": captured_at}
    )
