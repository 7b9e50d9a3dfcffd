"""The ``skface`` command line (also ``python -m skface``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from . import __version__
from ._spreadsheet import spreadsheet_safe

EXIT_OK = 0
EXIT_BAD_FILES = 1  # only with --strict: the summary found malformed or unreadable files
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # the input could not be read at all
EXIT_MISSING_DEPENDENCY = 4  # an optional dependency the command needs is not installed
EXIT_SIGPIPE = 141  # the shell's code for a reader that closed the pipe


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


# the choices of --target; each trains skface._estimators.TARGET_ESTIMATORS[target]
# (named here, not imported, so that the parser starts without torch)
_TARGETS = ("age", "gender", "race", "age_bins", "all")


def _load_labels(source: str | None, args) -> tuple:
    """Label frame and a description of where it came from (synthetic when no source)."""
    from ._summary import load_labels
    from .datasets import make_faces

    if source is None:
        folder = tempfile.mkdtemp(prefix="skface-synthetic-")
        frame = make_faces(args.synthetic, size=max(args.size, 32), directory=folder,
                           random_state=0)
        return frame, (f"{args.synthetic} SYNTHETIC cartoon faces (skface.datasets.make_faces); "
                       "pass a folder or CSV to train on real images"), folder
    frame, malformed, kind = load_labels(source)
    for name, reason in malformed:
        print(f"skface: malformed file name {name!r} left out: {reason}", file=sys.stderr)
    return frame, f"{source} ({kind})", None


def _estimator_for(target: str, args):
    from ._estimators import TARGET_ESTIMATORS

    cls = TARGET_ESTIMATORS[target]
    params = {"verbose": 0 if args.quiet else 1, "random_state": args.random_state}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    if args.network is not None:
        params["module"] = args.network
    return cls(**params)


_MODEL_SUFFIXES = {".joblib": "joblib", ".safetensors": "safetensors"}


def _model_format(args: argparse.Namespace) -> str:
    """``--format``, or the one the output's suffix names (joblib unless .safetensors)."""
    suffix = os.path.splitext(args.output)[1].lower()
    implied = _MODEL_SUFFIXES.get(suffix)
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
    import shutil

    import joblib
    from sklearn.pipeline import make_pipeline

    from . import ImageLoader
    from ._utils import atomic_file, check_file_output, folders_of, import_optional

    try:
        fmt = _model_format(args)
    except ValueError as exc:
        print(f"skface train: {exc}", file=sys.stderr)
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
        target = args.target
        columns = ["age", "gender", "race"] if target == "all" else [
            "age" if target == "age_bins" else target]
        missing = [c for c in columns if c not in frame or frame[c].isna().any()]
        if missing:
            raise ValueError(f"{described}: no complete {missing} labels to train on")
        y = frame[columns] if target == "all" else frame[columns[0]]
        if target == "all":
            y = y.astype({"gender": "int64", "race": "int64"})
        elif target in ("gender", "race"):
            y = y.astype("int64")
        loader = ImageLoader(size=args.size, lazy=args.stream)
        pipe = make_pipeline(loader, _estimator_for(target, args))
        print(f"skface train: {target} on {len(frame):,} images from {described}",
              file=sys.stderr)
        pipe.fit(frame["path"], y)
        # atomic, and without --force never replacing a file that appeared meanwhile
        with atomic_file(args.output, overwrite=args.force, **protect) as partial:
            if fmt == "safetensors":
                from ._safe_io import save_model

                save_model(pipe, partial)
            else:
                joblib.dump(pipe, partial)
        print(f"skface train: model written to {args.output} ({fmt})", file=sys.stderr)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return EXIT_OK


_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")

_MODEL_HINT = ("pass a model file: a .safetensors file written by skface.save_model, or a "
               "joblib file written by `skface train` (joblib files run code when loaded: "
               "use only ones you trust)")
_MODEL_HELP = ("model file: .safetensors (skface.save_model; runs no code when loaded) or "
               "joblib (`skface train`; runs code when loaded, so only files you trust); "
               f"exit code {EXIT_ERROR} if it is not a readable model")


