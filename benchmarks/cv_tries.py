"""Tries judged on cross-validation (issues 19 and 22): pooled out-of-fold figures of model
ids, each against a reference id on the same cells.

    .venv/bin/python benchmarks/cv_tries.py RUN --reference cnn cnn-aug cnn-e30 ...

RUN is a workflow folder run with ``split.folds`` >= 2 in which each model id's fold jobs
(``results/models/<id>/folds/<k>/``) have finished; its final model and report are not
needed (``snakemake results/models/<id>/folds/{0..4}/predictions.tsv`` is enough). For
each id: cv accuracy and balanced accuracy with 95 % intervals (bootstrap over source
cells), the lowest per-class recall, the paired difference against ``--reference`` on the
same images (paired cluster bootstrap), and the fold jobs' training wall seconds and peak
memory (Snakemake's benchmark files). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from wbc.metrics import classes_of, evaluate, read_predictions  # noqa: E402
from wbc.stats import paired_difference  # noqa: E402


def pooled(run: Path, model_id: str) -> pd.DataFrame:
    """Every fold's held-out predictions of ``model_id``, one row per TRAIN image."""
    files = sorted((run / "results" / "models" / model_id / "folds").glob("*/predictions.tsv"))
    if not files:
        raise SystemExit(f"{run}: no fold predictions of {model_id} (run its fold jobs first)")
    frames = [read_predictions(f).assign(fold=f.parent.name) for f in files]
    table = pd.concat(frames).set_index("image").sort_index()
    if table.index.duplicated().any():
        raise SystemExit(f"{model_id}: an image is held out by two folds")
    return table


def cost(run: Path, model_id: str) -> tuple[float, float, int]:
    """Sum of the fold jobs' wall seconds, their peak memory (MB), and how many ran."""
    files = sorted((run / "results" / "benchmarks").glob(f"train_{model_id}_folds/*.tsv"))
    rows = [pd.read_csv(f, sep="\t").iloc[-1] for f in files]
    return sum(r["s"] for r in rows), max((r["max_rss"] for r in rows), default=0), len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("ids", nargs="*")
    parser.add_argument("--reference", required=True)
    args = parser.parse_intermixed_args()
    reference = pooled(args.run, args.reference)
    print(
        "| model id | folds | cv accuracy (95 % interval) | balanced accuracy | "
        "lowest class recall | difference vs " + args.reference + " (95 % interval) "
        "| fold jobs: wall s (sum), peak MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for model_id in [args.reference, *args.ids]:
        table = pooled(args.run, model_id)
        classes = classes_of(table)
        p = table[[f"p_{c}" for c in classes]].to_numpy()
        m = evaluate(table["label"], p, classes, table["group"])
        lo, hi = m["ci95"]["accuracy"]
        blo, bhi = m["ci95"]["balanced_accuracy"]
        worst = min(m["per_class"].items(), key=lambda kv: kv[1]["recall"])
        if model_id == args.reference:
            versus = "-"
        else:
            both = reference.index.intersection(table.index)
            a = table.loc[both, "predicted"] == table.loc[both, "label"]
            b = reference.loc[both, "predicted"] == reference.loc[both, "label"]
            d = paired_difference(a.to_numpy(), b.to_numpy(), table.loc[both, "group"])
            dlo, dhi = d["ci95"]
            versus = f"{d['difference']:+.3f} ({dlo:+.3f} to {dhi:+.3f})" + (
                " significant" if d["significant"] else ""
            )
        folds = table["fold"].nunique()
        seconds, peak, jobs = cost(args.run, model_id)
        print(
            f"| {model_id} | {folds} | {m['accuracy']:.3f} ({lo:.3f}-{hi:.3f}), "
            f"{m['n']} images, {m['n_groups']} cells | {m['balanced_accuracy']:.3f} "
            f"({blo:.3f}-{bhi:.3f}) | {worst[0]} {worst[1]['recall']:.2f} | {versus} "
            f"| {seconds:.0f} ({jobs} jobs), {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
