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


def inline_figures(fragment: str, folder: str | Path) -> str:
    """Each ``<img src="figure.png">`` of a fragment with the figure's bytes as a data URI;
    a relative source is relative to the fragment's ``folder``."""
    return IMG_SRC.sub(lambda m: m[1] + data_uri(Path(folder, m[2])) + m[3], fragment)


def assemble(fragments: dict, template: str | Path, out: str | Path) -> None:
    """``fragments``: section name -> fragment file, or a list of them (one per model)."""

    def read(path):
        return inline_figures(Path(path).read_text(), Path(path).parent)

    sections = {
        name: [read(p) for p in paths] if isinstance(paths, list) else read(paths)
        for name, paths in fragments.items()
    }
    with atomic_write(out) as fh:
        fh.write(render_template(template, sections=sections))
