"""Pretrained weights named by a URL and its SHA-256: downloaded once, cached, verified.

A network's ``weights`` may be a URL that carries the SHA-256 of the file in its
fragment, as pip writes hashes::

    "https://download.pytorch.org/models/resnet18-f37072fd.pth#sha256=f37072fd..."

Only ``https://``, ``http://`` and ``file://`` URLs are taken, and only with a
``#sha256=`` of 64 hex digits: skface loads no file it cannot check.

- The file is downloaded once into the cache folder (:func:`weights_cache_dir`):
  ``$SKFACE_CACHE_DIR/weights`` if that variable is set, else
  ``$XDG_CACHE_HOME/skface/weights``, else ``~/.cache/skface/weights``. Its name there
  is the first 16 hex digits of the SHA-256 and the URL's file name
  (``<16 hex digits>-resnet18-f37072fd.pth``): a name stands for one content.
- It is written under a temporary name in that folder while its SHA-256 is computed,
  and renamed only once the whole file matches; on a mismatch (or any error) the
  temporary file is removed, so the cache never holds a file that was not verified.
- A cached file is verified again before each use. One that no longer matches is
  refused, never replaced behind the user's back: the message names it and says to
  delete it (the next use downloads it again).
- A download is bounded: at most ``$SKFACE_DOWNLOAD_MAX_BYTES`` bytes (2 GiB by
  default; a larger ``Content-Length`` is refused before anything is read), and a
  connection that sends nothing for ``$SKFACE_DOWNLOAD_TIMEOUT`` seconds (60 by
  default) is dropped.
- ``SKFACE_OFFLINE=1`` never touches the network: a cached file is used if it is
  there and valid, otherwise the error names the URL and the path where the file
  should be placed.

Only the standard library and skface's own bottom-layer helpers are imported here;
the file is read afterwards by :func:`skface.nets._common.read_weights`
(``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .._files import FileRefused, check_regular, open_regular
from .._outputs import atomic_file
from .._version import __version__

__all__ = [
    "CACHE_ENV",
    "MAX_BYTES_ENV",
    "OFFLINE_ENV",
    "SCHEMES",
    "TIMEOUT_ENV",
    "fetch_weights",
    "is_url",
    "parse_weights_url",
    "weights_cache_dir",
]

CACHE_ENV = "SKFACE_CACHE_DIR"
OFFLINE_ENV = "SKFACE_OFFLINE"
MAX_BYTES_ENV = "SKFACE_DOWNLOAD_MAX_BYTES"
TIMEOUT_ENV = "SKFACE_DOWNLOAD_TIMEOUT"
SCHEMES = ("https", "http", "file")
DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_TIMEOUT_S = 60.0

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SHA256_RE = re.compile(r"sha256=([0-9A-Fa-f]{64})")
_HOW_TO_HASH = ("append '#sha256=' and the file's 64 hex digits to the URL (the "
                "publisher's checksum, or `sha256sum FILE` on a copy you trust)")
_CHUNK = 1 << 20
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_NAME_MAX = 100  # characters kept from the URL's file name
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def is_url(weights: object) -> bool:
    """Whether ``weights`` is a string written as a URL (``scheme://...``), any scheme.

    Parameters
    ----------
    weights : object
        A network's ``weights`` argument.

    Returns
    -------
    bool
        True for a string starting with ``scheme://``; a path (``str`` or
        ``os.PathLike``) is not one.
    """
    return isinstance(weights, str) and _URL_RE.match(weights) is not None


def parse_weights_url(url: str) -> tuple[str, str]:
    """Split ``"scheme://...#sha256=<hex>"`` into the URL to fetch and the SHA-256.

    Parameters
    ----------
    url : str
        An ``https://``, ``http://`` or ``file://`` URL whose fragment is
        ``sha256=`` followed by 64 hex digits.

    Returns
    -------
    source : str
        The URL without its fragment.
    sha256 : str
        The expected SHA-256, 64 lowercase hex digits.

    Raises
    ------
    ValueError
        Naming the URL, for another scheme, a URL without a host (``http``) or a
        path, or a missing or malformed ``#sha256=``.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"weights URL {url!r}: the scheme {parts.scheme + '://'!r} is not supported; "
            "skface downloads weights from https://, http:// or file:// URLs only "
            "(or pass the path of a local file)")
    if scheme != "file" and not parts.hostname:
        raise ValueError(f"weights URL {url!r} names no host")
    if not parts.path or parts.path.endswith("/"):
        raise ValueError(f"weights URL {url!r} names no file")
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ValueError(f"weights URL {url!r}: a file:// URL names a local file "
                         "(file:///path/to/file.pth), not one on another host")
    if not parts.fragment:
        raise ValueError(f"weights URL {url!r} has no SHA-256, and skface loads no "
                         f"file it cannot check: {_HOW_TO_HASH}")
    match = _SHA256_RE.fullmatch(parts.fragment)
    if match is None:
        raise ValueError(f"weights URL {url!r}: the fragment {'#' + parts.fragment!r} is "
                         f"not a SHA-256; {_HOW_TO_HASH}")
    return urllib.parse.urlunsplit(parts._replace(fragment="")), match.group(1).lower()


