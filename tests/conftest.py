"""Fixtures named by role. Nothing here writes outside pytest's temporary folders."""

from __future__ import annotations

import copy
import os
import random
import struct
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

import skface

REPO = Path(__file__).resolve().parents[1]
UTKFACE = Path(os.environ.get("SKFACE_UTKFACE_DIR", REPO.parent / "shared/datasets/UTKFace"))
UTKFACE_MALFORMED = (
    "24_0_1_20170116220224657 .jpg.chip.jpg",
    "39_1_20170116174525125.jpg.chip.jpg",
    "55_0_0_20170116232725357jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_1_20170109150557335.jpg.chip.jpg",
)


@pytest.fixture(autouse=True)
def _seeded_and_clean_cache():
    """Every test starts with fixed seeds (random, numpy's and torch's global generators)
    and an empty decoded-image cache."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - code under test may use the legacy global RNG
    torch.manual_seed(0)
    skface.clear_image_cache()
    yield
    skface.clear_image_cache()


@pytest.fixture(scope="session")
def utkface_dir() -> Path:
    """The real UTKFace folder (../shared/datasets/UTKFace); tests skip where it is absent."""
    if not UTKFACE.is_dir():
        pytest.skip(
            f"real UTKFace images not found at {UTKFACE}: they are not shipped with skface; "
            "set SKFACE_UTKFACE_DIR to a UTKFace folder to run these tests"
        )
    return UTKFACE


@pytest.fixture(scope="session")
def utkface_subset(utkface_dir) -> list[Path]:
    """A deterministic subset of 60 well-named real images spread over the sorted folder."""
    names = sorted(n for n in os.listdir(utkface_dir) if n not in UTKFACE_MALFORMED)
    return [utkface_dir / n for n in names[:: max(1, len(names) // 60)][:60]]


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A folder of 40 synthetic cartoon faces in UTKFace naming (written once per session)."""
    folder = tmp_path_factory.mktemp("synthetic")
    skface.datasets.make_faces(40, size=48, directory=folder, random_state=0)
    return folder


@pytest.fixture
def synthetic_paths(synthetic_dir) -> list[str]:
    return sorted(str(p) for p in synthetic_dir.iterdir())


# --------------------------------------------------------------------------- training


class TinyNet(nn.Module):
    """A small network following the registry's contract, to keep the tests fast.

    ``depth`` blocks of a 3x3 convolution (``width`` channels, twice as many in each next
    block), batch norm, ReLU and 2x2 max pooling, then global average pooling and a
    linear head. Tests pass it as ``module=`` (``fast_params`` does), with
    ``module__width`` and ``module__depth`` where they need another size.
    """

    def __init__(self, *, n_outputs: int, in_channels: int = 3, width: int = 16,
                 depth: int = 3):
        super().__init__()
        layers, c = [], in_channels
        for w in (width * 2**i for i in range(depth)):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, n_outputs)

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture(scope="session")
def tiny_module() -> type[nn.Module]:
    """The tiny network's class, for ``module=`` or to subclass."""
    return TinyNet


@pytest.fixture(scope="session")
def fast_params() -> Mapping:
    """Estimator parameters for a fit in well under a second: the tiny network, one epoch,
    silent, seeded. Read-only; a test that needs more writes
    ``{**fast_params, "max_epochs": 3}``."""
    return MappingProxyType({"module": TinyNet, "max_epochs": 1, "verbose": 0,
                             "random_state": 0})


@pytest.fixture(scope="session")
def learning_params(fast_params) -> Mapping:
    """``fast_params`` with enough training (10 epochs at lr 3e-3) for the tiny network to
    learn the synthetic faces' gender, race and age well above chance."""
    return MappingProxyType({**fast_params, "max_epochs": 10, "lr": 3e-3})


@pytest.fixture(scope="session")
def registered_fast_params(fast_params) -> Mapping:
    """``fast_params`` with a network of skface's registry (``basic_cnn``), for what needs
    one: the safe model format names the network, and ONNX export is checked on a real
    one."""
    return MappingProxyType({**fast_params, "module": "basic_cnn"})


FITTED_TARGETS = {"GenderClassifier": ["gender"], "RaceClassifier": ["race"],
                  "AgeRegressor": ["age"], "AgeBinner": ["age"],
                  "FaceAttributes": ["age", "gender", "race"]}


