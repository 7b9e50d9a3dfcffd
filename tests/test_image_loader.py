"""ImageLoader: shapes, modes, orientation, fitting, bad files, the decode cache."""

from __future__ import annotations

import gc
import os
import pickle
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skface
from skface import ImageLoader, UTKFaceLabelDecoder, image_cache_info
from skface.exceptions import ImageLoadError

from .conftest import folder_state, png_header_only

RED, BLUE = (255, 0, 0), (0, 0, 255)


def save(img: Image.Image, path: Path, **kw) -> str:
    img.save(path, **kw)
    return str(path)


def two_colour(width: int, height: int, left=RED, right=BLUE) -> Image.Image:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = left
    arr[:, width // 2 :] = right
    return Image.fromarray(arr)


# ------------------------------------------------------------------------- output


def test_output_is_uint8_with_requested_shape(synthetic_paths):
    X = ImageLoader(size=24).fit_transform(synthetic_paths[:5])
    assert X.shape == (5, 24, 24, 3) and X.dtype == np.uint8
    G = ImageLoader(size=24, color="grayscale").fit_transform(synthetic_paths[:5])
    assert G.shape == (5, 24, 24, 1) and G.dtype == np.uint8
    # greyscale is the luminance of the colour image, not one channel of it
    lum = (X.astype(float) @ [0.299, 0.587, 0.114])[..., None]
    assert np.abs(lum - G).mean() < 2.0


@pytest.mark.parametrize("X_kind", ["list", "tuple", "array", "series", "pathlib", "frame"])
def test_accepts_any_1d_collection_of_paths(synthetic_paths, X_kind):
    paths = synthetic_paths[:3]
    X = {
        "list": paths,
        "tuple": tuple(paths),
        "array": np.asarray(paths),
        "series": pd.Series(paths),
        "pathlib": [Path(p) for p in paths],
        "frame": pd.DataFrame({"path": paths, "age": [1, 2, 3]}),
    }[X_kind]
    expected = ImageLoader(size=16).transform(paths)
    np.testing.assert_array_equal(ImageLoader(size=16).transform(X), expected)


def test_threaded_and_single_threaded_decoding_agree(synthetic_paths):
    one = ImageLoader(size=20, n_jobs=1, cache=False).transform(synthetic_paths)
    many = ImageLoader(size=20, n_jobs=4, cache=False).transform(synthetic_paths)
    np.testing.assert_array_equal(one, many)
    assert len(np.unique(one.reshape(len(one), -1), axis=0)) == len(one)  # not all the same


def test_draft_decode_matches_full_decode(utkface_subset):
    """Reduced-scale JPEG decoding stays close to full decode plus resize."""
    paths = [str(p) for p in utkface_subset[:20]]
    fast = ImageLoader(size=64, cache=False).transform(paths).astype(float)
    full = np.stack([
        np.asarray(Image.open(p).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
        for p in paths
    ]).astype(float)
    assert np.abs(fast - full).mean() < 3.0


# ------------------------------------------------------------------------- modes


def test_converts_every_pillow_mode(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200
    base = Image.fromarray(rgb)
    files = {
        "L": save(base.convert("L"), tmp_path / "l.png"),
        "LA": save(base.convert("LA"), tmp_path / "la.png"),
        "P": save(base.convert("P"), tmp_path / "p.png"),
        "RGBA": save(base.convert("RGBA"), tmp_path / "rgba.png"),
        "CMYK": save(base.convert("CMYK"), tmp_path / "cmyk.jpg", quality=100),
        "1": save(base.convert("L").point(lambda v: 255 if v > 30 else 0).convert("1"),
                  tmp_path / "one.png"),
    }
    out = ImageLoader(size=8).transform(list(files.values()))
    got = dict(zip(files, out, strict=True))
    grey = np.asarray(base.convert("L"))[0, 0]
    np.testing.assert_allclose(got["L"][0, 0], [grey] * 3, atol=1)
    np.testing.assert_allclose(got["LA"][0, 0], [grey] * 3, atol=1)
    np.testing.assert_allclose(got["P"][0, 0], [200, 0, 0], atol=8)
    np.testing.assert_allclose(got["RGBA"][0, 0], [200, 0, 0], atol=1)
    np.testing.assert_allclose(got["CMYK"][4, 4], [200, 0, 0], atol=12)
    np.testing.assert_array_equal(got["1"][0, 0], [255, 255, 255])


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257 * 64], [257 * 128, 65535]], dtype=np.uint16)
    path = save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    out = ImageLoader(size=2, color="grayscale", resample="nearest").transform([path])
    np.testing.assert_array_equal(out[0, :, :, 0], [[0, 64], [128, 255]])


