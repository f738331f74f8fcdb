"""The report page: the section fragments in order, their figures inlined, so that
``report.html`` is one file that opens from disk and fetches nothing."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from ..io import atomic_write
from .common import render_template

IMG_SRC = re.compile(r'(<img\b[^>]*\bsrc=")([^"]+\.png)(")')


def data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def inline_figures(fragment: str) -> str:
    """Each ``<img src="path.png">`` of a fragment with the figure's bytes as a data URI."""
    return IMG_SRC.sub(lambda m: m[1] + data_uri(m[2]) + m[3], fragment)


def assemble(fragments: dict, template: str | Path, out: str | Path) -> None:
    """``fragments``: section id -> its fragment file, or the list of them of a per-model
    section; the page shows them in the order of SECTIONS."""
    from .sections import SECTIONS

    def read(path):
        return inline_figures(Path(path).read_text())

    texts = {
        s.id: [read(p) for p in fragments[s.id]] if s.per_model else read(fragments[s.id])
        for s in SECTIONS
    }
    with atomic_write(out) as fh:
        fh.write(render_template(template, sections=SECTIONS, fragments=texts))
