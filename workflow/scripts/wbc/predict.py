"""Classify a folder of new images with a trained model: same crop, same resize."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import IMAGE_SUFFIXES, UNREADABLE
from .arrays import resize
from .crop import crop_file
from .io import read_json
from .metrics import probability_columns
from .runtime import UserError
from .source import printable, why_skipped

log = logging.getLogger(__name__)
BATCH = 64


def columns(classes) -> list[str]:
    return ["image", "crop_status", "reason", "model", "predicted", *probability_columns(classes)]


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
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
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


def predict_folder(folder, predictors: dict, classes, model_name: str) -> pd.DataFrame:
    """One row per image file: crop status, predicted class and class probabilities
    (blank for unreadable files: reported, not fatal).

    ``predictors``: model -> (``predict(images) -> probabilities``, image size); with more
    than one (the ensemble) the probabilities are their mean, as in rule ensemble.
    """
    folder = Path(folder)
    rows, pending = [], []  # pending: (row index, crop)

    def flush():
        if pending:
            crops = [crop for _, crop in pending]
            probabilities = np.mean(
                [
                    np.asarray(predict(np.stack([resize(crop, size) for crop in crops])))
                    for predict, size in predictors.values()
                ],
                axis=0,
            )
            for (k, _), p in zip(pending, probabilities, strict=True):
                rows[k]["predicted"] = classes[int(np.argmax(p))]
                rows[k].update(zip(probability_columns(classes), map(float, p), strict=True))
            pending.clear()

    for path in image_files(folder):
        result = crop_file(path)
        row = dict.fromkeys(columns(classes), "")
        row.update(
            image=path.relative_to(folder).as_posix(),
            crop_status=result.status,
            reason=result.reason,
            model=model_name,
        )
        rows.append(row)
        if result.status == UNREADABLE:
            log.warning("%s: unreadable (%s); listed without a prediction", path, result.reason)
            continue
        pending.append((len(rows) - 1, result.image))
        if len(pending) == BATCH:
            flush()
    flush()
    return pd.DataFrame(rows, columns=columns(classes))
