"""The ``skface`` command line's grammar: its commands, their options and help, and the
exit codes. What each command does is :mod:`skface._cli`'s, which runs the command that
``run`` names. Importing this module imports no heavy library, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import skface  # the package, whose public names are imported on first use

from ._choices import DETECTORS, ON_ERROR
from ._safe_io import MODEL_SUFFIXES
from ._utils import MAX_IMAGE_SIDE, MIN_IMAGE_SIZE, printable
from ._version import __version__

__all__ = ["DEFAULT_SIZE", "EXIT_BAD_FILES", "EXIT_ERROR", "EXIT_INTERRUPTED",
           "EXIT_MISSING_DEPENDENCY", "EXIT_OK", "EXIT_SIGPIPE", "EXIT_USAGE", "PRETRAINED_MODEL",
           "RECIPES", "SYNTHETIC_EPOCHS", "SYNTHETIC_IMAGES", "SYNTHETIC_SIZE", "TARGETS",
           "build_parser"]

EXIT_OK = 0
# bad files: `summarize --strict` found malformed or unreadable files, or `predict` and
# `analyze` predicted nothing (no image file given, none readable, or no face found)
EXIT_BAD_FILES = 1
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # the input could not be read at all
EXIT_MISSING_DEPENDENCY = 4  # an optional dependency the command needs is not installed
EXIT_SIGPIPE = 141  # the shell's code for a reader that closed the pipe
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, pointing to ``--help``."""

    def error(self, message: str):
        message = printable(message, keep="\t\n")  # it may quote an argument
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def _integer(low: int, high: int | None = None, *, why: str = "",
             also: dict[int, str] | None = None):
    """An argparse ``type=``: a whole number from ``low`` (up to ``high``), or a key of
    ``also`` (a special value and what it means). A bad value is a one-line usage error
    naming the option, the value and what is allowed."""
    also = dict(also or {})
    allowed = (f"a whole number from {low} to {high}" if high is not None
               else f"a whole number of at least {low}")
    allowed += f" ({why})" if why else ""
    allowed += "".join(f", or {value} for {meaning}" for value, meaning in also.items())

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not (value in also or (
                value >= low and (high is None or value <= high))):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {allowed}")
        return value

    return parse


_COUNT = _integer(1)
_N_JOBS = _integer(1, also={-1: "every CPU"})


# --target: the estimator each choice trains, and the label column it reads (None: one
# column per task, skface._labels.TASKS). Each class is looked up when training (the
# package imports a public name on first use), so that the parser starts without torch.
TARGETS: dict[str, tuple[Callable[[], type], str | None]] = {
    "age": (lambda: skface.AgeRegressor, "age"),
    "gender": (lambda: skface.GenderClassifier, "gender"),
    "race": (lambda: skface.RaceClassifier, "race"),
    "age_bins": (lambda: skface.AgeBinner, "age"),
    "all": (lambda: skface.FaceAttributes, None),
}

# --recipe: skface's named combinations of models, each with the function that makes the
# unfitted model for a target (called as f(target, random_state=...); looked up when
# training, like TARGETS) and the --target choices it has a recipe for.
RECIPES: dict[str, tuple[Callable[[], Callable], tuple[str, ...]]] = {
    "stack": (lambda: skface.make_stack, ("gender", "race", "age")),
}

# the MODEL that names skface's pretrained age and gender models rather than a file: it
# always does (a file of that name is ./pretrained)
PRETRAINED_MODEL = "pretrained"
DEFAULT_SIZE = 48  # --size when not given
# `skface train` without SOURCE: synthetic faces, drawn at this size and trained for this
# many epochs unless --size or --epochs say otherwise (a couple of CPU minutes in all)
SYNTHETIC_IMAGES = 4000
SYNTHETIC_SIZE = 32
SYNTHETIC_EPOCHS = 6

_MODEL_HELP = ("model file: .safetensors (skface.save_model; runs no code when loaded) or "
               "joblib (`skface train`; runs code when loaded, so only files you trust); "
               f"or '{PRETRAINED_MODEL}' for skface's pretrained age and gender models, with "
               f"no training (skface[faces]; a file of that name is ./{PRETRAINED_MODEL}); "
               f"exit code {EXIT_ERROR} if it is not a readable model")
_DETECTOR_HELP = ("face detector: haar (OpenCV's Haar cascade, skface[detect]; the default) "
                  "or yunet (YuNet, skface[detect-dnn]: finds more faces, fewer false ones)")


_DETECT_HELP = (
    "by default (auto) the faces are found (one row per face, with its box), but an "
    "image that is a face crop already (its largest face covers at least 40%% of it, or "
    "no face is found in a nearly square image at most 512 px on its long side) is one "
    "face, the whole image")


