"""A model's errors as cells: per source cell of the honest split, how many of its copies
the model got wrong, its most confident wrong answer, and the cells it got right only by
a narrow margin (tables only: ``wbc.report.error_figures`` draws them as tiles of the
original image beside the crop the model saw)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables import class_probabilities

# no matplotlib here, even inside functions: rule report_saliency (TensorFlow's env, which
# has none) picks its cells with this module

ERROR_COLUMNS = (
    "group", "label", "predicted", "probability", "copies", "copies_wrong", "image", "crop",
)  # fmt: skip
MARGIN_COLUMNS = ("group", "label", "margin", "copies", "image", "crop")
TILES = 24  # tiles drawn; the table lists every cell
NARROW = 8  # cells right by a narrow margin shown


probabilities = class_probabilities  # the classes and their p_<class> columns


def cell_errors(rows: pd.DataFrame, crops: dict[str, str]) -> pd.DataFrame:
    """One row per source cell with at least one copy misclassified: its most confident
    wrong copy (the predicted class and its probability), copies and copies wrong; the
    most confident mistakes first."""
    classes, p = probabilities(rows)
    rows = rows.assign(
        wrong=(rows["predicted"] != rows["label"]).to_numpy(),
        probability=p.max(axis=1),
        crop=rows["image"].map(crops).fillna(""),
    )
    copies = rows.groupby("group").size()
    wrong = rows[rows["wrong"]]
    if wrong.empty:
        return pd.DataFrame(columns=ERROR_COLUMNS)
    worst = wrong.sort_values(["probability", "image"], ascending=[False, True]).groupby(
        "group", sort=False
    )
    table = worst.head(1).set_index("group")
    table["copies"] = copies.reindex(table.index)
    table["copies_wrong"] = wrong.groupby("group").size().reindex(table.index)
    table = table.reset_index().sort_values(
        ["probability", "group"], ascending=[False, True], kind="stable"
    )
    return table[list(ERROR_COLUMNS)].reset_index(drop=True)


def narrow_margins(rows: pd.DataFrame, crops: dict[str, str], n: int = NARROW) -> pd.DataFrame:
    """Cells whose every copy is right, the ``n`` with the smallest margin (probability of
    the true class minus the next highest) on their least sure copy."""
    classes, p = probabilities(rows)
    truth = np.array([classes.index(label) for label in rows["label"]])
    p_true = p[np.arange(len(rows)), truth]
    others = p.copy()
    others[np.arange(len(rows)), truth] = -np.inf
    rows = rows.assign(
        margin=p_true - others.max(axis=1),
        wrong=(rows["predicted"] != rows["label"]).to_numpy(),
        crop=rows["image"].map(crops).fillna(""),
    )
    all_right = rows.groupby("group")["wrong"].transform("sum") == 0
    right = rows[all_right]
    if right.empty:
        return pd.DataFrame(columns=MARGIN_COLUMNS)
    least = right.sort_values(["margin", "image"]).groupby("group", sort=False).head(1)
    least = least.assign(copies=least["group"].map(right.groupby("group").size()))
    return least.head(n)[list(MARGIN_COLUMNS)].reset_index(drop=True)
