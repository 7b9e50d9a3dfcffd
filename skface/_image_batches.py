"""Decoding many image files into one uint8 array: what ``ImageLoader`` runs on paths.

Files are decoded in threads (:func:`run_chunked`) by :func:`skface._imaging.decode_image`;
every file that cannot be read is collected and named in one :class:`ImageLoadError`
(:func:`format_failures`). Decoded images are memoised in a process-wide cache keyed
by file identity (device, inode, size, modification time) and the decoding parameters,
bounded in bytes and evicted least-recently-used, so that cross-validation and grid
search decode each file once per process (:func:`image_cache_info`,
:func:`clear_image_cache`, :func:`set_image_cache_limit`).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ._image_files import DecodeFailure, stat_regular
from ._imaging import DecodeSpec, decode_image
from .exceptions import ImageLoadError

__all__ = [
    "CacheInfo",
    "check_files_exist",
    "clear_image_cache",
    "format_failures",
    "image_cache_info",
    "load_images",
    "resolve_threads",
    "run_chunked",
    "set_image_cache_limit",
]


# --------------------------------------------------------------------------- the cache


class CacheInfo(NamedTuple):
    """Counters of the decoded-image cache, like ``functools.lru_cache``'s."""

    hits: int
    """Images served from the cache."""
    misses: int
    """Images looked up and not found (then decoded)."""
    decodes: int
    """Files decoded, with the cache on or off."""
    images: int
    """Images held now."""
    nbytes: int
    """Bytes the cache keeps alive now: every array its images are part of, counted once,
    plus a fixed per-entry overhead."""
    max_bytes: int
    """The bound on ``nbytes``; least recently used images are evicted beyond it."""


_ENTRY_OVERHEAD = 256  # bytes for the key, the ndarray header and the dict slot
_ENV = "SKFACE_IMAGE_CACHE_BYTES"
_DEFAULT_BYTES = 2 * 1024**3
_MAX_LIMIT = 2**63 - 1  # numpy's int64, far beyond any machine's memory
_MAX_EXPONENT = 100  # in 1e9 notation: no size needs more, and 1e-99999999 is no size
_LIMIT_SYNTAX = re.compile(r"([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?", re.ASCII)


def _owner(arr: np.ndarray) -> np.ndarray:
    """The array that owns ``arr``'s memory: a view keeps all of it alive."""
    while isinstance(arr.base, np.ndarray):
        arr = arr.base
    return arr


class _ImageCache:
    """LRU cache of decoded images, bounded by the memory it really keeps alive.

    An entry may be a view into a larger array (a whole decoded batch); that array
    stays alive as long as any of its views is cached, so it is charged in full, once,
    from its first cached view until its last one is evicted.
    """

    def __init__(self, max_bytes: int | None = None):
        # key -> (image, id of its owner array)
        self._data: OrderedDict[tuple, tuple[np.ndarray, int]] = OrderedDict()
        # id of an owner array -> [the array, number of cached entries viewing it]
        self._owners: dict[int, list] = {}
        self._lock = threading.Lock()
        self._max_bytes = None if max_bytes is None else int(max_bytes)
        self.nbytes = self.hits = self.misses = self.decodes = 0

    @property
    def max_bytes(self) -> int:
        """The bound; read from the environment on first use unless set."""
        if self._max_bytes is None:
            self._max_bytes = _default_cache_bytes()
        return self._max_bytes

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: tuple, arr: np.ndarray) -> None:
        """Cache ``arr``, charging its owner array unless a cached entry already does."""
        owner = _owner(arr)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._release(old)
            record = self._owners.get(id(owner))
            if record is None:
                if owner.nbytes + _ENTRY_OVERHEAD > self.max_bytes:
                    return
                record = self._owners[id(owner)] = [owner, 0]
                self.nbytes += owner.nbytes
            record[1] += 1
            self._data[key] = (arr, id(owner))
            self.nbytes += _ENTRY_OVERHEAD
            self._evict()

    def put_batch(self, items: Sequence[tuple[int, tuple]], batch: np.ndarray) -> None:
        """Cache ``batch[i]`` under ``key`` for each ``(i, key)`` of ``items``.

        When the images are most of the batch and the whole batch fits the bound, the
        entries are views of it (the pixels are held once, and the batch is charged in
        full). Otherwise each entry is a copy of its image, so that the batch is not
        kept alive by a few of its images; only the last images that fit are copied,
        the earlier ones would be evicted by them at once.
        """
        if not items:
            return
        max_bytes = self.max_bytes
        if 2 * len(items) >= len(batch) and (
            batch.nbytes + _ENTRY_OVERHEAD * len(items) <= max_bytes
        ):
            for i, key in items:
                self.put(key, batch[i])
            return
        fit = max_bytes // (batch[0].nbytes + _ENTRY_OVERHEAD)
        for i, key in items[max(0, len(items) - fit):]:
            self.put(key, batch[i].copy())

    def _release(self, entry: tuple[np.ndarray, int]) -> None:
        self.nbytes -= _ENTRY_OVERHEAD
        record = self._owners[entry[1]]
        record[1] -= 1
        if record[1] == 0:
            del self._owners[entry[1]]
            self.nbytes -= record[0].nbytes

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes and self._data:
            _, old = self._data.popitem(last=False)
            self._release(old)

    def count_decodes(self, n: int) -> None:
        with self._lock:
            self.decodes += n

    def info(self) -> CacheInfo:
        max_bytes = self.max_bytes
        with self._lock:
            return CacheInfo(self.hits, self.misses, self.decodes, len(self._data),
                             self.nbytes, max_bytes)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._owners.clear()
            self.nbytes = self.hits = self.misses = self.decodes = 0

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self._max_bytes = int(max_bytes)
            self._evict()


