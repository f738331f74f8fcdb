"""Train/val/test split files from the manifest, the crop QC table and the source-cell
groups.

Kaggle's TRAIN holds augmented copies of a few hundred cells: a random split of it puts
copies of one cell in train and in val, and val then measures memory, not recognition.
``group_by: source_cell`` (the default) keeps every cell's copies on one side;
``group_by: none`` is the reference study's random split, kept to reproduce its figures.
"""

from __future__ import annotations

from . import SPLITS
from .integrity_table import kept_images
from .runtime import UserError
from .tables import FOLDS, SPLIT

SPLIT_COLUMNS = SPLIT.names
GROUP_BY = ("source_cell", "none")


def make_splits(
    manifest: list[dict[str, str]],
    qc: list[dict[str, str]],
    verdicts: list[dict],
    val_fraction: float,
    seed: int,
    group_by: str = "none",
    groups: dict[str, str] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Stratified train/val split of TRAIN; TEST and TEST_SIMPLE pass through.

    Only the images ``verdicts`` (rows of results/integrity.tsv, wbc.integrity) keep are
    split: what is left out, and why, is decided there (unreadable images, images under
    two labels, test images that TRAIN holds too, under the config). ``qc`` gives each
    image's crop. ``groups`` maps each image to its source cell (results/groups.tsv), the
    ``group`` column of every split file; without it an image's group is its set of
    byte-identical copies. Byte-identical copies always stay on one side of the train/val
    split.
    """
    from sklearn.model_selection import train_test_split

    crops = {row["image"]: row["crop"] for row in qc}
    kept = kept_images(verdicts)
    rows_by_split: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    train_groups: dict[str, list[dict[str, str]]] = {}
    first_with: dict[str, str] = {}  # sha256 -> first image with those bytes
    for entry in sorted(manifest, key=lambda r: r["image"]):
        if entry["image"] not in kept:
            continue
        copies = first_with.setdefault(entry["sha256"], entry["image"])
        row = {
            "image": entry["image"],
            "label": entry["label"],
            "group": groups[entry["image"]] if groups is not None else copies,
            "crop": crops[entry["image"]],
        }
        if entry["split"] == "TRAIN":
            train_groups.setdefault(entry["sha256"], []).append(row)
        else:
            rows_by_split[entry["split"].lower()].append(row)  # TEST -> test, ...
    if group_by == "source_cell":
        rows = sorted((r for rs in train_groups.values() for r in rs), key=lambda r: r["image"])
        train, val = grouped_split(rows, val_fraction, seed)
        rows_by_split.update(train=train, val=val)
        return rows_by_split

    # groups in order of their first image, so an edited image keeps everyone's side
    digests = sorted(train_groups, key=lambda d: train_groups[d][0]["image"])
    labels = [train_groups[d][0]["label"] for d in digests]
    for label in sorted(set(labels)):
        if labels.count(label) < 2:
            raise UserError(
                f"class {label} has {labels.count(label)} distinct TRAIN image(s) left after "
                "those the integrity checks leave out (results/integrity.tsv): too few to "
                "split into train and val; add images of that class"
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


def grouped_split(rows: list[dict], val_fraction: float, seed: int):
    """(train, val) rows with no group on both sides, stratified by class.

    scikit-learn's StratifiedGroupKFold with 1/val_fraction folds (rounded): val is the
    first fold that holds every class. Deterministic for a seed, and an edited image that
    stays in its group moves no other image.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    for label in sorted(set(labels)):
        cells = len(set(groups[labels == label]))
        if cells < 2:
            raise UserError(
                f"class {label} has {cells} source cell(s) in TRAIN: too few to keep "
                "train and val apart; add images of other cells of that class, or set "
                "config key 'split.group_by: none' (a random split, which flatters models)"
            )
    folds = max(2, round(1 / val_fraction))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, val_idx in splitter.split(np.zeros(len(rows)), labels, groups):
        if set(labels[val_idx]) == set(labels):
            return [rows[i] for i in train_idx], [rows[i] for i in val_idx]
    raise UserError(
        f"config key 'split.val_fraction' = {val_fraction}: no fold of "
        f"{len(set(groups))} source cells holds every class; raise it, or add cells of "
        "the rarest class"
    )


FOLD_COLUMNS = FOLDS.names


def cv_folds(rows: list[dict], folds: int, seed: int) -> list[dict]:
    """Each TRAIN image (the rows of train.tsv and val.tsv) with its held-out fold, 1 to
    ``folds``: scikit-learn's StratifiedGroupKFold over source cells (column ``group``),
    so every cell is held out exactly once and never on both sides of a fold.
    Deterministic for a seed; rows of FOLD_COLUMNS sorted by image."""
    import numpy as np
    from sklearn.model_selection import StratifiedGroupKFold

    rows = sorted(rows, key=lambda r: r["image"])
    labels = np.array([r["label"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    cells = len(set(groups))
    if folds > cells:
        raise UserError(
            f"config key 'split.folds' = {folds}: TRAIN has only {cells} source cells; "
            "use at most that many folds"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_of = np.zeros(len(rows), int)
    for k, (fit_idx, held_idx) in enumerate(splitter.split(np.zeros(len(rows)), labels, groups)):
        missing = sorted(set(labels) - set(labels[fit_idx]))
        if missing:
            raise UserError(
                f"config key 'split.folds' = {folds}: fold {k + 1} holds out every source "
                f"cell of {', '.join(missing)}, so its model could not learn that class; "
                "use fewer folds or add cells of that class"
            )
        fold_of[held_idx] = k + 1
    return [
        {"image": r["image"], "label": r["label"], "group": r["group"], "fold": int(k)}
        for r, k in zip(rows, fold_of, strict=True)
    ]
