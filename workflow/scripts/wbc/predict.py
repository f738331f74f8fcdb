"""Classify a folder of new images with a trained model: same crop, same resize."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import IMAGE_SUFFIXES, UNREADABLE
from .arrays import resize
from .crop import UnreadableImage, crop_with, read_rgb
from .io import read_json
from .metrics import probability_columns
from .runtime import UserError
from .source import printable, why_skipped

log = logging.getLogger(__name__)
BATCH = 64


def columns(classes) -> list[str]:
    return ["image", "crop_status", "reason", "model", "predicted", *probability_columns(classes)]


def best_model(metrics_files: dict[str, str]) -> str:
    """The model with the highest val accuracy (ties: the first listed)."""
    scores = {m: read_json(p)["val"]["accuracy"] for m, p in metrics_files.items()}
    best = max(scores, key=scores.get)
    log.info("val accuracy %s: using %s", scores, best)
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


def predict_folder(
    folder,
    predictors: dict,
    classes,
    model_name: str,
    weights: dict | None = None,
    window: int = 96,
) -> pd.DataFrame:
    """One row per image file: crop status, predicted class and class probabilities
    (blank for unreadable files: reported, not fatal).

    ``predictors``: model -> (``predict(images) -> probabilities``, image size, crop
    method); each image is cropped once per method the models use (``window``: the
    nucleus_window's side), and the status shown is the first model's. With more than one
    model (the ensemble) the probabilities are their mean weighted by ``weights`` (the
    ensemble's fitted weights; None: equal), as in rule ensemble.
    """
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
        results = {method: crop_with(rgb, method, window) for method in methods}
        first = results[methods[0]]
        row.update(crop_status=first.status, reason=first.reason)
        pending.append((len(rows) - 1, {m: r.image for m, r in results.items()}))
        if len(pending) == BATCH:
            flush()
    flush()
    return pd.DataFrame(rows, columns=columns(classes))
