"""The ``skface`` command line (also ``python -m skface``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable

import skface  # the package, whose public names are imported on first use

from ._choices import DETECTORS, ON_ERROR
from ._safe_io import MODEL_SUFFIXES, load_model_file, save_model
from ._utils import MAX_IMAGE_SIDE, MIN_IMAGE_SIZE, VIDEO_SUFFIXES, printable
from ._version import __version__
from .exceptions import TrainingInterruptedWarning

EXIT_OK = 0
EXIT_BAD_FILES = 1  # only with --strict: the summary found malformed or unreadable files
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # the input could not be read at all
EXIT_MISSING_DEPENDENCY = 4  # an optional dependency the command needs is not installed
EXIT_SIGPIPE = 141  # the shell's code for a reader that closed the pipe
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C



def _say(message: str, *, file=None) -> None:
    """Print a message (to standard error unless ``file``): the names in it come from
    the user or the file system, so control characters and bytes that are not UTF-8 are
    escaped (see :func:`skface._utils.printable`); tabs and line breaks are kept."""
    print(printable(message, keep="\t\n"), file=sys.stderr if file is None else file)


class _UsageError(Exception):
    """A bad argument found after parsing (one that needs a heavy import to check)."""


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


def _summarize(args: argparse.Namespace) -> int:
    from ._summary import summarize
    from .datasets import make_faces

    if args.source is None:
        with tempfile.TemporaryDirectory(prefix="skface-synthetic-") as tmp:
            make_faces(args.synthetic, directory=tmp, random_state=0)
            summary = summarize(tmp, check=not args.no_check, n_jobs=args.n_jobs,
                                progress=not args.quiet and sys.stderr.isatty(),
                                kind="SYNTHETIC cartoon faces from skface.datasets.make_faces, "
                                     "no real people; pass a folder to summarise real images")
            summary.source = f"{args.synthetic} synthetic images"
            text = json.dumps(summary.as_dict(), indent=2) if args.json else summary.to_text()
    else:
        summary = summarize(args.source, check=not args.no_check, n_jobs=args.n_jobs,
                            progress=not args.quiet and sys.stderr.isatty())
        text = json.dumps(summary.as_dict(), indent=2) if args.json else summary.to_text()
    print(text)
    if args.strict and (summary.malformed or summary.unreadable):
        return EXIT_BAD_FILES
    return EXIT_OK


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


def _load_labels(source: str | None, args) -> tuple:
    """Label frame and a description of where it came from (synthetic when no source)."""
    from ._summary import load_labels
    from .datasets import make_faces

    if source is None:
        folder = tempfile.mkdtemp(prefix="skface-synthetic-")
        try:
            frame = make_faces(args.synthetic, size=args.size, directory=folder,
                               random_state=0)
        except BaseException:  # Ctrl-C too: the caller never sees the folder to remove
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return frame, (f"{args.synthetic} SYNTHETIC cartoon faces (skface.datasets.make_faces); "
                       "pass a folder or CSV to train on real images"), folder
    frame, malformed, kind = load_labels(source)
    for name, reason in malformed:
        _say(f"skface: malformed file name '{name}' left out: {reason}")
    if frame.empty:
        raise ValueError(f"{source!r} {_why_no_images(source, len(malformed))}; pass a folder "
                         "of images named in UTKFace's scheme "
                         "([age]_[gender]_[race]_[datetime].jpg) or a CSV label table")
    return frame, f"{source} ({kind})", None


def _why_no_images(source: str, n_malformed: int) -> str:
    """Why a folder or table gave no labelled image, as the rest of a sentence."""
    if not os.path.isdir(source):
        return "lists no images"
    if n_malformed:
        return (f"has no labelled images: none of its {n_malformed} file name(s) is in "
                "UTKFace's scheme (listed above)")
    with os.scandir(source) as entries:
        names = [e for e in entries if not e.name.startswith(".")]
    if not names:
        return "is an empty folder"
    folders = sum(e.is_dir() for e in names)
    if folders:
        return (f"holds no image files (its {folders} subfolder(s) are not searched: pass "
                "the folder that holds the images)")
    return "holds no image files"


def _check_network(name: str | None) -> None:
    """``--network`` names a registered network (checked before any image is read)."""
    if name is None:
        return
    from .nets import list_models

    names = list_models()
    if name.lower() not in names:
        raise _UsageError(f"argument --network: unknown network {name!r}; choose one of "
                          f"{', '.join(names)} (skface.nets.list_models())")


def _estimator_for(target: str, args):
    cls = TARGETS[target][0]()
    params = {"verbose": 0 if args.quiet else 1, "random_state": args.random_state}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    if args.network is not None:
        params["module"] = args.network
    return cls(**params)


def _model_format(args: argparse.Namespace) -> str:
    """``--format``, or the one the output's suffix names (joblib unless .safetensors)."""
    suffix = os.path.splitext(args.output)[1].lower()
    implied = MODEL_SUFFIXES.get(suffix)
    if args.format is None:
        return implied or "joblib"
    if implied is not None and implied != args.format:
        raise ValueError(
            f"--format {args.format} but -o {args.output!r} ends in {suffix}, which names "
            f"the {implied} format; drop --format or name the file *.{args.format}.")
    return args.format


