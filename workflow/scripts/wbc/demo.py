"""The demo's sample (`make demo`): a few MB of real, redistributable cell images.

Built from the BCCD originals (the 640x480 slides of ``dataset-master`` with their
``labels.csv``; BCCD Dataset, MIT License), never from Kaggle's augmented copies, which
carry no licence of their own. Each chosen slide is shrunk to 320x240, as Kaggle's images
are; per class, the first slides become TEST_SIMPLE images as they are, the rest TRAIN
images in augmented copies (flips, rotations, shifts and zoom with black fill, as Kaggle
made its TRAIN), so the demo runs every stage, source-cell grouping included, on the
same kind of data as the full run.

    python -m wbc.demo SOURCE OUT   # SOURCE: a URL, a .zip or a folder holding labels.csv

SOURCE is the BCCD GitHub archive by default (Makefile's DEMO_SOURCE); Kaggle's
blood-cells archive, which holds the same originals, works as well.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from . import CLASSES  # the reference study's four
from .runtime import UserError

SLIDES_PER_CLASS = 10  # MONOCYTE has 21 single-cell slides, the fewest of the four
TEST_PER_CLASS = 2
SIZE = (320, 240)  # Kaggle's image size (width, height)
CREDITS = """\
# Demo images

Built by `make demo` (workflow/scripts/wbc/demo.py) from {source}.

The images are the BCCD Dataset's blood-smear slides (github.com/Shenggan/BCCD_Dataset,
MIT License; cell classes from github.com/cosmicad/dataset's labels.csv), shrunk to
320x240; the TRAIN images are augmented copies of them made by demo.py. Slides used:
{slides}.
"""
log = logging.getLogger(__name__)


class Slides:
    """The originals of a zip archive or a folder: ``labels.csv`` and its ``JPEGImages``."""

    def __init__(self, source: Path):
        self.zip = zipfile.ZipFile(source) if source.suffix.lower() == ".zip" else None
        names = (
            [PurePosixPath(n) for n in self.zip.namelist()]
            if self.zip
            else [PurePosixPath(p.relative_to(source).as_posix()) for p in source.rglob("*")]
        )
        self.source = source
        labels = sorted(n for n in names if n.name == "labels.csv" and "__MACOSX" not in n.parts)
        if not labels:
            raise UserError(
                f"{source}: no labels.csv of the BCCD originals in it; give the BCCD "
                "archive (DEMO_SOURCE=<url, .zip or folder>) or Kaggle's blood-cells archive"
            )
        self.labels = labels[0]
        self.images = self.labels.parent / "JPEGImages"
        # labels.csv lists slides the archive lacks (411 rows, 367 slides)
        self.present = {n.stem for n in names if n.parent == self.images}

    def read(self, name: PurePosixPath) -> bytes:
        if self.zip:
            return self.zip.read(str(name))
        return (self.source / name).read_bytes()

    def single_cell_slides(self) -> dict[str, list[str]]:
        """Class -> slide names with one labelled cell of that class, in slide order."""
        by_class: dict[str, list[str]] = {c: [] for c in CLASSES}
        text = self.read(self.labels).decode("utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            image, label = (row.get("Image") or "").strip(), (row.get("Category") or "").strip()
            name = f"BloodImage_{int(image):05d}" if image.isdigit() else ""
            if name in self.present and label.upper() in by_class:
                by_class[label.upper()].append(name)
        return by_class

    def slide(self, name: str) -> np.ndarray:
        data = np.frombuffer(self.read(self.images / f"{name}.jpg"), np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{self.source}: {self.images / name}.jpg is not a readable image")
        return cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)


def augmented_copies(image: np.ndarray) -> list[np.ndarray]:
    """Copies as Kaggle's TRAIN has them: flips, rotations, shifts, zoom, black fill."""
    h, w = image.shape[:2]

    def warp(angle: float, scale: float, dx: float, dy: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[:, 2] += (dx, dy)
        return cv2.warpAffine(image, matrix, (w, h), borderValue=(0, 0, 0))

    return [
        cv2.flip(image, 1),
        cv2.flip(image, 0),
        warp(180, 1.0, 0, 0),
        warp(15, 1.0, 10, -8),
        warp(-10, 1.15, -20, 12),
    ]


def build_sample(source: str | Path, out: str | Path) -> dict[str, int]:
    """Write ``out/TRAIN/<CLASS>/`` and ``out/TEST_SIMPLE/<CLASS>/`` (and CREDITS.md beside
    ``out``); returns the number of images per split. An existing sample is left as is."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        log.info("%s exists: the demo uses it as it is (delete it to build it again)", out)
        return {}
    slides = Slides(Path(source))
    chosen: list[str] = []
    counts = {"TRAIN": 0, "TEST_SIMPLE": 0}
    staging = out.with_name(out.name + ".partial")  # renamed into place when complete
    for label, names in slides.single_cell_slides().items():
        if len(names) < SLIDES_PER_CLASS:
            raise UserError(
                f"{slides.source}: {len(names)} single-cell {label} slides in "
                f"{slides.labels}, the demo needs {SLIDES_PER_CLASS}; give the full BCCD set"
            )
        for i, name in enumerate(names[:SLIDES_PER_CLASS]):
            image = slides.slide(name)
            split = "TEST_SIMPLE" if i < TEST_PER_CLASS else "TRAIN"
            folder = staging / split / label
            folder.mkdir(parents=True, exist_ok=True)
            copies = [image] if split == "TEST_SIMPLE" else augmented_copies(image)
            for k, copy in enumerate(copies):
                stem = name if split == "TEST_SIMPLE" else f"{name}_{k}"
                cv2.imwrite(str(folder / f"{stem}.jpeg"), copy, [cv2.IMWRITE_JPEG_QUALITY, 90])
            counts[split] += len(copies)
            chosen.append(name)
    staging.rename(out)
    (out.parent / "CREDITS.md").write_text(
        CREDITS.format(source=source, slides=", ".join(sorted(chosen)))
    )
    return counts


def fetch(source: str, cache: Path) -> Path:
    """A URL is downloaded once into ``cache``; a path is used as it is."""
    if "://" not in source:
        return Path(source).expanduser()
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial")
        try:
            with urllib.request.urlopen(source, timeout=60) as response:
                partial.write_bytes(response.read())
        except OSError as error:
            raise UserError(
                f"could not download {source} ({error}); check the network, or set "
                "DEMO_SOURCE to a local copy of the BCCD archive or of Kaggle's blood-cells zip"
            ) from None
        partial.rename(cache)
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="URL, .zip or folder holding the BCCD labels.csv")
    parser.add_argument("out", type=Path, help="folder to write the sample into")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = fetch(args.source, args.out.parent / "bccd-source.zip")
        counts = build_sample(path, args.out)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if counts:
        log.info("demo sample: %s in %s", counts, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
