"""The Sphinx site builds with no warning, dangling references and numpydoc's parameter
checks included: API reference, user guide and examples (run, so the gallery shows
their real output). The user guide and the docstrings speak to users: no issue numbers,
development machines or internal notes (those belong in docs/benchmarks.md)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
NEEDED = ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser")

# Words of the development notebook, not of a user guide. docs/benchmarks.md, the
# measurement record, is not checked: it names the machines of its rows.
INTERNAL_WORDS = {
    "an issue number": r"\bissues? *#?\d",
    "an issue's targets": r"\bissue's\b",
    "seed notebooks": r"\bseed notebooks?\b|\bseeds'",
    "a development CPU": r"\bEPYC\b|\bXeon\b",
    "a core count": r"\b2-core\b|\btwo (CPU )?cores\b",
    "the developers' machine": r"\bour machines?\b|\bon this machine\b",
    "the project's organisation": r"\bCEO\b|\bhelper sessions?\b",
}
USER_DOCS = sorted(
    p for p in [REPO / "README.md", DOCS / "conf.py", *DOCS.glob("*.md"),
                *(REPO / "examples").iterdir()]
    if p.name != "benchmarks.md" and p.suffix in (".md", ".py", ".rst")
)
SOURCES = sorted((REPO / "skface").rglob("*.py"))


def _user_text(path: Path) -> str:
    """A document's text; for skface's modules, every string in them (docstrings,
    messages, help texts), not the comments."""
    if path.is_relative_to(REPO / "skface"):
        tree = ast.parse(path.read_text())
        return "\n".join(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return path.read_text()


@pytest.mark.parametrize("path", USER_DOCS + SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_user_docs_and_docstrings_hold_no_internal_words(path):
    text = _user_text(path)
    found = [f"{what}: {m.group(0)!r}" for what, pattern in INTERNAL_WORDS.items()
             for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not found, f"{path.relative_to(REPO)} speaks of {found}"


# Words of the lab notebook that a user guide does not need: how the defaults were
# searched for belongs in docs/benchmarks.md, and the guide links there.
LAB_NOTE_WORDS = {
    "lever screening": r"\blevers?\b|\bscreen(s|ed|ing)? (one )?levers?\b",
    "a dev split": r"\bdev(elopment)?[ -](split|part|set)s?\b",
    "the defaults' record": r"\bthe defaults' record\b|\bthe full record\b",
}
GUIDE_PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "benchmarks.md")
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


@pytest.mark.parametrize("path", GUIDE_PAGES + EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_guide_pages_hold_no_lab_notes(path):
    text = path.read_text()
    found = [f"{what}: {m.group(0)!r}" for what, pattern in LAB_NOTE_WORDS.items()
             for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert not found, f"{path.relative_to(REPO)} speaks of {found} (docs/benchmarks.md's words)"


def test_lab_note_words_are_found():
    for bad in ("Lever screening (how the defaults were chosen)", "screening one lever at a time",
                "`--tune` screens levers", "on a dev split", "a development split carved",
                "the dev part", "The full record", "the defaults' record", "### More levers"):
        assert any(re.search(p, bad, re.IGNORECASE) for p in LAB_NOTE_WORDS.values()), bad
    for fine in ("a held-out test set", "the screen reader", "development version",
                 "device split", "leverage"):
        assert not any(re.search(p, fine, re.IGNORECASE) for p in LAB_NOTE_WORDS.values()), fine


# Links in the Markdown pages, as a reader of a checkout follows them (on a forge or in
# an editor), not as the Sphinx build rewrites them.
LINKED_PAGES = sorted([REPO / "README.md", *DOCS.glob("*.md")])
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_BUILT = ("_build", "auto_examples", "generated")  # made by the Sphinx build only


def _prose(text: str) -> str:
    """The Markdown without its code blocks and code spans (whose brackets are code)."""
    return _CODE.sub("", _FENCE.sub("", text))


def _links(text: str) -> list[str]:
    return _LINK.findall(_prose(text))


def _anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as GitHub and MyST make them: the heading's
    text, lower-cased, without punctuation other than hyphens and underscores, spaces
    made hyphens; a repeated heading gets -1, -2, ..."""
    found: dict[str, int] = {}
    anchors = set()
    for title in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", _FENCE.sub("", text), re.MULTILINE):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        n = found.get(slug, 0)
        found[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _broken(page: Path) -> list[str]:
    text = page.read_text()
    broken = []
    for link in _links(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", link, re.IGNORECASE):  # https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        inside = path.is_relative_to(REPO)
        if not inside or not path.exists():
            broken.append(f"{link}: no such file in the repository")
        elif any(part in _BUILT for part in path.relative_to(REPO).parts) or path.suffix == ".html":
            broken.append(f"{link}: a page of the Sphinx build, absent from a checkout")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path.read_text()):
            broken.append(f"{link}: {path.name} has no heading #{anchor}")
    return broken


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_a_file_of_the_checkout(page):
    """README.md and the guide link to files that exist in the repository (and to
    headings that exist in them), so the links work when the Markdown is read in a
    checkout or on a forge, before and without a Sphinx build."""
    assert not _broken(page), f"{page.relative_to(REPO)}: {_broken(page)}"


def test_the_guide_starts_with_the_tutorial():
    first = _links((DOCS / "index.md").read_text())[0]
    assert first == "tutorial.md"
    toctree = re.search(r"```\{toctree\}(.*?)```", (DOCS / "index.md").read_text(), re.DOTALL)
    entries = [line.strip() for line in toctree.group(1).splitlines()
               if line.strip() and not line.startswith(":")]
    assert entries[0] == "tutorial"
    for entry in entries:  # every page of the site is in it
        assert entry in ("auto_examples/index", "api") or (DOCS / f"{entry}.md").exists(), entry
    assert {p.stem for p in DOCS.glob("*.md")} - {"index"} <= set(entries)


def test_broken_links_are_found(tmp_path, monkeypatch):
    """The link check finds the kinds of broken link a checkout shows, and passes the
    kinds that work."""
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "examples").mkdir()
    (tmp_path / "docs" / "auto_examples").mkdir()
    (tmp_path / "docs" / "auto_examples" / "index.html").write_text("")
    (tmp_path / "examples" / "tutorial.py").write_text("")
    (tmp_path / "docs" / "data.md").write_text(
        "# The data layer\n\n## `skface train --recipe`\n\n## Notes\n\n## Notes\n"
        "```python\n# not a heading\n```\n")
    page = tmp_path / "docs" / "index.md"
    page.write_text(
        "[ok](data.md) [ok](data.md#the-data-layer) [ok](data.md#skface-train---recipe)\n"
        "[ok](data.md#notes-1) [ok](../examples/tutorial.py) [ok](https://example.org/x.html)\n"
        "[ok](#a-heading) `[code](nowhere.md)`\n\n# A heading\n\n"
        "```console\n[code](nowhere.md)\n```\n"
        "[bad](api) [bad](auto_examples/index.html) [bad](data.md#not-a-heading)\n"
        "[bad](data.md#not-a-heading-either) [bad](missing.md) [bad](../../outside.md)\n"
        "[bad](data.md#not-a-heading-1)\n")
    broken = [b.split(":")[0] for b in _broken(page)]
    assert broken == ["api", "auto_examples/index.html", "data.md#not-a-heading",
                      "data.md#not-a-heading-either", "missing.md", "../../outside.md",
                      "data.md#not-a-heading-1"]


