"""The figures every model reports, computed alike with ``sklearn.metrics``, and the
predictions table they are computed from."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from . import stats
from .io import read_table, write_table
from .tables import PREDICTIONS

PROBABILITY_PREFIX = PREDICTIONS.family.name  # p_<class>


def prediction_columns(classes) -> list[str]:
    """predictions.tsv's columns: one probability column per class, in ``classes`` order."""
    return ["image", "split", "label", "group", "predicted", *probability_columns(classes)]


def probability_columns(classes) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{c}" for c in classes]


def classes_of(table: pd.DataFrame) -> list[str]:
    """The classes of a predictions table, from its probability columns."""
    return [
        c[len(PROBABILITY_PREFIX) :] for c in table.columns if c.startswith(PROBABILITY_PREFIX)
    ]


def evaluate(labels, probabilities, classes, groups=None) -> dict:
    """Metrics M of class probabilities (columns in ``classes`` order) against true labels.

    ``groups`` (the source cell of each image; each image its own when None) make the
    95 % intervals (``ci95``) resample cells, not images, and give ``cell_accuracy``.
    """
    labels, classes = list(labels), list(classes)
    groups = list(range(len(labels))) if groups is None else list(groups)
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(labels), len(classes))
    predicted_idx = probabilities.argmax(axis=1)
    predicted = [classes[i] for i in predicted_idx]
    index = {c: i for i, c in enumerate(classes)}
    true_idx = np.array([index[label] for label in labels], dtype=int)
    with warnings.catch_warnings():  # classes predicted but absent from this split
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(labels, predicted)) if labels else 0.0
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
        "balanced_accuracy": balanced,
        "baseline_accuracy": stats.baseline_accuracy(labels),
        "n_groups": len(set(groups)),
        "cell_accuracy": stats.cell_accuracy(true_idx == predicted_idx, groups),
        "ci95": stats.cluster_intervals(true_idx, predicted_idx, groups, len(classes)),
    }


def predictions_frame(split: str, images, labels, probabilities, classes, groups=None):
    """Rows of predictions.tsv for one split (``groups``: each image's source cell)."""
    classes = list(classes)
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(images), len(classes))
    frame = pd.DataFrame(
        {
            "image": list(images),
            "split": split,
            "label": list(labels),
            "group": list(images) if groups is None else list(groups),
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
    """predictions.tsv with its probability columns as floats (wbc.tables.PREDICTIONS)."""
    return read_table(path)