def test_transparent_pixels_take_the_fill_colour(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:, :2, 3] = 255  # left half opaque, right half fully transparent
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "alpha.png")
    out = ImageLoader(size=4, fill=(0, 255, 0), resample="nearest").transform([path])[0]
    np.testing.assert_array_equal(out[:, 0], [(10, 20, 30)] * 4)
    np.testing.assert_array_equal(out[:, 3], [(0, 255, 0)] * 4)

    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([10, 20, 30, 99, 99, 99])
    pal.paste(1, (2, 0, 4, 4))
    path = save(pal, tmp_path / "pal.png", transparency=1)
    out = ImageLoader(size=4, fill=255, resample="nearest").transform([path])[0]
    np.testing.assert_array_equal(out[:, 0], [(10, 20, 30)] * 4)
    np.testing.assert_array_equal(out[:, 3], [(255, 255, 255)] * 4)


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_exif_orientation_is_applied(tmp_path, fmt):
    # Stored 40 wide x 20 high, red left, blue right. Orientation 6 means "rotate
    # 90 degrees clockwise to display": the displayed image is 20 x 40, red on top.
    img = two_colour(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(img, tmp_path / f"rotated.{fmt}", exif=exif.tobytes())
    out = ImageLoader(size=8, fit_mode="stretch").transform([path])[0].astype(int)
    top, bottom = out[:3].mean(axis=(0, 1)), out[-3:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, top
    assert bottom[2] > 200 and bottom[0] < 50, bottom


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 6), c) for c in (RED, BLUE)]
    path = str(tmp_path / "anim.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:])
    out = ImageLoader(size=6).transform([path])[0]
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


# ------------------------------------------------------------------------- fitting


def test_fit_modes_on_a_wide_image(tmp_path):
    # 60 x 20: red | blue, with a green band in the central 20 x 20 square
    arr = np.zeros((20, 60, 3), np.uint8)
    arr[:, :30] = RED
    arr[:, 30:] = BLUE
    arr[:, 20:40] = (0, 255, 0)
    path = save(Image.fromarray(arr), tmp_path / "wide.png")
    crop = ImageLoader(size=10, fit_mode="crop").transform([path])[0].astype(int)
    assert crop[..., 1].mean() > 240  # only the green centre is kept
    pad = ImageLoader(size=12, fit_mode="pad", fill=7).transform([path])[0].astype(int)
    assert (pad[:4] == 7).all() and (pad[-4:] == 7).all()  # 12 x 4 picture, bars above/below
    assert pad[5:7, 0, 0].min() > 200 and pad[5:7, -1, 2].min() > 200
    stretch = ImageLoader(size=12, fit_mode="stretch").transform([path])[0].astype(int)
    assert stretch[:, 0, 0].min() > 200 and stretch[:, -1, 2].min() > 200
    assert stretch[:, 6, 1].min() > 200


# ------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_files(tmp_path, synthetic_paths) -> dict[str, str]:
    good = Path(synthetic_paths[0]).read_bytes()
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.jpg").write_text("<html>404 Not Found</html>")
    (tmp_path / "folder.jpg").mkdir()
    return {
        "missing": str(tmp_path / "missing.jpg"),
        "empty": str(tmp_path / "empty.jpg"),
        "truncated": str(tmp_path / "truncated.jpg"),
        "text": str(tmp_path / "text.jpg"),
        "folder": str(tmp_path / "folder.jpg"),
        "bomb": png_header_only(tmp_path / "bomb.png", 30000, 30000),
        "large": png_header_only(tmp_path / "large.png", 10000, 10000),
    }


# Pillow itself warns before skface refuses a file between 1x and 2x its pixel limit.
_bomb_warning = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@_bomb_warning
@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "file not found"),
        ("empty", "empty (0 bytes)"),
        ("truncated", "truncated or corrupt"),
        ("text", "not an image format Pillow can read"),
        ("folder", "is a folder"),
        ("bomb", "decompression-bomb"),
        ("large", "max_pixels"),
    ],
)
def test_bad_file_error_names_the_file_and_the_reason(bad_files, synthetic_paths, kind, words):
    paths = [synthetic_paths[0], bad_files[kind], synthetic_paths[1]]
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=16).transform(paths)
    message = str(info.value)
    assert bad_files[kind] in message and words in message
    assert "1 of 3" in message
    assert info.value.failures == [(bad_files[kind], info.value.failures[0][1])]
    assert info.value.__cause__ is None  # no bare Pillow traceback chained in


