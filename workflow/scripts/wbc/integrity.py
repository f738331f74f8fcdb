"""Data integrity: one verdict per image (results/integrity.tsv, rule ``integrity``).

Each check is a plain function over the run's tables (``Tables``: the manifest, the crop
QC table, the source-cell groups, the dataset folder) that returns, for each image it
flags, what it found (the other copy, the TRAIN image, the decoder's message). ``CHECKS``
lists them with their column and the config key that decides whether a finding leaves
the image out of the split files. ``verdicts`` runs them all and writes ``kept`` and the
``reason``: the split rule and the report read that table and decide nothing again.

A new check is a function and an entry in ``CHECKS``; its column appears in the table
and an image it flags is left out with its name as the reason. Only the integrity rule
imports this module (the copy functions the manifest and the crop QC share are in
wbc.copies; what the split and the report read from the table is in
wbc.integrity_table), so a new check reruns nothing before it. No pandas: the integrity
rule's env has none; a check that reads pixels may use numpy, Pillow and OpenCV
(envs/crop.yaml), imported inside the check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import UNREADABLE
from .copies import copies_of_train, label_conflicts


@dataclass(frozen=True)
class Tables:
    """What a check may read: rows of results/manifest.tsv and results/qc/crops.tsv,
    image -> source cell and image -> the original slide it was matched to (match
    ``matched`` or ``weak``; results/groups.tsv), and the folder the images are read
    from."""

    manifest: list[dict[str, str]]
    qc: list[dict[str, str]] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    originals: dict[str, str] = field(default_factory=dict)


Finder = Callable[[Tables], Mapping[str, str]]


@dataclass(frozen=True)
class Check:
    """``find`` maps each image it flags to what it found (a non-empty string); the image
    is left out when ``leaves_out`` holds for the value of config key ``setting`` (every
    finding leaves its image out when no key decides)."""

    column: str  # its column in results/integrity.tsv
    name: str  # the reason given for an image it leaves out
    find: Finder
    setting: str | None = None
    leaves_out: Callable[[Any], bool] = lambda value: True


# --- the checks -------------------------------------------------------------------------


def other_labels(tables: Tables) -> dict[str, str]:
    """The byte-identical copies filed under another label."""
    return {image: "; ".join(others) for image, others in label_conflicts(tables.manifest).items()}


def byte_copies_of_train(tables: Tables) -> dict[str, str]:
    """A TEST or TEST_SIMPLE image's byte-identical TRAIN image."""
    return copies_of_train(tables.manifest)


def cell_copies_of_train(tables: Tables) -> dict[str, str]:
    """A TEST or TEST_SIMPLE image's source cell's first TRAIN image (wbc.groups)."""
    grouped = [
        {**row, "group": tables.groups[row["image"]]}
        for row in tables.manifest
        if row["image"] in tables.groups
    ]
    return copies_of_train(grouped, key="group")


def cells_under_two_labels(tables: Tables) -> dict[str, str]:
    """The images of one cell filed under two classes: one slide's copies in two folders,
    or two overlapping slides of one cell whose copies lie in different folders
    (wbc.groups, which reads the slides' pixels: imported here only)."""
    if tables.root is None or not tables.originals:
        return {}
    from .groups import cells_under_two_labels as find

    rows = [
        {**row, "group": tables.groups.get(row["image"], row["image"]), "original": original}
        for row in tables.manifest
        if (original := tables.originals.get(row["image"]))
    ]
    return find(rows, tables.root)


def unreadable(tables: Tables) -> dict[str, str]:
    """Images the crop step could not decode (its message), or that it never saw."""
    qc = {row["image"]: row for row in tables.qc}
    found = {}
    for row in tables.manifest:
        crop = qc.get(row["image"])
        if crop is None:
            found[row["image"]] = "no row in the crop QC table"
        elif crop["status"] == UNREADABLE:
            found[row["image"]] = crop.get("reason") or UNREADABLE
    return found


COPIES = "split.train_copies_in_test"

CHECKS: list[Check] = [
    Check("label_conflict", "same bytes under another label", other_labels, "conflicting_labels"),
    Check(
        "byte_copy_of_train",
        "byte-identical copy of a TRAIN image",
        byte_copies_of_train,
        COPIES,
        lambda mode: mode in ("drop", "drop_cells"),
    ),
    Check(
        "cell_copy_of_train",
        "image of a TRAIN image's source cell",
        cell_copies_of_train,
        COPIES,
        lambda mode: mode == "drop_cells",
    ),
    Check(
        "cell_under_two_labels",
        "one cell under two labels",
        cells_under_two_labels,
        "cells_under_two_labels",
        lambda mode: mode == "drop",
    ),
    Check("unreadable", "unreadable", unreadable, "strict"),
]


# --- the verdicts -----------------------------------------------------------------------


def columns(checks: list[Check] = CHECKS) -> tuple[str, ...]:
    """The columns of results/integrity.tsv (wbc.tables.INTEGRITY): the image, the
    verdict, then one column per check."""
    return ("image", "split", "label", "group", "kept", "reason", *(c.column for c in checks))


def verdicts(
    tables: Tables, settings: Mapping[str, Any], checks: list[Check] = CHECKS
) -> list[dict]:
    """One row per image of the manifest (``columns``), sorted by image: each check's
    finding, ``kept`` (False: left out of every split file) and the ``reason``, the names
    of the checks that left it out and the config key that made them (``settings``: config
    key -> value, dotted)."""
    findings = [(check, check.find(tables)) for check in checks]
    rows = []
    for entry in sorted(tables.manifest, key=lambda r: r["image"]):
        image = entry["image"]
        row = {
            "image": image,
            "split": entry["split"],
            "label": entry["label"],
            "group": tables.groups.get(image, ""),
        }
        found_here, reasons = {}, []
        for check, found in findings:
            found_here[check.column] = found.get(image, "")
            value = settings.get(check.setting) if check.setting else None
            if found_here[check.column] and check.leaves_out(value):
                key = f" ({check.setting}: {_yaml(value)})" if check.setting else ""
                reasons.append(check.name + key)
        rows.append({**row, "kept": not reasons, "reason": "; ".join(reasons), **found_here})
    return rows


def _yaml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