def test_internal_words_are_found():
    """The patterns catch what they are for (and ordinary words pass)."""
    for bad in ("target (issue 3)", "the issue's targets", "the seed notebooks' Bin10",
                "on this project's 2-core AMD EPYC", "on two CPU cores", "an Intel Xeon",
                "measured on this machine"):
        assert any(re.search(p, bad, re.IGNORECASE) for p in INTERNAL_WORDS.values()), bad
    for fine in ("skorch.helper.predefined_split", "127.0.0.1 (this machine only)",
                 "a few minutes on a laptop's CPU", "two CPUs"):
        assert not any(re.search(p, fine, re.IGNORECASE) for p in INTERNAL_WORDS.values())


@pytest.mark.timeout(120)
def test_conf_runs_the_gallery_on_a_small_set():
    """docs/conf.py asks sphinx-gallery to execute every example and sets the small
    size they run at (unless the builder chose one)."""
    probe = (
        "import json, os, runpy, sys\n"
        f"conf = runpy.run_path({str(DOCS / 'conf.py')!r})\n"
        "g = conf['sphinx_gallery_conf']\n"
        "print(json.dumps({'plot_gallery': str(g.get('plot_gallery', True)),"
        " 'pattern': g['filename_pattern'], 'dirs': str(g['examples_dirs']),"
        " 'n': os.environ.get('SKFACE_EXAMPLE_N')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SKFACE_EXAMPLE_N"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=100, check=True)
    conf = json.loads(done.stdout.strip().splitlines()[-1])
    assert conf["plot_gallery"] in ("True", "1", "true")
    assert Path(conf["dirs"]) == REPO / "examples"
    for example in (REPO / "examples").glob("*.py"):
        assert re.search(conf["pattern"], str(example)), example.name
    assert 50 <= int(conf["n"]) <= 300
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**env, "SKFACE_EXAMPLE_N": "1000"}, timeout=100, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])["n"] == "1000"


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                    reason='the docs need pip install -e ".[docs]"')
def test_docs_build_without_warnings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SKFACE_UTKFACE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=1400, env={**env, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-5000:]
    html = tmp_path / "html"
    page = (html / "generated" / "skface.GenderClassifier.html").read_text()
    assert "predict_proba" in page and "max_epochs" in page  # methods and parameters
    # what the estimators inherit from skface's own base classes is on their pages,
    # and what they inherit from skorch, scikit-learn or torch is not
    for member in ("fit", "partial_fit", "predict", "predict_outputs", "task_", "output_head_"):
        assert f'id="skface.GenderClassifier.{member}"' in page, member
    for member in ("initialize_criterion", "get_loss", "train_step_single", "get_params"):
        assert f'id="skface.GenderClassifier.{member}"' not in page, member
    api = (html / "api.html").read_text()
    assert 'id="skface.MAX_AGE"' in api and 'id="skface.AGE_BIN_PRESETS"' in api
    assert (html / "generated" / "skface.plots.group_metrics.html").exists()
    examples = (html / "auto_examples" / "index.html").read_text()
    assert "Faces in ordinary photos" in examples
    # the examples ran: their output and figures are on their pages
    quickstart = (html / "auto_examples" / "quickstart.html").read_text()
    assert "SYNTHETIC" in quickstart and "held-out accuracy" in quickstart
    for figure in ("multi_task_and_group_metrics_001", "faces_in_photos_001"):
        assert (html / "_images" / f"sphx_glr_{figure}.png").exists(), figure
    for name in ("data", "estimators", "command_line", "benchmarks", "api"):
        assert (html / f"{name}.html").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in NEEDED),
                    reason='the docs need pip install -e ".[docs]"')
def test_a_dangling_reference_fails_the_build(tmp_path):
    """The site's configuration (nitpicky, numpydoc validation) makes a reference to
    an object that does not exist an error, not a dead link."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        f"__file__ = {str(DOCS / 'conf.py')!r}\n"
        "exec(compile(open(__file__).read(), __file__, 'exec'))\n"
        f"templates_path = [{str(DOCS / '_templates')!r}]\n"
        "sphinx_gallery_conf['examples_dirs'] = []\n"
        "sphinx_gallery_conf['gallery_dirs'] = []\n")
    (src / "index.rst").write_text(
        "Index\n=====\n\nSee :func:`skface.no_such_function` and :class:`skface.ImageLoader`.\n"
        "\n.. autoclass:: skface.ImageLoader\n")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=500)
    assert done.returncode != 0
    assert "skface.no_such_function" in done.stderr
    assert "reference target not found" in done.stderr
