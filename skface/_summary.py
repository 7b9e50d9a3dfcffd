"""What the ``skface summarize`` command reports about a folder of face images.

Built on the public API (``load_utkface``, ``load_csv``, ``check_images``).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ._age_bins import AgeBinEncoder
from ._files import FileRefused, check_regular, open_regular
from ._labels import CODED_TASKS
from ._metrics import age_summary, format_age
from ._utils import VIDEO_SUFFIXES, printable
from .datasets import check_images, load_csv, load_utkface
from .datasets._table import read_table
from .exceptions import MalformedFileNameWarning

_CHUNK = 1000


@dataclass
class FolderSummary:
    """Counts, label distributions and bad files of one labelled image set."""

    source: str
    kind: str
    labels: pd.DataFrame
    malformed: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    image_kinds: Counter = field(default_factory=Counter)
    checked: bool = True
    not_files: list[str] = field(default_factory=list)
    """Entries of a folder with an image name that are not regular files (named pipes,
    folders, devices, broken or looping links): counted and listed as unreadable."""

    @property
    def n_files(self) -> int:
        return len(self.labels) + len(self.malformed) + len(self.not_files)

    def distributions(self) -> dict:
        """:func:`label_distributions` of every labelled image."""
        return label_distributions(self.labels)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "files": self.n_files,
            "labelled": len(self.labels),
            "malformed": [{"file": f, "reason": r} for f, r in self.malformed],
            "unreadable": (
                [{"file": f, "reason": r} for f, r in self.unreadable] if self.checked else None
            ),
            "image_kinds": {k: v for k, v in self.image_kinds.most_common()},
            "labels": self.distributions(),
        }

    def to_text(self) -> str:
        n = len(self.labels)
        lines = [f"skface summary of {printable(self.source)} ({printable(self.kind)})", ""]

        def row(name, value, note=""):
            lines.append(f"  {name:<20}{value:>9,}{'  ' + note if note else ''}")

        row("files", self.n_files)
        row("labelled images", n)
        row("malformed names", len(self.malformed), "left out, listed below" if self.malformed
            else "")
        if self.checked:
            row("unreadable images", len(self.unreadable),
                "listed below" if self.unreadable else "")
            for kind, count in self.image_kinds.most_common(5):
                lines.append(f"  {'image kind':<20}{count:>9,}  {printable(kind)}")
        else:
            lines.append("  unreadable images    not checked (--no-check)")
        dist = self.distributions()
        if "age" in dist:
            a = dist["age"]
            lines += ["", f"age (years): mean {a['mean']:.1f}, median {format_age(a['median'])}, "
                      f"min {format_age(a['min'])}, max {format_age(a['max'])}"]
            lines += _bars(a["by_decade"], n)
        for key in CODED_TASKS:
            if key in dist:
                lines += ["", f"{key}:", *_bars(dist[key], n)]
        if self.malformed:
            lines += ["", "malformed file names (no usable labels):"]
            lines += [f"  '{printable(f)}': {printable(r)}" for f, r in self.malformed]
        if self.checked and self.unreadable:
            lines += ["", "unreadable images:"]
            lines += [f"  '{printable(f)}': {printable(r)}" for f, r in self.unreadable]
        return "\n".join(lines)


def label_distributions(labels: pd.DataFrame) -> dict:
    """Age statistics and counts per decade, gender and race of a label frame.

    Returns
    -------
    distributions : dict
        ``"age"`` (when the frame has ages): the mean, median, minimum and maximum
        (computed by ``age_summary``, as the figures' are) and ``by_decade`` counts;
        ``"gender"`` and ``"race"`` (when the frame has their names): images per name.
    """
    out: dict = {}
    if "age" in labels and labels["age"].notna().any():
        ages = labels["age"].dropna().to_numpy()
        enc = AgeBinEncoder("decades").fit(ages)
        stats = age_summary(ages)
        out["age"] = {
            "mean": stats["mean"],
            "median": stats["median"],
            "min": stats["min"],
            "max": stats["max"],
            "by_decade": dict(zip(enc.labels_, enc.counts_.tolist(), strict=True)),
        }
    for col in ("gender_name", "race_name"):
        if col in labels:
            counts = labels[col].value_counts(sort=False, dropna=False)
            out[col.removesuffix("_name")] = {str(k): int(v) for k, v in counts.items()}
    return out


def _bars(counts: dict, total: int, width: int = 30) -> list[str]:
    out = []
    top = max(counts.values()) if counts else 1
    for name, count in counts.items():
        share = count / total if total else 0.0
        bar = "#" * round(width * count / top) if top else ""
        out.append(f"  {printable(name):<14}{count:>8,}  {share:6.1%}  {bar}")
    return out


def why_no_images(source: str, n_malformed: int) -> str:
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


def load_labels(source: str | os.PathLike) -> tuple[pd.DataFrame, list[tuple[str, str]], str]:
    """Label frame of a UTKFace-style folder or a CSV label table.

    Returns
    -------
    labels : DataFrame
    malformed : list of (str, str)
        Malformed file names of a folder, with the reason (always empty for a table).
    kind : str
        ``"UTKFace file names"`` or ``"label table"``.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist.
    ValueError
        If ``source`` is neither a folder nor a regular file (a named pipe, a
        device: the message says which), is an image file rather than a folder or a
        table, or a table without a ``path`` column (the message lists its columns),
        or as :func:`skface.datasets.load_csv` raises.
    """
    source = os.fspath(source)
    if not os.path.exists(source):
        raise FileNotFoundError(
            f"{source!r} does not exist (working directory {os.getcwd()!r}); pass a folder "
            "of images or a CSV label table."
        )
    if os.path.isdir(source):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MalformedFileNameWarning)  # returned instead
            labels = load_utkface(source)
        return labels, list(labels.attrs.get("malformed", [])), "UTKFace file names"
    try:  # a named pipe would block every read below, a device never end
        check_regular(source, advice="pass a folder of images or a CSV label table",
                      allow_empty=True)
    except FileRefused as exc:
        raise ValueError(f"{source!r}: {exc}") from None
    if _is_image_file(source):
        raise ValueError(
            f"{source!r} is an image file, not a folder or a CSV label table; pass the "
            "folder that holds the images (named in UTKFace's scheme, "
            "[age]_[gender]_[race]_[datetime].jpg) or a CSV table listing them.")
    _require_path_column(source)
    return load_csv(source), [], "label table"


# the first bytes of the image and video formats one might pass by mistake
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*",
          b"\x1aE\xdf\xa3")


def _is_image_file(path: str) -> bool:
    """Whether ``path`` is an image (or video) file, by its suffix or its first bytes."""
    from ._image_files import image_extensions

    suffix = os.path.splitext(path)[1].lower()
    if suffix in image_extensions() or suffix in VIDEO_SUFFIXES:
        return True
    try:
        with open_regular(path, allow_empty=True) as f:
            head = f.read(12)
    except (FileRefused, OSError):
        return False  # load_csv says why it cannot be read
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or (
        head[4:8] == b"ftyp")


def _require_path_column(source: str) -> None:
    """A label table needs a ``path`` column; say which columns it has if not."""
    try:
        columns = [str(c) for c in read_table(source, nrows=0).columns]
    except (ValueError, UnicodeDecodeError, OSError):
        return  # load_csv says why the file cannot be read
    if "path" not in columns:
        raise ValueError(
            f"{source}: a label table needs a 'path' column naming the image files "
            f"(plus age, gender or race columns); its columns are {columns!r}: name the "
            "column that holds the image paths 'path'.")


def _not_files(folder: str) -> list[str]:
    """Paths of a folder's entries named like images that are not regular files.

    ``load_utkface`` considers regular files only; these are what it leaves out that
    looks like an image (a named pipe, a folder or a device link named ``.jpg``, a
    broken or looping symbolic link), so that the check names them instead.
    """
    from ._image_files import image_extensions

    extensions = image_extensions()
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if not e.name.startswith(".")
                       and os.path.splitext(e.name)[1].lower() in extensions)
    paths = (os.path.join(folder, n) for n in names)
    return [p for p in paths if not os.path.isfile(p)]


def summarize(
    source: str | os.PathLike,
    *,
    check: bool = True,
    n_jobs: int | None = None,
    progress: bool = False,
    kind: str | None = None,
) -> FolderSummary:
    """Summarise a UTKFace-style folder or a CSV label table.

    Parameters
    ----------
    source : str or path-like
        A folder of images named in UTKFace's scheme, or a CSV label table
        (``path`` column plus any of ``age``, ``gender``, ``race``).
    check : bool, default=True
        Decode every labelled image to find unreadable ones. Entries of a folder
        named like images that are not regular files (named pipes, folders, device
        links, broken or looping symbolic links) are then counted among the files
        and listed as unreadable, with the reason.
    n_jobs : int or None, default=None
        Decoding threads.
    progress : bool, default=False
        Print progress of the image check to standard error.
    kind : str, optional
        How to describe the source in the report.
    """
    source = os.fspath(source)
    labels, malformed, found_kind = load_labels(source)
    kind = kind or found_kind
    summary = FolderSummary(source=source, kind=kind, labels=labels, malformed=malformed,
                            checked=check)
    if not check:
        return summary
    if os.path.isdir(source):
        summary.not_files = _not_files(source)
    paths = labels["path"].tolist() + summary.not_files
    reports = []
    for start in range(0, len(paths), _CHUNK):
        reports.append(check_images(paths[start : start + _CHUNK], n_jobs=n_jobs))
        if progress:
            done = min(start + _CHUNK, len(paths))
            print(f"\rchecking images: {done:,}/{len(paths):,}", end="", file=sys.stderr,
                  flush=True)
    if progress and paths:
        print(file=sys.stderr)
    report = pd.concat(reports, ignore_index=True) if reports else None
    if report is not None:
        bad = report[~report["readable"]]
        summary.unreadable = list(zip(bad["path"], bad["error"], strict=True))
        good = report[report["readable"]]
        summary.image_kinds = Counter(
            f"{w}x{h} {m} {f}" for w, h, m, f in
            zip(good["width"], good["height"], good["mode"], good["format"], strict=True)
        )
    return summary
