"""Report pages: one self-contained HTML shell, and the pieces every page is made of.

The pages that ``skface eda`` and ``skface evaluate`` write are made here: text escaped
(names come from the file system and from label tables, and may hold ``<``, ``&``,
quotes or control characters), figures embedded (a page needs nothing but itself) and
links to the files beside it relative to the page.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

from ._utils import printable

__all__ = ["html_figures", "html_file_list", "html_link", "html_page", "html_table",
           "html_text"]


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>skface: {title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
td.number {{ text-align: right; }}
.figs {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
        gap: 1em; }}
.notice {{ border: 2px solid #b00020; background: #fdecee; padding: 0.5em 1em; }}
code {{ word-break: break-all; }}
</style></head><body>
<h1>{title}</h1>
{body}
<p><small>Written by skface {version}. Labels use UTKFace's coarse, dataset-given
categories; see skface's documentation on responsible use.</small></p>
</body></html>
"""


def html_text(value) -> str:
    """``value`` as HTML text: control characters and bytes that are not UTF-8 escaped."""
    return html.escape(printable(value))


def html_page(title: str, body: str) -> str:
    """A page that needs nothing else: ``title`` (text, escaped here) over ``body``
    (HTML, its text escaped by whoever made it), with skface's version and its note on
    labels. The one shell of every report page (``eda``'s, ``evaluate``'s)."""
    from ._version import __version__

    return _PAGE.format(title=html_text(title), body=body, version=__version__)


def html_file_list(items: list[tuple[str, str]], empty: str) -> str:
    if not items:
        return f"<p>{html.escape(empty)}</p>"
    rows = "".join(f"<tr><td><code>{html_text(name)}</code></td>"
                   f"<td>{html_text(why)}</td></tr>" for name, why in items)
    return f"<table><tr><th>file</th><th>reason</th></tr>{rows}</table>"


def html_table(header: list[str], rows: list[list[str]], numbers: set[int] = frozenset()
                ) -> str:
    """A table of text: each cell escaped; the columns in ``numbers`` right-aligned."""
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="number">{html_text(c)}</td>' if i in numbers
                         else f"<td>{html_text(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_figures(folder: Path, figures: list[tuple[str, str]]) -> str:
    """The PNG files ``(name, title)`` of ``folder``, embedded in the page (so that it can
    be mailed or opened anywhere on its own), each with its title as caption."""
    return "".join(
        f'<figure><img alt="{html_text(title)}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / name).read_bytes()).decode()}">'
        f"<figcaption>{html_text(title)}</figcaption></figure>"
        for name, title in figures)


def html_link(name: str) -> str:
    """A link to the file ``name`` beside the page (a relative address, escaped)."""
    return f'<a href="{html.escape(quote(name))}"><code>{html_text(name)}</code></a>'
