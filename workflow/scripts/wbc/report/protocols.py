"""Report section 4, what the protocols mean: why a random split of Kaggle's TRAIN flatters
every model, and which figure is the honest one."""

from __future__ import annotations

from .common import write_section


def write(has_test: bool, template, out) -> None:
    write_section(out, template, has_test=has_test)
