"""Report section: the dataset: images per folder, split file and class; crop QC by
status; a gallery of originals beside their crops, failures included."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import CROPPED, NO_CELL, UNREADABLE
from ..integrity_table import test_leaks
from ..tables import TEST_LEAKS
from .common import html_table, message_figure, save_figure, write_section

STATUSES = (CROPPED, NO_CELL, UNREADABLE)


def dataset_tables(
    manifest: pd.DataFrame, qc: pd.DataFrame, splits: dict[str, pd.DataFrame]
) -> dict:
    """Images per folder and class, per split file and class, and crops by status."""
    by_folder = pd.crosstab(
        manifest["split"], manifest["label"], margins=True, margins_name="total"
    )
    split_rows = [frame.assign(split=name) for name, frame in splits.items()]
    all_splits = (
        pd.concat(split_rows, ignore_index=True)
        if split_rows
        else pd.DataFrame(columns=["split", "label"])
    )
    by_split = pd.crosstab(
        all_splits["split"], all_splits["label"], margins=True, margins_name="total"
    )
    by_split = by_split.reindex([s for s in (*splits, "total") if s in by_split.index])
    merged = qc.merge(manifest[["image", "split", "label"]], on="image", how="left")
    by_status = pd.crosstab(merged["status"], merged["split"], margins=True, margins_name="total")
    order = [s for s in (*STATUSES, "total") if s in by_status.index]
    by_folder = by_folder.rename_axis(index="folder")
    tables = {"folders": by_folder, "splits": by_split, "crop_status": by_status.reindex(order)}
    return {name: table.rename_axis(columns=None) for name, table in tables.items()}


def plot_dataset(tables: dict, path: str | Path) -> None:
    """Images per split file and class (stacked bars), and crop QC by status."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 2]}
    )
    counts = tables["splits"].drop(index="total", columns="total", errors="ignore")
    counts.plot.bar(stacked=True, ax=left, rot=0)
    left.set_title("images per split file and class")
    left.set_xlabel("")
    left.set_ylabel("images")
    left.legend(fontsize=9)
    status = tables["crop_status"].drop(index="total", errors="ignore")["total"]
    status = status.reindex(STATUSES, fill_value=0)
    bars = right.bar(status.index, status.to_numpy(), color=["tab:green", "tab:orange", "tab:red"])
    right.bar_label(bars)
    right.set_title("crop QC: images by status")
    right.set_ylabel("images")
    fig.tight_layout()
    save_figure(fig, path)


def gallery_selection(qc: pd.DataFrame, manifest: pd.DataFrame, per_status: int) -> pd.DataFrame:
    """Examples to show: the first crop of each class, and the first failures of each kind."""
    merged = qc.merge(manifest[["image", "split", "label"]], on="image", how="left").sort_values(
        "image"
    )
    picks = [
        merged[merged["status"] == CROPPED].groupby("label", sort=True).head(1).head(per_status)
    ]
    for status in (NO_CELL, UNREADABLE):
        picks.append(merged[merged["status"] == status].head(per_status))
    return pd.concat(picks, ignore_index=True)