def _whole_bytes(text: str) -> int | None:
    """``text`` as a whole number from 0 to ``_MAX_LIMIT``, or None.

    Digits 0-9 with an optional fraction and exponent (``1e9``, ``1.5e3``; an exponent
    from -100 to 100), worked out on the digits themselves: no value costs more than
    its length, and none raises anything.
    """
    match = _LIMIT_SYNTAX.fullmatch(text)
    if match is None:
        return None
    whole, fraction, sign, exponent = match.groups(default="")
    exponent = exponent.lstrip("0") or "0"
    if len(exponent) > len(str(_MAX_EXPONENT)) or int(exponent) > _MAX_EXPONENT:
        return None  # no size is written so, not even 0e-99999
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return 0
    significant = digits.rstrip("0")
    shift = len(digits) - len(significant) - len(fraction) + int(sign + exponent)
    if shift < 0 or len(significant) + shift > len(str(_MAX_LIMIT)):
        return None  # not whole, or more digits than the largest bound has
    value = int(significant) * 10**shift
    return value if value <= _MAX_LIMIT else None


def _default_cache_bytes() -> int:
    """The bound given by ``SKFACE_IMAGE_CACHE_BYTES``, or 2 GiB when it is unset or empty.

    Raises
    ------
    ValueError
        Naming the variable and its value, when it is not a whole number of bytes from 0
        to 2**63 - 1 (written with the digits 0-9, optionally in exponent notation with
        an exponent from -100 to 100).
    """
    env = os.environ.get(_ENV)
    if env is None or not env.strip():
        return _DEFAULT_BYTES
    value = _whole_bytes(env.strip())
    if value is None:
        shown = repr(env) if len(env) <= 80 else f"{env[:40]!r}... ({len(env):,} characters)"
        raise ValueError(
            f"the environment variable {_ENV}={shown} is not a valid size for skface's "
            f"decoded-image cache: give a whole number of bytes from 0 to {_MAX_LIMIT}, "
            "such as 1000000000 or 1e9 (0 turns the cache off), or unset it for the "
            "default of 2 GiB."
        )
    return value


_CACHE = _ImageCache()  # the bound is read from the environment when first needed


def image_cache_info() -> CacheInfo:
    """Counters and size of the process-wide decoded-image cache.

    Returns
    -------
    CacheInfo
        Named tuple ``(hits, misses, decodes, images, nbytes, max_bytes)``.
        ``decodes`` counts every file decoded by :class:`~skface.ImageLoader`
        in this process, cached or not.

    Raises
    ------
    ValueError
        When the environment variable ``SKFACE_IMAGE_CACHE_BYTES`` is not a valid size
        and :func:`set_image_cache_limit` has not been called.

    See Also
    --------
    clear_image_cache, set_image_cache_limit

    Examples
    --------
    >>> from skface import image_cache_info
    >>> image_cache_info().max_bytes > 0
    True
    """
    return _CACHE.info()


def clear_image_cache() -> None:
    """Empty the decoded-image cache and reset its counters."""
    _CACHE.clear()


