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
    """Counts, label distributions and bad files of one labelled image set.

    A *labelled image* (:attr:`labelled`, :func:`labelled_images`) is an image file
    whose name follows UTKFace's scheme (or a row of a label table) and that can be
    read, when the images were checked. The rest are listed, each with its kind:
    malformed file names (image files whose name does not follow the scheme),
    unreadable images, and files that are not image files at all.
    """

    source: str
    kind: str
    labels: pd.DataFrame
    """Every image the file names (or the table) give labels for, readable or not."""
    malformed: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    image_kinds: Counter = field(default_factory=Counter)
    checked: bool = True
    not_files: list[str] = field(default_factory=list)
    """Entries of a folder with an image name that are not regular files (named pipes,
    folders, devices, broken or looping links): counted and listed as unreadable."""
    not_images: list[str] = field(default_factory=list)
    """Files of a folder that are not image files (``notes.txt``, a README): not read."""

    @property
    def n_files(self) -> int:
        return (len(self.labels) + len(self.malformed) + len(self.not_files)
                + len(self.not_images))

    @property
    def labelled(self) -> pd.DataFrame:
        """The labelled images: :func:`labelled_images` of this summary."""
        return labelled_images(self.labels, self.unreadable)

    def distributions(self) -> dict:
        """:func:`label_distributions` of the labelled images."""
        return label_distributions(self.labelled)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "files": self.n_files,
            "labelled": len(self.labelled),
            "unreadable_left_out": len(self.labels) - len(self.labelled),
            "malformed": [{"file": f, "reason": r} for f, r in self.malformed],
            "not_images": list(self.not_images),
            "unreadable": (
                [{"file": f, "reason": r} for f, r in self.unreadable] if self.checked else None
            ),
            "image_kinds": {k: v for k, v in self.image_kinds.most_common()},
            "labels": self.distributions(),
        }

    def to_text(self) -> str:
        n = len(self.labelled)
        left_out = len(self.labels) - n
        lines = [f"skface summary of {printable(self.source)} ({printable(self.kind)})", ""]

        def row(name, value, note=""):
            lines.append(f"  {name:<20}{value:>9,}{'  ' + note if note else ''}")

        row("files", self.n_files)
        row("labelled images", n,
            f"{left_out:,} unreadable left out, listed below" if left_out
            else "" if self.checked else "not checked for readability (--no-check)")
        row("malformed names", len(self.malformed), "left out, listed below" if self.malformed
            else "")
        if self.not_images:
            row("not image files", len(self.not_images), "not read, listed below")
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
        if self.not_images:
            lines += ["", "not image files (not read):"]
            lines += [f"  '{printable(f)}'" for f in self.not_images]
        if self.checked and self.unreadable:
            lines += ["", "unreadable images:"]
            lines += [f"  '{printable(f)}': {printable(r)}" for f, r in self.unreadable]
        return "\n".join(lines)


def labelled_images(labels: pd.DataFrame, unreadable: list[tuple[str, str]]) -> pd.DataFrame:
    """The labelled images: the rows of ``labels`` whose image is not ``unreadable``.

    The one definition that ``skface summarize`` and ``skface eda`` count, summarise
    and draw: an image whose name follows UTKFace's scheme (or a row of a label
    table) and that can be read (every such image when they were not checked).

    Parameters
    ----------
    labels : DataFrame
        Label frame with a ``path`` column.
    unreadable : list of (str, str)
        ``(path, reason)`` of the images found unreadable.

    Returns
    -------
    labelled : DataFrame
        The rows of ``labels`` left, in order, with a fresh index.
    """
    bad = {path for path, _ in unreadable}
    return labels[~labels["path"].isin(bad)].reset_index(drop=True)


def not_image_files(names: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """Split the names that carry no labels into malformed names and non-image files.

    A malformed file name is an image file (by its suffix) whose name does not follow
    UTKFace's scheme; any other file (``notes.txt``, a README, a video) is not an
    image file at all.

    Returns
    -------
    malformed : list of (str, str)
        ``(name, reason)`` of the image files.
    not_images : list of str
        The names of the other files.
    """
    from ._image_files import image_extensions

    extensions = image_extensions()
    malformed = [(n, r) for n, r in names if os.path.splitext(n)[1].lower() in extensions]
    not_images = [n for n, _ in names if os.path.splitext(n)[1].lower() not in extensions]
    return malformed, not_images


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


def why_no_images(source: str, n_malformed: int, n_not_images: int = 0) -> str:
    """Why a folder or table gave no labelled image, as the rest of a sentence."""
    if not os.path.isdir(source):
        return "lists no images"
    if n_malformed:
        return (f"has no labelled images: none of its {n_malformed} file name(s) is "
                "in UTKFace's scheme (listed above)")
    if n_not_images:
        return (f"holds no image files: its {n_not_images} file(s) are not image files "
                "(listed above)")
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
        Malformed file names of a folder (image files whose name does not follow
        UTKFace's scheme), with the reason (always empty for a table). The folder's
        files that are not image files are ``labels.attrs["not_images"]``.
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
        malformed, not_images = not_image_files(list(labels.attrs.get("malformed", [])))
        labels.attrs["malformed"], labels.attrs["not_images"] = malformed, not_images
        return labels, malformed, "UTKFace file names"
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
                            checked=check, not_images=list(labels.attrs.get("not_images", [])))
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