@_bomb_warning
def test_every_bad_file_is_reported_at_once(bad_files, synthetic_paths):
    paths = [*bad_files.values(), *synthetic_paths[:3]]
    with pytest.raises(ImageLoadError) as info:
        ImageLoader(size=16).transform(paths)
    assert [p for p, _ in info.value.failures] == list(bad_files.values())


def test_max_pixels_bounds_what_is_decoded(synthetic_paths):
    with pytest.raises(ImageLoadError, match="max_pixels"):
        ImageLoader(size=8, max_pixels=100).transform(synthetic_paths[:1])
    assert ImageLoader(size=8, max_pixels=48 * 48).transform(synthetic_paths[:1]).shape[0] == 1


@pytest.mark.parametrize(
    ("X", "error", "words"),
    [
        ([], ValueError, "empty list of paths"),
        ("face.jpg", TypeError, "wrap it in a list"),
        (["a.jpg", np.nan], TypeError, "position 1"),
        (["a.jpg", None], TypeError, "position 1"),
        ([""], ValueError, "empty string"),
        (pd.DataFrame({"a": ["x"], "b": ["y"]}), ValueError, "column of file paths"),
    ],
)
def test_invalid_path_collections(X, error, words):
    with pytest.raises(error, match=words):
        ImageLoader().fit_transform(X)


@pytest.mark.parametrize(
    "params",
    [{"size": 0}, {"color": "rgba"}, {"fit_mode": "zoom"}, {"resample": "cubic"},
     {"fill": (1, 2)}, {"fill": 300}, {"max_pixels": 0}],
)
def test_invalid_parameters_are_refused_at_fit(params, synthetic_paths):
    with pytest.raises(ValueError):
        ImageLoader(**params).fit(synthetic_paths[:1])


def test_nothing_is_written_into_the_image_folder(synthetic_dir, synthetic_paths):
    before = folder_state(synthetic_dir)
    ImageLoader(size=16).fit_transform(synthetic_paths)
    skface.datasets.check_images(synthetic_paths)
    assert folder_state(synthetic_dir) == before


# ------------------------------------------------------------------------- the cache


def test_second_transform_is_served_from_the_cache(synthetic_paths):
    loader = ImageLoader(size=16)
    first = loader.transform(synthetic_paths)
    assert image_cache_info().decodes == len(synthetic_paths)
    second = clone(loader).transform(synthetic_paths[::-1])
    np.testing.assert_array_equal(second, first[::-1])
    info = image_cache_info()
    assert info.decodes == len(synthetic_paths) and info.hits == len(synthetic_paths)
    # the cache holds views of the returned arrays, so neither may be written to
    for out in (first, second):
        assert not out.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            out[0] = 0
    writable = second.copy()
    writable[:] = 0
    np.testing.assert_array_equal(loader.transform(synthetic_paths), first)


