"""Report section: the comparison: the reference study's bar chart redone from data, the
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
    listed,
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
    "cell_accuracy", "baseline_accuracy", "ece",
)  # fmt: skip
PAIR_COLUMNS = (
    "split", "model_a", "model_b", "accuracy_a", "accuracy_b", "difference",
    "difference_lo", "difference_hi", "p_value", "significant",
)  # fmt: skip

SHARED_COLUMNS = ("group", "label", "copies", "called", "least_wrong")
SHARED_HEADERS = {
    "group": "source cell",
    "called": "the models call it",
    "least_wrong": "copies wrong, least of the models",
}
# a cell is mostly wrong for a model when more than this share of its copies are
MOSTLY = 0.5

PROVENANCE_COLUMNS = ("family", "recipe", "seed", "source", "workflow_commit")


def metrics_table(all_metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per model × evaluated split: the figures of each model's metrics.json,
    with the 95 % intervals (bootstrap over source cells) as ``<metric>_lo/_hi``, then
    what made the model: family, recipe, seed, data source, workflow commit and every
    setting (``setting.<key>``), so that tables of two runs can be joined."""
    rows = []
    for model, metrics in all_metrics.items():
        made = {
            "family": metrics.get("family", model),
            "recipe": metrics.get("recipe", ""),
            "seed": metrics.get("seed", ""),
            **{k: metrics.get("provenance", {}).get(k, "") for k in PROVENANCE_COLUMNS[3:]},
            **{f"setting.{k}": _cell(v) for k, v in metrics.get("settings", {}).items()},
        }
        for split in evaluated_splits(metrics):
            m = metrics[split]
            row = {"model": model, "split": split}
            row.update({k: m[k] for k in TABLE_COLUMNS if k in m})
            for metric in INTERVAL_METRICS:
                row[f"{metric}_lo"], row[f"{metric}_hi"] = m["ci95"][metric]
            rows.append({**row, **made})
    settings = sorted({k for row in rows for k in row if k.startswith("setting.")})
    return pd.DataFrame(rows, columns=[*TABLE_COLUMNS, *PROVENANCE_COLUMNS, *settings])


def _cell(value) -> str:
    """A setting as a table cell: lists joined with '+', None as 'null'."""
    if isinstance(value, list | tuple):
        return "+".join(map(str, value))
    return "null" if value is None else str(value)


SEED_COLUMNS = ("model", "split", "seeds", "accuracy_mean", "accuracy_sd", "accuracy_min",
                "accuracy_max", "macro_f1_mean", "macro_f1_sd")  # fmt: skip


def seed_table(table: pd.DataFrame) -> pd.DataFrame:
    """Models trained once per seed (ids ``<model>_s<seed>``): mean and spread of their
    figures across seeds, per model and split."""
    seeded = table[table["model"].str.contains(r"_s\d+$", regex=True)]
    if seeded.empty:
        return pd.DataFrame(columns=SEED_COLUMNS)
    base = seeded["model"].str.replace(r"_s\d+$", "", regex=True)
    grouped = seeded.assign(model=base).groupby(["model", "split"], sort=False)
    out = grouped.agg(
        seeds=("accuracy", "size"),
        accuracy_mean=("accuracy", "mean"),
        accuracy_sd=("accuracy", "std"),
        accuracy_min=("accuracy", "min"),
        accuracy_max=("accuracy", "max"),
        macro_f1_mean=("macro_f1", "mean"),
        macro_f1_sd=("macro_f1", "std"),
    )
    return out.reset_index()[list(SEED_COLUMNS)]


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


def shared_errors(predictions: dict[str, pd.DataFrame], split: str) -> pd.DataFrame:
    """Source cells of ``split`` that every model gets mostly wrong (over ``MOSTLY`` of
    their copies): what the models call them (the most common wrong answer over all
    models' copies; ties by name) and the lowest share wrong among the models; largest
    cells first. Empty where a model did not score ``split``."""
    shares, calls = [], []
    for rows in predictions.values():
        rows = rows[rows["split"] == split]
        if rows.empty:
            return pd.DataFrame(columns=SHARED_COLUMNS)
        wrong = rows["predicted"] != rows["label"]
        shares.append(wrong.groupby(rows["group"]).mean())
        calls.append(rows.loc[wrong, ["group", "predicted"]])
    least = pd.concat(shares, axis=1).min(axis=1)
    cells = least.index[least > MOSTLY]
    if cells.empty:
        return pd.DataFrame(columns=SHARED_COLUMNS)
    rows = next(iter(predictions.values()))
    rows = rows[rows["split"] == split]
    # a cell whose copies lie in two class folders shows both (dataset section: "One cell
    # filed under two classes"); no answer gets all its copies right
    cell = rows.groupby("group").agg(
        label=("label", lambda labels: ", ".join(sorted(set(labels)))),
        copies=("image", "size"),
    )
    wrong = pd.concat(calls)
    called = (
        wrong[wrong["group"].isin(cells)]
        .groupby("group")["predicted"]
        .agg(lambda p: p.mode().iloc[0])
    )
    out = cell.loc[cells].assign(called=called, least_wrong=least.loc[cells])
    out = out.rename_axis("group").reset_index()
    return out.sort_values(["copies", "group"], ascending=[False, True])[list(SHARED_COLUMNS)]