def weights_cache_dir() -> Path:
    """The folder downloaded weights are cached in (it may not exist yet).

    Returns
    -------
    pathlib.Path
        ``$SKFACE_CACHE_DIR/weights`` if ``SKFACE_CACHE_DIR`` is set and not empty;
        else ``$XDG_CACHE_HOME/skface/weights`` if ``XDG_CACHE_HOME`` is an absolute
        path; else ``~/.cache/skface/weights``.
    """
    root = os.environ.get(CACHE_ENV, "").strip()
    if root:
        return Path(root).expanduser() / "weights"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG rules: a relative value is ignored
        return Path(xdg) / "skface" / "weights"
    return Path("~").expanduser() / ".cache" / "skface" / "weights"


def _cache_name(source: str, sha256: str) -> str:
    """The cached file's name: the hash's first 16 hex digits, then the URL's file name."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(source).path.rsplit("/", 1)[-1])
    name = _NAME_CHARS.sub("_", name).lstrip(".")[-_NAME_MAX:] or "weights"
    return f"{sha256[:16]}-{name}"


def _offline() -> bool:
    value = os.environ.get(OFFLINE_ENV, "")
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"the environment variable {OFFLINE_ENV}={value!r} is neither on "
                     "nor off: set it to 1 to never download weights, 0 (or unset it) "
                     "to allow downloads")


def _env_number(name: str, default: float, *, whole: bool) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        number = -1
    if not number > 0 or number == float("inf"):
        kind = "a whole number of bytes" if whole else "a number of seconds"
        raise ValueError(f"the environment variable {name}={value!r} is not valid: give "
                         f"{kind} above 0, or unset it for the default of {default:g}")
    return number


def _sha256_of(path: Path, what: str) -> str:
    try:
        fh = open_regular(path, advice="delete it", allow_empty=True)
    except FileRefused as exc:
        raise ValueError(f"{what} {str(path)!r} cannot be read: {exc}") from None
    digest = hashlib.sha256()
    with fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_source(source: str) -> None:
    """A ``file://`` source must be a regular file (a named pipe would block the read)."""
    path = urllib.request.url2pathname(urllib.parse.urlsplit(source).path)
    try:
        check_regular(path, advice="give the URL of a weights file", allow_empty=True)
    except FileRefused as exc:
        error = FileNotFoundError if exc.missing else ValueError
        raise error(f"cannot read the weights URL {source!r}: {exc}") from None


