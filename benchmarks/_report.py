"""Shared by the benchmarks: machine facts and an append-only history in docs/benchmarks.md."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
_HEADER = """# Benchmarks

Figures measured by the scripts in `benchmarks/`. Each section keeps the history of
every run (newest last); a run appends its row and never rewrites earlier ones.
Ratios are measured side by side in one run, because these machines are shared and noisy.
"""


# Helpers for the memory benchmarks' child processes, prepended to their ``python -c``
# source: resident memory from /proc, and a reset of the peak (VmHWM).
CHILD_MEMORY_HELPERS = r"""
def status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")

def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
"""


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{_bf16_note()}"


def _bf16_note() -> str:
    """Whether this CPU computes bfloat16 natively: this workplace's machines differ,
    and training speed (so what fits in a time budget) differs about 2x between them."""
    try:
        import torch

        native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except Exception:  # no torch, or an op this build lacks
        return ""
    return ", native bf16" if native else ", no native bf16"


def versions(*modules: str) -> str:
    out = [f"Python {platform.python_version()}"]
    for name in modules:
        mod = sys.modules.get(name) or __import__(name)
        out.append(f"{name} {getattr(mod, '__version__', '?')}")
    return ", ".join(out)


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def append_history(section: str, intro: str, columns: list[str], row: list[str],
                   path: Path = DOCS) -> None:
    """Append ``row`` to the table under ``## section``, creating either when missing."""
    text = path.read_text() if path.exists() else _HEADER
    heading = f"## {section}"
    line = "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
    if heading not in text:
        table = ("| " + " | ".join(columns) + " |\n"
                 + "|" + "|".join("---" for _ in columns) + "|\n")
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{intro.strip()}\n\n{table}{line}\n"
    else:
        start = text.index(heading)
        nxt = re.search(r"^## ", text[start + len(heading):], re.MULTILINE)
        end = start + len(heading) + nxt.start() if nxt else len(text)
        body = text[start:end].rstrip("\n") + "\n" + line + "\n"
        text = text[:start] + body + ("\n" + text[end:] if nxt else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
