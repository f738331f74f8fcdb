"""The figures every model reports, computed alike with ``sklearn.metrics``, and the
predictions table they are computed from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from .io import write_table

PROBABILITY_PREFIX = "p_"


def prediction_columns(classes) -> list[str]:
    """predictions.tsv's columns: one probability column per class, in ``classes`` order."""
    return ["image", "split", "label", "predicted", *probability_columns(classes)]


def probability_columns(classes) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{c}" for c in classes]


def classes_of(table: pd.DataFrame) -> list[str]:
    """The classes of a predictions table, from its probability columns."""
    return [
        c[len(PROBABILITY_PREFIX) :] for c in table.columns if c.startswith(PROBABILITY_PREFIX)
    ]


def evaluate(labels, probabilities, classes) -> dict:
    """Metrics M of class probabilities (columns in ``classes`` order) against true labels."""
    labels, classes = list(labels), list(classes)
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(labels), len(classes))
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
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


def predictions_frame(split: str, images, labels, probabilities, classes) -> pd.DataFrame:
    """Rows of predictions.tsv for one split."""
    classes = list(classes)
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(images), len(classes))
    frame = pd.DataFrame(
        {
            "image": list(images),
            "split": split,
            "label": list(labels),
            "predicted": [classes[i] for i in probabilities.argmax(axis=1)],
        }
    )
    frame[probability_columns(classes)] = probabilities
    return frame


def write_predictions(path: str | Path, frames, classes) -> pd.DataFrame:
    """Write predictions.tsv from ``predictions_frame`` tables (one per split)."""
    frames = list(frames)
    columns = prediction_columns(classes)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    table = table[columns]
    write_table(path, table)
    return table


def read_predictions(path: str | Path) -> pd.DataFrame:
    """predictions.tsv with its probability columns as floats."""
    table = pd.read_csv(path, sep="\t", dtype={"image": str, "split": str, "label": str})
    table[["image", "split", "label", "predicted"]] = table[
        ["image", "split", "label", "predicted"]
    ].fillna("")
    return table