def _is_safetensors(path: str, size: int) -> bool:
    """By suffix, or by content: an 8-byte little-endian header length, then '{'."""
    if path.lower().endswith(".safetensors"):
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return (len(head) == 9 and head[8:9] == b"{"
            and 2 <= int.from_bytes(head[:8], "little") <= size - 8)


def load_model_file(path: str | os.PathLike):
    """The model in ``path``: a safetensors model file or a joblib file.

    A safetensors file (by its ``.safetensors`` suffix or its content) is read with
    :func:`skface.load_model`, which runs no code from the file; anything else with
    ``joblib.load``, which does.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    model : estimator or Pipeline

    Raises
    ------
    ModelFileError
        If ``path`` is missing, not a regular file, empty, not a model file, or a
        joblib file holding something other than a model; the message names the file
        and says what to pass instead. The command line exits with code 3.
    """
    from sklearn.base import BaseEstimator

    from .exceptions import ModelFileError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path!r} does not exist; {_MODEL_HINT}", path=path)
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder, not a model file; {_MODEL_HINT}", path=path)
    if not os.path.isfile(path):  # a FIFO or device would block or never end
        raise ModelFileError(f"{path!r} is not a regular file; {_MODEL_HINT}", path=path)
    size = os.path.getsize(path)
    if size == 0:
        raise ModelFileError(f"model file {path!r} is empty; {_MODEL_HINT}", path=path)
    if _is_safetensors(path, size):
        from ._safe_io import load_model

        return load_model(path)
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # pickle raises anything at all on a file that is not one
        reason = f"{type(exc).__name__}: {exc}"
        raise ModelFileError(
            f"{path!r} is not a model file: neither a safetensors file written by "
            f"skface.save_model nor a joblib file ({reason[:200]}); {_MODEL_HINT}",
            path=path) from None
    if not (isinstance(model, BaseEstimator) and hasattr(model, "predict")):
        raise ModelFileError(
            f"{path!r} holds a {type(model).__module__}.{type(model).__name__}, not a "
            f"model that predicts; {_MODEL_HINT}", path=path)
    return model


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
        video = path.lower().endswith(_VIDEO_SUFFIXES)
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


def _predict_faces(model, paths: list[str], draw: str | None, targets: list, force: bool):
    """One row per face found in each photo (or video frame); annotated copies in ``draw``."""
    import pandas as pd
    from PIL import Image

    from ._draw import annotate_image, annotate_video
    from ._utils import atomic_file, clean_leftovers

    if draw:
        os.makedirs(draw, exist_ok=True)
        clean_leftovers(draw)  # once, not once per file
    tables = []
    for path, target in zip(paths, targets, strict=True):
        if path.lower().endswith(_VIDEO_SUFFIXES):
            faces = annotate_video(model, path, target, overwrite=force)
        else:
            drawn, faces = annotate_image(model, path)
            if target is not None:
                with atomic_file(target, overwrite=force, clean=False) as partial:
                    Image.fromarray(drawn).save(partial, format="PNG")
        faces.insert(0, "path", path)
        tables.append(faces)
    return pd.concat(tables, ignore_index=True)


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._utils import atomic_file, check_file_output

    paths = list(args.paths)
    folder = paths[0] if len(paths) == 1 and os.path.isdir(paths[0]) else None
    protect = {"inputs": [args.model, *paths], "data_dirs": [folder] if folder else []}
    if args.output:  # before any work: never an input, nothing inside the data folder
        check_file_output(args.output, overwrite=args.force, **protect)
    if folder is not None:
        paths = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                       if not n.startswith("."))
    targets = None
    if args.detect or args.draw:
        targets = _plan_drawing(paths, args.draw, args.force, protect)
    model = load_model_file(args.model)
    if targets is not None:
        table = _predict_faces(model, paths, args.draw, targets, args.force)
    else:
        pred = model.predict(paths)
        table = (pred.copy() if isinstance(pred, pd.DataFrame)
                 else pd.DataFrame({"prediction": pred}))
        table.insert(0, "path", paths)
        if hasattr(model, "predict_proba") and not isinstance(pred, pd.DataFrame):
            proba = model.predict_proba(paths)
            for j, label in enumerate(model.classes_):
                table[f"p({label})"] = proba[:, j].round(4)
    table = spreadsheet_safe(table)  # no cell a spreadsheet would run as a formula
    if args.output:
        with atomic_file(args.output, overwrite=args.force, **protect) as partial:
            table.to_csv(partial, index=False)
    else:
        print(table.to_csv(index=False), end="")
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
    frame, described, _ = _load_labels(args.data, args)
    if args.limit:
        frame = frame.sample(n=min(args.limit, len(frame)), random_state=0)
    print(f"skface evaluate: {args.model} on {len(frame):,} images from {described}",
          file=sys.stderr)
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
        print(line)
    print(f"skface evaluate: report written to {args.output}", file=sys.stderr)
    return EXIT_OK


