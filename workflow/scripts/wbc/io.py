"""Reading and writing the workflow's tables and JSON files, written once for every rule.

Tables are tab-separated with a header row. ``read_tsv`` gives rows as dicts of strings
(standard library only: the data rules' env has no pandas); ``read_table`` the same file as
a pandas DataFrame of strings, for the rules that compute on columns.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from pathlib import Path


def read_tsv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def write_tsv(path: str | Path, rows, columns) -> None:
    """Write ``rows`` (dicts) with exactly ``columns``; keys beyond them are ignored."""
    with atomic_write(path, newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=columns, delimiter="\t", lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: str | Path):
    """A TSV as a DataFrame of strings (empty cells stay empty strings, never NaN)."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def write_table(path: str | Path, frame, float_format: str = "%.6g") -> None:
    with atomic_write(path, newline="") as fh:
        frame.to_csv(fh, sep="\t", index=False, float_format=float_format, lineterminator="\n")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def write_json(path: str | Path, data: dict) -> None:
    with atomic_write(path) as fh:
        fh.write(json.dumps(data, indent=2) + "\n")


@contextmanager
def atomic_path(path: str | Path):
    """A temporary name beside ``path`` that becomes ``path`` only when the block succeeds:
    a reader, or a run interrupted mid-write, never sees half a file under its name."""
    path = Path(path)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)  # left only by a failure


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **kwargs):
    """``open(path, mode)`` through ``atomic_path``."""
    with atomic_path(path) as partial, open(partial, mode, **kwargs) as fh:
        yield fh
