"""The report's first screen: per model, the honest accuracy with its 95 % interval, the
majority-class baseline, and which differences between models are real."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd

from .calibration import ECE_WARNING
from .common import html_table, listed, save_figure, title, with_interval, write_section


def paired_with_best(pairs: pd.DataFrame, split: str, best: str, model: str):
    """The best model's accuracy minus this one's on the same cells: (difference, low,
    high, real), read from either direction of the pair's row."""
    rows = pairs[(pairs["split"] == split)]
    row = rows[(rows["model_a"] == best) & (rows["model_b"] == model)]
    sign = 1
    if row.empty:
        row, sign = rows[(rows["model_a"] == model) & (rows["model_b"] == best)], -1
    row = row.iloc[0]
    lo, hi = sorted((sign * row["difference_lo"], sign * row["difference_hi"]))
    return sign * row["difference"], lo, hi, str(row["significant"]) == "True"


def versus_best(pairs: pd.DataFrame, split: str, best: str, model: str) -> str:
    """The best model's accuracy minus this one's, with its paired 95 % interval."""
    if model == best:
        return "best"
    difference, lo, hi, real = paired_with_best(pairs, split, best, model)
    verdict = "real difference" if real else "not distinguishable"
    return f"{difference:+.3f} ({lo:+.3f} to {hi:+.3f}): {verdict}"


def best_sentence(rows: pd.DataFrame, pairs: pd.DataFrame, split: str, titles: dict) -> str:
    """Which model scored highest, and whether that is more than chance: the models whose
    paired difference from it on the same cells holds zero are named as its equals."""
    best, first = rows["model"].iloc[0], rows.iloc[0]
    name = title(best, titles)
    figure = with_interval(first["accuracy"], (first["accuracy_lo"], first["accuracy_hi"]))
    if len(rows) == 1:
        return f"The one model is <strong>{name}</strong>, with accuracy {figure}."
    equals = [
        title(m, titles)
        for m in rows["model"].iloc[1:]
        if not paired_with_best(pairs, split, best, m)[3]
    ]
    lead = f"<strong>{name[:1].upper()}{name[1:]}</strong> scores highest, with accuracy {figure}"
    if not equals:
        return f"{lead}; every other model scores below it by a real difference."
    verb = "is" if len(equals) == 1 else "are"
    return (
        f"{lead}, but {listed(equals)} {verb} not distinguishable from it on these cells (the "
        f"paired differences below hold zero): the data do not say which of them is best."
    )


