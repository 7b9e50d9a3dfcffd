"""Finding unreadable images before they stop a fit."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

from .._image_batches import resolve_threads as _resolve_threads
from .._image_batches import run_chunked
from .._imaging import DecodeFailure, probe_image

__all__ = ["check_images"]


def _inspect(path: str) -> tuple:
    try:
        header = probe_image(path)
    except DecodeFailure as exc:
        return (False, *(exc.header or (None,) * 4), str(exc))
    return (True, *header, None)


def check_images(paths: Iterable[str | os.PathLike], *, n_jobs: int | None = None) -> pd.DataFrame:
    """Open and fully decode every image, and say which ones are unreadable.

    Files are read as :class:`~skface.ImageLoader` reads them: only regular files, and
    only JPEG, PNG, WebP, GIF, BMP, TIFF and PPM/PGM images (no other format's decoder
    is run, whatever the file's name). Nothing is written and nothing is cached. Use
    it to clean a list of paths before training, so that :class:`~skface.ImageLoader`
    does not stop on a bad file halfway through a grid search.

    Parameters
    ----------
    paths : iterable of str or path-like
        Image files.
    n_jobs : int or None, default=None
        Decoding threads; ``None`` or ``-1`` uses every CPU.

    Returns
    -------
    report : DataFrame
        One row per path, in input order: ``path``, ``readable`` (bool),
        ``format``, ``mode``, ``width``, ``height`` (missing where the header
        cannot be read) and ``error`` (the reason, or missing when readable).

    See Also
    --------
    skface.ImageLoader : Raises on the same files, naming them.

    Examples
    --------
    >>> import tempfile
    >>> from skface.datasets import check_images, make_faces
    >>> frame = make_faces(3, directory=tempfile.mkdtemp(), random_state=0)
    >>> bool(check_images(frame["path"])["readable"].all())
    True
    """
    paths = [os.fspath(p) for p in paths]

    def work(chunk):
        return [_inspect(p) for p in chunk]

    rows = [r for part in run_chunked(work, paths, _resolve_threads(n_jobs)) for r in part]
    columns = ["readable", "format", "mode", "width", "height", "error"]
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    frame.insert(0, "path", pd.array(paths, dtype=object))
    frame["readable"] = frame["readable"].astype(bool)
    for col in ("width", "height"):
        frame[col] = pd.array(frame[col].to_numpy(dtype=object), dtype="Int64")
    frame["error"] = frame["error"].astype(object).where(~frame["readable"], None)
    return frame
