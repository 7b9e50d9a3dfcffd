"""Fixtures named by role. Nothing here writes outside pytest's temporary folders."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

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
    """Every test starts with fixed seeds and an empty decoded-image cache."""
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - code under test may use the legacy global RNG
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
