"""What the data holds: layout detection, the manifest of images, and crop shard lists."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import CLASSES, FOLDERS, IMAGE_SUFFIXES
from .io import write_tsv
from .runtime import UserError
from .source import is_utf8, printable, shard_of, why_skipped

# Where Kaggle's archive keeps the cell images (dataset-master holds whole slides).
KAGGLE_IMAGE_ROOT = "dataset2-master/dataset2-master/images"
MANIFEST_COLUMNS = (
    "image", "split", "label", "sha256", "width", "height", "bytes", "duplicate_of"
)  # fmt: skip

log = logging.getLogger(__name__)


@dataclass
class Entry:
    image: str  # path relative to the dataset root, POSIX separators
    split: str
    label: str


def find_image_tree(root: Path) -> tuple[Path, bool]:
    """Locate the folder holding ``<split>/<CLASS>/`` (True) or ``<CLASS>/`` (False)."""
    if (root / KAGGLE_IMAGE_ROOT).is_dir():
        return root / KAGGLE_IMAGE_ROOT, True
    here = root
    while True:
        subdirs = [
            d for d in _visible(here) if d.is_dir() and d.name != "__MACOSX"
        ]  # fmt: skip
        names = {d.name.upper() for d in subdirs}
        if names & set(FOLDERS):
            return here, True
        if names & set(CLASSES):
            return here, False
        if len(subdirs) != 1:
            raise UserError(
                f"{root}: no image folders in the expected layout; expected "
                "<split>/<CLASS>/<image> or <CLASS>/<image> with split in "
                f"{'/'.join(FOLDERS)} and CLASS in {'/'.join(CLASSES)} "
                "(or Kaggle's dataset2-master/dataset2-master/images)"
            )
        here = subdirs[0]


def _visible(folder: Path) -> list[Path]:
    """The folder's entries but hidden ones, and those whose name is not UTF-8 (no table
    or log could hold it), skipped with a warning."""
    entries = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if is_utf8(path.name):
            entries.append(path)
        else:
            _stray(path, why_skipped(path))
    return entries


def _stray(path: Path, why: str) -> None:
    log.warning("skipping %s: %s", printable(path), why)


def scan_dataset(root: str | Path) -> list[Entry]:
    """List every image with its split and label; stray files are skipped with a warning,
    unknown or empty class folders are errors."""
    root = Path(root)
    tree, has_splits = find_image_tree(root)
    if has_splits:
        split_dirs = []
        for path in _visible(tree):
            if not path.is_dir():
                _stray(path, "a file beside the split folders, not an image in a <CLASS> folder")
            elif path.name.upper() in FOLDERS:
                split_dirs.append((path.name.upper(), path))
            elif path.name != "__MACOSX":
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
            label = class_dir.name.upper()
            if label not in CLASSES:
                raise UserError(
                    f"{class_dir}: unknown class folder; expected one of "
                    f"{', '.join(CLASSES)}: rename or remove it"
                )
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
    try:
        with Image.open(path) as img:
            return str(img.width), str(img.height)
    except Exception:  # decodability is judged (and reported) by the crop step
        return "", ""


def build_manifest(root: str | Path) -> list[dict[str, str]]:
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
    return rows


SHARD_LIST_COLUMNS = ("image", "sha256")


def write_shard_lists(rows: list[dict[str, str]], paths: list[str]) -> None:
    """One list per crop shard; its sha256 column makes a content change visible to
    Snakemake's checksum test of the crop job's input."""
    members: list[list[dict[str, str]]] = [[] for _ in paths]
    for row in rows:
        members[shard_of(row["image"], len(paths))].append(row)
    for path, shard_rows in zip(paths, members, strict=True):
        write_tsv(path, shard_rows, SHARD_LIST_COLUMNS)
