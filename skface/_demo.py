"""A web demo of a fitted model: upload a photo, see the faces and the predictions.

Built with Gradio, an optional dependency (``pip install "skface[demo]"``), imported
when the demo is built. ``skface demo MODEL`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = ["build_demo"]

_INSTALL_HINT = 'pip install "skface[demo]"'


def _import_gradio():
    # no usage statistics sent to Gradio's servers (and none reachable on closed networks)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as exc:
        raise ImportError(
            "the demo needs Gradio, an optional dependency of skface; install it with "
            f"{_INSTALL_HINT} (Gradio needs pillow < 13)."
        ) from exc
    return gradio


def build_demo(model, *, title: str = "skface", cropper=None):
    """A Gradio app that detects the faces in an uploaded photo and predicts on them.

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
        ``/predict``, takes an image and returns the annotated image and a table with
        one row per face (``x, y, w, h, label``).
    """
    gr = _import_gradio()
    from ._draw import _resolve_model, annotate_image

    _resolve_model(model, cropper)  # fail now, not at the first upload, on a model it cannot use

    def predict(image: np.ndarray | None) -> tuple[np.ndarray | None, pd.DataFrame]:
        if image is None:
            raise gr.Error("Upload a photo first.")
        drawn, faces = annotate_image(model, np.asarray(image, dtype=np.uint8),
                                      cropper=cropper)
        if faces.empty:
            gr.Warning("No face found: try a frontal, upright face.")
        return drawn, faces

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\n"
            f"Faces are found with OpenCV's Haar cascade and passed to a fitted "
            f"`{type(final).__name__}`. Predictions are statistical guesses from a model "
            "trained on UTKFace's coarse, dataset-given labels (binary gender, five race "
            "groups); they can be wrong, and worse for some groups than others.")
        with gr.Row():
            photo = gr.Image(type="numpy", image_mode="RGB", label="Photo", sources=["upload"])
            shown = gr.Image(type="numpy", label="Faces and predictions", interactive=False)
        button = gr.Button("Predict", variant="primary")
        table = gr.Dataframe(label="One row per face", interactive=False,
                             headers=["x", "y", "w", "h", "label"])
        button.click(predict, inputs=photo, outputs=[shown, table], api_name="predict")
    return demo


def serve(model_path: str | os.PathLike, *, host: str = "127.0.0.1", port: int | None = None,
          open_browser: bool = False) -> None:
    """Load a model file (safetensors or joblib) and serve its demo until interrupted."""
    from ._cli import load_model_file

    model = load_model_file(model_path)
    demo = build_demo(model, title=f"skface: {os.path.basename(os.fspath(model_path))}")
    demo.launch(server_name=host, server_port=port, inbrowser=open_browser, share=False)