def shared_errors_sentence(shared: pd.DataFrame, images: int, split_name: str) -> str:
    """What the shared errors table says, in one sentence."""
    copies = int(shared["copies"].sum())
    one = len(shared) == 1
    cells, are, their, them = (
        ("source cell", "is", "its", "it") if one else ("source cells", "are", "their", "them")
    )
    two = int(shared["label"].str.contains(",", regex=False).sum())
    who = "It has" if one else f"{two} of them {'have' if two != 1 else 'has'}"
    filed_twice = (
        f" {who} copies in two class folders (the dataset section names any cell filed "
        f"under two classes): whatever a model calls such a cell, the copies of one folder "
        f"count as its errors."
        if two
        else ""
    )
    return (
        f"On {split_name}, {len(shared)} {cells} ({copies} images, "
        f"{copies / images:.1%} of its images) {are} mostly wrong for every model: each "
        f"model called more than half of {their} copies something else, so picking another "
        f"of these models does not win {them} back.{filed_twice} An expert may want to "
        f"check {their} label{'' if one else 's'} against what the models call {them}."
    )


def plot_comparison(table, titles: dict, reference: dict, path: str | Path, names=SPLIT_NAMES):
    """Accuracy (with its 95 % interval), macro F1 and balanced accuracy per model, one
    panel per evaluated split, a row per model: readable for a dozen models. The
    reference study's accuracy (a random split of TRAIN) is marked on val's panel."""
    splits = [s for s in SPLIT_NAMES if s in set(table["split"])]
    models = list(dict.fromkeys(table["model"]))
    if not splits:
        return message_figure(path, "no model was evaluated")
    height = 1.2 + 0.42 * len(models)
    fig, axes = plt.subplots(
        1, len(splits), figsize=(5.6 * len(splits) + 2.5, height), sharey=True, squeeze=False
    )
    y = np.arange(len(models))[::-1]  # first model at the top
    for ax, split in zip(axes[0], splits, strict=True):
        rows = table[table["split"] == split].set_index("model").reindex(models)
        acc = rows["accuracy"].astype(float)
        errors = [acc - rows["accuracy_lo"].astype(float), rows["accuracy_hi"].astype(float) - acc]
        ax.errorbar(
            acc,
            y,
            xerr=errors,
            fmt="o",
            color="tab:blue",
            capsize=3,
            label="accuracy (95 % interval over cells)",
        )
        ax.plot(
            rows["macro_f1"].astype(float),
            y,
            "s",
            color="tab:orange",
            markersize=5,
            label="macro F1",
        )
        ax.plot(
            rows["balanced_accuracy"].astype(float),
            y,
            "^",
            color="tab:green",
            markersize=5,
            label="balanced accuracy",
        )
        baseline = float(rows["baseline_accuracy"].dropna().iloc[0])
        ax.axvline(
            baseline,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label="always the majority class",
        )
        if split == "val":
            marks = [(reference[m], k) for m, k in zip(models, y, strict=True) if reference.get(m)]
            if marks:
                ax.plot(
                    *zip(*marks, strict=True),
                    "x",
                    color="grey",
                    markersize=8,
                    label="reference study (its own random split of TRAIN)",
                )
        n = int(rows["n"].dropna().astype(int).max())
        ax.set_title(f"{names[split]}, n = {n}")
        ax.set_xlim(0, 1.02)
        ax.set_xlabel("score")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, [title(m, titles) for m in models])
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        ncol=3,
        fontsize=9,
        bbox_to_anchor=(0.5, 1 + 0.9 / height),
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


