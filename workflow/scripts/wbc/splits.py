"""Train/val/test split files from the manifest and the crop QC table."""

from __future__ import annotations

from sklearn.model_selection import train_test_split

from . import SPLITS, UNREADABLE
from .runtime import UserError

SPLIT_COLUMNS = ("image", "label", "crop")


def make_splits(
    manifest: list[dict[str, str]],
    qc: list[dict[str, str]],
    val_fraction: float,
    seed: int,
) -> dict[str, list[dict[str, str]]]:
    """Stratified train/val split of TRAIN; TEST and TEST_SIMPLE pass through.

    Byte-identical copies stay on one side of the train/val split so the same pixels are
    never both trained on and validated on. Unreadable images are left out.
    """
    crops = {row["image"]: row["crop"] for row in qc if row["status"] != UNREADABLE}
    rows_by_split: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    train_groups: dict[str, list[dict[str, str]]] = {}
    for entry in sorted(manifest, key=lambda r: r["image"]):
        if entry["image"] not in crops:
            continue
        row = {"image": entry["image"], "label": entry["label"], "crop": crops[entry["image"]]}
        if entry["split"] == "TRAIN":
            train_groups.setdefault(entry["sha256"], []).append(row)
        else:
            rows_by_split[entry["split"].lower()].append(row)  # TEST -> test, ...

    # groups in order of their first image, so an edited image keeps everyone's side
    digests = sorted(train_groups, key=lambda d: train_groups[d][0]["image"])
    labels = [train_groups[d][0]["label"] for d in digests]
    for label in sorted(set(labels)):
        if labels.count(label) < 2:
            raise UserError(
                f"class {label} has {labels.count(label)} distinct TRAIN image(s): too "
                "few to split into train and val; add images of that class"
            )
    try:
        train_digests, val_digests = train_test_split(
            digests, test_size=val_fraction, stratify=labels, random_state=seed
        )
    except ValueError as err:
        raise UserError(
            f"config key 'split.val_fraction' = {val_fraction} cannot split "
            f"{len(digests)} TRAIN images by class: {err}"
        ) from None
    for name, chosen in (("train", train_digests), ("val", val_digests)):
        rows_by_split[name] = sorted(
            (row for d in chosen for row in train_groups[d]), key=lambda r: r["image"]
        )
    return rows_by_split
