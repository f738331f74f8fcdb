"""Classify a folder of new images with a trained model: same crop, same resize; each
image compared with the training data's range, and optionally rescaled to its scale."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import IMAGE_SUFFIXES, UNREADABLE
from .arrays import resize
from .crop import UnreadableImage, crop_with, read_rgb
from .domain import MEASURES, cell_colour, outside_training, rescale_factor
from .io import read_json
from .metrics import probability_columns
from .runtime import UserError
from .source import ignored, printable, why_skipped

log = logging.getLogger(__name__)
BATCH = 64


def columns(classes) -> list[str]:
    return [
        "image",
        "crop_status",
        "reason",
        "model",
        "predicted",
        *probability_columns(classes),
        "scale",
        "crop_width",
        "crop_height",
        "outside_training",
    ]


def best_model(metrics_files: dict[str, str]) -> str:
    """The model with the highest cross-validated accuracy (split cv, every TRAIN cell)
    where every candidate has one, else the highest val accuracy (ties: the first listed)."""
    metrics = {m: read_json(p) for m, p in metrics_files.items()}
    split = "cv" if all("cv" in m for m in metrics.values()) else "val"
    scores = {m: metrics[m][split]["accuracy"] for m in metrics}
    best = max(scores, key=scores.get)
    log.info("%s accuracy %s: using %s", split, scores, best)
    return best


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    files = []
    for path in sorted(folder.rglob("*")):
        hidden = any(ignored(part) for part in path.relative_to(folder).parts)
        if hidden or path.is_dir():
            continue
        if why := why_skipped(path):
            log.warning("skipping %s: %s", printable(path), why)
        else:
            files.append(path)
    if not files:
        raise UserError(
            f"config key 'predict.input': {folder} holds no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); point it at a folder of images"
        )
    return files


def predict_folder(
    folder,
    predictors: dict,
    classes,
    model_name: str,
    training: dict | None = None,
    rescale: str = "none",
    weights: dict | None = None,
    window: int = 96,
) -> pd.DataFrame:
    """One row per image file: crop status, predicted class and class probabilities
    (blank for unreadable files: reported, not fatal), and how the image compares with
    the ``training`` range (``training_range``): ``outside_training`` names the measures
    outside it; with ``rescale='auto'`` an image of another size is first resized to the
    training scale (``scale``: the factor).

    ``predictors``: model -> (``predict(images) -> probabilities``, image size, crop
    method); each image is cropped once per method the models use (``window``: the
    nucleus_window's side), and the status shown is the first model's. With more than one
    model (the ensemble) the probabilities are their mean weighted by ``weights`` (the
    ensemble's fitted weights; None: equal), as in rule ensemble.
    """
    import cv2

    training = training or {}
    folder = Path(folder)
    methods = list(dict.fromkeys(method for _, _, method in predictors.values()))
    share = np.asarray(
        [1.0 if weights is None else float(weights.get(m, 0.0)) for m in predictors]
    )
    share = share / share.sum()
    rows, pending = [], []  # pending: (row index, {method: crop})

    def flush():
        if pending:
            probabilities = sum(
                w
                * np.asarray(
                    predict(np.stack([resize(crops[method], size) for _, crops in pending]))
                )
                for w, (predict, size, method) in zip(share, predictors.values(), strict=True)
                if w > 0
            )
            for (k, _), p in zip(pending, probabilities, strict=True):
                rows[k]["predicted"] = classes[int(np.argmax(p))]
                rows[k].update(zip(probability_columns(classes), map(float, p), strict=True))
            pending.clear()

    for path in image_files(folder):
        row = dict.fromkeys(columns(classes), "")
        row.update(image=path.relative_to(folder).as_posix(), model=model_name)
        rows.append(row)
        try:
            rgb = read_rgb(path)
        except (UnreadableImage, OSError) as err:
            row.update(crop_status=UNREADABLE, reason=str(err))
            log.warning("%s: unreadable (%s); listed without a prediction", path, err)
            continue
        height, width = rgb.shape[:2]
        scale = rescale_factor(width, height, training) if rescale == "auto" else 1.0
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        results = {method: crop_with(rgb, method, window) for method in methods}
        first = results[methods[0]]  # what the row shows, and compares with training
        box = None
        if first.box is not None:
            box = (first.box[2] - first.box[0], first.box[3] - first.box[1])
            row.update(crop_width=box[0], crop_height=box[1])
        colour = cell_colour(first.image) if first.box is not None else None
        outside = outside_training(rgb.shape[1::-1], box, colour, training)
        row.update(
            crop_status=first.status,
            reason=first.reason,
            scale=f"{scale:.4g}",
            outside_training=",".join(outside),
        )
        pending.append((len(rows) - 1, {m: r.image for m, r in results.items()}))
        if len(pending) == BATCH:
            flush()
    flush()
    table = pd.DataFrame(rows, columns=columns(classes))
    if training:
        log_range_summary(table, rescale)
    return table


def log_range_summary(table: pd.DataFrame, rescale: str) -> None:
    """One line: how many images lie outside the training data's range, and on what."""
    read = table[table["crop_status"] != UNREADABLE]
    flagged = read[read["outside_training"] != ""]
    if flagged.empty:
        log.info("all %d images lie within the training data's range", len(read))
        return
    counts = {
        m: int(flagged["outside_training"].str.split(",").map(lambda f, m=m: m in f).sum())
        for m in MEASURES
    }
    hint = (
        "; predict.rescale: auto rescales them to the training scale"
        if counts["image_size"] and rescale != "auto"
        else ""
    )
    log.warning(
        "%d of %d images lie outside the training data's range (%s; column outside_training "
        "of predictions.tsv): their predictions are less reliable%s",
        len(flagged),
        len(read),
        ", ".join(f"{m.replace('_', ' ')}: {n}" for m, n in counts.items() if n),
        hint,
    )
