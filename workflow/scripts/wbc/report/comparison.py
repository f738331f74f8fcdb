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
    split_names,
    title,
    write_section,
)

INTERVAL_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
TABLE_COLUMNS = (
    "model", "split", "n", *METRIC_COLUMNS, "n_groups", "balanced_accuracy",
    *(f"{m}_{end}" for m in INTERVAL_METRICS for end in ("lo", "hi")),
    "cell_accuracy", "baseline_accuracy",
)  # fmt: skip
PAIR_COLUMNS = (
    "split", "model_a", "model_b", "accuracy_a", "accuracy_b", "difference",
    "difference_lo", "difference_hi", "p_value", "significant",
)  # fmt: skip


def metrics_table(all_metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per model × evaluated split: the figures of each model's metrics.json,
    with the 95 % intervals (bootstrap over source cells) as ``<metric>_lo/_hi``."""
    rows = []
    for model, metrics in all_metrics.items():
        for split in evaluated_splits(metrics):
            m = metrics[split]
            row = {"model": model, "split": split}
            row.update({k: m[k] for k in TABLE_COLUMNS if k in m})
            for metric in INTERVAL_METRICS:
                row[f"{metric}_lo"], row[f"{metric}_hi"] = m["ci95"][metric]
            rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def pairwise(predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every pair of models on every split they both scored: the accuracy difference on
    the same images, with a paired bootstrap over source cells (``wbc.stats``)."""
    from ..stats import paired_difference

    rows = []
    models = list(predictions)
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            pa, pb = (predictions[m].set_index(["split", "image"]).sort_index() for m in (a, b))
            for split in SPLIT_NAMES:
                if split not in pa.index.get_level_values(0):
                    continue
                ra, rb = pa.loc[split], pb.loc[split].reindex(pa.loc[split].index)
                correct_a = (ra["label"] == ra["predicted"]).to_numpy()
                correct_b = (rb["label"] == rb["predicted"]).to_numpy()
                test = paired_difference(correct_a, correct_b, ra["group"].to_numpy())
                rows.append(
                    {
                        "split": split,
                        "model_a": a,
                        "model_b": b,
                        "accuracy_a": correct_a.mean(),
                        "accuracy_b": correct_b.mean(),
                        "difference": test["difference"],
                        "difference_lo": test["ci95"][0],
                        "difference_hi": test["ci95"][1],
                        "p_value": test["p_value"],
                        "significant": test["significant"],
                    }
                )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def plot_comparison(table, titles: dict, reference: dict, path: str | Path, names=SPLIT_NAMES):
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
        ax.set_title(f"{names[split]}, n = {n}")
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


def comparison_with_reference(table, titles: dict, reference: dict, names=SPLIT_NAMES):
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
                row[f"ours: {names[split]}"] = accuracy.loc[model, split]
        rows.append(row)
    return pd.DataFrame(rows)


def write(
    all_metrics, predictions, titles, reference, disabled, group_by, captions, template, out
) -> pd.DataFrame:
    """metrics.tsv (``out["table"]``), comparisons.tsv (``out["pairs"]``), the chart
    (``out["chart"]``) and the fragment."""
    table = metrics_table(all_metrics)
    write_table(out["table"], table, float_format="%.6f")
    write_table(out["pairs"], pairwise(predictions), float_format="%.6f")
    names = split_names(group_by)
    plot_comparison(table, titles, reference, out["chart"], names)
    write_section(
        out["html"],
        template,
        has_test="test" in set(table["split"]),
        split_names=[names[s] for s in SPLIT_NAMES if s in set(table["split"])],
        metrics_table=html_table(table.assign(model=[title(m, titles) for m in table["model"]])),
        reference_table=html_table(
            comparison_with_reference(table, titles, reference, names),
            float_format="{:.1%}".format,
        ),
        chart=out["chart"],
        disabled_models=[title(m, titles) for m in disabled],
        captions=captions,
    )
    return table
