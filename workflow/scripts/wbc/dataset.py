"""What the data holds: layout detection, the manifest of images, and crop shard lists."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import CLASSES, FOLDERS, IMAGE_SUFFIXES
from .copies import label_conflicts
from .io import write_tsv
from .runtime import UserError
from .source import ignored, is_utf8, printable, shard_of, why_skipped
from .tables import MANIFEST, SHARD_LIST

# Where Kaggle's archive keeps the cell images (dataset-master holds whole slides).
KAGGLE_IMAGE_ROOT = "dataset2-master/dataset2-master/images"
MANIFEST_COLUMNS = MANIFEST.names

log = logging.getLogger(__name__)


@dataclass
class Entry:
    image: str  # path relative to the dataset root, POSIX separators
    split: str
    label: str


def find_image_tree(root: Path) -> tuple[Path, bool]:
    """Locate the folder holding ``<split>/<CLASS>/`` (True) or ``<CLASS>/`` (False): the
    first folder, looking through single wrapping folders, with a split folder or a
    subfolder of images."""
    if (root / KAGGLE_IMAGE_ROOT).is_dir():
        return root / KAGGLE_IMAGE_ROOT, True
    here = root
    while True:
        subdirs = [d for d in _visible(here, warn=False) if d.is_dir()]
        if {d.name.upper() for d in subdirs} & set(FOLDERS):
            return here, True
        if any(not why_skipped(p) for d in subdirs for p in _visible(d, warn=False)):
            return here, False
        if len(subdirs) != 1:
            raise UserError(
                f"{root}: no image folders in the expected layout; expected "
                "<split>/<CLASS>/<image> or <CLASS>/<image> with split in "
                f"{'/'.join(FOLDERS)}, one folder per class "
                "(or Kaggle's dataset2-master/dataset2-master/images)"
            )
        here = subdirs[0]


def _visible(folder: Path, warn: bool = True) -> list[Path]:
    """The folder's entries but hidden ones and system metadata (``ignored``), and those
    whose name is not UTF-8 (no table or log could hold it), skipped with a warning."""
    entries = []
    for path in sorted(p for p in folder.iterdir() if not ignored(p.name)):
        if is_utf8(path.name):
            entries.append(path)
        elif warn:
            _stray(path, why_skipped(path))
    return entries


def _stray(path: Path, why: str) -> None:
    log.warning("skipping %s: %s", printable(path), why)


def scan_dataset(root: str | Path) -> list[Entry]:
    """List every image with its split and label; stray files are skipped with a warning,
    unknown split folders and empty class folders are errors."""
    root = Path(root)
    tree, has_splits = find_image_tree(root)
    if has_splits:
        split_dirs = []
        for path in _visible(tree):
            if not path.is_dir():
                _stray(path, "a file beside the split folders, not an image in a <CLASS> folder")
            elif path.name.upper() in FOLDERS:
                split_dirs.append((path.name.upper(), path))
            else:
                raise UserError(
                    f"{path}: unknown split folder; expected {', '.join(FOLDERS)}: "
                    "rename or remove it"
                )
    else:
        split_dirs = [("TRAIN", tree)]

    entries = []
    for split, split_dir in split_dirs:
        for class_dir in _visible(split_dir):
            if not class_dir.is_dir():
                _stray(class_dir, "a file beside the class folders, not an image in one")
                continue
            label = class_dir.name.upper()  # any name: the classes are the data's
            images = []
            for path in _visible(class_dir):
                if why := why_skipped(path):
                    _stray(path, why)
                else:
                    images.append(path)
            if not images:
                raise UserError(
                    f"{class_dir}: class folder holds no images "
                    f"({', '.join(sorted(IMAGE_SUFFIXES))}); add images or remove it"
                )
            entries += [Entry(p.relative_to(root).as_posix(), split, label) for p in images]
    if not entries:
        raise UserError(f"{root}: no images found; check config key 'source'")
    return entries


def image_size(path: Path) -> tuple[str, str]:
    """Width and height from the header (no decoding); blanks when unreadable."""
    from PIL import Image  # the data env's: the split and QC rules use this module too

    try:
        with Image.open(path) as img:
            return str(img.width), str(img.height)
    except Exception:  # decodability is judged (and reported) by the crop step
        return "", ""


def build_manifest(
    root: str | Path, val_fraction: float = 0.2, conflicting_labels: str = "stop"
) -> list[dict[str, str]]:
    """One row per image (MANIFEST_COLUMNS), checked: no image under two labels (or, with
    ``conflicting_labels='drop'``, those left out), and classes the split can use."""
    root = Path(root)
    rows, first_with = [], {}
    for entry in scan_dataset(root):
        path = root / entry.image
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        width, height = image_size(path)
        first = first_with.setdefault(digest, entry.image)
        rows.append(
            {
                "image": entry.image,
                "split": entry.split,
                "label": entry.label,
                "sha256": digest,
                "width": width,
                "height": height,
                "bytes": str(len(data)),
                # byte-identical copies (real in Kaggle's TEST_SIMPLE) are kept but named
                "duplicate_of": first if first != entry.image else "",
            }
        )
    conflicts = label_conflicts(rows)
    if conflicts:
        _handle_conflicts(rows, conflicts, conflicting_labels)
    check_classes([r for r in rows if r["image"] not in conflicts], val_fraction)
    return rows


def _handle_conflicts(rows, conflicts: dict[str, list[str]], mode: str) -> None:
    label = {row["image"]: row["label"] for row in rows}
    first = min(conflicts)
    other = conflicts[first][0]
    if mode == "stop":
        more = len(conflicts) - 2
        raise UserError(
            f"{first} and {other} are the same image (byte-identical) under two labels, "
            f"{label[first]} and {label[other]}: remove the wrong copy, or set config key "
            "'conflicting_labels: drop' to leave both out"
            + (f" ({more} more images have conflicting labels)" if more > 0 else "")
        )
    for image, others in sorted(conflicts.items()):
        log.info("conflicting labels: %s (%s) = %s", image, label[image], ", ".join(others))
    log.warning(
        "%d images with conflicting labels (byte-identical copies under another label) "
        "left out (conflicting_labels: drop), e.g. %s and %s; listed in the crop QC "
        "table (column label_conflict) and the manifest log",
        len(conflicts),
        first,
        other,
    )


def manifest_classes(rows: list[dict[str, str]]) -> list[str]:
    """The classes: the TRAIN folders' names, sorted (the order of every model's outputs)."""
    return sorted({row["label"] for row in rows if row["split"] == "TRAIN"})


def images_needed(val_fraction: float) -> int:
    """Distinct TRAIN images a class needs so that the stratified split puts at least one
    in val (1 / val_fraction) and one in train (1 / (1 - val_fraction))."""
    shares = (val_fraction, 1 - val_fraction)
    return max(2, *(math.ceil(1 / share - 1e-9) for share in shares))


def check_classes(rows: list[dict[str, str]], val_fraction: float) -> None:
    """At least two TRAIN classes, each with enough distinct images for the train/val
    split, and no TEST class a model cannot learn: checked before anything is cropped."""
    classes = manifest_classes(rows)
    folder = {}  # class -> its folder, as the user sees it
    for row in rows:
        folder.setdefault((row["split"], row["label"]), str(PurePosixPath(row["image"]).parent))
    if len(classes) < 2:
        raise UserError(
            "TRAIN holds no class folder; add TRAIN/<CLASS>/ folders of images"
            if not classes
            else f"TRAIN holds one class ({classes[0]}): a classifier needs at least two; "
            f"add a folder of images of another class beside {folder['TRAIN', classes[0]]}"
        )
    for (_split, label), where in sorted(folder.items()):
        if label not in classes:
            raise UserError(
                f"{where}: class {label} has no TRAIN folder, so no model learns it; "
                "rename or remove it, or add TRAIN images of it"
            )
    need = images_needed(val_fraction)
    for label in classes:
        n = len({r["sha256"] for r in rows if r["split"] == "TRAIN" and r["label"] == label})
        if n < need:
            raise UserError(
                f"{folder['TRAIN', label]}: {n} distinct images, too few to split into train "
                f"and val with config key 'split.val_fraction' {val_fraction} (each class "
                f"needs {need}); add at least {need - n} more"
            )
    if all(row["image"].startswith(KAGGLE_IMAGE_ROOT) for row in rows) and set(classes) != set(
        CLASSES
    ):
        log.warning(
            "Kaggle's layout with classes %s: the reference study's are %s, so the "
            "report's reference figures compare other classes",
            ", ".join(classes),
            ", ".join(CLASSES),
        )


SHARD_LIST_COLUMNS = SHARD_LIST.names


def write_shard_lists(rows: list[dict[str, str]], paths: list[str]) -> None:
    """One list per crop shard; its sha256 column makes a content change visible to
    Snakemake's checksum test of the crop job's input."""
    members: list[list[dict[str, str]]] = [[] for _ in paths]
    for row in rows:
        members[shard_of(row["image"], len(paths))].append(row)
    for path, shard_rows in zip(paths, members, strict=True):
        write_tsv(path, shard_rows, SHARD_LIST_COLUMNS)