def _detect_options(p: argparse.ArgumentParser) -> None:
    """``--detect`` and ``--no-detect``, the same for ``predict`` and ``analyze``."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--detect", dest="detect", action="store_const", const=True,
                       help="always find the faces (see --detector), even in face crops; "
                            + _DETECT_HELP)
    group.add_argument("--no-detect", dest="detect", action="store_const", const=False,
                       help="the images are face crops: predict on each whole image")
    p.set_defaults(detect="auto")


# the end of `predict --help` and `analyze --help`
_PREDICT_EXIT_CODES = (
    f"Counts are of image files, not of arguments: a folder's files that are not images "
    "are named and not read. Exit codes: "
    f"{EXIT_OK} at least one image was predicted (the status column says why any other "
    f"was not); {EXIT_BAD_FILES} nothing was predicted: no image file was given, or none "
    f"could be read, or no face was found in any; {EXIT_USAGE} bad arguments or an "
    f"existing output without --force; {EXIT_ERROR} MODEL is not a readable model, or "
    f"--on-error fail found a bad file; {EXIT_MISSING_DEPENDENCY} an optional dependency "
    "is missing.")


def _prediction_options(p: argparse.ArgumentParser) -> None:
    """The options ``predict`` and ``analyze`` share: where the table goes, drawing,
    the detector, codes and what a bad file does."""
    p.add_argument("-o", "--output", default=None, help="write the table to this CSV file")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--draw", metavar="FOLDER", default=None,
                   help="with detection: write a copy of each photo (PNG) or video with the "
                        "boxes and predictions drawn on it into FOLDER")
    p.add_argument("--detector", choices=DETECTORS, default=DETECTORS[0],
                   help=_DETECTOR_HELP)
    p.add_argument("--codes", action="store_true",
                   help="labels as the model was trained on them (UTKFace's codes, e.g. "
                        "gender 1) instead of their names (female)")
    p.add_argument("--on-error", choices=ON_ERROR, default=ON_ERROR[0],
                   help="row (default): an unreadable image or a photo without a face gets "
                        "a row whose status says so, and the others are predicted; fail: "
                        f"stop with exit code {EXIT_ERROR} naming them, before predicting")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``skface``'s arguments; each command sets ``run`` to its name."""
    parser = _Parser(
        prog="skface",
        description="Age, gender and race prediction from face images, scikit-learn style.",
        epilog=f"exit codes: {EXIT_OK} success; {EXIT_BAD_FILES} bad files: summarize "
               "--strict found malformed or unreadable files, or predict and analyze "
               "predicted nothing (no image file given, none readable, or no face found); "
               f"{EXIT_USAGE} bad arguments, an existing output without --force or an output "
               f"skface does not replace; {EXIT_ERROR} "
               f"input could not be read; {EXIT_MISSING_DEPENDENCY} an optional dependency "
               f"is missing; {EXIT_INTERRUPTED} interrupted (Ctrl-C); {EXIT_SIGPIPE} the "
               "reader of the output went away (`skface summarize | head`).",
    )
    parser.add_argument("--version", action="version", version=f"skface {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser(
        "summarize",
        aliases=["summarise"],
        help="count images and labels in a folder, and list malformed or unreadable files",
        description=(
            "Summarise a folder of face images named in UTKFace's scheme "
            "([age]_[gender]_[race]_[datetime].jpg...) or a CSV label table: counts, label "
            "distributions, malformed file names and unreadable images. Nothing in the "
            "folder is written. Without SOURCE, summarises freshly generated synthetic images."
        ),
    )
    s.add_argument("source", nargs="?", metavar="SOURCE",
                   help="image folder or CSV label table (default: synthetic images)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--no-check", action="store_true",
                   help="do not decode the images (faster; unreadable files are not found)")
    s.add_argument("--strict", action="store_true",
                   help=f"exit with code {EXIT_BAD_FILES} if any image file is malformed or "
                        "unreadable (files that are not image files are listed, not counted)")
    s.add_argument("--n-jobs", type=_N_JOBS, default=None,
                   help="decoding threads, or -1 for every CPU (default: every CPU)")
    s.add_argument("--synthetic", type=_COUNT, default=500, metavar="N",
                   help="number of synthetic images when no SOURCE is given (default: 500)")
    s.add_argument("-q", "--quiet", action="store_true",
                   help="no progress display (shown only on a terminal anyway)")
    s.set_defaults(run="summarize")

    t = sub.add_parser(
        "train",
        help="train a model on a folder or label table and save it (joblib or safetensors)",
        description=(
            "Train ImageLoader + an estimator on a folder of images named in UTKFace's scheme "
            "or a CSV label table (path plus age/gender/race columns), and write the fitted "
            "Pipeline with joblib, or with skface.save_model for a *.safetensors file or "
            "--format safetensors (a file that runs no code when loaded). Without SOURCE, "
            "trains on synthetic cartoon faces so it runs anywhere in a few minutes: a "
            "model that shows how skface trains, but does not work on real photos. The "
            "epoch table shows each epoch as 12/36 and the time left. The model file is "
            "written atomically, and an existing one is replaced only with --force."
        ),
    )
    t.add_argument("source", nargs="?", metavar="SOURCE",
                   help="image folder or CSV label table (default: synthetic images)")
    t.add_argument("--target", choices=tuple(TARGETS), default=None,
                   help="what to predict (default: all: age, gender and race in one "
                        "multi-task model, skface's best for gender, in the time of "
                        "one single-task model; gender with --recipe); or one of age, "
                        "gender, race, age_bins (age groups)")
    t.add_argument("-o", "--output", default="skface-model.joblib",
                   help="model file to write (default: skface-model.joblib)")
    t.add_argument("--force", action="store_true", help="replace an existing model file")
    t.add_argument("--format", choices=tuple(MODEL_SUFFIXES.values()), default=None,
                   help="model file format (default: safetensors for a *.safetensors "
                        "output, joblib otherwise); safetensors files run no code when "
                        "loaded, joblib files hold any Pipeline")
    t.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="train skface's recipe for --target gender, race or age instead of "
                        "one network: 'stack' (skface.make_stack: face-recognition "
                        "descriptors with an SVM and the pretrained network, stacked; "
                        "skface[faces]), written with joblib; --network, --size, --epochs "
                        "and --stream do not apply")
    t.add_argument("--size", type=_integer(MIN_IMAGE_SIZE, MAX_IMAGE_SIDE,
                                           why="the sides the networks take"),
                   default=None,
                   help=f"image side in pixels, from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIDE} "
                        f"(default: {DEFAULT_SIZE}; {SYNTHETIC_SIZE} for synthetic faces)")
    t.add_argument("--epochs", type=_COUNT, default=None,
                   help="maximum epochs, at least 1 (default: the estimator's, 36; "
                        f"{SYNTHETIC_EPOCHS} for synthetic faces)")
    t.add_argument("--network", default=None, help="network name from skface.nets.list_models()")
    t.add_argument("--stream", action="store_true",
                   help="decode images batch by batch while training instead of loading "
                        "them all first (for folders larger than memory)")
    t.add_argument("--limit", type=_COUNT, default=None, metavar="N",
                   help="train on a random N images only")
    t.add_argument("--random-state", type=_integer(0, 2**32 - 1), default=0,
                   help="seed of the training's random numbers (default: 0)")
    t.add_argument("--synthetic", type=_COUNT, default=SYNTHETIC_IMAGES, metavar="N",
                   help="number of synthetic images when no SOURCE is given (default: "
                        f"{SYNTHETIC_IMAGES:,})")
    t.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    t.set_defaults(run="train")

    p = sub.add_parser(
        "predict",
        help="predict with a saved model; prints a CSV table",
        description="Load a model (a .safetensors file written by skface.save_model, or a "
                    "joblib file written by `skface train` or joblib.dump) and predict for "
                    "image files or a folder of them. safetensors model files run no code "
                    "when loaded; joblib files do: load only joblib files you trust. MODEL "
                    f"'{PRETRAINED_MODEL}' predicts age and gender with skface's pretrained "
                    "models, with no training (see also `skface analyze`). Faces are "
                    "found in photos (--detector); an image that is a face crop already "
                    "is predicted whole (--detect, --no-detect). Exit "
                    f"code {EXIT_ERROR} if MODEL is not a readable model file.",
    )
    p.add_argument("model", help=_MODEL_HELP)
    p.add_argument("paths", nargs="+", metavar="PATHS",
                   help="image files and folders of them, in any mix and order")
    _detect_options(p)
    _prediction_options(p)
    p.epilog = _PREDICT_EXIT_CODES
    p.set_defaults(run="predict")

    a = sub.add_parser(
        "analyze",
        aliases=["analyse"],
        help="find the faces in photos and predict age and gender, with no training "
             "(or with --model); prints a CSV table",
        description="Find every face in photos (or a folder of them) and predict on it, "
                    "as skface.analyze does: without --model, age and gender from "
                    "skface's pretrained models (skface[faces]), with no training; race "
                    "needs a model trained on your labels (--model). Faces are found with "
                    "--detector (skface[detect]); an image that is a face crop already "
                    "is predicted whole (--detect, --no-detect). The same as `skface "
                    "predict MODEL PHOTOS`.",
    )
    a.add_argument("paths", nargs="+", metavar="PHOTOS",
                   help="image files and folders of them, in any mix and order")
    a.add_argument("--model", default=PRETRAINED_MODEL,
                   help=f"{_MODEL_HELP} (default: {PRETRAINED_MODEL})")
    _detect_options(a)
    _prediction_options(a)
    a.epilog = _PREDICT_EXIT_CODES
    a.set_defaults(run="predict")

    e = sub.add_parser(
        "evaluate",
        help="evaluate a saved model on labelled images; write metrics, tables and plots",
        description="Evaluate a model written by `skface train` on a folder of images named "
                    "in UTKFace's scheme or a CSV label table, and write a report folder: "
                    "index.html (a page showing it all), metrics.json, predictions.csv, "
                    "per-group metrics (by gender, race and age group, next to the "
                    "overall figure) and figures (confusion "
                    "matrices, predicted vs true age, learning curves). MODEL is a "
                    ".safetensors file (skface.save_model; runs no code when loaded) or a "
                    "joblib file (runs code when loaded: only files you trust), or "
                    f"'{PRETRAINED_MODEL}' to evaluate skface's pretrained age and gender "
                    f"models. Exit code {EXIT_ERROR} if MODEL is not a readable model file.",
    )
    e.add_argument("model", help=_MODEL_HELP)
    e.add_argument("data", metavar="DATA", help="image folder or CSV label table")
    e.add_argument("-o", "--output", default="skface-evaluation",
                   help="report folder to write (default: skface-evaluation)")
    e.add_argument("--force", action="store_true",
                   help="replace an earlier report folder that skface wrote (never a "
                        "folder holding anything else)")
    e.add_argument("--no-plots", action="store_true",
                   help="tables only (figures need matplotlib: skface[plot])")
    e.add_argument("--limit", type=_COUNT, default=None, metavar="N",
                   help="evaluate on a random N images only")
    e.set_defaults(run="evaluate", synthetic=0, size=0)

    d = sub.add_parser(
        "eda",
        help="figures and an HTML page about a labelled image folder",
        description="Look at a folder of images named in UTKFace's scheme or a CSV label "
                    "table: age histogram, gender and race counts, age by gender and race, "
                    "a sample grid, and the malformed or unreadable files, written as PNGs "
                    "plus one self-contained HTML page (index.html). Nothing in the data "
                    "folder is written. Needs matplotlib (skface[plot]).",
    )
    d.add_argument("source", metavar="DATA", help="image folder or CSV label table")
    d.add_argument("-o", "--output", default="skface-eda",
                   help="folder to write (default: skface-eda)")
    d.add_argument("--force", action="store_true",
                   help="replace an earlier folder that skface wrote (never a folder "
                        "holding anything else)")
    d.add_argument("--no-check", action="store_true",
                   help="do not decode every image (faster; unreadable files are not found)")
    d.add_argument("--n-jobs", type=_N_JOBS, default=None,
                   help="decoding threads, or -1 for every CPU (default: every CPU)")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    d.set_defaults(run="eda")

    m = sub.add_parser(
        "demo",
        help="serve a web demo of a saved model: upload a photo, see faces and predictions",
        description="Serve a Gradio web page for a model written by `skface train`: upload a "
                    "photo, faces are found with OpenCV's Haar cascade and the predictions "
                    "drawn on them; without MODEL, age and gender from skface's pretrained "
                    "models (skface[faces]). Needs skface[demo] and skface[detect]. Serves on "
                    "127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C stops "
                    "it. MODEL is a .safetensors file (skface.save_model; runs no code when "
                    "loaded) or a joblib file (runs code when loaded: only files you trust). "
                    f"Exit code {EXIT_ERROR} if MODEL is not a readable model file.",
    )
    m.add_argument("model", nargs="?", default=PRETRAINED_MODEL,
                   help=f"{_MODEL_HELP} (default: {PRETRAINED_MODEL})")
    m.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; 0.0.0.0 exposes it)")
    m.add_argument("--port", type=_integer(1, 65535), default=None,
                   help="port (default: Gradio's, 7860 or the next free one)")
    m.add_argument("--browser", action="store_true", help="open the page in a web browser")
    m.add_argument("--detector", choices=DETECTORS, default=DETECTORS[0],
                   help=_DETECTOR_HELP)
    m.set_defaults(run="demo")
    return parser
