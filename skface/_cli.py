"""The ``skface`` command line (also ``python -m skface``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from . import __version__

EXIT_OK = 0
EXIT_BAD_FILES = 1  # only with --strict: the summary found malformed or unreadable files
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_ERROR = 3  # the input could not be read at all
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skface",
        description="Age, gender and race prediction from face images, scikit-learn style.",
        epilog=f"exit codes: {EXIT_OK} success, {EXIT_BAD_FILES} bad files found with --strict, "
               f"{EXIT_USAGE} bad arguments, {EXIT_ERROR} input could not be read.",
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
    s.add_argument("-q", "--quiet", action="store_true", help="no progress display (it is shown only on a terminal anyway)")
    s.set_defaults(func=_summarize)
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
    except BrokenPipeError:  # the reader went away (`skface summarize | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SIGPIPE
    except (OSError, ValueError) as exc:
        print(f"skface {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"skface {args.command}: interrupted", file=sys.stderr)
        return 130
