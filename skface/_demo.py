"""A web demo of a fitted model: upload a photo, see the faces and the predictions.

Built with Gradio, an optional dependency (``pip install "skface[demo]"``), imported
when the demo is built. ``skface demo MODEL`` serves it on 127.0.0.1; ``skface demo``
without a model serves skface's pretrained age and gender models (no training).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._utils import import_optional

__all__ = ["build_demo"]

# Uploads are bounded in bytes (refused by the server before they are stored when served
# with `serve`, and checked again before decoding) and in pixels (checked from the
# header, before any pixel is decoded): a 4096 x 4096 photo decodes to 48 MiB of RGB.
MAX_UPLOAD_BYTES = 20 * 1024**2
MAX_UPLOAD_PIXELS = 4096 * 4096


def _import_gradio():
    # no usage statistics sent to Gradio's servers (and none reachable on closed networks)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    return import_optional("gradio", "demo", "the demo", hint="Gradio needs pillow < 13")


def read_upload(path: str | os.PathLike, *, max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """Decode an uploaded photo with skface's decoder, as ``(h, w, 3)`` uint8 RGB.

    Only regular files of at most ``max_bytes`` bytes and ``max_pixels`` pixels, in
    the raster formats :class:`~skface.ImageLoader` reads, are decoded.

    Raises
    ------
    ImageLoadError
        Naming the uploaded file (its base name) and the reason.
    """
    from ._image_files import DecodeFailure, stat_regular
    from ._imaging import read_rgb
    from .exceptions import ImageLoadError

    path = os.fspath(path)
    name = os.path.basename(path)
    st, reason = stat_regular(path)
    if reason is None and st.st_size > max_bytes:
        reason = (f"the file is {st.st_size:,} bytes, above the demo's limit of "
                  f"{max_bytes:,} bytes; upload a smaller photo")
    if reason is None:
        try:
            return read_rgb(path, max_pixels=max_pixels,
                            too_large="upload a photo of at most "
                                      f"{max_pixels:,} pixels (scale it down first)")
        except DecodeFailure as exc:
            reason = str(exc)
    raise ImageLoadError(f"The uploaded file {name!r} cannot be used: {reason}",
                         [(name, reason)])


def predict_upload(model, path: str | os.PathLike, *, cropper=None, **limits
                   ) -> tuple[np.ndarray, pd.DataFrame]:
    """The demo's ``/predict``: the upload at ``path`` read by :func:`read_upload`,
    then the faces found and predicted as :func:`skface.analyze` does (``detect="auto"``:
    a face crop is one face, the whole image) and drawn as :func:`skface.annotate_image`
    draws them.

    Returns the drawn image and one row per face: ``face``, ``x, y, w, h``, each
    task's prediction by name, the probability of every class (as ``analyze``'s
    table has them) and ``label``, the text drawn. For a model that is not a skface
    model, :func:`skface.annotate_image`'s ``x, y, w, h, label``.
    """
    from ._analyze import analyze, crop_labeller, default_cropper, face_label, resolve_predictor
    from ._draw import annotate_image, draw_predictions

    rgb = read_upload(path, **limits)
    if crop_labeller(model) is None:  # not a skface model: labels from its predict
        return annotate_image(model, rgb, cropper=cropper)
    table = analyze([rgb], model, cropper=cropper if cropper is not None
                    else default_cropper(model))
    table = table[table["status"] == "ok"].drop(columns=["file", "status"])
    tasks = resolve_predictor(model)[0].task_.tasks
    table = table.assign(label=[face_label(row, tasks) for _, row in table.iterrows()])
    boxes = table[["x", "y", "w", "h"]].to_numpy(dtype="int64")
    return draw_predictions(rgb, boxes, table["label"].tolist()), table.reset_index(drop=True)


def build_demo(model, *, title: str = "skface", cropper=None):
    """A Gradio app that detects the faces in an uploaded photo and predicts on them.

    Uploads are decoded by skface, not by Gradio, with the checks of
    :class:`~skface.ImageLoader` (regular files in JPEG, PNG, WebP, GIF, BMP, TIFF or
    PPM/PGM only) and bounded: at most ``MAX_UPLOAD_BYTES`` (20 MiB) and
    ``MAX_UPLOAD_PIXELS`` (4096 x 4096) pixels, checked before decoding.

    Parameters
    ----------
    model : fitted estimator or Pipeline
        As for :func:`skface.annotate_image`, e.g. a model written by ``skface train``.
    title : str, default="skface"
        Shown at the top of the page.
    cropper : FaceCropper, optional
        How faces are found and cropped; by default every face at the model's size.

    Returns
    -------
    demo : gradio.Blocks
        Call ``demo.launch(server_name="127.0.0.1")`` to serve it. Its one endpoint,
        ``/predict``, takes an image file and returns the annotated image and a table
        with one row per face (see :func:`predict_upload`: the box, the predictions,
        the probability of every class and the label drawn). A photo that is a face
        crop already is one face, the whole image.
    """
    gr = _import_gradio()
    from ._draw import resolve_model
    from ._image_files import image_extensions
    from .exceptions import ImageLoadError

    # fail now, not at the first upload, on a model it cannot use
    detector = resolve_model(model, cropper)[1].detector
    found_with = {"yunet": "YuNet"}.get(detector, "OpenCV's Haar cascade")

    def predict(upload: str | None) -> tuple[np.ndarray | None, pd.DataFrame]:
        if upload is None:
            raise gr.Error("Upload a photo first.")
        try:
            drawn, faces = predict_upload(model, upload, cropper=cropper)
        except ImageLoadError as exc:
            raise gr.Error(str(exc)) from None
        if faces.empty:
            gr.Warning("No face found: try a frontal, upright face.")
        return drawn, faces

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    # Uploaded files are deleted an hour after they are stored, so disk use stays bounded.
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            f"# {title}\n"
            f"Faces are found with {found_with} and passed to a fitted "
            f"`{type(final).__name__}`. Predictions are statistical guesses from a model "
            "trained on coarse, dataset-given labels (binary gender, five race groups); "
            "they can be wrong, and worse for some groups than others.")
        with gr.Row():
            # A file, not gr.Image: Gradio would decode the upload itself with every
            # Pillow plugin; skface decodes it with its own checks and limits.
            photo = gr.File(type="filepath", file_count="single", label="Photo",
                            file_types=sorted(image_extensions()), scale=1)
            # no caption over the image: it would hide the label of a face at the top;
            # most of the width, so that the labels of small faces stay readable
            shown = gr.Image(type="numpy", label="Faces and predictions", show_label=False,
                             interactive=False, scale=3)
        button = gr.Button("Predict", variant="primary")
        table = gr.Dataframe(label="One row per face, with the probability of every class",
                             interactive=False)
        button.click(predict, inputs=photo, outputs=[shown, table], api_name="predict",
                     concurrency_limit=1)  # one decode at a time: memory stays bounded
    return demo


def serve(model_path: str | os.PathLike | None, *, host: str = "127.0.0.1",
          port: int | None = None, open_browser: bool = False, detector: str = "haar") -> None:
    """Load a model file (safetensors or joblib) and serve its demo until interrupted;
    faces are found with ``detector`` (a FaceCropper detector name). Without a file
    (None), skface's pretrained age and gender models (race needs a trained model)."""
    from ._safe_io import load_model_file

    if model_path is None:
        from ._analyze import pretrained_model

        model = pretrained_model().fit(None)  # nothing learned: checks its files are there
        title = "skface: age and gender, pretrained (race needs a model trained on your labels)"
    else:
        model = load_model_file(model_path)
        title = f"skface: {os.path.basename(os.fspath(model_path))}"
    cropper = None
    if detector != "haar":
        from ._draw import resolve_model

        cropper = resolve_model(model, None)[1].set_params(detector=detector)
    demo = build_demo(model, title=title, cropper=cropper)
    # quiet: none of Gradio's tips (share=True is no option of `skface demo`); the
    # address is said here instead, then the server runs until Ctrl-C
    demo.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False,
                max_file_size=MAX_UPLOAD_BYTES, quiet=True, prevent_thread_lock=True)
    print(f"skface demo: serving on {demo.local_url} (Ctrl-C stops it)", flush=True)
    demo.block_thread()
