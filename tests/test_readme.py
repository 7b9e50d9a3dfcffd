"""The README's two set-up commands exist, and CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command_after(marker: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)```", text, re.DOTALL)
    assert match, f"README.md has no fenced command after <!-- {marker} -->"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_has_exactly_one_main_and_one_test_command():
    main, tests = command_after("main-command"), command_after("test-command")
    assert len(main) == 1 and "skface train" in main[0]
    assert len(tests) == 1 and "pytest" in tests[0]
    for cmd in (main[0], tests[0]):  # the CPU wheel here, a sensible torch elsewhere
        assert "torch==2.13.0" in cmd


def test_ci_runs_the_readme_test_command():
    script = (REPO / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in script
    awk = re.search(r"cmd=\"\$\(awk '(.*?)' README.md\)\"", script, re.DOTALL).group(1)
    out = subprocess.run(["awk", awk, str(REPO / "README.md")], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == command_after("test-command")[0]