def _load_image(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception:  # unreadable originals are exactly what the gallery shows
        return None


def plot_gallery(
    selection: pd.DataFrame, dataset_root: str | Path, path: str | Path, method: str = "reference"
) -> None:
    """Original beside crop, two examples per row; failures say what went wrong. The
    crop method (config key crop.method) is named in each crop's title."""
    if selection.empty:
        return message_figure(path, "no images were cropped")
    per_row = 2
    nrows = -(-len(selection) // per_row)
    fig, axes = plt.subplots(nrows, 2 * per_row, figsize=(13, 2.9 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, row in enumerate(selection.itertuples(index=False)):
        original_ax, crop_ax = (
            axes[k // per_row][2 * (k % per_row)],
            axes[k // per_row][2 * (k % per_row) + 1],
        )
        original = _load_image(Path(dataset_root) / row.image)
        if original is None:
            original_ax.text(
                0.5,
                0.5,
                f"cannot be decoded:\n{row.reason or 'unreadable'}",
                ha="center",
                va="center",
                fontsize=9,
                wrap=True,
            )
        else:
            original_ax.imshow(original)
        name = Path(row.image).name
        original_ax.set_title(f"{row.label} · {name[:28]}", fontsize=9)
        colour = {CROPPED: "tab:green", NO_CELL: "tab:orange"}.get(row.status, "tab:red")
        crop = _load_image(Path(row.crop)) if row.crop else None
        if crop is None:
            crop_ax.text(0.5, 0.5, "no crop", ha="center", va="center", fontsize=10)
        else:
            crop_ax.imshow(crop)
        crop_ax.set_title(
            f"{method} crop: {row.status}", fontsize=10, color=colour, fontweight="bold"
        )
    fig.tight_layout()
    save_figure(fig, path)


LISTED = 50  # rows of a copies table shown; results/integrity.tsv lists every one


def copies_tables(verdicts: pd.DataFrame) -> dict:
    """From results/integrity.tsv: test images that TRAIN holds too (byte-identical
    copies, or copies of a TRAIN image's source cell; ``leaks``, as in
    results/splits/test_leaks.tsv), images whose copies are filed under another label, and
    the images left out of the split files by reason and folder."""
    leaks = pd.DataFrame(test_leaks(verdicts.to_dict("records")), columns=list(TEST_LEAKS.names))
    conflicts = verdicts[verdicts["label_conflict"] != ""]
    conflicts = pd.DataFrame(
        {"image": conflicts["image"], "same bytes, other label": conflicts["label_conflict"]}
    )
    dropped = verdicts[~verdicts["kept"]]
    two_labels = verdicts[verdicts["cell_under_two_labels"] != ""]
    left_out = pd.crosstab(dropped["reason"], dropped["split"], margins=True, margins_name="total")
    return {
        "leaks": leaks,
        "conflicts": conflicts,
        "two_labels": two_label_cells(two_labels),
        "left_out": left_out.rename_axis(index="left out: why", columns=None),
    }


def two_label_cells(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cell whose images lie in two class folders (integrity.tsv's column
    ``cell_under_two_labels``): its group, the slides, its images per folder, and how many
    of them are kept in the split files."""
    out = [
        {
            "source cell": ", ".join(sorted(set(of["group"]))),
            "slides": finding,
            "images by folder": ", ".join(
                f"{label} {n}" for label, n in sorted(Counter(of["label"]).items())
            ),
            "kept": f"{int(of['kept'].sum())} of {len(of)}",
        }
        for finding, of in rows.groupby("cell_under_two_labels", sort=True)
    ]
    return pd.DataFrame(out, columns=["source cell", "slides", "images by folder", "kept"])


def leak_cells(leaks: pd.DataFrame, setting: str = "") -> pd.DataFrame:
    """results/splits/test_leaks.tsv, one row per source cell (an image without a group is
    a cell of its own): class, folders, images, how many are scored, and why."""
    if leaks.empty:
        return pd.DataFrame(columns=["source cell", "class", "folder", "images", "scored", "why"])
    leaks = leaks.assign(
        cell=leaks["group"].where(leaks["group"] != "", leaks["image"]),
        is_scored=leaks["scored"].astype(str) == "True",
    )
    rows = []
    for cell, rows_of in leaks.groupby("cell", sort=True):
        kinds = sorted(set(rows_of["kind"]))
        scored = int(rows_of["is_scored"].sum())
        rows.append(
            {
                "source cell": cell,
                "class": ", ".join(sorted(set(rows_of["label"]))),
                "folder": ", ".join(sorted(set(rows_of["folder"]))),
                "images": len(rows_of),
                "scored": f"{scored} of {len(rows_of)}",
                "why": " and ".join(kinds)
                + f" of TRAIN; {'scored' if scored else 'left out'}"
                + (f" ({setting})" if setting else ""),
            }
        )
    return pd.DataFrame(rows).sort_values(["images", "source cell"], ascending=[False, True])


def source_cells(manifest: pd.DataFrame, groups: pd.DataFrame) -> dict:
    """Source cells (groups) per folder and class, how images found their source, and the
    strength of the matches with the originals (votes of the best and runner-up)."""
    merged = groups.merge(manifest[["image", "split", "label"]], on="image", how="left")
    cells = merged.groupby(["split", "label"])["group"].nunique().unstack(fill_value=0)
    cells["total"] = merged.groupby("split")["group"].nunique()
    status = pd.crosstab(merged["match"], merged["split"], margins=True, margins_name="total")
    votes = merged.loc[merged["match"] != "unreadable", ["votes", "runner_up_votes"]]
    # groups the matching cannot vouch for (wbc.groups: weak_link, giant)
    doubt = merged.get("doubt", pd.Series("", index=merged.index)).fillna("")
    doubtful = merged.loc[doubt != ""]
    quantiles = votes.astype(int).quantile([0, 0.01, 0.5, 0.99, 1]).round().astype(int)
    quantiles.index = ["min", "1 %", "median", "99 %", "max"]
    return {
        "cells": cells.rename_axis(index="folder", columns=None),
        "status": status.rename_axis(index="match", columns=None),
        "votes": quantiles.T.rename_axis(index="votes of"),
        "with_originals": bool((merged["original"] != "").any()),
        "doubt": {
            "cells": int(doubtful["group"].nunique()),
            "images": len(doubtful),
            "kinds": ", ".join(sorted({k for d in doubt[doubt != ""] for k in d.split(",")})),
        },
    }


def section(job) -> None:
    """The section from its named inputs (manifest, qc, splits, groups, integrity) and params
    (split_names, root, source, protocol, crop_method): the figures (outputs counts,
    gallery) and the fragment (html)."""
    from ..io import read_table
    from .protocol import Protocol

    inputs, params, out = job.input, job.params, job.output
    write(
        read_table(inputs["manifest"]),
        read_table(inputs["qc"]),
        {
            name: read_table(path)
            for name, path in zip(params["split_names"], inputs["splits"], strict=True)
        },
        read_table(inputs["groups"]),
        read_table(inputs["integrity"]),
        params["root"],
        {"counts": out["counts"], "gallery": out["gallery"]},
        job.captions,
        job.template,
        out["html"],
        source=params["source"],
        protocol=Protocol.from_params(params["protocol"]),
        crop_method=params["crop_method"],
    )


def write(
    manifest,
    qc,
    splits,
    groups,
    verdicts,
    root,
    figures,
    captions,
    template,
    out,
    source,
    protocol,
    crop_method="reference",
):
    """The figures (``figures``: counts, gallery) and the section's fragment ``out``."""
    tables = dataset_tables(manifest, qc, splits)
    copies = copies_tables(verdicts)
    leaks, left_out = copies.pop("leaks"), copies.pop("left_out")
    setting = f"split.train_copies_in_test: {protocol.train_copies_in_test}"
    copies["copies"] = leak_cells(leaks, setting)
    cells = source_cells(manifest, groups)
    plot_dataset(tables, figures["counts"])
    plot_gallery(
        gallery_selection(qc, manifest, per_status=4), root, figures["gallery"], crop_method
    )
    status = tables["crop_status"]
    counts = status["total"].to_dict() if "total" in status else {}
    write_section(
        out,
        template,
        folders_table=html_table(tables["folders"], index=True),
        splits_table=html_table(tables["splits"], index=True),
        status_table=html_table(status, index=True),
        status_counts={s: int(counts.get(s, 0)) for s in STATUSES},
        figures=figures,
        captions=captions,
        n_images=len(manifest),
        source=source,
        classes=sorted(set(manifest.loc[manifest["split"] == "TRAIN", "label"])),
        copies={
            name: {
                "n": len(table),
                "table": html_table(table.head(LISTED)),
                "more": max(0, len(table) - LISTED),
            }
            for name, table in copies.items()
        },
        left_out_table=html_table(left_out, index=True) if len(left_out) > 1 else "",
        left_out=int((~verdicts["kept"]).sum()),
        two_labels_dropped=bool(
            verdicts["reason"].str.contains("one cell under two labels", regex=False).any()
        ),
        copies_scored=int((leaks["scored"].astype(str) == "True").sum()),
        copies_images=len(leaks),
        copies_sentence=protocol.copies_sentence(leaks, ("test", "test_simple")),
        setting=setting,
        cells_table=html_table(cells["cells"], index=True),
        match_table=html_table(cells["status"], index=True),
        votes_table=html_table(cells["votes"], index=True),
        with_originals=cells["with_originals"],
        doubt=cells["doubt"],
    )
