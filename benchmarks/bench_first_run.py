"""The main job of the README, timed: ``python -m skface train`` with no data folder.

It runs the command as a new user does, in a new empty folder, and reports its wall
time, the CPU time of the process and its children (user + system), and the scores
it prints on the synthetic faces held out from training. ``--repeat N`` runs it N
times and reports each run (the machine may be shared: the CPU time is the figure to
compare).

Run: ``python benchmarks/bench_first_run.py [--repeat N] [--write] [-- TRAIN OPTIONS]``
(options after ``--`` are passed to ``skface train``: a shorter run for a smoke test).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report

COMMAND = [sys.executable, "-m", "skface", "train"]
SECTION = "The main job (benchmarks/bench_first_run.py)"
INTRO = """
The README's main job, `python -m skface train` with no data folder (all three tasks in
one FaceAttributes, on skface's synthetic faces), run in a new empty folder as a new
user runs it, after installation. CPU is user + system time of the process and its
children; "held out" is what the command prints about the synthetic faces it kept out
of training.
"""
COLUMNS = ["date", "machine", "versions", "wall (s)", "CPU (s)", "held out (as printed)",
           "command"]


def run_once(extra: list[str], timeout: float = 1200) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and the held-out line of one run of the main job."""
    with tempfile.TemporaryDirectory() as folder:
        before = os.times()
        t0 = time.perf_counter()
        done = subprocess.run([*COMMAND, *extra], cwd=folder, capture_output=True, text=True,
                              timeout=timeout, check=False)
        wall = time.perf_counter() - t0
        after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"the main job failed (exit {done.returncode}):\n{done.stderr}")
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    held = re.search(r"held out from training: (.*)", done.stderr)
    return wall, cpu, held.group(1).strip() if held else "(not printed)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs (default 1)")
    parser.add_argument("--write", action="store_true",
                        help="append each run to docs/benchmarks.md")
    parser.add_argument("train_options", nargs="*", metavar="-- TRAIN OPTIONS",
                        help="passed to skface train (the main job has none)")
    args = parser.parse_args(argv)
    import skface

    for _ in range(max(1, args.repeat)):
        wall, cpu, held = run_once(args.train_options)
        print(f"main job: {wall:.0f} s wall, {cpu:.0f} s CPU; held out: {held}", flush=True)
        if args.write:
            _report.append_history(SECTION, INTRO, COLUMNS, [
                _report.today(), _report.machine(),
                f"{_report.versions('torch')}, skface {skface.__version__}",
                f"{wall:.0f}", f"{cpu:.0f}", held, f"`{_report.command()}`"])


if __name__ == "__main__":
    main()
