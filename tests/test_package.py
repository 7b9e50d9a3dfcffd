"""The package's own files: licence, changelog, project URLs, and what the built metadata says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile

import pytest

from .conftest import REPO

tomllib = pytest.importorskip("tomllib")

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BSD_3_CLAUSES = (
    "Redistributions of source code must retain the above copyright notice",
    "Redistributions in binary form must reproduce the above copyright notice",
    "Neither the name of the copyright holder nor the names of its",
)


def test_license_is_the_bsd_3_clause_text_pyproject_declares():
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License\n")
    assert re.search(r"^Copyright \(c\) \d{4}(-\d{4})?, skface developers$", text, re.M)
    for clause in BSD_3_CLAUSES:
        assert clause in text
    assert 'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"' in text
    # no licence classifier beside a licence expression (PEP 639 forbids both)
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", []))


def test_changelog_has_an_unreleased_section_in_keep_a_changelog_form():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "Keep a Changelog" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings and headings[0] == "Unreleased"
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^### (Added|Changed|Deprecated|Removed|Fixed|Security)$", unreleased,
                     re.M)
    assert re.search(r"^\[Unreleased\]: https://", text, re.M)  # the heading's link


def test_pyproject_names_the_project_urls():
    urls = PROJECT["urls"]
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    assert all(u.startswith("https://") for u in urls.values())
    assert urls["Changelog"].endswith("/CHANGELOG.md")


@pytest.mark.timeout(300)
def test_the_built_metadata_and_sdist_carry_the_license(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("license-files needs setuptools >= 77")
    src = tmp_path / "src"  # a copy: building writes skface.egg-info beside pyproject.toml
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "skface", src / "skface",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    out.mkdir()
    for hook in ("prepare_metadata_for_build_wheel", "build_sdist"):  # a process each, as pip
        code = f"import sys; from setuptools import build_meta as b; b.{hook}(sys.argv[1])"
        done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
    (dist_info,) = (p.name for p in out.glob("*.dist-info"))
    (sdist,) = (p.name for p in out.glob("*.tar.gz"))
    metadata = (out / dist_info / "METADATA").read_text(encoding="utf-8")
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata
    assert (out / dist_info / "licenses" / "LICENSE").read_bytes() == (
        REPO / "LICENSE").read_bytes()
    for label in ("Homepage", "Documentation", "Source", "Issues", "Changelog"):
        assert f"Project-URL: {label}, https://" in metadata
    with tarfile.open(out / sdist) as tar:
        names = {n.split("/", 1)[-1] for n in tar.getnames()}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
