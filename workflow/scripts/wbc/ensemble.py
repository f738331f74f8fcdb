"""Soft-vote ensemble: the mean of the models' class probabilities, image by image."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import classes_of, evaluate, prediction_columns, probability_columns
from .runtime import UserError

KEY = ["split", "image"]


def soft_vote(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Average the probability columns of models that scored the same images.

    Rows are matched on (split, image), not on order; models that scored different images
    or saw different labels were trained on different split files and are refused.
    """
    if not tables:
        raise UserError(
            "ensemble: no model predictions to combine; "
            "enable models in config key 'models.enabled'"
        )
    (first_model, first), *others = tables.items()
    classes = classes_of(first)
    columns = probability_columns(classes)
    base = first.set_index(KEY).sort_index()
    total = base[columns].to_numpy(dtype=float, copy=True)
    for model, table in others:
        if classes_of(table) != classes:
            raise UserError(
                f"ensemble: {model} predicts classes {classes_of(table)}, "
                f"{first_model} predicts {classes}; retrain both on the same classes"
            )
        other = table.set_index(KEY).sort_index()
        if not other.index.equals(base.index) or not (other["label"] == base["label"]).all():
            raise UserError(
                f"ensemble: {model} and {first_model} scored different images; they were "
                "trained on different split files: rerun both training rules "
                "(snakemake --forcerun split)"
            )
        total += other[columns].to_numpy(dtype=float)
    mean = total / len(tables)
    out = base[["label", "group"]].copy()
    out["predicted"] = np.asarray(classes)[mean.argmax(axis=1)]
    out[columns] = mean
    # back to the first model's row order, so the file diffs cleanly against its inputs
    order = pd.MultiIndex.from_frame(first[KEY])
    return out.reindex(order).reset_index()[prediction_columns(classes)]


def ensemble_metrics(votes: pd.DataFrame, member_metrics: dict[str, dict]) -> dict:
    """metrics.json of the ensemble, in the models' schema and computed by the same
    ``evaluate``."""
    classes = classes_of(votes)
    columns = probability_columns(classes)
    result: dict = {"model": "ensemble", "classes": classes, "members": list(member_metrics)}
    for split, rows in votes.groupby("split", sort=False):
        result[split] = evaluate(
            rows["label"].tolist(), rows[columns].to_numpy(), classes, rows["group"].tolist()
        )
    # the ensemble costs what training its members cost; averaging itself is instant
    seconds = [m.get("train_seconds") for m in member_metrics.values()]
    result["train_seconds"] = sum(s for s in seconds if s is not None)
    result["device"] = "CPU (averages the members' saved probabilities)"
    return result
