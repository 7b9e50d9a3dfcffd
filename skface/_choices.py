"""Choice lists that a class checks and the command line offers, each written once.

A class builds its ``StrOptions`` from these and the command line its ``choices``; this
module imports nothing, so the parser shows them without importing numpy.
"""

from __future__ import annotations

__all__ = ["DETECTORS", "ON_ERROR"]

DETECTORS: tuple[str, ...] = ("haar", "yunet")
"""Face detectors of :class:`~skface.FaceCropper` (``detector=``), the default first."""

ON_ERROR: tuple[str, ...] = ("row", "fail")
"""What :func:`~skface.analyze` does with an unreadable image (``on_error=``), the
default first."""
