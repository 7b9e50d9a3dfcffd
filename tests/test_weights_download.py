"""Weights named by a URL and its SHA-256: downloaded once into the cache, verified, offline.

Every download here reads a local file through a ``file://`` URL (the code path of
``https://``), or a stand-in for ``urllib.request.urlopen``; the network is never used.
"""

from __future__ import annotations

import ast
import hashlib
import http.client
import io
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from skface.nets import ResNet18, get_model
from skface.nets import _download as download
from skface.nets._common import read_weights

ENV = ("SKFACE_CACHE_DIR", "XDG_CACHE_HOME", "SKFACE_OFFLINE", "SKFACE_DOWNLOAD_MAX_BYTES",
       "SKFACE_DOWNLOAD_TIMEOUT")


@pytest.fixture(autouse=True)
def _no_network_and_a_private_cache(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKFACE_CACHE_DIR", str(tmp_path / "cache"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _url(path: Path, sha256: str | None = None) -> str:
    url = path.resolve().as_uri()
    return url if sha256 is None else f"{url}#sha256={sha256}"


@pytest.fixture
def state_file(tmp_path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = {"layer.weight": torch.arange(6.0).reshape(2, 3), "layer.bias": torch.ones(2)}
    path = tmp_path / "source" / "tiny-weights.pth"
    path.parent.mkdir()
    torch.save(state, path)
    return path, state


def _cache(tmp_path) -> Path:
    return tmp_path / "cache" / "weights"


def _cached_files(tmp_path) -> list[str]:
    folder = _cache(tmp_path)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- downloads


def test_a_url_is_downloaded_once_then_read_from_the_cache(tmp_path, state_file):
    path, state = state_file
    sha = _sha256(path)
    cached, loaded = read_weights(_url(path, sha))
    assert cached.parent == _cache(tmp_path)
    assert cached.name == f"{sha[:16]}-tiny-weights.pth"
    assert _sha256(cached) == sha
    assert loaded.keys() == state.keys()
    for key in state:
        assert torch.equal(loaded[key], state[key])
    assert _cached_files(tmp_path) == [cached.name]  # no temporary file left

    path.unlink()  # the second use does not read the source
    again, loaded = read_weights(_url(path, sha.upper()))  # hex digits in any case
    assert again == cached
    assert torch.equal(loaded["layer.weight"], state["layer.weight"])


def test_a_file_that_does_not_match_its_sha256_is_refused_and_not_kept(tmp_path, state_file):
    path, _ = state_file
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        read_weights(_url(path, wrong))
    message = str(info.value)
    assert _url(path) in message and wrong in message and _sha256(path) in message
    assert "nothing was kept" in message
    assert _cached_files(tmp_path) == []


@pytest.mark.parametrize("fragment", ["", "#", "#md5=0123", "#sha256=abc", "#sha256=" + "g" * 64,
                                      "#sha256=" + "0" * 65])
def test_a_url_without_a_valid_sha256_is_refused_saying_how_to_add_one(
        tmp_path, state_file, fragment):
    path, _ = state_file
    with pytest.raises(ValueError, match=r"append '#sha256=' and the file's 64 hex digits"):
        read_weights(_url(path) + fragment)
    with pytest.raises(ValueError, match=r"https://example\.org/r\.pth"):
        read_weights("https://example.org/r.pth" + fragment)
    assert _cached_files(tmp_path) == []


@pytest.mark.parametrize("url", ["ftp://example.org/r.pth", "s3://bucket/r.pth",
                                 "hf://user/model/r.pth", "gs://bucket/r.pth"])
def test_other_schemes_are_refused(url):
    with pytest.raises(ValueError, match=r"https://, http:// or file:// URLs only"):
        read_weights(f"{url}#sha256={'0' * 64}")


@pytest.mark.parametrize("url, reason", [
    ("https:///r.pth", "names no host"), ("http://example.org/", "names no file"),
    ("https://example.org", "names no file"),
    ("file://server/share/r.pth", "not one on another host")])
def test_urls_naming_no_file_are_refused(url, reason):
    with pytest.raises(ValueError, match=reason):
        read_weights(f"{url}#sha256={'0' * 64}")


def test_paths_are_not_urls(tmp_path, state_file):
    path, _ = state_file
    assert not download.is_url(path) and not download.is_url(str(path))
    assert not download.is_url("C:\\weights\\r.pth") and download.is_url("HTTPS://x/y")
    assert read_weights(path)[0] == path and read_weights(str(path))[0] == path
    assert _cached_files(tmp_path) == []


def test_a_file_url_to_nothing_or_to_a_folder_is_refused(tmp_path):
    sha = "0" * 64
    with pytest.raises(FileNotFoundError, match=r"cannot read the weights URL .*missing\.pth"):
        read_weights(_url(tmp_path / "missing.pth", sha))
    (tmp_path / "folder.pth").mkdir()
    with pytest.raises(ValueError, match="it is a folder"):
        read_weights(_url(tmp_path / "folder.pth", sha))
    assert _cached_files(tmp_path) == []


def test_the_networks_load_weights_from_a_url(tmp_path):
    torch.manual_seed(0)
    source = ResNet18(n_outputs=1000, small_input=False)
    path = tmp_path / "resnet18-test.pth"
    torch.save(source.state_dict(), path)
    url = _url(path, _sha256(path))
    net = ResNet18(n_outputs=2, small_input=False, weights=url)
    own = net.state_dict()
    for key, tensor in source.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(own[key], tensor), key
    assert net.input_mean is not None  # pretrained: ImageNet normalisation set
    path.unlink()  # the registry's build reads the cached copy
    built = get_model("resnet18", n_outputs=2, small_input=False, weights=url)
    assert torch.equal(built.state_dict()["layer4.1.conv2.weight"],
                       source.state_dict()["layer4.1.conv2.weight"])


# --------------------------------------------------------------------------- the cache


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    assert download.weights_cache_dir() == tmp_path / "cache" / "weights"
    monkeypatch.delenv("SKFACE_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download.weights_cache_dir() == tmp_path / "home" / ".cache" / "skface" / "weights"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.weights_cache_dir() == tmp_path / "xdg" / "skface" / "weights"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG rules say
    assert download.weights_cache_dir() == tmp_path / "home" / ".cache" / "skface" / "weights"
    monkeypatch.setenv("SKFACE_CACHE_DIR", "~/mine")
    assert download.weights_cache_dir() == tmp_path / "home" / "mine" / "weights"


def test_cached_names_keep_the_file_name_and_never_clash():
    one, two = "1" * 64, "2" * 64
    names = [download._cache_name(download.parse_weights_url(f"{url}#sha256={sha}")[0], sha)
             for url, sha in [("https://a.example/m/resnet18.pth", one),
                              ("https://b.example/other/resnet18.pth", two),
                              ("https://a.example/x/r%20b%2F..%2Fevil.pth?sig=abc", one),
                              ("https://a.example/.hidden", two),
                              ("https://a.example/" + "n" * 300 + ".pth", one)]]
    assert names[:4] == [f"{one[:16]}-resnet18.pth", f"{two[:16]}-resnet18.pth",
                         f"{one[:16]}-r_b_.._evil.pth", f"{two[:16]}-hidden"]
    assert names[4].endswith("nnn.pth") and len(names[4]) == 16 + 1 + 100


def test_a_damaged_cached_file_is_refused_until_deleted(tmp_path, state_file):
    path, _ = state_file
    url = _url(path, _sha256(path))
    cached, _ = read_weights(url)
    cached.write_bytes(cached.read_bytes()[:-1] + b"!")
    with pytest.raises(ValueError, match=r"no longer match .*Delete it") as info:
        read_weights(url)
    assert str(cached) in str(info.value) and _sha256(path) in str(info.value)
    assert cached.read_bytes().endswith(b"!")  # left as it was
    cached.unlink()
    assert read_weights(url)[0] == cached  # downloaded again
    assert _sha256(cached) == _sha256(path)


# --------------------------------------------------------------------------- offline


def test_offline_uses_the_cache_and_names_where_a_missing_file_goes(
        tmp_path, state_file, monkeypatch):
    path, state = state_file
    url = _url(path, _sha256(path))
    monkeypatch.setenv("SKFACE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as info:
        read_weights(url)
    expected = _cache(tmp_path) / f"{_sha256(path)[:16]}-tiny-weights.pth"
    message = str(info.value)
    assert "SKFACE_OFFLINE" in message and _url(path) in message and str(expected) in message
    assert _cached_files(tmp_path) == []

    monkeypatch.setenv("SKFACE_OFFLINE", "0")
    assert read_weights(url)[0] == expected
    path.unlink()
    monkeypatch.setenv("SKFACE_OFFLINE", "true")
    assert torch.equal(read_weights(url)[1]["layer.bias"], state["layer.bias"])
    monkeypatch.setenv("SKFACE_OFFLINE", "maybe")
    with pytest.raises(ValueError, match=r"SKFACE_OFFLINE='maybe' is neither on nor off"):
        read_weights(url)


# --------------------------------------------------------------------------- bounds


class _Response(io.BytesIO):
    """A stand-in for what ``urlopen`` returns: a body and headers."""

    def __init__(self, body: bytes, headers: dict[str, str] | None = None, fail_after=None,
                 error: BaseException | None = None):
        super().__init__(body)
        self.headers = headers or {}
        self.fail_after, self.error = fail_after, error or TimeoutError("timed out")

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise self.error
        return super().read(size)


def _serve(monkeypatch, response_or_error, calls=None):
    def fake_urlopen(request, timeout=None):
        if calls is not None:
            calls.append((request.full_url, timeout, request.get_header("User-agent")))
        if isinstance(response_or_error, BaseException):
            raise response_or_error
        return response_or_error

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)


def test_downloads_are_bounded_in_size(tmp_path, state_file, monkeypatch):
    path, _ = state_file
    url = _url(path, _sha256(path))
    monkeypatch.setenv("SKFACE_DOWNLOAD_MAX_BYTES", "100")
    with pytest.raises(ValueError, match=r"larger than the 100 bytes .*announces") as info:
        read_weights(url)
    assert "SKFACE_DOWNLOAD_MAX_BYTES" in str(info.value)
    assert _cached_files(tmp_path) == []
    with pytest.raises(ValueError, match="larger than the 10 bytes"):
        download.fetch_weights(url, max_bytes=10)

    # a server that announces no length is cut off at the bound
    body = b"x" * 1000
    _serve(monkeypatch, _Response(body))
    with pytest.raises(ValueError, match=r"larger than the 100 bytes skface downloads at most;"):
        read_weights(f"https://example.org/big.pth#sha256={hashlib.sha256(body).hexdigest()}")
    assert _cached_files(tmp_path) == []

    for bad in ("-1", "0", "lots", "1e9"):
        monkeypatch.setenv("SKFACE_DOWNLOAD_MAX_BYTES", bad)
        with pytest.raises(ValueError, match=rf"SKFACE_DOWNLOAD_MAX_BYTES={bad!r} is not valid"):
            read_weights(url)


def test_http_downloads_stream_with_a_timeout_and_name_their_failures(
        tmp_path, state_file, monkeypatch):
    path, state = state_file
    body = path.read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    url = f"https://example.org/models/tiny.pth?token=1#sha256={sha}"
    calls = []
    monkeypatch.setenv("SKFACE_DOWNLOAD_TIMEOUT", "5")
    _serve(monkeypatch, _Response(body, {"Content-Length": str(len(body))}), calls)
    cached, loaded = read_weights(url)
    assert cached.name == f"{sha[:16]}-tiny.pth"
    assert torch.equal(loaded["layer.weight"], state["layer.weight"])
    assert calls[0][0] == "https://example.org/models/tiny.pth?token=1"  # no fragment sent
    assert calls[0][1] == 5.0 and calls[0][2].startswith("skface/")
    cached.unlink()

    _serve(monkeypatch, _Response(body, fail_after=0))
    with pytest.raises(OSError, match=r"tiny\.pth\?token=1.*timed out after 0 bytes"):
        read_weights(url)
    cut = http.client.IncompleteRead(b"", 10)  # the server closed 10 bytes short
    _serve(monkeypatch, _Response(body, fail_after=len(body), error=cut))
    with pytest.raises(OSError, match=rf"IncompleteRead.* after {len(body):,} bytes"):
        read_weights(url)
    error = urllib.error.HTTPError("https://example.org", 404, "Not Found", None, None)
    _serve(monkeypatch, error)
    with pytest.raises(OSError, match=r"cannot download .*tiny\.pth.*HTTP 404 Not Found; check"):
        read_weights(url)
    _serve(monkeypatch, urllib.error.URLError("Name or service not known"))
    with pytest.raises(OSError, match=r"Name or service not known; .*place it at"):
        read_weights(url)
    assert _cached_files(tmp_path) == []

    monkeypatch.setenv("SKFACE_DOWNLOAD_TIMEOUT", "never")
    with pytest.raises(ValueError, match=r"SKFACE_DOWNLOAD_TIMEOUT='never' is not valid"):
        read_weights(url)


def test_the_download_module_does_not_import_torch():
    tree = ast.parse(Path(download.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert "torch" not in imported
