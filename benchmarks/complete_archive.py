"""A stand-in for Kaggle's complete 12.5 k-image archive, for timing the workflow at that size.

    .venv/bin/python benchmarks/complete_archive.py --out /work/bench12k/blood-cells-12k.zip

The shared archive (``../shared/data/blood-cells.zip``) lacks Kaggle's TEST folder
(2,487 images, kept back for independent evaluation). Kaggle's TEST holds augmented
copies of the cells of TEST_SIMPLE, so this script writes the shared archive's every
member unchanged plus a ``TEST`` folder of as many augmented copies of the TEST_SIMPLE
images as Kaggle's TEST has per class (flips, half turns, shifts, brightness, JPEG
re-encoding; seeded). The images are the same cells at the same size, so the stages that
scale with the images (cropping, grouping, arrays, features) get the complete archive's
work; no accuracy figure may be read from these copies.
"""

from __future__ import annotations

import argparse
import copy
import zipfile
from pathlib import Path

import cv2
import numpy as np

from common import FULL_ARCHIVE, require_archive

IMAGES = "dataset2-master/dataset2-master/images"
# Kaggle's TEST folder per class (its download of 2018-04)
TEST_COUNTS = {"EOSINOPHIL": 623, "LYMPHOCYTE": 620, "MONOCYTE": 620, "NEUTROPHIL": 624}


def augmented(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One copy as Kaggle's are made: a flip or half turn, a shift, a brightness change."""
    out = [image, image[:, ::-1], image[::-1], image[::-1, ::-1]][rng.integers(4)]
    dy, dx = (int(v) for v in rng.integers(-20, 21, size=2))
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    out = cv2.warpAffine(
        np.ascontiguousarray(out),
        shift,
        (out.shape[1], out.shape[0]),
        borderMode=cv2.BORDER_REFLECT,
    )
    return cv2.convertScaleAbs(out, alpha=float(rng.uniform(0.9, 1.1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=FULL_ARCHIVE)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source = require_archive(args.source)
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: remove it or name another --out")
    rng = np.random.default_rng(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(args.out, "w") as zout:
        names = zin.namelist()
        if any(name.startswith(f"{IMAGES}/TEST/") for name in names):
            raise SystemExit(f"{source} has a TEST folder already: use it as it is")
        for info in zin.infolist():
            # a copy: writestr sets the entry's offset, which zin still reads by
            zout.writestr(copy.copy(info), zin.read(info))
        written = 0
        for label, count in TEST_COUNTS.items():
            simple = sorted(
                n
                for n in names
                if n.startswith(f"{IMAGES}/TEST_SIMPLE/{label}/") and n.endswith(".jpeg")
            )
            for i in range(count):
                name = simple[i % len(simple)]
                image = cv2.imdecode(np.frombuffer(zin.read(name), np.uint8), cv2.IMREAD_COLOR)
                ok, jpeg = cv2.imencode(".jpeg", augmented(image, rng))
                assert ok, name
                stem = Path(name).stem  # _<augmentation>_<n>, as Kaggle names them
                zout.writestr(f"{IMAGES}/TEST/{label}/_{i}{stem}.jpeg", jpeg.tobytes())
                written += 1
    print(f"{args.out}: {len(names)} members of {source.name} and {written} TEST copies")


if __name__ == "__main__":
    main()