def _source_protection(source: str | None) -> dict:
    """What an output must not replace or write into: the data folder, or the table."""
    if source is None:  # synthetic images, in a temporary folder of our own
        return {"inputs": [], "data_dirs": []}
    if os.path.isdir(source):
        return {"inputs": [], "data_dirs": [source]}
    return {"inputs": [source], "data_dirs": []}


def _train(args: argparse.Namespace) -> int:
    written: list[str] = []  # the model file, once it is in place
    try:
        return _train_and_write(args, written)
    except (KeyboardInterrupt, TrainingInterruptedWarning):
        # skorch ends training at Ctrl-C and fit returns a partly trained model: the
        # warning it comes with is an error here, so that no such model is written
        done = (f"the model was written to {args.output}" if written
                else f"no model written to {args.output}")
        _say(f"skface train: interrupted; {done}")
        return EXIT_INTERRUPTED


def _train_and_write(args: argparse.Namespace, written: list[str]) -> int:
    import warnings

    import joblib
    from sklearn.pipeline import make_pipeline

    from . import ImageLoader
    from ._labels import CODED_TASKS, TASKS
    from ._utils import atomic_file, check_file_output, folders_of, import_optional

    _check_network(args.network)
    try:
        fmt = _model_format(args)
    except ValueError as exc:
        _say(f"skface train: {exc}")
        return EXIT_USAGE
    protect = _source_protection(args.source)
    # before any work: an existing file without --force, a folder, a link to nothing, the data
    check_file_output(args.output, overwrite=args.force, **protect)
    if fmt == "safetensors":  # what to install, before training rather than after
        import_optional("safetensors.torch", "safetensors", "--format safetensors")
    frame, described, tmp = _load_labels(args.source, args)
    try:
        if args.source is not None and protect["inputs"]:  # a table: its images' folders
            protect["data_dirs"] = folders_of(frame["path"])
            check_file_output(args.output, overwrite=args.force, **protect)
        if args.limit:
            frame = frame.sample(n=min(args.limit, len(frame)), random_state=0)
        target, column = args.target, TARGETS[args.target][1]
        columns = list(TASKS) if column is None else [column]
        missing = [c for c in columns if c not in frame or frame[c].isna().any()]
        if missing:
            raise ValueError(f"{described}: no complete {missing} labels to train on")
        y = frame[columns] if column is None else frame[column]
        if column is None:
            y = y.astype(dict.fromkeys(CODED_TASKS, "int64"))
        elif column in CODED_TASKS:
            y = y.astype("int64")
        loader = ImageLoader(size=args.size, lazy=args.stream)
        pipe = make_pipeline(loader, _estimator_for(target, args))
        _say(f"skface train: {target} on {len(frame):,} images from {described}")
        if not args.stream:  # decoded once here, with progress; the fit reads the cache
            _decode_with_progress(loader, frame["path"].tolist(), "train")
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingInterruptedWarning)
            pipe.fit(frame["path"], y)
        pipe[-1].training_data_ = {  # said when the model predicts, if synthetic
            "synthetic": args.source is None, "n_images": len(frame),
            "source": described if args.source is not None else
            f"{len(frame)} images drawn by skface.datasets.make_faces"}
        # atomic, and without --force never replacing a file that appeared meanwhile
        with atomic_file(args.output, overwrite=args.force, **protect) as partial:
            if fmt == "safetensors":
                save_model(pipe, partial)
            else:
                joblib.dump(pipe, partial)
        written.append(args.output)
        _say(f"skface train: model written to {args.output} ({fmt})")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return EXIT_OK