def _eda(args: argparse.Namespace) -> int:
    from ._reports import explore_data

    summary = explore_data(args.source, args.output, check=not args.no_check,
                           force=args.force, n_jobs=args.n_jobs,
                           progress=not args.quiet and sys.stderr.isatty())
    print(f"{summary['labelled']:,} labelled images, {len(summary['malformed'])} malformed "
          f"file names, " + ("unreadable images not checked" if summary["unreadable"] is None
                             else f"{len(summary['unreadable'])} unreadable images"))
    print(f"skface eda: {len(summary['figures'])} figures and index.html written to "
          f"{args.output}", file=sys.stderr)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from ._demo import serve

    serve(args.model, host=args.host, port=args.port, open_browser=args.browser)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skface",
        description="Age, gender and race prediction from face images, scikit-learn style.",
        epilog=f"exit codes: {EXIT_OK} success, {EXIT_BAD_FILES} bad files found with --strict, "
               f"{EXIT_USAGE} bad arguments, an existing output without --force or an output "
               f"skface does not replace, {EXIT_ERROR} "
               f"input could not be read, {EXIT_MISSING_DEPENDENCY} an optional dependency "
               "is missing.",
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
    s.add_argument("--n-jobs", type=int, default=None, help="decoding threads (default: all CPUs)")
    s.add_argument("--synthetic", type=int, default=500, metavar="N",
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
    t.add_argument("--target", choices=_TARGETS, default="gender",
                   help="what to predict (default: gender); 'all' trains the multi-task model")
    t.add_argument("-o", "--output", default="skface-model.joblib",
                   help="model file to write (default: skface-model.joblib)")
    t.add_argument("--force", action="store_true", help="replace an existing model file")
    t.add_argument("--format", choices=("joblib", "safetensors"), default=None,
                   help="model file format (default: safetensors for a *.safetensors "
                        "output, joblib otherwise); safetensors files run no code when "
                        "loaded, joblib files hold any Pipeline")
    t.add_argument("--size", type=int, default=48, help="image side in pixels (default: 48)")
    t.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    t.add_argument("--network", default=None, help="network name from skface.nets.list_models()")
    t.add_argument("--stream", action="store_true",
                   help="decode images batch by batch while training instead of loading "
                        "them all first (for folders larger than memory)")
    t.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on a random N images only")
    t.add_argument("--random-state", type=int, default=0)
    t.add_argument("--synthetic", type=int, default=1000, metavar="N",
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
                   help="the images are ordinary photos: find the faces first (OpenCV's Haar "
                        "cascade, skface[detect]) and list one row per face with its box")
    p.add_argument("--draw", metavar="FOLDER", default=None,
                   help="with detection: write a copy of each photo (PNG) or video with the "
                        "boxes and predictions drawn on it into FOLDER")
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
    e.add_argument("--limit", type=int, default=None, metavar="N",
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
    d.add_argument("--n-jobs", type=int, default=None, help="decoding threads (default: all CPUs)")
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
    m.add_argument("--port", type=int, default=None,
                   help="port (default: Gradio's, 7860 or the next free one)")
    m.add_argument("--browser", action="store_true", help="open the page in a web browser")
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
    except FileExistsError as exc:  # an existing output, or one skface never writes
        print(f"skface {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # an optional dependency (matplotlib, OpenCV) is missing
        print(f"skface {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except BrokenPipeError:  # the reader went away (`skface summarize | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SIGPIPE
    except (OSError, ValueError) as exc:
        print(f"skface {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"skface {args.command}: interrupted", file=sys.stderr)
        return 130
