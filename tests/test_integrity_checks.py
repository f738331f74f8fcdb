"""One verdict per image (wbc.integrity, results/integrity.tsv): each check's finding in
its column, and what the config leaves out, with the reason."""

from __future__ import annotations

import pytest

from wbc import CROPPED, UNREADABLE
from wbc.integrity import CHECKS, COPIES, Check, Tables, columns, kept_images, verdicts
from wbc.integrity import test_leaks as leaks_of  # not a test: pytest would collect the name

CONFLICT = ("TRAIN/MONOCYTE/a.jpeg", "TRAIN/NEUTROPHIL/a_copy.jpeg")
BYTE_COPY = "TEST/EOSINOPHIL/byte.jpeg"  # the bytes of TRAIN/EOSINOPHIL/e1.jpeg
CELL_COPY = "TEST/EOSINOPHIL/cell.jpeg"  # another view of e2's source cell
BROKEN = "TRAIN/LYMPHOCYTE/broken.jpeg"


def tables() -> Tables:
    rows = [
        ("TRAIN/EOSINOPHIL/e1.jpeg", "TRAIN", "EOSINOPHIL", "d-e1", "cell-1"),
        ("TRAIN/EOSINOPHIL/e2.jpeg", "TRAIN", "EOSINOPHIL", "d-e2", "cell-2"),
        (CONFLICT[0], "TRAIN", "MONOCYTE", "d-a", "cell-3"),
        (CONFLICT[1], "TRAIN", "NEUTROPHIL", "d-a", "cell-3"),
        (BROKEN, "TRAIN", "LYMPHOCYTE", "d-b", "cell-4"),
        (BYTE_COPY, "TEST", "EOSINOPHIL", "d-e1", "cell-1"),
        (CELL_COPY, "TEST", "EOSINOPHIL", "d-c", "cell-2"),
        ("TEST/EOSINOPHIL/new.jpeg", "TEST", "EOSINOPHIL", "d-n", "cell-5"),
    ]
    manifest = [dict(zip(("image", "split", "label", "sha256"), r[:4], strict=True)) for r in rows]
    qc = [
        {"image": r[0], "status": UNREADABLE if r[0] == BROKEN else CROPPED, "reason": ""}
        for r in rows
    ]
    qc[4]["reason"] = "cannot identify image file"
    return Tables(manifest, qc, {r[0]: r[4] for r in rows})


def settings(copies="drop_cells"):
    return {"conflicting_labels": "drop", "strict": False, COPIES: copies}


def test_one_row_per_image_with_each_checks_finding():
    rows = verdicts(tables(), settings())
    assert [list(row) for row in rows] == [list(columns())] * len(rows)
    assert [row["image"] for row in rows] == sorted(row["image"] for row in tables().manifest)
    by_image = {row["image"]: row for row in rows}
    assert by_image[CONFLICT[0]]["label_conflict"] == CONFLICT[1]
    assert by_image[BYTE_COPY]["byte_copy_of_train"] == "TRAIN/EOSINOPHIL/e1.jpeg"
    assert by_image[CELL_COPY]["cell_copy_of_train"] == "TRAIN/EOSINOPHIL/e2.jpeg"
    assert by_image[CELL_COPY]["byte_copy_of_train"] == ""
    assert by_image[BROKEN]["unreadable"] == "cannot identify image file"
    flagged = {CONFLICT[0], CONFLICT[1], BYTE_COPY, CELL_COPY, BROKEN}
    assert {image for image, row in by_image.items() if any(row[c.column] for c in CHECKS)} == (
        flagged
    )
    assert by_image[CONFLICT[1]]["reason"] == (
        "same bytes under another label (conflicting_labels: drop)"
    )
    assert by_image[BROKEN]["reason"] == "unreadable (strict: false)"


@pytest.mark.parametrize(
    ("copies", "left_out"),
    [
        ("drop_cells", {BYTE_COPY, CELL_COPY}),
        ("drop", {BYTE_COPY}),
        ("keep", set()),
    ],
)
def test_what_the_config_leaves_out(copies, left_out):
    rows = verdicts(tables(), settings(copies))
    always = {*CONFLICT, BROKEN}  # whatever split.train_copies_in_test says
    everyone = {row["image"] for row in rows}
    assert kept_images(rows) == everyone - always - left_out
    by_image = {row["image"]: row for row in rows}
    for image in left_out:
        assert f"({COPIES}: {copies})" in by_image[image]["reason"]
    # the leak table is the test images TRAIN holds too, scored where kept
    leaks = {row["image"]: row for row in leaks_of(rows)}
    assert set(leaks) == {BYTE_COPY, CELL_COPY}
    assert {image for image, row in leaks.items() if not row["scored"]} == left_out
    assert leaks[BYTE_COPY]["kind"] == "byte-identical copy"
    assert leaks[CELL_COPY]["kind"] == "same source cell"


def test_a_new_check_is_a_function_and_a_column():
    def tiny(tables):
        return {"TEST/EOSINOPHIL/new.jpeg": "12 x 12 px"}

    checks = [*CHECKS, Check("too_small", "smaller than a cell", tiny)]
    rows = verdicts(tables(), settings(), checks)
    assert columns(checks)[-3:] == ("too_small", "kept", "reason")
    (row,) = [row for row in rows if row["too_small"]]
    assert row["image"] == "TEST/EOSINOPHIL/new.jpeg"
    assert not row["kept"] and row["reason"] == "smaller than a cell"
