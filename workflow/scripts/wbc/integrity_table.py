"""What the split and the report read from results/integrity.tsv (rule ``integrity``, whose
checks are in wbc.integrity): the images the split files may hold, and the test images
that TRAIN holds too. Apart from wbc.integrity so that its readers need none of what a
check needs (a check may read pixels: wbc.groups, OpenCV), and a new check reruns only
the integrity rule and what its table feeds. Standard library only."""

from __future__ import annotations


def kept_images(rows: list[dict]) -> set[str]:
    """The images of results/integrity.tsv's rows that the split files may hold."""
    return {row["image"] for row in rows if str(row["kept"]) == "True"}


# --- the leak table ---------------------------------------------------------------------

BYTE_COPY = "byte-identical copy"  # a leak of fact; "same source cell" is a judgement
CELL_COPY = "same source cell"


def test_leaks(rows: list[dict]) -> list[dict]:
    """results/splits/test_leaks.tsv from the verdicts: TEST and TEST_SIMPLE images that
    TRAIN holds too (byte-identical copies, or images of a TRAIN image's source cell), and
    whether they are scored (kept). Rows of wbc.tables.TEST_LEAKS, sorted by image."""
    return [
        {
            "image": row["image"],
            "folder": row["split"],
            "label": row["label"],
            "kind": BYTE_COPY if row["byte_copy_of_train"] else CELL_COPY,
            "train_image": row["byte_copy_of_train"] or row["cell_copy_of_train"],
            "group": row["group"],
            "scored": str(row["kept"]) == "True",
        }
        for row in sorted(rows, key=lambda r: r["image"])
        if row["split"] != "TRAIN" and (row["byte_copy_of_train"] or row["cell_copy_of_train"])
    ]