def plot_headline(rows: pd.DataFrame, names: dict, titles: dict, reference: dict, path):
    """Accuracy with its 95 % interval per model, the baseline, and the reference study's
    random-split figures for contrast."""
    rows = rows.iloc[::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    y = range(len(rows))
    errors = [rows["accuracy"] - rows["accuracy_lo"], rows["accuracy_hi"] - rows["accuracy"]]
    split = names[rows["split"].iloc[0]]
    ax.errorbar(
        rows["accuracy"],
        y,
        xerr=errors,
        fmt="o",
        color="tab:blue",
        capsize=4,
        label=f"accuracy, {split} (95 % interval over cells)",
    )
    for k, model in enumerate(rows["model"]):
        if reference.get(model) is not None:
            ax.plot(
                reference[model],
                k,
                marker="x",
                color="grey",
                linestyle="none",
                label="reference study, its own random split of TRAIN (leaky)",
            )
    baseline = float(rows["baseline_accuracy"].iloc[0])
    ax.axvline(
        baseline,
        color="tab:red",
        linestyle="--",
        label=f"always the majority class ({baseline:.3f})",
    )
    ax.set_yticks(list(y), [title(m, titles) for m in rows["model"]])
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"accuracy on {split}")
    ax.grid(axis="x", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(
        unique.values(), unique.keys(), loc="lower center", ncol=1, fontsize=9, frameon=False
    )
    fig.tight_layout(rect=(0, 0.05 + 0.18 * 3 / (len(rows) + 3), 1, 1))
    save_figure(fig, path)


def across_seeds(seeds: pd.DataFrame, split: str, model: str) -> str:
    """``0.871 ± 0.012 (3 seeds)`` for a model trained once per seed."""
    base = re.sub(r"_s\d+$", "", model)
    row = seeds[(seeds["model"] == base) & (seeds["split"] == split)]
    if base == model or row.empty:
        return ""
    row = row.iloc[0]
    return f"{row['accuracy_mean']:.3f} ± {row['accuracy_sd']:.3f} ({int(row['seeds'])} seeds)"


def section(job) -> None:
    """The headline figure (output ``figure``) and fragment (``html``), from the comparison's
    tables (inputs ``comparison_table``, ``comparison_pairs``, ``comparison_seeds``) and the
    test copies of TRAIN cells (``leaks``): every sentence about the protocol from params
    ``protocol`` (wbc.report.protocol) and the data."""
    from ..io import read_table
    from .protocol import Protocol

    inputs, params, out = job.input, job.params, job.output
    table = read_table(inputs["comparison_table"])
    pairs = read_table(inputs["comparison_pairs"])
    seeds = read_table(inputs["comparison_seeds"])
    leaks = read_table(inputs["leaks"])
    titles, reference = params["titles"], params["reference"]
    protocol = Protocol.from_params(params["protocol"])
    names = protocol.split_names()
    split = protocol.honest_split(set(table["split"]))
    rows = table[table["split"] == split].sort_values("accuracy", ascending=False, kind="stable")
    best = rows["model"].iloc[0]
    plot_headline(rows, names, titles, reference, out["figure"])
    shown = pd.DataFrame(
        {
            "model": [title(m, titles) for m in rows["model"]],
            "accuracy (95 % interval)": [
                with_interval(r.accuracy, (r.accuracy_lo, r.accuracy_hi))
                for r in rows.itertuples()
            ],
            "balanced accuracy": [
                with_interval(
                    r.balanced_accuracy, (r.balanced_accuracy_lo, r.balanced_accuracy_hi)
                )
                for r in rows.itertuples()
            ],
            "macro F1": [
                with_interval(r.macro_f1, (r.macro_f1_lo, r.macro_f1_hi))
                for r in rows.itertuples()
            ],
            "cells mostly right": rows["cell_accuracy"].map("{:.3f}".format),
            "calibration error (ECE)": rows["ece"].map("{:.3f}".format),
            **(
                {"accuracy across seeds": [across_seeds(seeds, split, m) for m in rows["model"]]}
                if len(seeds)
                else {}
            ),
            f"accuracy vs {title(best, titles)}": [
                versus_best(pairs, split, best, m) for m in rows["model"]
            ],
            "reference study (random split of TRAIN, leaky)": [
                "" if reference.get(m) is None else f"{reference[m]:.3f}" for m in rows["model"]
            ],
        }
    )
    first = rows.iloc[0]
    write_section(
        out["html"],
        job.template,
        split=split,
        split_name=names[split],
        n=int(first["n"]),
        n_groups=int(first["n_groups"]),
        best_sentence=best_sentence(rows, pairs, split, titles),
        baseline=float(first["baseline_accuracy"]),
        table=html_table(shown),
        leaky=protocol.leaky(split),
        unseen=protocol.unseen(split, leaks),
        val_sentence=protocol.val_sentence(),
        copies_sentence=protocol.copies_sentence(leaks, {split}),
        badly_calibrated=[
            (title(m, titles), f"{e:.3f}")
            for m, e in zip(rows["model"], rows["ece"].astype(float), strict=True)
            if e > ECE_WARNING
        ],
        ece_warning=ECE_WARNING,
        group_by=protocol.group_by,
        figure=out["figure"],
        captions=job.captions,
    )
