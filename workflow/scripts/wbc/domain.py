"""How new images compare with the training data: the train split's image sizes, crop
sizes and cell colours (the rule training_range), what lies outside them, and the factor
that brings an image of another size to the training scale (``predict.rescale: auto``).

Needs numpy and the crop module only (the crop rules' env).
"""

from __future__ import annotations

import numpy as np

from .crop import read_rgb

# the training range of the crops' size and colour: these percentiles of the training
# images' (an image's size must match one seen in training)
RANGE_PERCENTILES = (0.5, 99.5)
MEASURES = ("image_size", "crop_size", "colour")


def cell_colour(crop: np.ndarray) -> list[float] | None:
    """The mean RGB of a crop's cell (the crop blacks out all but the cell's contour)."""
    cell = crop[crop.any(axis=2)]
    return [float(v) for v in cell.mean(axis=0)] if len(cell) else None


def training_range(manifest, qc, train, sample: int = 2000, seed: int = 0) -> dict:
    """What predict compares new images with, from the train split's images (rows of the
    manifest, the crop QC table and ``splits/train.tsv``): their sizes (every one seen), the
    crop boxes' width and height and the cells' mean colour (``RANGE_PERCENTILES``; colour
    from at most ``sample`` crops)."""
    images = {row["image"] for row in train}
    sizes = {
        (int(r["width"]), int(r["height"]))
        for r in manifest
        if r["image"] in images and r["width"]
    }
    boxes = np.array(
        [
            (int(r["x1"]) - int(r["x0"]), int(r["y1"]) - int(r["y0"]))
            for r in qc
            if r["image"] in images and r["x0"]
        ]
    ).reshape(-1, 2)
    crops = sorted(r["crop"] for r in train if r["crop"])
    picked = np.random.default_rng(seed).permutation(len(crops))[:sample]
    colours = [c for c in (cell_colour(read_rgb(crops[i])) for i in sorted(picked)) if c]
    colours = np.array(colours).reshape(-1, 3)

    def span(values):
        if not len(values):
            return None
        return [float(v) for v in np.percentile(values, RANGE_PERCENTILES)]

    return {
        "n_images": len(images),
        "percentiles": list(RANGE_PERCENTILES),
        "image_sizes": sorted([w, h] for w, h in sizes),
        "crop_width": span(boxes[:, 0]),
        "crop_height": span(boxes[:, 1]),
        "colour": [span(colours[:, k]) for k in range(3)] if len(colours) else None,
    }


def rescale_factor(width: int, height: int, training: dict) -> float:
    """``predict.rescale: auto``: an image of a size not seen in training is resized to the
    area of the training images' typical size (their median area), keeping its aspect."""
    sizes = training.get("image_sizes") or []
    if not sizes or [width, height] in sizes:
        return 1.0
    area = float(np.median([w * h for w, h in sizes]))
    return float(np.sqrt(area / (width * height)))


def outside_training(image_size, box, colour, training: dict) -> list[str]:
    """Which of an image's measures lie outside the training range (``MEASURES``)."""

    def out(value, span):
        return span is not None and not span[0] <= value <= span[1]

    found = []
    if training.get("image_sizes") and list(image_size) not in training["image_sizes"]:
        found.append("image_size")
    if box is not None and (
        out(box[0], training.get("crop_width")) or out(box[1], training.get("crop_height"))
    ):
        found.append("crop_size")
    spans = training.get("colour")
    if colour is not None and spans and any(out(c, s) for c, s in zip(colour, spans, strict=True)):
        found.append("colour")
    return found
