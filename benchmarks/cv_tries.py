"""Tries judged on cross-validation (issues 19 and 22): pooled out-of-fold figures of model
ids, each against a reference id on the same cells.

    .venv/bin/python benchmarks/cv_tries.py RUN --reference cnn cnn-aug cnn-e30 ...

RUN is a workflow folder run with ``split.folds`` >= 2 in which each model id's fold jobs
(``results/models/<id>/folds/<k>/``) have finished; its final model and report are not
needed (``snakemake results/models/<id>/folds/{1..5}/predictions.tsv`` is enough). For
each id: cv accuracy and balanced accuracy with 95 % intervals (bootstrap over source
cells), the lowest per-class recall, the paired difference against ``--reference`` on the
same images (paired cluster bootstrap), and the fold jobs' training wall seconds and peak
memory (Snakemake's benchmark files). Prints a Markdown table for docs/benchmarks.md.

``--ensemble ID ID ...`` adds the workflow's ensemble of those ids (``wbc.ensemble``): weights
fitted on their out-of-fold rows, each cell voted by weights fitted without it (``vote``),
and its paired difference against its best member as well.

``--recipes NAME=ID+ID ...`` judges recipes rather than single trainings: each recipe is
the seeds of one setting (e.g. ``default=cnn+cnn_s7 window=cnn-n80+cnn-n80_s7``). An image
counts as the share of a recipe's seeds that got it right, so the paired difference of
two recipes is that of their expected accuracy over seeds; the table also gives each
recipe's seed-to-seed difference, the noise a single training carries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from wbc.ensemble import fit_weights, vote  # noqa: E402
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


def versus(table: pd.DataFrame, other: pd.DataFrame) -> str:
    """The paired difference in accuracy of ``table`` minus ``other`` on their shared images."""
    return versus_shares(right(table), right(other), table["group"])


def right(table: pd.DataFrame) -> pd.Series:
    """Per image, 1.0 where the prediction is the label."""
    return (table["predicted"] == table["label"]).astype(float)


def versus_shares(a: pd.Series, b: pd.Series, groups: pd.Series) -> str:
    """The paired difference of two per-image shares right (1/0 for one model, the share
    of its seeds for a recipe) on their shared images, bootstrapped over cells."""
    both = a.index.intersection(b.index)
    d = paired_difference(a.loc[both].to_numpy(), b.loc[both].to_numpy(), groups.loc[both])
    lo, hi = d["ci95"]
    return f"{d['difference']:+.3f} ({lo:+.3f} to {hi:+.3f})" + (
        " significant" if d["significant"] else ""
    )


def ensemble(run: Path, ids: list[str]) -> tuple[pd.DataFrame, dict]:
    """The cross-fitted ensemble of ``ids`` on their out-of-fold rows, and its fit."""
    tables = {m: pooled(run, m).reset_index().assign(split="cv") for m in ids}
    fit = fit_weights(tables)
    votes = vote(tables, fit).set_index("image").sort_index()
    return votes, fit


def seed_share(run: Path, ids: list[str]) -> pd.Series:
    """Per image, the share of ``ids`` (one setting's seeds) that predicted its label."""
    tables = [pooled(run, m) for m in ids]
    images = tables[0].index
    for t in tables[1:]:
        images = images.intersection(t.index)
    return sum(right(t).loc[images] for t in tables) / len(tables)


def recipes(run: Path, specs: list[str]) -> None:
    """Seed-averaged cv accuracy of each recipe ``NAME=ID+ID``, paired against the first."""
    parsed = [(s.split("=", 1)[0], s.split("=", 1)[1].split("+")) for s in specs]
    shares = {name: seed_share(run, ids) for name, ids in parsed}
    groups = pooled(run, parsed[0][1][0])["group"]
    first = parsed[0][0]
    print(
        f"\n| recipe (seeds) | cv accuracy, seed-averaged (95 % interval) | vs {first} "
        "| seed 1 minus seed 2 |"
    )
    print("|---|---|---|---|")
    for name, ids in parsed:
        share = shares[name]
        # accuracy and its interval: the paired bootstrap against a model never right
        acc = paired_difference(share.to_numpy(), 0 * share.to_numpy(), groups.loc[share.index])
        paired = "-" if name == first else versus_shares(shares[name], shares[first], groups)
        noise = "-"
        if len(ids) >= 2:
            a, b = pooled(run, ids[0]), pooled(run, ids[1])
            noise = versus(a, b)
        lo, hi = acc["ci95"]
        print(
            f"| {name} ({' + '.join(ids)}) | {acc['difference']:.3f} ({lo:.3f}-{hi:.3f}), "
            f"{len(share)} images | {paired} | {noise} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("ids", nargs="*")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="ID")
    parser.add_argument("--recipes", nargs="+", default=[], metavar="NAME=ID+ID")
    args = parser.parse_intermixed_args()
    reference = pooled(args.run, args.reference)
    print(
        "| model id | folds | cv accuracy (95 % interval) | balanced accuracy | "
        "lowest class recall | difference vs " + args.reference + " (95 % interval) "
        "| fold jobs: wall s (sum), peak MB |"
    )
    print("|---|---|---|---|---|---|---|")
    tables = {m: pooled(args.run, m) for m in dict.fromkeys([args.reference, *args.ids])}
    notes = []
    if args.ensemble:
        votes, fit = ensemble(args.run, args.ensemble)
        label = "ensemble of " + " + ".join(args.ensemble)
        tables[label] = votes
        best = max(args.ensemble, key=lambda m: fit["accuracy"][m])
        best_table = tables[best] if best in tables else pooled(args.run, best)
        notes.append(
            f"{label}: weights {fit['weights']} (fitted on {fit['fitted_rows']} cv rows; "
            f"log-loss mix {fit['mix_weights']}; guard, out of sample: mix "
            f"{fit['guard']['mix']:.4f}, best member {fit['guard']['best_member']:.4f}"
            f"{', best member only' if fit['best_member_only'] else ''}); cross-fitted "
            f"vote minus its best member {best}: {versus(votes, best_table)}"
        )
    for model_id, table in tables.items():
        classes = classes_of(table)
        p = table[[f"p_{c}" for c in classes]].to_numpy()
        m = evaluate(table["label"], p, classes, table["group"])
        lo, hi = m["ci95"]["accuracy"]
        blo, bhi = m["ci95"]["balanced_accuracy"]
        worst = min(m["per_class"].items(), key=lambda kv: kv[1]["recall"])
        paired = "-" if model_id == args.reference else versus(table, reference)
        if "fold" in table:
            folds = table["fold"].nunique()
            seconds, peak, jobs = cost(args.run, model_id)
            spent = f"{seconds:.0f} ({jobs} jobs), {peak:.0f}"
        else:  # the ensemble: its members' folds
            folds, spent = "-", "-"
        print(
            f"| {model_id} | {folds} | {m['accuracy']:.3f} ({lo:.3f}-{hi:.3f}), "
            f"{m['n']} images, {m['n_groups']} cells | {m['balanced_accuracy']:.3f} "
            f"({blo:.3f}-{bhi:.3f}) | {worst[0]} {worst[1]['recall']:.2f} | {paired} "
            f"| {spent} |"
        )
    for note in notes:
        print(f"\n{note}")
    if args.recipes:
        recipes(args.run, args.recipes)


if __name__ == "__main__":
    main()