def test_uncached_output_is_writable(synthetic_paths):
    out = ImageLoader(size=16, cache=False).transform(synthetic_paths)
    out[0] = 0
    assert image_cache_info().images == 0


def test_cache_keeps_one_copy_of_the_pixels(synthetic_paths):
    """The cache's bytes are the returned array's, not a second copy of them."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    out = ImageLoader(size=64).transform(synthetic_paths)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert image_cache_info().images == len(synthetic_paths)
    assert current < 1.3 * out.nbytes + 200_000


def test_cache_key_includes_parameters_and_file_identity(tmp_path, synthetic_paths):
    ImageLoader(size=16).transform(synthetic_paths[:2])
    ImageLoader(size=17).transform(synthetic_paths[:2])
    ImageLoader(size=16, color="grayscale").transform(synthetic_paths[:2])
    assert image_cache_info().decodes == 6
    path = tmp_path / "changing.png"
    Image.new("RGB", (8, 8), RED).save(path)
    assert ImageLoader(size=4).transform([path])[0, 0, 0, 0] == 255
    Image.new("RGB", (9, 9), BLUE).save(path)  # same name, new content
    assert ImageLoader(size=4).transform([path])[0, 0, 0, 0] == 0


def test_cache_can_be_turned_off_and_bounded(synthetic_paths):
    ImageLoader(size=16, cache=False).transform(synthetic_paths)
    ImageLoader(size=16, cache=False).transform(synthetic_paths)
    info = image_cache_info()
    assert info.decodes == 2 * len(synthetic_paths) and info.images == 0
    one_image = 16 * 16 * 3 + 256
    try:
        skface.set_image_cache_limit(5 * one_image)
        ImageLoader(size=16).transform(synthetic_paths)
        info = image_cache_info()
        assert info.images == 5 and info.nbytes <= info.max_bytes
    finally:
        skface.set_image_cache_limit(2 * 1024**3)
    with pytest.raises(ValueError, match="non-negative"):
        skface.set_image_cache_limit(-1)


@pytest.fixture
def cache_limit():
    """Set the cache bound for one test; restore the bound and the environment after."""
    before = os.environ.get("SKFACE_IMAGE_CACHE_BYTES")
    yield skface.set_image_cache_limit
    skface.set_image_cache_limit(2 * 1024**3)
    if before is None:
        os.environ.pop("SKFACE_IMAGE_CACHE_BYTES", None)
    else:
        os.environ["SKFACE_IMAGE_CACHE_BYTES"] = before


def _alive_after(loads) -> int:
    """Bytes still allocated once every returned array is gone (what the cache keeps)."""
    gc.collect()
    tracemalloc.start()
    try:
        for paths in loads:
            ImageLoader(size=64).transform(paths)  # the result is dropped at once
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_small_cache_bound_limits_the_memory_kept_alive(synthetic_paths, cache_limit):
    """Cached images may be views of a whole batch: the bound counts the batch then."""
    one_image = 64 * 64 * 3
    batch = len(synthetic_paths) * one_image  # 40 images, 480 kB
    cache_limit(8 * (one_image + 256))
    loads = [synthetic_paths, synthetic_paths[:5], synthetic_paths[10:35],
             synthetic_paths[::-1], synthetic_paths[3:4]]
    alive = _alive_after(loads)
    info = image_cache_info()
    assert 0 < info.images <= 8 and info.hits > 0
    assert info.nbytes <= info.max_bytes
    assert alive < info.max_bytes + 64_000 < batch
    out = ImageLoader(size=64).transform(synthetic_paths)
    ref = weakref.ref(out)
    del out
    gc.collect()
    assert ref() is None  # no cached image keeps the batch alive


def test_cache_counts_every_batch_it_keeps_alive(synthetic_paths, cache_limit):
    """With room for whole batches, each batch kept alive is counted in full, once."""
    one_image = 64 * 64 * 3
    cache_limit(100 * one_image)
    first = ImageLoader(size=64).transform(synthetic_paths[:30])
    second = ImageLoader(size=64).transform(synthetic_paths[20:])  # 10 hits, 10 decoded
    first_ref, second_ref = weakref.ref(first), weakref.ref(second)
    del first, second
    gc.collect()
    assert first_ref() is not None and second_ref() is not None  # both kept by the cache
    info = image_cache_info()
    assert info.images == len(synthetic_paths)
    assert first_ref().nbytes + second_ref().nbytes <= info.nbytes <= info.max_bytes
    ImageLoader(size=64).transform(synthetic_paths[:30])  # all hits: nothing new is kept
    assert image_cache_info().nbytes == info.nbytes
    cache_limit(50 * one_image)  # both batches (50 images) no longer fit
    gc.collect()
    assert second_ref() is None  # its images were the least recently used
    info = image_cache_info()
    assert first_ref().nbytes <= info.nbytes <= info.max_bytes
    assert info.images == 30


@pytest.mark.timeout(300)
def test_cache_bound_reaches_workers_started_afterwards(cache_limit):
    import joblib
    from joblib.externals.loky import get_reusable_executor

    cache_limit(12_345_678)
    assert os.environ["SKFACE_IMAGE_CACHE_BYTES"] == "12345678"
    get_reusable_executor().shutdown(wait=True)  # running workers keep their bound
    try:
        infos = joblib.Parallel(n_jobs=2, backend="loky", timeout=240)(
            joblib.delayed(image_cache_info)() for _ in range(4))
    finally:
        get_reusable_executor().shutdown(wait=True)  # later tests get default workers
    assert {info.max_bytes for info in infos} == {12_345_678}


def _flatten(X):
    return X.reshape(len(X), -1) / 255.0


def test_grid_search_decodes_each_image_once(synthetic_paths):
    """4 candidates x 3 folds, refit, predict and score: one decode per image."""
    y = UTKFaceLabelDecoder(["gender"]).fit_transform(synthetic_paths)["gender"]
    pipe = make_pipeline(ImageLoader(size=12), FunctionTransformer(_flatten),
                         LogisticRegression(max_iter=200))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    search.fit(synthetic_paths, y)
    search.predict(synthetic_paths)
    search.score(synthetic_paths, y)
    info = image_cache_info()
    assert info.decodes == len(synthetic_paths)
    # 12 fits + 12 scoring calls on folds, the refit, predict and score all hit the cache
    assert info.hits >= (12 + 12 + 3 - 1) * len(synthetic_paths) // 3


def test_loader_is_picklable_and_clonable():
    loader = ImageLoader(size=32, color="grayscale", fill=(1, 2, 3), n_jobs=2)
    again = pickle.loads(pickle.dumps(loader))
    assert again.get_params() == loader.get_params() == clone(loader).get_params()


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_swapped_in_after_the_check_is_not_read(tmp_path, monkeypatch):
    from skface import _image_batches, _image_files

    fifo = tmp_path / "swapped.jpg"
    os.mkfifo(fifo)
    # as if a regular file had been there when it was checked, and a pipe put in its place
    monkeypatch.setattr(_image_files, "stat_regular", lambda path: (None, None))
    monkeypatch.setattr(_image_batches, "_file_key", lambda path: ((0, 0, 0, 0), None))
    with pytest.raises(ImageLoadError, match="not a regular file: it is a named pipe"):
        ImageLoader(size=8, cache=False).transform([str(fifo)])


def test_a_pipeline_from_images_accepts_set_output(synthetic_paths):
    from sklearn.pipeline import make_pipeline

    from skface import FaceCropper

    pipe = make_pipeline(ImageLoader(size=16)).set_output(transform="pandas")
    out = pipe.fit_transform(synthetic_paths[:4])
    assert isinstance(out, np.ndarray) and out.shape == (4, 16, 16, 3)  # images stay arrays
    assert FaceCropper().set_output(transform="pandas").get_params()["size"] is not None
    with pytest.raises(ValueError, match="transform must be"):
        ImageLoader().set_output(transform="spreadsheet")


# ------------------------------------------------------------------ in-memory images

def _pngs(tmp_path, shapes, mode="RGB", seed=0) -> list[str]:
    """PNG files (lossless, so a file and its pixels decode alike) of the given shapes."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (h, w) in enumerate(shapes):
        channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
        a = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(a[:, :, 0] if channels == 1 else a, mode).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("params", [
    {"size": 32}, {"size": 24, "fit_mode": "pad", "fill": (10, 200, 30)},
    {"size": 16, "fit_mode": "stretch", "color": "grayscale"}, {"size": 40, "resample": "nearest"},
])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_in_memory_images_convert_as_their_files_decode(tmp_path, params, mode):
    paths = _pngs(tmp_path, [(50, 70), (64, 64), (90, 31)], mode)
    loader = ImageLoader(**params, cache=False)
    expected = loader.transform(paths)
    opened = [Image.open(p) for p in paths]
    pixels = [np.asarray(im) for im in opened]
    np.testing.assert_array_equal(loader.transform(opened), expected)
    np.testing.assert_array_equal(loader.transform(pixels), expected)
    np.testing.assert_array_equal(loader.transform(np.array([*pixels[1:2]] * 2)),
                                  expected[[1, 1]])
    mixed = loader.transform([paths[0], opened[1], pixels[2]])
    np.testing.assert_array_equal(mixed, expected)
    assert opened[0].size == (70, 50)  # the caller's images are not changed


