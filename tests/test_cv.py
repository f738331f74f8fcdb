"""Grouped K-fold cross-validation (config key split.folds): folds over TRAIN's source
cells, one job per (model, fold), the out-of-fold predictions pooled into split cv, and
the figures and choices made from it; test figures that score no TRAIN cell by default."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import (
    copy_workflow,
    run_snakemake,
    scheduled_jobs,
    shared_archive,
    write_config,
)
from wbc.metrics import evaluate, read_predictions
from wbc.predict import best_model
from wbc.runtime import UserError
from wbc.splits import cv_folds

FOLDS = 3
# small images, few trees, a small CNN and two epochs: minutes on 2 cores
QUICK = {
    "image_size": 32,
    "crop": {"shards": 4},
    "split": {"folds": FOLDS},
    "models": {
        "enabled": ["rf", "cnn"],
        "rf": {"n_estimators": 20},
        # restore_best: the fold chooses its epoch on an inner split (the test's subject)
        "cnn": {"epochs": 2, "width": 0.25, "dense_units": 16, "restore_best": True},
    },
}


@pytest.fixture(scope="module")
def cross_validated(tmp_path_factory):
    """The Random Forest and the CNN cross-validated (3 folds) on the real mini archive."""
    archive = shared_archive("blood-cells-mini.zip")
    workdir = copy_workflow(tmp_path_factory.mktemp("cv") / "wf")
    cfg = write_config(workdir, source=str(archive), **QUICK)
    run_snakemake(workdir, "--configfile", str(cfg))
    return workdir


def tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.mark.slow
def test_every_train_image_is_held_out_once_and_no_cell_crosses_a_fold(cross_validated):
    splits = cross_validated / "results" / "splits"
    folds = tsv(splits / "folds.tsv")
    train = pd.concat([tsv(splits / "train.tsv"), tsv(splits / "val.tsv")])
    # every TRAIN image of the split files in exactly one held-out fold
    assert sorted(folds["image"]) == sorted(train["image"])
    assert not folds["image"].duplicated().any()
    assert set(folds["fold"].astype(int)) == set(range(1, FOLDS + 1))
    # a source cell's images all in one fold: no cell on both sides of any fold
    assert (folds.groupby("group")["fold"].nunique() == 1).all()
    assert folds["group"].nunique() == train["group"].nunique()
    for model in ("rf", "cnn"):
        for k in range(1, FOLDS + 1):
            held = folds[folds["fold"] == str(k)]
            scored = tsv(cross_validated / f"results/models/{model}/folds/{k}/predictions.tsv")
            # a fold's model scores exactly its held-out images, none of its training cells
            assert sorted(scored["image"]) == sorted(held["image"]) and set(scored["split"]) == {
                "cv"
            }
            metrics = json.loads(
                (cross_validated / f"results/models/{model}/folds/{k}/metrics.json").read_text()
            )
            assert metrics["n_train"] + metrics["n_inner_val"] + len(held) == len(train)
            # the CNN keeps its best epoch: chosen on an inner split of its training cells,
            # none of them held out
            assert (metrics["n_inner_val"] > 0) == (model == "cnn")
            assert not set(metrics["inner_val_cells"]) & set(held["group"])
            inner = folds[folds["group"].isin(metrics["inner_val_cells"])]
            assert len(inner) == metrics["n_inner_val"]
    # deterministic for a seed; another seed gives other folds
    rows = train.to_dict("records")
    assert cv_folds(rows, FOLDS, 42) == cv_folds(list(reversed(rows)), FOLDS, 42)
    assert cv_folds(rows, FOLDS, 42) != cv_folds(rows, FOLDS, 7)
    assert [r["fold"] for r in cv_folds(rows, FOLDS, 42)] == folds["fold"].astype(int).tolist()


@pytest.mark.slow
def test_pooled_cv_metrics_equal_a_recomputation_from_the_folds(cross_validated):
    results = cross_validated / "results"
    n_cells = tsv(results / "splits" / "folds.tsv")["group"].nunique()
    table = pd.read_csv(results / "report" / "metrics.tsv", sep="\t")
    for model in ("rf", "cnn"):
        folder = results / "models" / model
        metrics = json.loads((folder / "metrics.json").read_text())
        pooled = pd.concat(
            [read_predictions(folder / f"folds/{k}/predictions.tsv") for k in range(1, FOLDS + 1)]
        ).sort_values("image")
        classes = metrics["classes"]
        again = evaluate(
            pooled["label"],
            pooled[[f"p_{c}" for c in classes]].to_numpy(),
            classes,
            pooled["group"],
        )
        assert metrics["cv"] == again
        assert metrics["cv"]["n_groups"] == n_cells
        # the model's predictions.tsv holds the same rows as split cv
        mine = read_predictions(folder / "predictions.tsv")
        cv = mine[mine["split"] == "cv"].sort_values("image").reset_index(drop=True)
        pd.testing.assert_frame_equal(cv, pooled.reset_index(drop=True), check_exact=False)
        assert set(mine["split"]) == {"cv", "test_simple"}  # val is trained on: not scored
        assert "val" not in metrics and len(metrics["cv_folds"]["fold_accuracy"]) == FOLDS
        row = table[(table["model"] == model) & (table["split"] == "cv")].iloc[0]
        assert row["accuracy"] == pytest.approx(again["accuracy"], abs=1e-6)
        assert row["accuracy_lo"] == pytest.approx(again["ci95"]["accuracy"][0], abs=1e-6)
        assert row["n_groups"] == n_cells
    # the final CNN: all of TRAIN, for the median of the epochs its folds kept
    cnn = json.loads((results / "models" / "cnn" / "metrics.json").read_text())
    chosen = int(round(float(np.median(cnn["cv_folds"]["best_epochs"]))))
    assert cnn["best_epoch"] == chosen
    assert len(tsv(results / "models" / "cnn" / "history.tsv")) == chosen
    # paired comparisons on every TRAIN cell, and the ensemble scored on cv too
    pairs = pd.read_csv(results / "report" / "comparisons.tsv", sep="\t")
    on_cv = pairs[pairs["split"] == "cv"]
    assert {("rf", "cnn"), ("rf", "ensemble"), ("cnn", "ensemble")} <= set(
        zip(on_cv["model_a"], on_cv["model_b"], strict=True)
    )
    ensemble = json.loads((results / "models" / "ensemble" / "metrics.json").read_text())
    assert ensemble["cv"]["n"] == metrics["cv"]["n"]
    # the report's first screen measures on cv
    headline = (results / "report" / "sections" / "headline.html").read_text()
    assert f"{metrics['cv']['n']} images of {n_cells}" in headline


@pytest.mark.slow
def test_a_test_image_of_a_train_cell_is_not_scored_by_default(cross_validated):
    splits = cross_validated / "results" / "splits"
    leaks = tsv(splits / "test_leaks.tsv")
    cells = leaks[leaks["kind"] == "same source cell"]
    assert len(cells) >= 1 and set(cells["scored"]) == {"False"}
    scored = set(tsv(splits / "test_simple.tsv")["image"])
    assert not scored & set(cells["image"])
    # listed where the report's dataset section tells the reader
    dataset = (cross_validated / "results/report/sections/dataset.html").read_text()
    assert all(image in dataset for image in cells["image"])


def test_predict_best_chooses_by_cv_where_every_model_has_it(tmp_path):
    def metrics(name, **accuracy):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({s: {"accuracy": a} for s, a in accuracy.items()}))
        return str(path)

    with_cv = {"a": metrics("a", cv=0.80, val=0.95), "b": metrics("b", cv=0.85, val=0.90)}
    assert best_model(with_cv) == "b"
    without = {"a": metrics("a2", val=0.95), "b": metrics("b2", val=0.90)}
    assert best_model(without) == "a"


def test_folds_that_cannot_hold_every_class_are_refused():
    rows = [
        {"image": f"{label}{i}", "label": label, "group": f"{label}{i // 2}"}
        for label, n in (("A", 8), ("B", 2))
        for i in range(n)
    ]
    with pytest.raises(UserError, match=r"split.folds' = 3: fold \d holds out every source"):
        cv_folds(rows, 3, 42)  # B: one cell
    with pytest.raises(UserError, match="split.folds' = 9: TRAIN has only 5 source cells"):
        cv_folds(rows, 9, 42)


def test_a_folds_parts_hold_out_its_cells_and_read_their_own_pixels(tmp_path):
    """fold_parts: the fold's images held out, the rest fitted on (train and val arrays
    together), the inner val a grouped share of the fitted cells, each image's pixels its
    own; a fold the table lacks is refused."""
    from wbc.arrays import write_npy
    from wbc.io import write_tsv
    from wbc.models.training import fold_parts, load_splits
    from wbc.splits import FOLD_COLUMNS

    rows, tables, arrays = [], {}, {}
    for name, first, n in (("train", 0, 30), ("val", 30, 10)):
        part = [
            {"image": f"{name}/{i}.png", "label": "AB"[i % 2], "group": f"cell{i // 2}"}
            for i in range(first, first + n)
        ]
        # image i's pixels are all i: the rows read back say which image they are
        x = np.repeat(np.arange(first, first + n, dtype=np.uint8), 4 * 4 * 3).reshape(n, 4, 4, 3)
        tables[name], arrays[name] = tmp_path / f"{name}.tsv", tmp_path / f"{name}.npy"
        write_tsv(tables[name], part, ["image", "label", "group"])
        write_npy(arrays[name], x.shape, np.uint8, [x])
        rows += part
    folds, assigned = tmp_path / "folds.tsv", cv_folds(rows, FOLDS, 42)
    write_tsv(folds, assigned, FOLD_COLUMNS)
    splits = load_splits(tables, arrays)
    fold_of = {r["image"]: int(r["fold"]) for r in assigned}

    def pixels(split):
        return [int(split.rows.read([i])[0, 0, 0, 0]) for i in range(len(split))]

    for k in range(1, FOLDS + 1):
        train, val, heldout = fold_parts(splits, folds, k, None)
        assert val is None and {fold_of[i] for i in heldout.images} == {k}
        assert sorted(train.images + heldout.images) == sorted(fold_of)
        for split in (train, heldout):  # the rows are the images', wherever they came from
            assert pixels(split) == [int(i.split("/")[1][:-4]) for i in split.images]
        inner_train, inner_val, same = fold_parts(splits, folds, k, (0.25, 42))
        assert same.images == heldout.images
        assert sorted(inner_train.images + inner_val.images) == sorted(train.images)
        cells = [set(s.groups) for s in (inner_train, inner_val, same)]
        assert not (cells[0] & cells[1] or cells[0] & cells[2] or cells[1] & cells[2])
    with pytest.raises(UserError, match=r"has no fold 4: remake it"):
        fold_parts(splits, folds, FOLDS + 1, None)


def test_dry_run_plans_a_job_per_model_and_fold_and_one_final_model(workflow_dir, mini_zip):
    models = {
        "enabled": ["rf", "cnn"],
        "cnn": {"variants": {"lr": {"learning_rate": 0.01}, "e2": {"epochs": 2}}},
    }
    cfg = write_config(workflow_dir, source=str(mini_zip), split={"folds": 3}, models=models)
    dry = run_snakemake(workflow_dir, "--configfile", str(cfg), "--dry-run")
    jobs = scheduled_jobs(dry)
    # cnn, cnn-lr, cnn-e2 and the forest: three folds each, one final model each
    assert jobs["train_cnn_fold"] == 3 * 3 and jobs["train_rf_fold"] == 3
    assert jobs["train_cnn"] == 3 and jobs["train_rf"] == 1 and jobs["folds"] == 1
    for model in ("cnn", "cnn-lr", "cnn-e2", "rf"):
        for k in (1, 2, 3):
            assert f"results/models/{model}/folds/{k}/predictions.tsv" in dry.stdout
    # folds are numbered 1..K: fold 0 or K + 1 is refused when the DAG is built
    for k in (0, 4):
        target = f"results/models/cnn/folds/{k}/predictions.tsv"
        wrong = run_snakemake(
            workflow_dir, target, "--configfile", str(cfg), "--dry-run", check=False
        )
        said = wrong.stdout + wrong.stderr
        assert wrong.returncode != 0 and f"No rule to produce {target}" in said, said
    # K = 1 (the default): no folds, no fold jobs
    cfg = write_config(workflow_dir, source=str(mini_zip), models=models)
    jobs = scheduled_jobs(run_snakemake(workflow_dir, "--configfile", str(cfg), "--dry-run"))
    assert "folds" not in jobs and not [j for j in jobs if j.endswith("_fold")]
    assert jobs["train_cnn"] == 3
