"""Copies among the images: the same bytes under two labels, and TEST/TEST_SIMPLE images
that copy a TRAIN image. Read by the manifest (it stops on label conflicts), the crop QC
table (its copy columns) and the integrity checks (wbc.integrity), apart from those
checks so that adding one reruns none of the rules before them. Standard library only.
"""

from __future__ import annotations


def label_conflicts(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Images whose exact bytes are also filed under another class: image -> those other
    images. Which label is right cannot be known, so neither copy is trained or scored."""
    by_digest: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_digest.setdefault(row["sha256"], []).append(row)
    conflicts = {}
    for group in by_digest.values():
        for row in group:
            others = [o["image"] for o in group if o["label"] != row["label"]]
            if others:
                conflicts[row["image"]] = sorted(others)
    return conflicts


def copies_of_train(manifest: list[dict[str, str]], key: str = "sha256") -> dict[str, str]:
    """TEST and TEST_SIMPLE images that share ``key`` with a TRAIN image (for sha256: its
    byte-identical copies): image -> the first such TRAIN image. Scored as test images,
    they would score a model on what it was trained on."""
    train: dict[str, str] = {}
    for row in sorted(manifest, key=lambda r: r["image"]):
        if row["split"] == "TRAIN":
            train.setdefault(row[key], row["image"])
    return {
        row["image"]: train[row[key]]
        for row in manifest
        if row["split"] != "TRAIN" and row[key] in train
    }


def copy_notes(manifest: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Per image: the copies filed under another label, and the TRAIN image a TEST or
    TEST_SIMPLE image copies: the crop QC table's columns label_conflict and copy_of_train
    (results/integrity.tsv has the verdict)."""
    conflicts, copies = label_conflicts(manifest), copies_of_train(manifest)
    return {
        row["image"]: {
            "label_conflict": "; ".join(conflicts.get(row["image"], [])),
            "copy_of_train": copies.get(row["image"], ""),
        }
        for row in manifest
    }
