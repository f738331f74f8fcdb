"""Classify a folder of new images with a trained model: same crop, same resize."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import CLASSES, UNREADABLE
from .arrays import resize
from .crop import crop_file
from .runtime import UserError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp"}  # as wbc.dataset
COLUMNS = ("image", "crop_status", "reason", "model", "predicted", *(f"p_{c}" for c in CLASSES))
log = logging.getLogger(__name__)


def best_model(metrics_files: dict[str, str]) -> str:
    """The model with the highest val accuracy (ties: the first listed)."""
    scores = {m: json.loads(Path(p).read_text())["val"]["accuracy"] for m, p in metrics_files.items()}
    best = max(scores, key=scores.get)
    log.info("val accuracy %s: using %s", scores, best)
    return best


def image_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    files = []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(path)
        else:
            log.warning("skipping %s: not an image type (%s)", path, ", ".join(sorted(IMAGE_SUFFIXES)))
    if not files:
        raise UserError(
            f"config key 'predict.input': {folder} holds no images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}); point it at a folder of images"
        )
    return files


def predict_folder(folder, model, model_name: str, size: int, batch_size: int = 64) -> pd.DataFrame:
    """One row per image file: crop status, predicted class and class probabilities
    (blank for unreadable files, which are reported, not fatal)."""
    folder = Path(folder)
    rows, pending = [], []  # pending: (row index, resized crop)

    def flush():
        if pending:
            x = np.stack([image for _, image in pending])
            probabilities = _probabilities(model, x)
            for (k, _), p in zip(pending, probabilities):
                rows[k]["predicted"] = CLASSES[int(np.argmax(p))]
                rows[k].update({f"p_{c}": float(v) for c, v in zip(CLASSES, p)})
            pending.clear()

    for path in image_files(folder):
        result = crop_file(path)
        row = dict.fromkeys(COLUMNS, "")
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
        pending.append((len(rows) - 1, resize(result.image, size)))
        if len(pending) == batch_size:
            flush()
    flush()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _probabilities(model, x: np.ndarray) -> np.ndarray:
    if hasattr(model, "predict_proba"):  # Random Forest: flattened pixels, classes sorted
        order = [list(model.classes_).index(c) for c in CLASSES]
        return model.predict_proba(x.reshape(len(x), -1))[:, order]
    return np.asarray(model.predict_on_batch(x.astype(np.float32)))