_MODEL_HELP = ("model file: .safetensors (skface.save_model; runs no code when loaded) or "
               "joblib (`skface train`; runs code when loaded, so only files you trust); "
               f"exit code {EXIT_ERROR} if it is not a readable model")


def _check_takes_paths(model, path: str) -> None:
    """The model predicts from image files: a Pipeline, as ``skface train`` writes."""
    from sklearn.pipeline import Pipeline

    from .exceptions import ModelFileError

    if not isinstance(model, Pipeline):
        raise ModelFileError(
            f"{path!r} holds a {type(model).__name__}, which predicts from arrays, not "
            "from image files; pass a Pipeline that starts from image paths, as `skface "
            "train` writes (make_pipeline(ImageLoader(...), estimator))", path=path)


def _plan_drawing(paths: list[str], draw: str | None, force: bool, protect: dict) -> list:
    """Where each input's annotated copy goes; refuses unsafe targets before any work."""
    from ._utils import OutputRefusedError, check_file_output

    targets = []
    if draw:
        real = os.path.realpath(draw)
        for path in paths:
            if os.path.realpath(os.path.dirname(os.path.abspath(path))) == real:
                raise OutputRefusedError(
                    f"--draw {draw!r} is the folder of {path!r}; choose another folder "
                    "(nothing is written next to the inputs)")
    seen: dict[str, str] = {}
    for path in paths:
        video = path.lower().endswith(VIDEO_SUFFIXES)
        if not draw:
            if video:
                raise ValueError(f"{path!r} is a video: pass --draw FOLDER for the annotated "
                                 "copy (the table lists the faces of every frame)")
            targets.append(None)
            continue
        name = os.path.basename(path)
        target = os.path.join(draw, name if video else os.path.splitext(name)[0] + ".png")
        if target in seen:
            raise ValueError(f"{seen[target]!r} and {path!r} would both be drawn to "
                             f"{target!r}; rename one of them or draw them separately")
        seen[target] = path
        check_file_output(target, overwrite=force, **protect)
        targets.append(target)
    return targets


def _progress(command: str, what: str):
    """``progress(done, total)`` printing a line that rewrites itself on a terminal; None
    when stderr is not a terminal (piped logs get no carriage returns)."""
    if not sys.stderr.isatty():
        return None

    def progress(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rskface {command}: {what} {done:,}/{total:,}", end=end, file=sys.stderr,
              flush=True)

    return progress


def _decode_with_progress(loader, paths: list[str], command: str) -> None:
    """Decode ``paths`` into the image cache in chunks, saying how far it got."""
    import time

    from ._imaging import image_cache_info

    progress = _progress(command, "decoding images")
    if progress is None or not loader.cache or image_cache_info().max_bytes == 0:
        return  # no terminal to show it on, or nothing kept for the fit to reuse
    start, chunk = time.perf_counter(), 512
    for i in range(0, len(paths), chunk):
        loader.transform(paths[i:i + chunk])
        progress(min(i + chunk, len(paths)), len(paths))
    _say(f"skface {command}: decoded {len(paths):,} images in "
         f"{time.perf_counter() - start:.0f} s")


def _draw_rows(table, paths: list[str], targets: list, tasks, force: bool) -> None:
    """Write each photo with its faces' boxes and named predictions drawn on it."""
    from PIL import Image

    from ._analyze import face_label
    from ._draw import draw_predictions
    from ._image_files import DecodeFailure
    from ._imaging import read_rgb
    from ._utils import atomic_file

    for path, target in zip(paths, targets, strict=True):
        rows = table[(table["file"] == path) & (table["status"] == "ok")]
        try:
            rgb = read_rgb(path)
        except DecodeFailure:  # its row says why; there is nothing to draw on
            continue
        boxes = rows[["x", "y", "w", "h"]].to_numpy(dtype="int64")
        labels = [face_label(row, tasks) for _, row in rows.iterrows()]
        with atomic_file(target, overwrite=force, clean=False) as partial:
            Image.fromarray(draw_predictions(rgb, boxes, labels)).save(partial, format="PNG")


