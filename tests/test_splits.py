"""Split files: stratified, deterministic, duplicates kept on one side."""

from __future__ import annotations

from collections import Counter

import pytest

from wbc import CLASSES
from wbc.copies import copies_of_train
from wbc.integrity import COPIES, Tables, verdicts
from wbc.integrity_table import test_leaks as leaks_of  # not a test: pytest would collect the name
from wbc.runtime import UserError
from wbc.splits import make_splits


def split(manifest, qc, val_fraction, seed, group_by="none", groups=None, copies="drop_cells"):
    """make_splits of the images the integrity checks keep (split.train_copies_in_test:
    ``copies``), as the split rule reads them from results/integrity.tsv."""
    kept = verdicts(Tables(manifest, qc, groups or {}), {COPIES: copies})
    return make_splits(manifest, qc, kept, val_fraction, seed, group_by, groups)


def fake_inputs(per_class=25, duplicates=()):
    """Manifest and QC rows; ``duplicates`` are (copy, original) image pairs."""
    manifest, qc = [], []
    for label in CLASSES:
        for i in range(per_class):
            image = f"TRAIN/{label}/{i:03d}.jpeg"
            manifest.append({"image": image, "split": "TRAIN", "label": label, "sha256": image})
            qc.append({"image": image, "status": "cropped", "crop": f"crops/{image}.png"})
    manifest.append(
        {"image": "TEST/MONOCYTE/t.jpeg", "split": "TEST", "label": "MONOCYTE", "sha256": "t"}
    )
    qc.append({"image": "TEST/MONOCYTE/t.jpeg", "status": "no_cell_found", "crop": "c.png"})
    for copy, original in duplicates:
        label = original.split("/")[1]
        manifest.append({"image": copy, "split": "TRAIN", "label": label, "sha256": original})
        qc.append({"image": copy, "status": "cropped", "crop": f"crops/{copy}.png"})
    return manifest, qc


def test_stratified_and_deterministic():
    manifest, qc = fake_inputs()
    first = split(manifest, qc, 0.2, seed=42)
    assert first == split(list(reversed(manifest)), qc, 0.2, seed=42)
    assert Counter(r["label"] for r in first["val"]) == {c: 5 for c in CLASSES}
    assert Counter(r["label"] for r in first["train"]) == {c: 20 for c in CLASSES}
    assert [r["image"] for r in first["test"]] == ["TEST/MONOCYTE/t.jpeg"]
    assert first["test_simple"] == []
    other = split(manifest, qc, 0.2, seed=7)
    assert {r["image"] for r in other["val"]} != {r["image"] for r in first["val"]}
    assert all(rows == sorted(rows, key=lambda r: r["image"]) for rows in first.values())


def test_identical_copies_stay_on_one_side():
    copies = [
        (f"TRAIN/NEUTROPHIL/copy{i}.jpeg", f"TRAIN/NEUTROPHIL/{i:03d}.jpeg") for i in range(25)
    ]
    manifest, qc = fake_inputs(duplicates=copies)
    splits = split(manifest, qc, 0.2, seed=42)
    side = {r["image"]: name for name in ("train", "val") for r in splits[name]}
    assert all(side[copy] == side[original] for copy, original in copies)


def test_unreadable_images_are_left_out():
    manifest, qc = fake_inputs()
    qc[0]["status"], qc[0]["crop"] = "unreadable", ""
    splits = split(manifest, qc, 0.2, seed=42)
    kept = {r["image"] for rows in splits.values() for r in rows}
    assert qc[0]["image"] not in kept and len(kept) == len(qc) - 1


def test_too_few_images_of_a_class():
    manifest, qc = fake_inputs(per_class=1)
    with pytest.raises(UserError, match=r"class EOSINOPHIL has 1 distinct TRAIN image"):
        split(manifest, qc, 0.2, seed=42)


def test_copies_of_train_images_leave_the_test_splits_unless_kept():
    manifest, qc = fake_inputs()
    copy, original = "TEST/MONOCYTE/copy.jpeg", "TRAIN/MONOCYTE/003.jpeg"
    manifest.append({"image": copy, "split": "TEST", "label": "MONOCYTE", "sha256": original})
    qc.append({"image": copy, "status": "cropped", "crop": "c2.png"})
    assert copies_of_train(manifest) == {copy: original}
    assert copy not in {r["image"] for r in split(manifest, qc, 0.2, seed=42)["test"]}
    kept = split(manifest, qc, 0.2, seed=42, copies="keep")
    assert copy in {r["image"] for r in kept["test"]}


def test_images_of_a_train_source_cell_are_listed_and_left_out_only_on_request():
    manifest, qc = fake_inputs()
    cell = "TEST/MONOCYTE/same_cell.jpeg"
    manifest.append({"image": cell, "split": "TEST", "label": "MONOCYTE", "sha256": "other"})
    qc.append({"image": cell, "status": "cropped", "crop": "c3.png"})
    groups = {r["image"]: r["image"] for r in manifest}
    groups[cell] = groups["TRAIN/MONOCYTE/003.jpeg"]
    leaks = leaks_of(verdicts(Tables(manifest, qc, groups), {COPIES: "drop_cells"}))
    assert [(r["image"], r["kind"]) for r in leaks] == [(cell, "same source cell")]

    def scored(mode):
        splits = split(manifest, qc, 0.2, 42, "source_cell", groups, mode)
        return cell in {r["image"] for r in splits["test"]}

    assert scored("drop") and scored("keep") and not scored("drop_cells")


def test_images_under_two_labels_are_left_out():
    manifest, qc = fake_inputs()
    manifest[0]["sha256"] = manifest[-1]["sha256"]  # an EOSINOPHIL file = a MONOCYTE one
    splits = split(manifest, qc, 0.2, seed=42)
    kept = {r["image"] for rows in splits.values() for r in rows}
    assert manifest[0]["image"] not in kept and manifest[-1]["image"] not in kept