@pytest.fixture(scope="session")
def fitted_model(synthetic_faces, fast_params) -> Callable[[str], object]:
    """``fitted_model(name)``: a fitted estimator of the class ``name`` (a key of
    ``FITTED_TARGETS``), for the tests that need a fitted model and not a good one.

    Each model is fitted once per test run, when a test first asks for it, with
    ``fast_params`` (the tiny network, one epoch) on the first 300 of
    ``synthetic_faces(n, size=32, random_state=1)``, labels as integer codes (a
    ``FaceAttributes`` gets the three columns). Every call returns a deep copy, so a test
    may change or refit its model without another test seeing it.
    """
    fitted: dict[str, object] = {}

    def get(name: str):
        if name not in fitted:
            X, y = synthetic_faces(300, size=32, random_state=1)
            columns = FITTED_TARGETS[name]
            target = y[columns].astype({c: int for c in columns if c != "age"})
            target = target if len(columns) > 1 else target[columns[0]]
            fitted[name] = getattr(skface, name)(**fast_params).fit(X, target)
        return copy.deepcopy(fitted[name])

    return get


@pytest.fixture(scope="session")
def synthetic_faces() -> Callable[..., tuple[np.ndarray, pd.DataFrame]]:
    """``synthetic_faces(n, size=32, random_state=0)``: ``make_faces``' images and labels,
    drawn once per session for each size and seed (image i does not depend on n), and
    copied for every call, so no test sees another's changes."""
    drawn: dict[tuple[int, int], tuple[np.ndarray, pd.DataFrame]] = {}

    def faces(n: int, *, size: int = 32, random_state: int = 0):
        key = (size, random_state)
        if key not in drawn or len(drawn[key][0]) < n:
            drawn[key] = skface.datasets.make_faces(n, size=size, random_state=random_state)
        X, y = drawn[key]
        return X[:n].copy(), y.iloc[:n].copy()

    return faces


# --------------------------------------------------------------------------- helpers


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Names, sizes and modification times of a folder's entries (to show nothing changed)."""
    return {e.name: (e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)}


def png_header_only(path: Path, width: int, height: int) -> str:
    """A PNG that declares a huge size in a few bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(data + chunk(b"IEND", b""))
    return str(path)


# ------------------------------------------------ photos with faces, for detection tests

# Chosen after checking that the Haar cascade finds each of them, alone, at 60 to 140 px
# on a plain background (it misses some UTKFace faces). RAW_ONLY is found on its own
# 200x200 crop only by the retry inside a black border.
BIG = "10_0_0_20170120220628194.jpg.chip.jpg"
SMALL = "14_0_0_20170102234323550.jpg.chip.jpg"
RAW_ONLY = "12_1_0_20170103175441790.jpg.chip.jpg"
# where the two faces are pasted in the scene: (x, y, side)
BIG_AT = (40, 60, 140)
SMALL_AT = (320, 120, 90)


def _scene(faces: dict[str, Image.Image], size=(480, 320)) -> Image.Image:
    """A plain, softly shaded 'photo' with the two faces pasted at BIG_AT and SMALL_AT."""
    width, height = size
    ramp = np.linspace(0, 40, width, dtype=np.float32)[None, :, None]
    base = np.array([140, 160, 185], dtype=np.float32)[None, None, :]
    background = np.broadcast_to(base + ramp, (height, width, 3)).round().astype(np.uint8)
    scene = Image.fromarray(background, "RGB")
    for name, (x, y, side) in ((BIG, BIG_AT), (SMALL, SMALL_AT)):
        scene.paste(faces[name].resize((side, side), Image.Resampling.BILINEAR), (x, y))
    return scene


@pytest.fixture(scope="session")
def faces() -> dict[str, Image.Image]:
    if not UTKFACE.is_dir():
        pytest.skip(f"real UTKFace faces not found at {UTKFACE}")
    return {n: Image.open(UTKFACE / n).convert("RGB") for n in (BIG, SMALL, RAW_ONLY)}


@pytest.fixture(scope="session")
def scene_path(faces, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("scene") / "two faces.png"
    _scene(faces).save(path)
    return str(path)


@pytest.fixture(scope="session")
def no_face_path(tmp_path_factory) -> str:
    """A 200x120 picture with shapes and no face."""
    im = Image.new("RGB", (200, 120), (90, 120, 60))
    draw = ImageDraw.Draw(im)
    draw.rectangle((20, 20, 70, 90), fill=(200, 30, 30))
    draw.ellipse((110, 30, 180, 100), fill=(30, 30, 200))
    path = tmp_path_factory.mktemp("noface") / "landscape.png"
    im.save(path)
    return str(path)
