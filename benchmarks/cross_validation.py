"""Cross-validation (issue 19): its figures and its cost, from finished workflow runs.

    .venv/bin/python benchmarks/cross_validation.py RUN_K1 RUN_K5 [--models rf cnn]

RUN_K1 and RUN_K5 are the working folders of two runs of the same data and models, one
with ``split.folds: 1`` (grouped val) and one with ``split.folds: 5``. For each model the
script prints accuracy with its 95 % interval (bootstrap over source cells) and the
interval's width on grouped val (K = 1), on cv (K = 5) and on TEST_SIMPLE / TEST, the
wall time of the training jobs (Snakemake's benchmark files: the sum of the fold jobs and
the final model for K = 5, the one training for K = 1), and the paired differences
between models on cv (results/report/comparisons.tsv, where the report was built).
Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def wall_seconds(run: Path, pattern: str) -> float:
    files = sorted((run / "results" / "benchmarks").glob(pattern))
    return sum(float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) for f in files)


def figure(metrics: dict, split: str) -> str:
    if split not in metrics:
        return "-"
    m = metrics[split]
    lo, hi = m["ci95"]["accuracy"]
    return f"{m['accuracy']:.3f} ({lo:.3f}-{hi:.3f}), width {hi - lo:.3f}, {m['n_groups']} cells"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("k1", type=Path)
    parser.add_argument("k5", type=Path)
    parser.add_argument("--models", nargs="+", default=["rf"])
    args = parser.parse_args()
    print(
        "| model | grouped val, K = 1 | cv, K = 5 | TEST_SIMPLE (K = 5's final model) "
        "| training wall, K = 1 | training wall, K = 5 (folds + final) |"
    )
    print("|---|---|---|---|---|---|")
    for model in args.models:
        one = json.loads((args.k1 / f"results/models/{model}/metrics.json").read_text())
        five = json.loads((args.k5 / f"results/models/{model}/metrics.json").read_text())
        t1 = wall_seconds(args.k1, f"train_{model}.tsv")
        t5 = wall_seconds(args.k5, f"train_{model}_folds/*.tsv") + wall_seconds(
            args.k5, f"train_{model}.tsv"
        )
        print(
            f"| {model} | {figure(one, 'val')} | {figure(five, 'cv')} | "
            f"{figure(five, 'test_simple')} | {t1:.0f} s | {t5:.0f} s ({t5 / t1:.1f}x) |"
        )
        print(f"<!-- {model} folds: {json.dumps(five.get('cv_folds'))} -->")
    pairs = args.k5 / "results/report/comparisons.tsv"
    if pairs.is_file():
        table = pd.read_csv(pairs, sep="\t")
        print("\n| cv: model a - model b | difference (95 % interval) | p | significant |")
        print("|---|---|---|---|")
        for r in table[table["split"] == "cv"].itertuples():
            print(
                f"| {r.model_a} - {r.model_b} | {r.difference:+.3f} "
                f"({r.difference_lo:+.3f} to {r.difference_hi:+.3f}) | {r.p_value:.3f} "
                f"| {r.significant} |"
            )


if __name__ == "__main__":
    main()
