"""One verdict per image (wbc.integrity, results/integrity.tsv): each check's finding in
its column, and what the config leaves out, with the reason."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, WORKFLOW_FILES, run_snakemake, scheduled_jobs, write_config
from wbc import CROPPED, UNREADABLE
from wbc.integrity import CHECKS, COPIES, Check, Tables, columns, verdicts
from wbc.integrity_table import kept_images
from wbc.integrity_table import test_leaks as leaks_of  # not a test: pytest would collect the name

CONFLICT = ("TRAIN/MONOCYTE/a.jpeg", "TRAIN/NEUTROPHIL/a_copy.jpeg")
BYTE_COPY = "TEST/EOSINOPHIL/byte.jpeg"  # the bytes of TRAIN/EOSINOPHIL/e1.jpeg
CELL_COPY = "TEST/EOSINOPHIL/cell.jpeg"  # another view of e2's source cell
BROKEN = "TRAIN/LYMPHOCYTE/broken.jpeg"


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


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
    assert columns(checks)[4:6] == ("kept", "reason") and columns(checks)[-1] == "too_small"
    (row,) = [row for row in rows if row["too_small"]]
    assert row["image"] == "TEST/EOSINOPHIL/new.jpeg"
    assert not row["kept"] and row["reason"] == "smaller than a cell"


# --- a check added in a copy of the workflow ---------------------------------------------

# a data check, written as a user would: images too dark to show a stained cell
DARK_CHECK = '''

def very_dark(tables: Tables) -> dict[str, str]:
    """Images whose mean brightness is under 40 of 255: a lamp off or a shutter closed."""
    import numpy as np
    from PIL import Image

    found = {}
    for row in tables.manifest:
        try:
            with Image.open(tables.root / row["image"]) as img:
                brightness = float(np.asarray(img.convert("L")).mean())
        except OSError:  # the unreadable check's
            continue
        if brightness < 40:
            found[row["image"]] = f"mean brightness {brightness:.0f} of 255"
    return found


CHECKS.append(Check("very_dark", "very dark image", very_dark))
'''


def add_dark_check(workdir: Path) -> None:
    """What adding a data check takes: a function and an entry, in wbc/integrity.py."""
    module = workdir / "workflow" / "scripts" / "wbc" / "integrity.py"
    module.write_text(module.read_text() + DARK_CHECK)


def changed_files(copy: Path) -> list[str]:
    """The files of the workflow copy that differ from (or are not in) the checkout."""
    changed = []
    for name in WORKFLOW_FILES:
        for path in sorted((copy / name).rglob("*") if (copy / name).is_dir() else [copy / name]):
            if path.is_file() and "__pycache__" not in path.parts:
                original = REPO / path.relative_to(copy)
                if not original.is_file() or original.read_bytes() != path.read_bytes():
                    changed.append(str(path.relative_to(copy)))
    return changed


def test_a_data_check_added_in_one_file(workflow_dir, mini_zip, tmp_path):
    """A check flagging very dark images: its column appears in results/integrity.tsv,
    and the image it flags is left out of every split file, with the reason, and counted
    in the report's dataset section."""
    data = tmp_path / "data"
    with zipfile.ZipFile(mini_zip) as zf:
        zf.extractall(data)
    train = next(data.rglob("TRAIN"))
    original = sorted((train / "MONOCYTE").iterdir())[0]
    dark = original.with_name("dark_field.jpeg")
    image = np.asarray(Image.open(original).convert("RGB"))
    Image.fromarray((image * 0.08).astype(np.uint8)).save(dark, quality=95)
    dark_image = dark.relative_to(data).as_posix()

    cfg = write_config(workflow_dir, source=str(data), crop={"shards": 2})
    section = "results/report/sections/dataset.html"
    run_snakemake(workflow_dir, "split", section, "--configfile", str(cfg))
    add_dark_check(workflow_dir)
    assert changed_files(workflow_dir) == ["workflow/scripts/wbc/integrity.py"]
    # the new check reruns the verdicts and what reads them, not the crops or the grouping
    dry = run_snakemake(workflow_dir, "split", section, "--configfile", str(cfg), "--dry-run")
    assert set(scheduled_jobs(dry)) == {"integrity", "split", "report_dataset"}
    run_snakemake(workflow_dir, "split", section, "--configfile", str(cfg))

    results = workflow_dir / "results"
    verdicts = read_tsv(results / "integrity.tsv")
    assert list(verdicts[0])[-2:] == ["unreadable", "very_dark"]
    flagged = {row["image"]: row for row in verdicts if row["very_dark"]}
    assert list(flagged) == [dark_image]
    assert flagged[dark_image]["kept"] == "False"
    assert flagged[dark_image]["reason"] == "very dark image"
    in_splits = {
        row["image"]
        for name in ("train", "val", "test", "test_simple")
        for row in read_tsv(results / "splits" / f"{name}.tsv")
    }
    assert dark_image not in in_splits
    kept = {row["image"] for row in verdicts if row["kept"] == "True"}
    assert in_splits == kept and len(kept) == len(verdicts) - 2  # and one TRAIN cell's copy
    html = (workflow_dir / section).read_text()
    assert "<td>very dark image</td>" in html
