"""The per-epoch table: skorch's PrintLog, coloured only on a terminal."""

from __future__ import annotations

import os
import re
import sys

from skorch.callbacks import PrintLog

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class EpochLog(PrintLog):
    """skorch's PrintLog, with colour only where a terminal shows it.

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
        skorch's PrintLog parameters: ``keys_ignored``, ``sink``, ``tablefmt``,
        ``floatfmt``, ``stralign``.
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
