"""The figures every model reports, computed alike with ``sklearn.metrics``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from . import CLASSES

PREDICTION_COLUMNS = ("image", "split", "label", "predicted", *(f"p_{c}" for c in CLASSES))
EVAL_SPLITS = ("val", "test", "test_simple")  # the splits metrics.json reports


def evaluate(labels, probabilities) -> dict:
    """Metrics M of predicted class probabilities (columns in ``wbc.CLASSES`` order)
    against true class names."""
    labels = list(labels)
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(labels), len(CLASSES))
    predicted = [CLASSES[i] for i in probabilities.argmax(axis=1)]
    classes = list(CLASSES)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    macro = precision_recall_fscore_support(
        labels, predicted, labels=classes, average="macro", zero_division=0
    )
    return {
        "n": len(labels),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
        "labels": classes,
    }


def predictions_frame(split: str, images, labels, probabilities) -> pd.DataFrame:
    """Rows of predictions.tsv for one split."""
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(images), len(CLASSES))
    frame = pd.DataFrame(
        {
            "image": list(images),
            "split": split,
            "label": list(labels),
            "predicted": [CLASSES[i] for i in probabilities.argmax(axis=1)],
        }
    )
    for i, c in enumerate(CLASSES):
        frame[f"p_{c}"] = probabilities[:, i]
    return frame


def write_predictions(path: str | Path, frames) -> pd.DataFrame:
    """Write predictions.tsv from ``predictions_frame`` tables (one per split)."""
    frames = list(frames)
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    )
    table = table[list(PREDICTION_COLUMNS)]
    table.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return table
