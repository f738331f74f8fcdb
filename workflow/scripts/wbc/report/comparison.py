"""Report section 2, the comparison: the reference study's bar chart redone from data, the
metrics table (results/report/metrics.tsv) and the reference study's figures beside ours."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..io import write_table
from .common import (
    METRIC_COLUMNS,
    SPLIT_NAMES,
    evaluated_splits,
    html_table,
    message_figure,
    save_figure,
    title,
    write_section,
)

TABLE_COLUMNS = ("model", "split", "n", *METRIC_COLUMNS)


def metrics_table(all_metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per model × evaluated split: the figures of each model's metrics.json."""
    rows = [
        {"model": model, "split": split, **{k: metrics[split][k] for k in ("n", *METRIC_COLUMNS)}}
        for model, metrics in all_metrics.items()
        for split in evaluated_splits(metrics)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def plot_comparison(table: pd.DataFrame, titles: dict, reference: dict, path: str | Path):
    """Accuracy and macro precision, recall, F1 per model, one panel per evaluated split;
    the reference study's accuracy marked on the panel of its protocol (val)."""
    splits = [s for s in SPLIT_NAMES if s in set(table["split"])]
    models = list(dict.fromkeys(table["model"]))
    if not splits:
        return message_figure(path, "no model was evaluated")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.5 * len(splits), 4.6), squeeze=False)
    width = 0.8 / len(models)
    x = np.arange(len(METRIC_COLUMNS))
    for ax, split in zip(axes[0], splits, strict=True):
        rows = table[table["split"] == split].set_index("model")
        for i, model in enumerate(models):
            if model not in rows.index:
                continue
            values = rows.loc[model, list(METRIC_COLUMNS)].astype(float).to_numpy()
            offset = (i - (len(models) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width, label=title(model, titles))
            ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=1)
            if split == "val" and reference.get(model) is not None:  # their protocol
                ax.plot(
                    x[0] + offset,
                    reference[model],
                    marker="_",
                    markersize=22,
                    markeredgewidth=2.5,
                    color="black",
                    linestyle="none",
                    label="reference study accuracy",
                )
        n = int(rows["n"].astype(int).max())
        ax.set_title(f"{SPLIT_NAMES[split]}, n = {n}")
        ax.set_xticks(x, ["accuracy", "macro\nprecision", "macro\nrecall", "macro F1"])
        ax.set_ylim(0, 1.08)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("score")
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))  # the reference marker once
    fig.legend(
        list(unique.values()),
        list(unique),
        loc="upper center",
        ncol=len(unique),
        bbox_to_anchor=(0.5, 1.07),
        frameon=False,
    )
    fig.tight_layout()
    save_figure(fig, path)


def comparison_with_reference(table: pd.DataFrame, titles: dict, reference: dict):
    """The reference study's accuracy next to ours on each evaluated split."""
    accuracy = table.pivot(index="model", columns="split", values="accuracy")
    rows = []
    for model in dict.fromkeys(table["model"]):
        row = {
            "model": title(model, titles),
            "reference study (random split of TRAIN)": reference.get(model),
        }
        for split in SPLIT_NAMES:
            if split in accuracy.columns:
                row[f"ours: {SPLIT_NAMES[split]}"] = accuracy.loc[model, split]
        rows.append(row)
    return pd.DataFrame(rows)


def write(all_metrics, titles, reference, disabled, captions, template, out) -> pd.DataFrame:
    """metrics.tsv (``out["table"]``), the chart (``out["chart"]``) and the fragment."""
    table = metrics_table(all_metrics)
    write_table(out["table"], table, float_format="%.6f")
    plot_comparison(table, titles, reference, out["chart"])
    write_section(
        out["html"],
        template,
        has_test="test" in set(table["split"]),
        split_names=[SPLIT_NAMES[s] for s in SPLIT_NAMES if s in set(table["split"])],
        metrics_table=html_table(table.assign(model=[title(m, titles) for m in table["model"]])),
        reference_table=html_table(
            comparison_with_reference(table, titles, reference), float_format="{:.1%}".format
        ),
        chart=out["chart"],
        disabled_models=[title(m, titles) for m in disabled],
        captions=captions,
    )
    return table
