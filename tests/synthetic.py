"""Small generated images for tests that need no real data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from wbc import CLASSES

BACKGROUND_RGB = (232, 196, 196)  # pale pink: outside the crop's stain colour range
STAIN_RGB = (130, 100, 215)  # purple: inside it
# one look per class, so that every model can tell them apart: nucleus radius and lobes
CLASS_SHAPES = {
    "EOSINOPHIL": (22, 2),
    "LYMPHOCYTE": (30, 1),
    "MONOCYTE": (44, 1),
    "NEUTROPHIL": (18, 3),
    "BASOPHIL": (34, 2),  # not in Kaggle's archive: a user's own fifth class
}


def draw_cell(
    path: str | Path,
    center=(160, 120),
    radius=40,
    lobes=1,
    size=(320, 240),
    seed: int = 0,
) -> Path:
    """Write a JPEG/PNG of a stained nucleus (``lobes`` touching disks) on a pale field."""
    rng = np.random.default_rng(seed)
    width, height = size
    rgb = np.full((height, width, 3), BACKGROUND_RGB, np.uint8)
    rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    cx, cy = center
    for k in range(lobes):
        angle = 2 * np.pi * k / lobes
        offset = 0 if lobes == 1 else radius * 0.9
        c = (int(cx + offset * np.cos(angle)), int(cy + offset * np.sin(angle)))
        cv2.circle(rgb, c, radius, STAIN_RGB, thickness=-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def make_dataset(
    root: str | Path,
    per_class: int = 6,
    splits=("TRAIN",),
    suffix=".jpeg",
    seed: int = 0,
    classes=CLASSES,
) -> Path:
    """A ``<split>/<CLASS>/<image>`` tree (``<CLASS>/<image>`` when splits is empty)
    whose classes (of ``CLASS_SHAPES``) differ in shape, placed at random positions."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for split in splits or ("",):
        for label in classes:
            radius, lobes = CLASS_SHAPES[label]
            for i in range(per_class):
                center = (int(rng.integers(100, 220)), int(rng.integers(80, 160)))
                draw_cell(
                    root / split / label / f"{label.lower()}_{i:03d}{suffix}",
                    center=center,
                    radius=radius + int(rng.integers(-2, 3)),
                    lobes=lobes,
                    seed=int(rng.integers(1 << 30)),
                )
    return root
