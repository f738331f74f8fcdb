"""A model's errors as cells: per source cell of the honest split, how many of its copies
the model got wrong, its most confident wrong answer, and the cells it got right only by
a narrow margin; drawn as tiles of the original image beside the crop the model saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# no matplotlib at import: rule report_saliency (TensorFlow's env) picks its cells here

ERROR_COLUMNS = (
    "group", "label", "predicted", "probability", "copies", "copies_wrong", "image", "crop",
)  # fmt: skip
MARGIN_COLUMNS = ("group", "label", "margin", "copies", "image", "crop")
TILES = 24  # tiles drawn; the table lists every cell
NARROW = 8  # cells right by a narrow margin shown


def probabilities(rows: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    columns = [c for c in rows.columns if c.startswith("p_")]
    return [c[2:] for c in columns], rows[columns].to_numpy(dtype=float)


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


def plot_saliency(maps: dict, model, titles, split_name, path) -> None:
    """Per cell (rule report_saliency's maps): the crop the model saw, where it looked for
    its wrong answer and where it looked for the true class."""
    from matplotlib import pyplot as plt

    from .common import message_figure, save_figure, title

    cells = list(maps.get("labels", []))
    if not cells:
        return message_figure(path, f"{title(model, titles)}: no misclassified cell to explain")
    fig, axes = plt.subplots(len(cells), 3, figsize=(8.4, 2.9 * len(cells)), squeeze=False)
    for k, row_axes in enumerate(axes):
        image, label, predicted = maps["images"][k], maps["labels"][k], maps["predicted"][k]
        for ax in row_axes:
            ax.axis("off")
            ax.imshow(image)
        row_axes[0].set_title(
            f"{label} -> {predicted} (p = {maps['probability'][k]:.2f})", fontsize=9
        )
        for ax, heat, what in (
            (row_axes[1], maps["for_predicted"][k], f"looked for {predicted}"),
            (row_axes[2], maps["for_true"][k], f"looked for {label} (true)"),
        ):
            ax.imshow(heat, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
            ax.set_title(what, fontsize=9)
    fig.suptitle(
        f"{title(model, titles)}: where it looked (SmoothGrad saliency), {split_name}",
        fontsize=11,
    )
    fig.tight_layout()
    save_figure(fig, path)


def _image(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception:  # a missing or unreadable file is drawn as a note, not a failure
        return None


def plot_tiles(tiles: pd.DataFrame, kind: str, root, model, titles, split_name, path) -> None:
    """Two panels a tile (original, crop), three tiles a row, each titled with what the
    model said of the cell."""
    from matplotlib import pyplot as plt

    from .common import message_figure, save_figure, title

    if tiles.empty:
        what = "misclassified" if kind == "errors" else "right by a narrow margin"
        return message_figure(path, f"{title(model, titles)}: no cell {what} on {split_name}")
    per_row = 3
    nrows = -(-len(tiles) // per_row)
    fig, axes = plt.subplots(nrows, 2 * per_row, figsize=(13, 2.55 * nrows + 0.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, row in enumerate(tiles.itertuples(index=False)):
        left, right = (
            axes[k // per_row][2 * (k % per_row)],
            axes[k // per_row][2 * (k % per_row) + 1],
        )
        for ax, file in ((left, Path(root) / row.image), (right, Path(row.crop or "-"))):
            picture = _image(file)
            if picture is None:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", fontsize=9)
            else:
                ax.imshow(picture)
        if kind == "errors":
            heading = (
                f"#{k + 1} {row.label} -> {row.predicted} (p = {row.probability:.2f})\n"
                f"{row.copies_wrong} of {row.copies} "
                f"{'copy' if row.copies == 1 else 'copies'} wrong"
            )
            colour = "tab:red"
        else:
            heading = (
                f"#{k + 1} {row.label}, margin {row.margin:.2f}\n{row.copies} "
                f"{'copy' if row.copies == 1 else 'copies'} right"
            )
            colour = "tab:orange"
        left.set_title(heading, fontsize=9, loc="left", color=colour)
        right.set_title(" \n ", fontsize=9)
        # the heading spills over the crop's panel: an empty title of as many lines keeps
        # the crop below it
        right.text(
            0.02,
            0.02,
            "crop",
            transform=right.transAxes,
            fontsize=8,
            color="white",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5},
        )
    what = (
        "misclassified cells, most confident first"
        if kind == "errors"
        else ("cells right by the narrowest margin")
    )
    fig.suptitle(
        f"{title(model, titles)}: {what} ({split_name}); left the original, right the crop "
        "the model saw",
        fontsize=11,
    )
    fig.tight_layout()
    save_figure(fig, path)
