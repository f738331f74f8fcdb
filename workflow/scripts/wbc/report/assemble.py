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


def _common_tail(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def find_figure(src: str, figures: list[str]) -> str:
    """The figure among ``figures`` (the report's inputs) that ``src`` names: the one whose
    path ends in the most of src's parts (file name, model folder, ...). A section's job
    may have written its figures anywhere (a temporary folder): their ends stay theirs."""
    parts = Path(src).parts
    scored = sorted(((_common_tail(Path(f).parts, parts), f) for f in figures), reverse=True)
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        raise ValueError(f"{src}: no single figure among the report's inputs ends like it")
    return scored[0][1]


def inline_figures(fragment: str, figures: list[str]) -> str:
    """Each ``<img src="figure.png">`` of a fragment with the bytes of that figure, one of
    the report's inputs (``find_figure``), as a data URI."""
    return IMG_SRC.sub(lambda m: m[1] + data_uri(find_figure(m[2], figures)) + m[3], fragment)


def assemble(fragments: dict, template: str | Path, out: str | Path, figures=()) -> None:
    """``fragments``: section id -> its fragment file, or the list of them of a per-model
    section; the page shows them in the order of SECTIONS. ``figures``: the figure files
    they show."""
    from .sections import SECTIONS

    figures = [str(f) for f in figures]

    def read(path):
        return inline_figures(Path(path).read_text(), figures)

    texts = {
        s.id: [read(p) for p in fragments[s.id]] if s.per_model else read(fragments[s.id])
        for s in SECTIONS
    }
    with atomic_write(out) as fh:
        fh.write(render_template(template, sections=SECTIONS, fragments=texts))
