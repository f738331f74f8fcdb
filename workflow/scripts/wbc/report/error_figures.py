"""A model's errors as cells, drawn: tiles of the original image beside the crop the model
saw (``wbc.report.errors`` makes the tables), and where a Keras model looked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


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
