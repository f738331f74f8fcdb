"""Reading and writing the workflow's tables and JSON files, written once for every rule.

Tables are tab-separated with a header row; the workflow's own are catalogued in
``wbc.tables`` (path, columns, types, meaning). ``read_tsv`` gives rows as dicts of strings
(standard library only: the data rules' env has no pandas); ``read_table`` the same file as
a pandas DataFrame with the catalogue's types, for the rules that compute on columns.
Both writers refuse a catalogued table whose columns are not the catalogue's.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from pathlib import Path

from . import tables


def read_tsv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def write_tsv(path: str | Path, rows, columns=None) -> None:
    """Write ``rows`` (dicts) with exactly ``columns`` (keys beyond them are ignored);
    a catalogued table (wbc.tables) must have its catalogue's columns, which are the
    default where it has no family of columns (p_<class>, one per check)."""
    table = tables.find(path)
    if columns is None:
        if table is None or table.family is not None:
            raise ValueError(f"{path}: name its columns (wbc/tables.py fixes only some)")
        columns = table.names
    elif table is not None:
        table.check(columns, path)
    with atomic_write(path, newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=columns, delimiter="\t", lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: str | Path):
    """A TSV as a DataFrame: a catalogued table's columns (wbc.tables) of their types
    (``int`` as pandas' nullable Int64 and ``float`` with empty cells missing, ``bool``),
    any other column as strings (empty cells stay empty strings, never NaN)."""
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table = tables.find(path)
    if table is None:
        return frame
    for column in frame.columns:
        kind = table.type_of(column)
        if kind in ("int", "float"):
            numbers = pd.to_numeric(frame[column].mask(frame[column] == ""))
            frame[column] = numbers.astype("Int64" if kind == "int" else "float64")
        elif kind == "bool":
            values = set(frame[column])
            if not values <= {"True", "False"}:
                raise ValueError(f"{path}: column {column} holds {values - {'True', 'False'}}")
            frame[column] = frame[column] == "True"
    return frame


def write_table(path: str | Path, frame, float_format: str = "%.6g") -> None:
    """Write a DataFrame; a catalogued table (wbc.tables) must have its columns."""
    table = tables.find(path)
    if table is not None:
        table.check(frame.columns, path)
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
