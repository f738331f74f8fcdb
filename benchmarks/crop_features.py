"""Crop methods x Random Forest features on the full archive (docs/benchmarks.md,
"Crop methods and haematologist features").

Stage ``features``: every TRAIN and TEST_SIMPLE image of a finished run's manifest,
cropped by each method (``reference``: the run's own crops, ``nucleus_window``: made
here from the originals) and resized to 64 px, then the improved recipe's forest features
(pixels at 16 px, colour histogram, HOG) and the ``morphology`` features, saved per method.

Stage ``evaluate``: with that run's split files (train/val grouped by source cell), one
forest per setting: 5-fold grouped cross-validation over all TRAIN cells (out-of-fold
accuracy, 95 % interval over source cells), val accuracy (trained on train) and
TEST_SIMPLE accuracy, train time and peak memory (a child process per fit).

    python benchmarks/crop_features.py features --run ../full/base --out bench/
    python benchmarks/crop_features.py evaluate --run ../full/base --out bench/
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from wbc.arrays import resize  # noqa: E402
from wbc.crop import crop_with, read_rgb  # noqa: E402
from wbc.models.rf import features, morphology  # noqa: E402
from wbc.stats import cluster_intervals  # noqa: E402

SIZE = 64  # the improved forest's image_size
IMPROVED = {"features": ["pixels", "colour_histogram", "hog"], "pixel_size": 16}


def crop_of(run: Path, qc_row, method: str, window: int):
    if method == "reference":
        return read_rgb(run / qc_row["crop"])
    original = read_rgb(run / "results" / "data" / "unpacked" / qc_row["image"])
    return crop_with(original, method, window).image


def stage_features(run: Path, out: Path, method: str, window: int) -> None:
    qc = pd.read_csv(run / "results" / "qc" / "crops.tsv", sep="\t", dtype=str).fillna("")
    qc = qc[(qc["status"] != "unreadable") & qc["image"].str.contains("/(?:TRAIN|TEST_SIMPLE)/")]
    images, base, morph = [], [], []
    start = time.perf_counter()
    for k, row in enumerate(qc.to_dict("records")):
        small = resize(crop_of(run, row, method, window), SIZE)
        images.append(row["image"])
        base.append(features(small[None], IMPROVED)[0])
        morph.append(morphology(small))
        if k % 1000 == 0:
            print(method, k, f"{time.perf_counter() - start:.0f} s", flush=True)
    tag = method if method == "reference" else f"{method}{window}"
    np.savez(
        out / f"features_{tag}.npz",
        images=np.asarray(images),
        base=np.asarray(base, np.float32),
        morph=np.asarray(morph, np.float32),
    )
    print(method, len(images), "images", f"{time.perf_counter() - start:.0f} s")


def fit_predict(args):
    """Fit a forest (in a child process: its peak memory is its own) and score rows."""
    from sklearn.ensemble import RandomForestClassifier

    x_train, y_train, x_score, trees, seed = args
    start = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=2)
    forest.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return forest.predict_proba(x_score), list(forest.classes_), seconds, peak_mb


def run_fit(pool, *args):
    return pool.apply(fit_predict, (args,))


def accuracy_with_interval(labels, predicted, groups, classes):
    index = {c: i for i, c in enumerate(classes)}
    t = np.asarray([index[x] for x in labels])
    p = np.asarray([index[x] for x in predicted])
    ci = cluster_intervals(t, p, list(groups), len(classes))
    return float((t == p).mean()), ci["accuracy"], ci["balanced_accuracy"]


def stage_evaluate(
    run: Path, out: Path, tags: list[str], trees: int, folds: int, feature_sets: list[str]
) -> None:
    from sklearn.model_selection import StratifiedGroupKFold

    splits = {
        s: pd.read_csv(run / "results" / "splits" / f"{s}.tsv", sep="\t", dtype=str)
        for s in ("train", "val", "test_simple")
    }
    ctx = get_context("spawn")
    results = []
    for tag in tags:
        data = np.load(out / f"features_{tag}.npz")
        row_of = {image: i for i, image in enumerate(data["images"])}
        for feats in feature_sets:
            x_all = {
                "base": data["base"],
                "morph": data["morph"],
                "base+morph": np.concatenate([data["base"], data["morph"]], axis=1),
            }[feats]
            x = {s: x_all[[row_of[i] for i in t["image"]]] for s, t in splits.items()}
            y = {s: t["label"].to_numpy() for s, t in splits.items()}
            g = {s: t["group"].to_numpy() for s, t in splits.items()}
            record = {"crop": tag, "features": feats, "trees": trees}
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                # cross-validation over every TRAIN cell (train + val), grouped by cell
                cv_x = np.concatenate([x["train"], x["val"]])
                cv_y = np.concatenate([y["train"], y["val"]])
                cv_g = np.concatenate([g["train"], g["val"]])
                oof = np.empty(len(cv_y), dtype=object)
                oof_p = np.zeros((len(cv_y), len(np.unique(cv_y))))
                folder = StratifiedGroupKFold(folds, shuffle=True, random_state=42)
                fold_seconds, peaks = [], []
                for train_idx, test_idx in folder.split(cv_x, cv_y, cv_g):
                    p, classes, seconds, peak = run_fit(
                        pool, cv_x[train_idx], cv_y[train_idx], cv_x[test_idx], trees, 42
                    )
                    oof[test_idx] = np.asarray(classes)[p.argmax(axis=1)]
                    oof_p[test_idx] = p
                    fold_seconds.append(seconds)
                    peaks.append(peak)
                acc, ci, bal = accuracy_with_interval(cv_y, oof, cv_g, classes)
                record.update(
                    cv=acc,
                    cv_ci=ci,
                    cv_balanced_ci=bal,
                    cv_balanced=float(np.mean([np.mean(oof[cv_y == c] == c) for c in classes])),
                )
                record["cv_recall"] = {
                    c: round(float(np.mean(oof[cv_y == c] == c)), 3) for c in classes
                }
                # train -> val and TEST_SIMPLE
                p, classes, seconds, peak = run_fit(
                    pool,
                    x["train"],
                    y["train"],
                    np.concatenate([x["val"], x["test_simple"]]),
                    trees,
                    42,
                )
            predicted = np.asarray(classes)[p.argmax(axis=1)]
            n_val = len(y["val"])
            acc, ci, _ = accuracy_with_interval(y["val"], predicted[:n_val], g["val"], classes)
            record.update(val=acc, val_ci=ci)
            acc, ci, _ = accuracy_with_interval(
                y["test_simple"], predicted[n_val:], g["test_simple"], classes
            )
            record.update(
                test_simple=acc,
                test_simple_ci=ci,
                train_seconds=round(seconds, 1),
                fold_seconds=round(float(np.mean(fold_seconds)), 1),
                peak_mb=round(max(peaks + [peak])),
            )
            np.savez(
                out / f"proba_{tag}_{feats}.npz",
                oof=oof_p,
                scored=p,
                classes=np.asarray(classes),
            )
            results.append(record)
            print(json.dumps({k: v for k, v in record.items() if k != "oof"}), flush=True)
            (out / "results.json").write_text(json.dumps(results))
    # the rows of the saved probabilities: cv (train then val images), then val, TEST_SIMPLE
    rows = {
        "cv": pd.concat([splits["train"], splits["val"]])[["image", "label", "group"]],
        "scored": pd.concat(
            [splits["val"].assign(split="val"), splits["test_simple"].assign(split="test_simple")]
        )[["image", "label", "group", "split"]],
    }
    for name, table in rows.items():
        table.to_csv(out / f"rows_{name}.tsv", sep="\t", index=False)


def stage_ensemble(out: Path, members: list[str]) -> None:
    """Weights fitted by ``wbc.ensemble.fit_weights`` on the members' out-of-fold rows;
    the weighted vote's accuracy on cv (weights fitted there: a few parameters, in-sample),
    val and TEST_SIMPLE, and its paired difference against each member on cv."""
    from wbc.ensemble import fit_weights, soft_vote
    from wbc.stats import paired_difference

    cv_rows = pd.read_csv(out / "rows_cv.tsv", sep="\t", dtype=str)
    scored_rows = pd.read_csv(out / "rows_scored.tsv", sep="\t", dtype=str)
    tables = {}
    for member in members:
        data = np.load(out / f"proba_{member}.npz")
        columns = [f"p_{c}" for c in data["classes"]]
        parts = []
        for split_rows, p in (
            (cv_rows.assign(split="cv"), data["oof"]),
            (scored_rows, data["scored"]),
        ):
            frame = split_rows[["image", "split", "label", "group"]].reset_index(drop=True)
            frame["predicted"] = data["classes"][p.argmax(axis=1)]
            parts.append(pd.concat([frame, pd.DataFrame(p, columns=columns)], axis=1))
        tables[member] = pd.concat(parts, ignore_index=True)
    fit = fit_weights(tables)
    votes = soft_vote(tables, fit["weights"])
    report = {"members": members, **fit}
    for split in ("cv", "val", "test_simple"):
        rows = votes[votes["split"] == split]
        labels = rows["label"].to_numpy()
        acc, ci, _ = accuracy_with_interval(
            labels, rows["predicted"], rows["group"], sorted(set(labels))
        )
        report[split] = {"accuracy": acc, "ci": ci}
        if split == "cv":
            for member, table in tables.items():
                theirs = table[table["split"] == "cv"].set_index("image").loc[rows["image"]]
                report[split][f"minus_{member}"] = paired_difference(
                    (rows["predicted"] == rows["label"]).to_numpy(),
                    (theirs["predicted"] == theirs["label"]).to_numpy(),
                    rows["group"].to_numpy(),
                )
    print(json.dumps(report, default=float, indent=1))
    (out / f"ensemble_{'+'.join(members)}.json").write_text(json.dumps(report, default=float))


def stage_compare(out: Path, members: list[str]) -> None:
    """Paired differences (bootstrap over source cells) of each setting against the first,
    on cv and on TEST_SIMPLE."""
    from wbc.stats import paired_difference

    cv_rows = pd.read_csv(out / "rows_cv.tsv", sep="\t", dtype=str)
    scored_rows = pd.read_csv(out / "rows_scored.tsv", sep="\t", dtype=str)
    test = (scored_rows["split"] == "test_simple").to_numpy()

    def correct(member):
        data = np.load(out / f"proba_{member}.npz")
        classes = data["classes"]
        cv = classes[data["oof"].argmax(axis=1)] == cv_rows["label"].to_numpy()
        scored = classes[data["scored"].argmax(axis=1)] == scored_rows["label"].to_numpy()
        return cv, scored[test]

    base_cv, base_test = correct(members[0])
    report = {}
    for member in members[1:]:
        cv, test_correct = correct(member)
        report[f"{member} - {members[0]}"] = {
            "cv": paired_difference(cv, base_cv, cv_rows["group"].to_numpy()),
            "test_simple": paired_difference(
                test_correct, base_test, scored_rows.loc[test, "group"].to_numpy()
            ),
        }
    print(json.dumps(report, indent=1))
    (out / f"compare_{members[0]}.json").write_text(json.dumps(report))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["features", "evaluate", "ensemble", "compare"])
    parser.add_argument("--members", nargs="+", help="ensemble: <tag>_<features> of each")
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--method", default="reference")
    parser.add_argument("--window", type=int, default=96)
    parser.add_argument("--tags", nargs="+", default=["reference", "nucleus_window96"])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--feature-sets", nargs="+", default=["base", "base+morph", "morph"])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "features":
        stage_features(args.run, args.out, args.method, args.window)
    elif args.stage == "ensemble":
        stage_ensemble(args.out, args.members)
    elif args.stage == "compare":
        stage_compare(args.out, args.members)
    else:
        stage_evaluate(args.run, args.out, args.tags, args.trees, args.folds, args.feature_sets)


if __name__ == "__main__":
    main()