def _download(source: str, final: Path, sha256: str, *, max_bytes: int,
              timeout: float) -> None:
    """Stream ``source`` into the cache as ``final``, verifying it; nothing left on error."""
    if urllib.parse.urlsplit(source).scheme.lower() == "file":
        _local_source(source)
    request = urllib.request.Request(source, headers={"User-Agent": f"skface/{__version__}"})
    advice = (f"check the URL and the connection, or download the file yourself and "
              f"pass its path (or place it at {str(final)!r})")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise OSError(f"cannot download the weights {source!r}: HTTP {exc.code} "
                      f"{exc.reason}; {advice}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot download the weights {source!r}: {exc.reason}; "
                      f"{advice}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # a timeout, a bad reply
        raise OSError(f"cannot download the weights {source!r}: {exc}; {advice}") from None
    too_big = (f"the weights {source!r} are larger than the {max_bytes:,} bytes skface "
               f"downloads at most; set {MAX_BYTES_ENV} to a larger number of bytes to "
               "allow it")
    with response:
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > max_bytes:
            raise ValueError(f"{too_big} (the server announces {int(length):,} bytes)")
        print(f"skface: downloading {source} into {str(final.parent)!r}", file=sys.stderr)
        with atomic_file(final, overwrite=True, hint="delete it") as tmp:
            digest, size = hashlib.sha256(), 0
            with open(tmp, "wb") as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:  # timeout, cut off
                        raise OSError(f"cannot download the weights {source!r}: "
                                      f"{exc or type(exc).__name__} after {size:,} bytes; "
                                      f"{advice}") from None
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > max_bytes:
                        raise ValueError(too_big)
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if actual != sha256:
                raise ValueError(
                    f"the weights downloaded from {source!r} do not match the SHA-256 of "
                    f"the URL (expected {sha256}, got {actual} for {size:,} bytes); "
                    "nothing was kept. Check the URL and the hash with the publisher.")


def fetch_weights(url: str, *, max_bytes: int | None = None,
                  timeout: float | None = None) -> Path:
    """The cached, verified local copy of ``url``, downloaded first if needed.

    Parameters
    ----------
    url : str
        ``"https://host/file.pth#sha256=<64 hex digits>"`` (or ``http://``,
        ``file://``).
    max_bytes : int, optional
        The largest file downloaded; by default ``$SKFACE_DOWNLOAD_MAX_BYTES``, else
        2 GiB.
    timeout : float, optional
        Seconds without data after which a download is abandoned; by default
        ``$SKFACE_DOWNLOAD_TIMEOUT``, else 60.

    Returns
    -------
    pathlib.Path
        The file in :func:`weights_cache_dir`, whose SHA-256 was just checked.

    Raises
    ------
    ValueError
        For a URL refused by :func:`parse_weights_url`, a download or cached file whose
        SHA-256 differs, a file larger than ``max_bytes``, or an invalid environment
        variable.
    FileNotFoundError
        With ``SKFACE_OFFLINE=1`` when the file is not in the cache (the message says
        where to place it), or for a ``file://`` URL to nothing.
    OSError
        When the download fails (no connection, an HTTP error, a timeout).
    """
    source, sha256 = parse_weights_url(url)
    offline = _offline()
    if max_bytes is None:
        max_bytes = int(_env_number(MAX_BYTES_ENV, DEFAULT_MAX_BYTES, whole=True))
    if timeout is None:
        timeout = _env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, whole=False)
    final = weights_cache_dir() / _cache_name(source, sha256)
    if os.path.lexists(final):
        actual = _sha256_of(final, f"the cached weights of {source!r},")
        if actual != sha256:
            raise ValueError(
                f"the cached weights {str(final)!r} no longer match the SHA-256 of "
                f"{source!r} (expected {sha256}, got {actual}): the file was changed or "
                "damaged on disk. Delete it; the next use downloads it again.")
        return final
    if offline:
        raise FileNotFoundError(
            f"{OFFLINE_ENV} is set, so skface does not download the weights {source!r}, "
            f"and they are not in the cache: place the file (SHA-256 {sha256}) at "
            f"{str(final)!r}, or unset {OFFLINE_ENV}")
    _download(source, final, sha256, max_bytes=max_bytes, timeout=timeout)
    return final