def above_reference_sentence(
    table, recipes: dict, titles: dict, reference: dict, split: str, split_name: str
) -> str:
    """The models that score at least the study's figure on the honest split, though the
    study's leaky split should flatter it, and the likely why: a recipe not the study's."""
    rows = table[table["split"] == split]
    above = [
        (m, recipes.get(m))
        for m, accuracy in zip(rows["model"], rows["accuracy"], strict=True)
        if reference.get(m) is not None and accuracy >= reference[m]
    ]
    if not above:
        return ""
    sentences = []
    for recipe in dict.fromkeys(r for _, r in above):
        names = [title(m, titles) for m, r in above if r == recipe]
        verb = "scores" if len(names) == 1 else "score"
        why = (
            "with the study's own recipe: its random split does not guarantee a higher figure"
            if recipe == "reference"
            else f"trained with the {recipe} recipe (config key <code>models.recipe</code>), "
            "not the study's"
        )
        sentences.append(
            f"On the {split_name}, {listed(names)} {verb} at or above the study's figure all "
            f"the same, {why}."
        )
    return " ".join(sentences)


def with_calibration(table: pd.DataFrame, predictions: dict[str, pd.DataFrame]):
    """``ece``: each model's expected calibration error on each split (wbc.report.calibration)."""
    from .calibration import expected_calibration_error, reliability, top_label

    def ece(model, split):
        rows = predictions[model][predictions[model]["split"] == split]
        return expected_calibration_error(reliability(*top_label(rows))) if len(rows) else None

    return table.assign(
        ece=[ece(m, s) for m, s in zip(table["model"], table["split"], strict=True)]
    )


def section(job) -> pd.DataFrame:
    """metrics.tsv (output ``table``), comparisons.tsv (``pairs``), seeds.tsv (``seeds``),
    the chart (``chart``) and the fragment (``html``), from every reported model's metrics
    and predictions (inputs ``metrics``, ``predictions``, of params ``reported_models``)."""
    from ..io import read_json
    from ..metrics import read_predictions
    from .protocol import Protocol

    inputs, params, out = job.input, job.params, job.output
    models = params["reported_models"]
    all_metrics = {m: read_json(p) for m, p in zip(models, inputs["metrics"], strict=True)}
    predictions = {
        m: read_predictions(p) for m, p in zip(models, inputs["predictions"], strict=True)
    }
    titles, reference = params["titles"], params["reference"]
    protocol = Protocol.from_params(params["protocol"])
    table = with_calibration(metrics_table(all_metrics), predictions)
    write_table(out["table"], table, float_format="%.6f")
    write_table(out["pairs"], pairwise(predictions), float_format="%.6f")
    seeds = seed_table(table)
    write_table(out["seeds"], seeds, float_format="%.6f")
    names = split_names(protocol)
    plot_comparison(table, titles, reference, out["chart"], names)
    splits = set(table["split"])
    honest = protocol.honest_split(splits)
    # cells every model misses: with two trained models or more (the ensemble is theirs)
    trained = [m for m in predictions if m != "ensemble"]
    shared = shared_errors(predictions, honest) if len(trained) >= 2 else pd.DataFrame()
    shared_html = shared_sentence = ""
    if len(shared):
        images = int((predictions[models[0]]["split"] == honest).sum())
        shared_html = html_table(
            shared.rename(columns=SHARED_HEADERS), float_format="{:.0%}".format
        )
        shared_sentence = shared_errors_sentence(shared, images, names[honest])
    write_section(
        out["html"],
        job.template,
        has_test="test" in splits,
        honest=names[honest],
        val_sentence=protocol.val_sentence(),
        leaky_splits=[names[s] for s in SPLIT_NAMES if s in splits and protocol.leaky(s)],
        split_names=[names[s] for s in SPLIT_NAMES if s in splits],
        metrics_table=html_table(
            table[list(TABLE_COLUMNS)].assign(model=[title(m, titles) for m in table["model"]])
        ),
        above_reference=above_reference_sentence(
            table,
            {m: metrics.get("recipe") for m, metrics in all_metrics.items()},
            titles,
            reference,
            honest,
            names[honest],
        ),
        reference_table=html_table(
            comparison_with_reference(table, titles, reference, names),
            float_format="{:.1%}".format,
        ),
        chart=out["chart"],
        disabled_models=[title(m, titles) for m in params["disabled"]],
        seeds_table=html_table(seeds) if len(seeds) else "",
        shared_errors=shared_html,
        shared_sentence=shared_sentence,
        captions=job.captions,
    )
    return table