def _make_draw_folder(draw: str) -> None:
    """Create the ``--draw`` folder and its parents, and clear leftovers of killed runs
    there: once, before any input (image or video) is drawn into it."""
    from ._utils import clean_leftovers

    os.makedirs(draw, exist_ok=True)
    clean_leftovers(draw)  # once, not once per file


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._analyze import analyze, default_cropper, image_files, resolve_predictor
    from ._draw import annotate_video
    from ._spreadsheet import spreadsheet_safe
    from ._utils import atomic_file, check_file_output

    paths = list(args.paths)
    folder = paths[0] if len(paths) == 1 and os.path.isdir(paths[0]) else None
    protect = {"inputs": [args.model, *paths], "data_dirs": [folder] if folder else []}
    if args.output:  # before any work: never an input, nothing inside the data folder
        check_file_output(args.output, overwrite=args.force, **protect)
    if folder is not None:
        paths, others = image_files(folder)
        videos = [os.path.join(folder, n) for n in others
                  if n.lower().endswith(VIDEO_SUFFIXES)]
        others = [n for n in others if not n.lower().endswith(VIDEO_SUFFIXES)]
        paths = sorted(paths + videos)
        if not paths:
            raise ValueError(
                f"{folder!r} holds no image file (skface reads JPEG, PNG, WebP, GIF, BMP, "
                "TIFF and PPM files); pass a folder of photos, or the files themselves")
        if others:
            shown = ", ".join(repr(n) for n in others[:5])
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            _say(f"skface predict: {len(others)} entries of {folder!r} are not image files "
                 f"and were not read: {shown}{more}")
    detect = bool(args.detect or args.draw)
    targets = _plan_drawing(paths, args.draw, args.force, protect) if detect else None
    model = load_model_file(args.model)
    _check_takes_paths(model, args.model)
    tasks = resolve_predictor(model)[0].task_.tasks
    images = [p for p in paths if not p.lower().endswith(VIDEO_SUFFIXES)]
    tables = []
    if args.draw:  # made (with its parents) for images and videos alike, once
        _make_draw_folder(args.draw)
    if images:
        table = analyze(images, model, detect=detect, codes=args.codes, on_error=args.on_error,
                        cropper=default_cropper(model, args.detector) if detect else None,
                        progress=_progress("predict", "images"))
        if args.draw:
            drawn = [(p, t) for p, t in zip(paths, targets, strict=True) if p in set(images)]
            _draw_rows(table, [p for p, _ in drawn], [t for _, t in drawn], tasks, args.force)
        if not detect:  # whole images: the box is the image, not worth a column
            table = table.drop(columns=["face", "x", "y", "w", "h"])
        tables.append(table.rename(columns={"file": "path"}))
    for path, target in zip(paths, targets or [None] * len(paths), strict=True):
        if path.lower().endswith(VIDEO_SUFFIXES):
            faces = annotate_video(model, path, target, overwrite=args.force)
            faces.insert(0, "path", path)
            tables.append(faces)
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    table = spreadsheet_safe(table)  # no cell a spreadsheet would run as a formula
    if args.output:
        with atomic_file(args.output, overwrite=args.force, **protect) as partial:
            table.to_csv(partial, index=False)
    else:
        print(table.to_csv(index=False), end="")
    failed = table["status"].astype(str).str.startswith("unreadable") if "status" in table else []
    if len(failed) and failed.any():
        _say(f"skface predict: {int(failed.sum())} of {len(images)} images could not be read "
             "(status column); the others were predicted")
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    from ._reports import evaluate_model, source_protection
    from ._utils import check_folder_output

    # before any work: the report folder must be new, empty or an earlier skface report,
    # and neither the data, its folder, the model nor the current or home folder
    protect = source_protection(args.data)
    protect["inputs"].append(args.model)
    check_folder_output(args.output, overwrite=args.force, **protect)
    model = load_model_file(args.model)
    _check_takes_paths(model, args.model)
    frame, described, _ = _load_labels(args.data, args)
    if args.limit:
        frame = frame.sample(n=min(args.limit, len(frame)), random_state=0)
    _say(f"skface evaluate: {args.model} on {len(frame):,} images from {described}")
    from ._image_loader import ImageLoader

    if isinstance(model[0], ImageLoader) and not model[0].lazy:  # decoded with progress
        _decode_with_progress(model[0], frame["path"].tolist(), "evaluate")
    report = evaluate_model(model, frame, args.output, plots=not args.no_plots,
                            force=args.force, model_name=args.model, source=described)
    for task, r in report["tasks"].items():
        value = f"{r['value']:.2f} years" if r["metric"] == "mae" else f"{r['value']:.2%}"
        line = f"{task}: {r['metric']} {value} on {r['n']:,} images"
        worst = r["worst_group"]
        if worst:
            w = worst[r["metric"]]
            shown = f"{w:.2f}" if r["metric"] == "mae" else f"{w:.2%}"
            line += (f"; worst group {worst['column']}={worst['group']} "
                     f"({worst['n']:,} images): {shown}")
        _say(line, file=sys.stdout)
    _say(f"skface evaluate: report written to {args.output}")
    return EXIT_OK


