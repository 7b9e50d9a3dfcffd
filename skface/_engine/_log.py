"""The per-epoch table: skorch's PrintLog with how far training is and how long is left,
coloured only on a terminal."""

from __future__ import annotations

import os
import re
import sys
from itertools import cycle
from time import perf_counter

from skorch.callbacks import EarlyStopping, PrintLog
from skorch.callbacks.logging import filter_log_keys
from skorch.utils import Ansi
from tabulate import tabulate

__all__ = ["EpochLog", "format_duration"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# table formats whose last line is the row itself: the row is laid out beside a widest
# possible row, so that its columns stay under the header printed with the first epoch
_ROW_LAST_FORMATS = frozenset({"simple", "plain", "pipe", "github", "orgtbl", "presto",
                               "tsv", "jira", "textile", "moinmoin", "youtrack"})


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def format_duration(seconds: float) -> str:
    """A duration as people read it: ``45s``, ``3m10s``, ``2h05m``.

    Parameters
    ----------
    seconds : float
        The duration, at least 0 (a negative one counts as 0).

    Returns
    -------
    str
        Whole seconds under a minute, minutes and seconds under an hour, else hours
        and minutes.
    """
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class EpochLog(PrintLog):
    """skorch's PrintLog, saying how far training is, with colour only where a
    terminal shows it.

    Each row starts with the epoch as ``12/36``, counted within the current ``fit``
    or ``partial_fit`` call (a call continuing a warm start counts from 1 to the
    epochs it trains), and a ``left`` column, the time the remaining epochs of the
    call should take at the mean epoch time so far (``~3m10s``). When early stopping
    may end training sooner, it reads ``at most 3m10s``.

    skorch colours the best value of each column with ANSI escape codes whatever the
    output is; written to a file, a pipe or a notebook cell's captured output, they
    are noise (``^[[36m0.6931^[[0m``). This table has them only when it is printed
    to standard output and that is a terminal, and the ``NO_COLOR`` environment
    variable is not set.

    Parameters
    ----------
    color : {"auto", True, False}, default="auto"
        ``"auto"``: colour as above; ``True``: always; ``False``: never. Set it on an
        estimator with ``callbacks__print_log__color=False``.
    **kwargs
        skorch's PrintLog parameters: ``keys_ignored`` (``"left"`` drops the time
        left), ``sink``, ``tablefmt``, ``floatfmt``, ``stralign``.
    """

    def __init__(self, *, color="auto", **kwargs):
        super().__init__(**kwargs)
        self.color = color

    def _colored(self) -> bool:
        if self.color != "auto":
            return bool(self.color)
        if os.environ.get("NO_COLOR"):
            return False
        # print, and the Accelerated estimators' print from the main process, write to
        # standard output; any other sink (a logger, a list) gets plain text
        to_stdout = self.sink is print or getattr(self.sink, "prints_to_stdout", False)
        return bool(to_stdout) and _is_terminal(sys.stdout)

    def format_row(self, row, key, color):
        formatted = super().format_row(row, key, color)
        if isinstance(formatted, str) and not self._colored():
            return _ANSI.sub("", formatted)
        return formatted

    # ---------------------------------------------------------------- progress

    def on_train_begin(self, net, **kwargs):
        # each training call counts its own epochs, against the epochs it plans, under
        # a header of its own
        self.first_iteration_ = True
        self.epochs_done_ = 0
        self.epochs_planned_ = None
        self.started_ = None
        self.may_stop_early_ = False
        return super().on_train_begin(net, **kwargs)

    def on_epoch_begin(self, net, **kwargs):
        if getattr(self, "started_", None) is None:  # the call's first epoch
            self.started_ = perf_counter()
            self.epochs_done_ = 0
            # known once the call's loop runs: fit's epochs=, else max_epochs as set now
            planned = getattr(net, "_planned_epochs", None)
            self.epochs_planned_ = int(planned() if callable(planned) else net.max_epochs)
            self.may_stop_early_ = any(isinstance(cb, EarlyStopping)
                                       for _, cb in getattr(net, "callbacks_", []))
        return super().on_epoch_begin(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        if getattr(self, "started_", None) is not None:
            self.epochs_done_ += 1
            self.elapsed_ = perf_counter() - self.started_
        return super().on_epoch_end(net, **kwargs)

    def _progress(self) -> tuple[dict, dict]:
        """The progress cells of the row (``epoch`` and ``left``), and the widest each
        may be in this call (empty before a training call's first epoch)."""
        if getattr(self, "started_", None) is None or not self.epochs_done_:
            return {}, {}
        done, planned = self.epochs_done_, max(self.epochs_planned_, self.epochs_done_)
        remaining = planned - done
        left = format_duration(self.elapsed_ / done * remaining)
        prefix = "at most " if self.may_stop_early_ else "~"
        cells = {"epoch": f"{done}/{planned}",
                 "left": f"{prefix}{left}" if remaining else "0s"}
        widest = {"epoch": f"{planned}/{planned}",
                  "left": prefix + max("00m00s", left, key=len)}
        return cells, widest

    def _keys(self, row) -> list[str]:
        """The columns: epoch and time left first, the others by name, events, and
        the epoch's duration last (skorch's order, with ``left`` beside ``epoch``)."""
        ignored = self.keys_ignored_
        first = [k for k in ("epoch", "left") if k in row and k not in ignored]
        middle = [k for k in filter_log_keys(sorted(row), keys_ignored=ignored)
                  if k not in ("epoch", "left", "dur")]
        events = [k for k in sorted(row) if k.startswith("event_") and k not in ignored]
        last = ["dur"] if "dur" in row and "dur" not in ignored else []
        return [*first, *middle, *events, *last]

    def table(self, row):
        cells, widest = self._progress()
        row = {**row, **cells}  # the history itself keeps its own epoch number
        keys = self._keys(row)
        colors = cycle([color.value for color in Ansi if color != Ansi.ENDC])
        formatted = [self.format_row(row, key, next(colors)) for key in keys]
        headers = [key[6:] if key.startswith("event_") else key for key in keys]
        rows = [formatted]
        padded = bool(widest) and self.tablefmt in _ROW_LAST_FORMATS
        if padded:
            rows.insert(0, [widest.get(key) for key in keys])
        text = tabulate(rows, headers=headers, tablefmt=self.tablefmt,
                        floatfmt=self.floatfmt, stralign=self.stralign, missingval="")
        if padded:  # drop the widest row, which only set the widths
            lines = text.split("\n")
            text = "\n".join([*lines[:-2], lines[-1]])
        return text