def test_in_memory_arrays_of_other_dtypes(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    loader = ImageLoader(size=20, cache=False)
    ref = loader.transform([a])
    np.testing.assert_array_equal(loader.transform([a / 255.0]), ref)
    np.testing.assert_array_equal(
        loader.set_params(float_max=255).transform([a.astype(np.float32)]), ref)
    loader.set_params(float_max=1.0)
    np.testing.assert_array_equal(loader.transform([a.astype(np.int64)]), ref)
    np.testing.assert_array_equal(loader.transform([a.astype(np.uint16) * 257]), ref)
    grey = loader.transform([np.ones((20, 20), dtype=bool)])
    assert grey.shape == (1, 20, 20, 3) and (grey == 255).all()


@pytest.mark.parametrize("bad, match", [
    (np.zeros((5, 5, 7), np.uint8), "last axis"),
    (np.full((5, 5), 300, np.int32), "300"),
    (np.full((4, 4), -0.5), "-0.5"),
    (np.full((4, 4), np.inf), "infinite"),
    (np.zeros((0, 4, 3), np.uint8), "no pixel"),
    (np.zeros((4, 4), np.complex64), "complex64"),
])
def test_bad_in_memory_images_are_named_by_position(tmp_path, bad, match):
    good = _pngs(tmp_path, [(8, 8)])
    with pytest.raises(ImageLoadError, match=match) as info:
        ImageLoader(size=8).transform([good[0], bad])
    assert [name for name, _ in info.value.failures] == ["image at position 1"]


def test_a_single_image_or_lazy_in_memory_images_are_refused(tmp_path):
    a = np.zeros((30, 30, 3), np.uint8)
    with pytest.raises(TypeError, match="single image"):
        ImageLoader().transform(a)
    with pytest.raises(TypeError, match="single PIL image"):
        ImageLoader().transform(Image.fromarray(a))
    with pytest.raises(ValueError, match="lazy=False"):
        ImageLoader(lazy=True).transform([a])
    with pytest.raises(ImageLoadError, match="max_pixels"):
        ImageLoader(max_pixels=100).transform([a])
    # a 3-D batch of greyscale images of any size
    assert ImageLoader(size=8).transform(np.zeros((2, 30, 40), np.uint8)).shape == (2, 8, 8, 3)


def test_a_fitted_pipeline_predicts_from_images_in_memory(synthetic_paths):
    labels = UTKFaceLabelDecoder(columns=("gender",)).transform(synthetic_paths)["gender"]
    pipe = make_pipeline(ImageLoader(size=16), FunctionTransformer(
        lambda X: np.asarray(X, dtype=np.float32).reshape(len(X), -1)),
        LogisticRegression(max_iter=200)).fit(synthetic_paths, labels)
    expected = pipe.predict(synthetic_paths[:3])
    opened = [Image.open(p) for p in synthetic_paths[:3]]
    assert list(pipe.predict(opened)) == list(pipe.predict([im.copy() for im in opened]))
    batch = np.stack([np.asarray(im.convert("RGB")) for im in opened])
    assert pipe.predict(batch).shape == expected.shape
    assert pipe.predict([batch[0]]).shape == (1,)


# ------------------------------------------------------- every route, the same pixels

def _photo_jpegs(tmp_path, shapes, seed=0) -> list[str]:
    """JPEG files of the given shapes holding a photo-like picture: smooth colour, fine
    grey texture (JPEG's colour subsampling keeps the colour coarse, as in photos)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (h, w) in enumerate(shapes):
        colour = rng.integers(0, 256, (h // 32 + 2, w // 32 + 2, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(colour).resize((w, h), Image.Resampling.BICUBIC),
                          dtype=np.int16)
        grain = rng.integers(-16, 17, (h, w, 1))
        pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
        paths.append(save(Image.fromarray(pixels), tmp_path / f"photo{i}.jpg", quality=90))
    return paths


def _route_differences(loader: ImageLoader, paths: list[str]) -> dict[str, np.ndarray]:
    """Per image, the mean absolute difference between the path route and each other."""
    from skface._face_cropper import crop_resized

    expected = loader.transform(paths).astype(np.float64)
    unread = [Image.open(p) for p in paths]
    opened = [Image.open(p) for p in paths]
    for im in opened:
        im.load()
    routes = {
        "unloaded PIL image": loader.transform(unread),
        "PIL image": loader.transform(opened),
        "RGB array": loader.transform([np.asarray(im.convert("RGB")) for im in opened]),
        "batch of one": np.concatenate([loader.transform(np.asarray(im.convert("RGB"))[None])
                                        for im in opened]),
    }
    assert all(im.size == Image.open(p).size for im, p in zip(unread, paths, strict=True))
    out = {name: np.abs(got.astype(np.float64) - expected).mean(axis=(1, 2, 3))
           for name, got in routes.items()}
    square = [i for i, im in enumerate(opened) if im.size[0] == im.size[1]]
    if loader.color == "rgb" and square:
        # FaceCropper's crop of a whole square image, as a UTKFace file is one face crop
        crops = np.stack([crop_resized(opened[i].convert("RGB"), (0, 0, opened[i].size[0]),
                                       loader.size) for i in square])
        out["FaceCropper crop"] = np.abs(crops - expected[square]).mean(axis=(1, 2, 3))
    return out


@pytest.mark.parametrize("size", [24, 48, 64])
@pytest.mark.parametrize("color", ["rgb", "grayscale"])
def test_every_route_gives_the_network_the_same_pixels(tmp_path, size, color):
    # A JPEG file is decoded at reduced scale (draft mode); an image in memory (PIL
    # image, array, face crop) must be reduced alike, not resized from full resolution.
    paths = _photo_jpegs(tmp_path, [(200, 200), (157, 203), (300, 240), (400, 400)])
    loader = ImageLoader(size=size, color=color, cache=False)
    differences = _route_differences(loader, paths)
    np.testing.assert_array_equal(differences.pop("unloaded PIL image"), 0)
    for name, diff in differences.items():
        assert diff.max() < 0.6, (name, diff)


@pytest.mark.parametrize("size", [48, 100])
def test_every_route_agrees_on_real_face_crops(utkface_subset, size):
    loader = ImageLoader(size=size, cache=False)
    differences = _route_differences(loader, [str(p) for p in utkface_subset[:30]])
    np.testing.assert_array_equal(differences.pop("unloaded PIL image"), 0)
    for name, diff in differences.items():
        assert diff.mean() < 0.4 and diff.max() < 0.8, (name, diff.mean(), diff.max())