def _eda(args: argparse.Namespace) -> int:
    from ._reports import explore_data

    summary = explore_data(args.source, args.output, check=not args.no_check,
                           force=args.force, n_jobs=args.n_jobs,
                           progress=not args.quiet and sys.stderr.isatty())
    _say(f"{summary['labelled']:,} labelled images, {len(summary['malformed'])} malformed "
          f"file names, " + ("unreadable images not checked" if summary["unreadable"] is None
                             else f"{len(summary['unreadable'])} unreadable images"),
         file=sys.stdout)
    _say(f"skface eda: {len(summary['figures'])} figures and index.html written to "
         f"{args.output}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from ._demo import serve

    serve(args.model, host=args.host, port=args.port, open_browser=args.browser,
          detector=args.detector)
    return EXIT_OK


_DETECTOR_HELP = ("face detector: haar (OpenCV's Haar cascade, skface[detect]; the default) "
                  "or yunet (YuNet, skface[detect-dnn]: finds more faces, fewer false ones)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skface",
        description="Age, gender and race prediction from face images, scikit-learn style.",
        epilog=f"exit codes: {EXIT_OK} success, {EXIT_BAD_FILES} bad files found with --strict, "
               f"{EXIT_USAGE} bad arguments, an existing output without --force or an output "
               f"skface does not replace, {EXIT_ERROR} "
               f"input could not be read, {EXIT_MISSING_DEPENDENCY} an optional dependency "
               f"is missing, {EXIT_INTERRUPTED} interrupted (Ctrl-C).",
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
                   help=f"exit with code {EXIT_BAD_FILES} if any file is malformed or unreadable")
    s.add_argument("--n-jobs", type=_N_JOBS, default=None,
                   help="decoding threads, or -1 for every CPU (default: every CPU)")
    s.add_argument("--synthetic", type=_COUNT, default=500, metavar="N",
                   help="number of synthetic images when no SOURCE is given (default: 500)")
    s.add_argument("-q", "--quiet", action="store_true",
                   help="no progress display (shown only on a terminal anyway)")
    s.set_defaults(func=_summarize)

    t = sub.add_parser(
        "train",
        help="train a model on a folder or label table and save it (joblib or safetensors)",
        description=(
            "Train ImageLoader + an estimator on a folder of images named in UTKFace's scheme "
            "or a CSV label table (path plus age/gender/race columns), and write the fitted "
            "Pipeline with joblib, or with skface.save_model for a *.safetensors file or "
            "--format safetensors (a file that runs no code when loaded). Without SOURCE, "
            "trains on synthetic images so it runs anywhere. The model file is written "
            "atomically, and an existing one is replaced only with --force."
        ),
    )
    t.add_argument("source", nargs="?", metavar="SOURCE",
                   help="image folder or CSV label table (default: synthetic images)")
    t.add_argument("--target", choices=tuple(TARGETS), default="gender",
                   help="what to predict (default: gender); 'all' trains the multi-task model")
    t.add_argument("-o", "--output", default="skface-model.joblib",
                   help="model file to write (default: skface-model.joblib)")
    t.add_argument("--force", action="store_true", help="replace an existing model file")
    t.add_argument("--format", choices=tuple(MODEL_SUFFIXES.values()), default=None,
                   help="model file format (default: safetensors for a *.safetensors "
                        "output, joblib otherwise); safetensors files run no code when "
                        "loaded, joblib files hold any Pipeline")
    t.add_argument("--size", type=_integer(MIN_IMAGE_SIZE, MAX_IMAGE_SIDE,
                                           why="the sides the networks take"),
                   default=48,
                   help=f"image side in pixels, from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIDE} "
                        "(default: 48)")
    t.add_argument("--epochs", type=_COUNT, default=None,
                   help="maximum epochs, at least 1 (default: the estimator's)")
    t.add_argument("--network", default=None, help="network name from skface.nets.list_models()")
    t.add_argument("--stream", action="store_true",
                   help="decode images batch by batch while training instead of loading "
                        "them all first (for folders larger than memory)")
    t.add_argument("--limit", type=_COUNT, default=None, metavar="N",
                   help="train on a random N images only")
    t.add_argument("--random-state", type=_integer(0, 2**32 - 1), default=0,
                   help="seed of the training's random numbers (default: 0)")
    t.add_argument("--synthetic", type=_COUNT, default=1000, metavar="N",
                   help="number of synthetic images when no SOURCE is given (default: 1000)")
    t.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    t.set_defaults(func=_train)

    p = sub.add_parser(
        "predict",
        help="predict with a saved model; prints a CSV table",
        description="Load a model (a .safetensors file written by skface.save_model, or a "
                    "joblib file written by `skface train` or joblib.dump) and predict for "
                    "image files or a folder of them. safetensors model files run no code "
                    "when loaded; joblib files do: load only joblib files you trust. Exit "
                    f"code {EXIT_ERROR} if MODEL is not a readable model file.",
    )
    p.add_argument("model", help=_MODEL_HELP)
    p.add_argument("paths", nargs="+", help="image files, or one folder")
    p.add_argument("-o", "--output", default=None, help="write the table to this CSV file")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--detect", action="store_true",
                   help="the images are ordinary photos: find the faces first (see "
                        "--detector) and list one row per face with its box")
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
    p.set_defaults(func=_predict)

    e = sub.add_parser(
        "evaluate",
        help="evaluate a saved model on labelled images; write metrics, tables and plots",
        description="Evaluate a model written by `skface train` on a folder of images named "
                    "in UTKFace's scheme or a CSV label table, and write a report folder: "
                    "metrics.json, predictions.csv, per-group metrics (by gender, race and "
                    "age group, next to the overall figure) and figures (confusion "
                    "matrices, predicted vs true age, learning curves). MODEL is a "
                    ".safetensors file (skface.save_model; runs no code when loaded) or a "
                    "joblib file (runs code when loaded: only files you trust). Exit code "
                    f"{EXIT_ERROR} if MODEL is not a readable model file.",
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
    e.set_defaults(func=_evaluate, synthetic=0, size=0)

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
    d.set_defaults(func=_eda)

    m = sub.add_parser(
        "demo",
        help="serve a web demo of a saved model: upload a photo, see faces and predictions",
        description="Serve a Gradio web page for a model written by `skface train`: upload a "
                    "photo, faces are found with OpenCV's Haar cascade and the predictions "
                    "drawn on them. Needs skface[demo] and skface[detect]. Serves on "
                    "127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C stops "
                    "it. MODEL is a .safetensors file (skface.save_model; runs no code when "
                    "loaded) or a joblib file (runs code when loaded: only files you trust). "
                    f"Exit code {EXIT_ERROR} if MODEL is not a readable model file.",
    )
    m.add_argument("model", help=_MODEL_HELP)
    m.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; 0.0.0.0 exposes it)")
    m.add_argument("--port", type=_integer(1, 65535), default=None,
                   help="port (default: Gradio's, 7860 or the next free one)")
    m.add_argument("--browser", action="store_true", help="open the page in a web browser")
    m.add_argument("--detector", choices=DETECTORS, default=DETECTORS[0],
                   help=_DETECTOR_HELP)
    m.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except _UsageError as exc:  # a bad argument found after parsing
        _say(f"skface {args.command}: error: {exc}")
        return EXIT_USAGE
    except FileExistsError as exc:  # an existing output, or one skface never writes
        _say(f"skface {args.command}: {exc}")
        return EXIT_USAGE
    except ImportError as exc:  # an optional dependency (matplotlib, OpenCV) is missing
        _say(f"skface {args.command}: error: {exc}")
        return EXIT_MISSING_DEPENDENCY
    except BrokenPipeError:  # the reader went away (`skface summarize | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SIGPIPE
    except (OSError, ValueError) as exc:
        _say(f"skface {args.command}: error: {exc}")
        return EXIT_ERROR
    except MemoryError as exc:  # numpy says how much it could not allocate
        hint = " (--limit, a smaller --size, or --stream)" if args.command == "train" else ""
        _say(f"skface {args.command}: error: out of memory ({exc or 'MemoryError'}); "
             f"use fewer or smaller images{hint}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say(f"skface {args.command}: interrupted")
        return EXIT_INTERRUPTED