def set_image_cache_limit(max_bytes: int) -> None:
    """Bound the decoded-image cache, in bytes; ``0`` turns caching off process-wide.

    The default is 2 GiB (about 170,000 RGB images at 64 pixels), or the value of the
    environment variable ``SKFACE_IMAGE_CACHE_BYTES``, read when the cache is first
    used. Lowering the bound evicts the least recently used images at once. The bound
    counts the memory the cache really keeps alive.

    The bound is also written to ``os.environ["SKFACE_IMAGE_CACHE_BYTES"]``, so worker
    processes started afterwards by this process (joblib's default ``loky`` backend,
    e.g. under ``GridSearchCV(n_jobs=k)``, or ``multiprocessing``) inherit it. Workers
    that already run keep the bound they started with: joblib reuses its ``loky``
    workers between calls for a few minutes, so call this before the first parallel
    search, or stop them with
    ``joblib.externals.loky.get_reusable_executor().shutdown(wait=True)``. Workers
    started independently (a Dask or Ray cluster) need the environment variable set
    where they are started.

    Parameters
    ----------
    max_bytes : int
        Largest number of bytes the cache may keep alive, from 0 to 2**63 - 1.

    Raises
    ------
    ValueError
        When ``max_bytes`` is not an integer in that range.
    """
    if (isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer))
            or not 0 <= max_bytes <= _MAX_LIMIT):
        raise ValueError(
            f"max_bytes must be a non-negative integer of at most {_MAX_LIMIT}, "
            f"got {max_bytes!r}"
        )
    _CACHE.resize(int(max_bytes))
    os.environ[_ENV] = str(int(max_bytes))


# --------------------------------------------------------------------------- many files


def _file_key(path: str) -> tuple[tuple | None, str | None]:
    """Identity of a file for the cache, or the reason it cannot be read."""
    st, reason = stat_regular(path)
    if reason is not None:
        return None, reason
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), None


def check_files_exist(paths: Sequence[str]) -> None:
    """Check that every path is a non-empty regular file (no decoding).

    Raises
    ------
    ImageLoadError
        Naming every missing, empty or unreadable file, with the reason.
    """
    failures = []
    for path in paths:
        _, reason = _file_key(path)
        if reason is not None:
            failures.append((str(path), reason))
    if failures:
        raise ImageLoadError(format_failures(failures, len(paths)), failures)


def resolve_threads(n_jobs: int | None) -> int:
    """Number of decoding threads for ``n_jobs`` (None or -1: all CPUs)."""
    cpus = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cpus
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return max(1, int(n_jobs))


def run_chunked(func, items: Sequence, n_threads: int) -> list:
    """Apply ``func`` to chunks of ``items`` in threads; results in order."""
    if n_threads <= 1 or len(items) < 2:
        return [func(items)]
    n_chunks = min(len(items), n_threads * 8)
    bounds = np.linspace(0, len(items), n_chunks + 1).astype(int)
    chunks = [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    with ThreadPoolExecutor(max_workers=min(n_threads, len(chunks))) as pool:
        return list(pool.map(func, chunks))


_TRAINING_ADVICE = ("Fix or replace these files, or remove them from X and y together "
                    "(skface.datasets.check_images lists every unreadable file).")


def format_failures(failures: list[tuple[str, str]], n_total: int,
                    advice: str = _TRAINING_ADVICE) -> str:
    """The message of an ImageLoadError: the failing images, their reasons, ``advice``."""
    shown = failures[:10]
    lines = "\n".join(f"  {path!r}: {reason}" for path, reason in shown)
    more = f"\n  ... and {len(failures) - len(shown)} more" if len(failures) > len(shown) else ""
    return (
        f"Could not load {len(failures)} of {n_total} image(s):\n{lines}{more}\n"
        f"{advice} All failures are in the error's .failures attribute."
    )


def load_images(
    paths: Sequence[str], spec: DecodeSpec, *, n_jobs: int | None = None, use_cache: bool = True
) -> np.ndarray:
    """Decode ``paths`` into one ``(n, size, size, channels)`` uint8 array.

    Raises
    ------
    ImageLoadError
        Naming every file that could not be read, after trying them all.
    """
    n = len(paths)
    out = np.empty((n, spec.size, spec.size, spec.channels), dtype=np.uint8)
    failures: dict[int, str] = {}
    todo: list[tuple[int, tuple]] = []
    caching = use_cache and _CACHE.max_bytes > 0
    for i, path in enumerate(paths):
        key, reason = _file_key(path)
        if reason is not None:
            failures[i] = reason
            continue
        key = (*key, spec)
        cached = _CACHE.get(key) if caching else None
        if cached is None:
            todo.append((i, key))
        else:
            out[i] = cached

    def work(chunk):
        bad = []
        for i, _ in chunk:
            try:
                out[i] = decode_image(paths[i], spec)
            except DecodeFailure as exc:
                bad.append((i, str(exc)))
        return bad

    for bad in run_chunked(work, todo, resolve_threads(n_jobs)):
        failures.update(bad)
    _CACHE.count_decodes(len(todo))
    if caching:
        # The cache may keep views of ``out`` rather than copies, so that a fit from
        # paths holds the pixels once; ``out`` is made read-only so that neither side
        # can change the other's images.
        out.flags.writeable = False
        _CACHE.put_batch([(i, key) for i, key in todo if i not in failures], out)
    if failures:
        listed = [(str(paths[i]), failures[i]) for i in sorted(failures)]
        raise ImageLoadError(format_failures(listed, n), listed)
    return out
