"""The comparison report: ensemble, metrics table, HTML page, `snakemake --report`.

The slow tests run the real workflow (crop, split, the three training rules with a tiny
config, ensemble, figures, report) once per module and check the results; the browser
test opens the page in real headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

import browser
from conftest import (
    REPO,
    copy_workflow,
    run_snakemake,
    scheduled_jobs,
    shared_archive,
    write_config,
)
from synthetic import make_dataset
from wbc import CLASSES
from wbc.ensemble import ensemble_metrics, fit_weights, soft_vote, vote
from wbc.metrics import read_predictions
from wbc.report.calibration import fit_temperature, reliability, scale
from wbc.report.common import METRIC_COLUMNS
from wbc.report.common import SPLIT_NAMES as EVAL_SPLITS
from wbc.report.comparison import (
    above_reference_sentence,
    shared_errors,
    shared_errors_sentence,
)
from wbc.report.headline import best_sentence
from wbc.report.model import roc_summary
from wbc.report.run_facts import benchmark_table, find_seeds
from wbc.report.sections import SECTIONS, heading
from wbc.report.sections import section as section_of
from wbc.runtime import UserError

# screenshots of the report, kept for a person to look at (git-ignored)
ARTIFACTS = REPO / "tests" / "artifacts"
# small enough to train in seconds on 2 cores; every model still runs its real code path
TINY_MODELS = {
    "rf": {"n_estimators": 20},
    "vgg16": {"epochs": 1, "weights": None},
    "cnn": {"epochs": 2, "restore_best": True},  # the epoch it keeps is chosen on val
}
PROBABILITIES = [f"p_{c}" for c in CLASSES]


# --- unit tests on artefacts of real sklearn models ------------------------------------------


def sklearn_predictions(seed: int = 0) -> dict[str, pd.DataFrame]:
    """predictions.tsv tables of three real classifiers on a 4-class problem."""
    X, y = make_classification(
        n_samples=160, n_features=12, n_informative=8, n_classes=4, random_state=seed
    )
    labels = np.asarray(CLASSES)[y]
    train, scored = slice(0, 100), slice(100, None)
    images = [f"TRAIN/{labels[i]}/img_{i:03d}.jpeg" for i in range(len(y))][scored]
    splits = ["val"] * 40 + ["test"] * 20
    tables = {}
    for name, model in {
        "rf": RandomForestClassifier(n_estimators=30, random_state=seed),
        "logreg": LogisticRegression(max_iter=500),
        "knn": KNeighborsClassifier(7),
    }.items():
        model.fit(X[train], labels[train])
        assert list(model.classes_) == list(CLASSES)
        p = model.predict_proba(X[scored])
        table = pd.DataFrame(
            {
                "image": images,
                "split": splits,
                "label": labels[scored],
                "group": [f"cell{i // 3}" for i in range(len(images))],  # 3 copies a cell
                "predicted": model.predict(X[scored]),
            }
        )
        tables[name] = pd.concat([table, pd.DataFrame(p, columns=PROBABILITIES)], axis=1)
    return tables


def test_soft_vote_is_the_mean_of_the_models_probabilities():
    tables = sklearn_predictions()
    # a model may list its rows in another order: rows are matched by (split, image)
    tables["knn"] = tables["knn"].sample(frac=1, random_state=1).reset_index(drop=True)
    votes = soft_vote(tables)

    assert list(votes["image"]) == list(tables["rf"]["image"])
    keyed = {m: t.set_index(["split", "image"]) for m, t in tables.items()}
    index = pd.MultiIndex.from_frame(votes[["split", "image"]])
    expected = sum(keyed[m].loc[index, PROBABILITIES].to_numpy() for m in keyed) / 3
    np.testing.assert_allclose(votes[PROBABILITIES].to_numpy(), expected)
    np.testing.assert_allclose(votes[PROBABILITIES].sum(axis=1), 1.0)
    assert list(votes["predicted"]) == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert list(votes["label"]) == list(tables["rf"]["label"])
    # averaging helps here, as it usually does: not worse than the weakest member
    accuracy = {m: (t["label"] == t["predicted"]).mean() for m, t in tables.items()}
    assert (votes["label"] == votes["predicted"]).mean() >= min(accuracy.values())


def test_soft_vote_refuses_models_that_scored_different_images():
    tables = sklearn_predictions()
    tables["logreg"] = tables["logreg"].iloc[1:]
    with pytest.raises(UserError, match="scored different images"):
        soft_vote(tables)


def test_ensemble_metrics_use_the_models_evaluate():
    from wbc.metrics import evaluate

    tables = sklearn_predictions()
    votes = soft_vote(tables)
    members = {m: {"model": m, "train_seconds": 2.0, "device": "cpu"} for m in tables}
    metrics = ensemble_metrics(votes, members)
    assert metrics["model"] == "ensemble" and metrics["members"] == list(tables)
    assert metrics["train_seconds"] == 6.0
    for split in ("val", "test"):
        rows = votes[votes["split"] == split]
        assert metrics[split] == evaluate(
            rows["label"].tolist(), rows[PROBABILITIES].to_numpy(), CLASSES, rows["group"]
        )
        assert metrics[split]["n"] == len(rows)


def test_roc_summary_skips_classes_absent_from_a_split():
    tables = sklearn_predictions()
    rows = tables["rf"][tables["rf"]["label"] != "MONOCYTE"]
    summary = roc_summary(rows["label"], rows[PROBABILITIES].to_numpy(), list(CLASSES))
    assert "MONOCYTE" not in summary
    present = [c for c in CLASSES if c != "MONOCYTE"]
    assert summary["macro"] == pytest.approx(np.mean([summary[c] for c in present]))
    y = np.column_stack([rows["label"] == c for c in present])
    p = rows[[f"p_{c}" for c in present]].to_numpy()
    assert summary["micro"] == pytest.approx(roc_auc_score(y, p, average="micro"))


def test_figures_are_found_by_the_end_of_their_path():
    """A section names its figures as its job wrote them (a temporary folder of the job's);
    the assembly finds each among the report's inputs by the end of its path."""
    from wbc.report.assemble import find_figure

    figures = [
        "results/report/figures/rf/roc_curves.png",
        "results/report/figures/cnn/roc_curves.png",
        "results/report/figures/headline.png",
    ]
    staged = "results/report/.staged-1a2b3c4d/figures/cnn/roc_curves.png"
    assert find_figure(staged, figures) == figures[1]
    assert find_figure("results/report/figures/headline.png", figures) == figures[2]
    with pytest.raises(ValueError, match="no single figure"):
        find_figure("elsewhere/roc_curves.png", figures)  # rf's or cnn's?


def test_reliability_bins_are_calibration_curves_with_counts():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.25, 1.0, 500)
    correct = (rng.uniform(size=500) < confidence**2).astype(int)  # overconfident
    bins = reliability(confidence, correct)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=10)
    np.testing.assert_allclose(bins["accuracy"], accuracy)
    np.testing.assert_allclose(bins["mean_confidence"], mean_confidence)
    assert bins["images"].sum() == 500
    for row in bins.itertuples():
        inside = (confidence > row.bin_lo) & (confidence <= row.bin_hi)
        assert row.images == inside.sum()
        assert row.accuracy == pytest.approx(correct[inside].mean())


def test_temperature_scaling_fitted_on_held_out_predictions_calibrates_an_overconfident_model():
    tables = sklearn_predictions()
    rows = tables["rf"]
    p = rows[PROBABILITIES].to_numpy()
    sharp = scale(np.log(np.clip(p, 1e-12, 1)), 0.25)  # the forest made four times as sure
    fit, held_out = rows["split"] == "val", rows["split"] == "test"
    temperature = fit_temperature(sharp[fit], rows.loc[fit, "label"].to_numpy(), list(CLASSES))
    assert temperature > 1  # it softens an overconfident model
    calibrated = scale(np.log(np.clip(sharp, 1e-12, 1)), temperature)
    # the argmax, so every prediction and the accuracy, is unchanged
    assert (calibrated.argmax(axis=1) == sharp.argmax(axis=1)).all()
    labels = rows.loc[held_out, "label"].map(list(CLASSES).index).to_numpy()

    def log_loss(q):
        return -np.log(np.clip(q[np.flatnonzero(held_out), labels], 1e-12, 1)).mean()

    assert log_loss(calibrated) < log_loss(sharp)


def test_seeds_are_found_anywhere_in_the_config():
    config = {
        "split": {"seed": 42},
        "models": {"rf": {"random_state": 1, "seed": 7}},
        "seeded": {"x": 1},
    }
    assert find_seeds(config) == {"split.seed": 42, "models.rf.seed": 7}


def test_shared_errors_are_the_cells_every_model_gets_mostly_wrong():
    def predictions(wrong: set) -> pd.DataFrame:
        rows = [
            {
                "image": f"{cell}{k}", "split": "val", "label": "EOSINOPHIL", "group": cell,
                "predicted": "NEUTROPHIL" if (cell, k) in wrong else "EOSINOPHIL",
            }
            for cell, copies in (("A", 4), ("B", 2), ("C", 3))
            for k in range(copies)
        ]  # fmt: skip
        return pd.DataFrame(rows)

    # A: 3 of 4 wrong for both; B: 2 of 2, then 1 of 2 (half is not most); C: 1 of 3
    a = predictions({("A", 0), ("A", 1), ("A", 2), ("B", 0), ("B", 1), ("C", 0)})
    b = predictions({("A", 0), ("A", 1), ("A", 3), ("B", 0), ("C", 0), ("C", 1)})
    shared = shared_errors({"a": a, "b": b}, "val")
    assert shared.to_dict("records") == [
        {"group": "A", "label": "EOSINOPHIL", "copies": 4, "called": "NEUTROPHIL",
         "least_wrong": 0.75},
    ]  # fmt: skip
    assert shared_errors({"a": a, "b": b}, "test").empty  # a split no model scored
    sentence = shared_errors_sentence(shared, 9, "val")
    assert "two class folders" not in sentence
    assert sentence.startswith("On val, 1 source cell (4 images, 44.4% of its images) is ")

    # one cell's copies in two folders (one slide filed under two classes): both labels
    # shown, and the sentence says why no answer wins all of them
    a.loc[a["image"] == "A3", "label"] = b.loc[b["image"] == "A3", "label"] = "MONOCYTE"
    shared = shared_errors({"a": a, "b": b}, "val")
    assert shared["label"].tolist() == ["EOSINOPHIL, MONOCYTE"]
    sentence = shared_errors_sentence(shared, 9, "val")
    assert " It has copies in two class folders" in sentence
    # two cells, one of them in two folders
    c = pd.DataFrame([{**shared.iloc[0], "group": "C", "label": "EOSINOPHIL"}])
    sentence = shared_errors_sentence(pd.concat([shared, c]), 9, "val")
    assert "2 source cells (8 images" in sentence and "1 of them has copies" in sentence


def test_the_headline_names_the_models_no_better_than_chance_below_the_best():
    rows = pd.DataFrame(
        {
            "model": ["ensemble", "cnn", "rf"],
            "accuracy": [0.87, 0.86, 0.70],
            "accuracy_lo": [0.75, 0.74, 0.60],
            "accuracy_hi": [0.97, 0.97, 0.80],
        }
    )

    def pairs(cnn_significant: bool) -> pd.DataFrame:
        return pd.DataFrame(
            [
                ("val", "ensemble", "cnn", 0.01, -0.001, 0.02, cnn_significant),
                ("val", "rf", "ensemble", -0.17, -0.25, -0.10, True),
                ("val", "cnn", "rf", 0.16, 0.09, 0.24, True),
            ],
            columns=["split", "model_a", "model_b", "difference", "difference_lo",
                     "difference_hi", "significant"],
        )  # fmt: skip

    titles = {"ensemble": "ensemble", "cnn": "custom CNN", "rf": "Random Forest"}
    tied = best_sentence(rows, pairs(False), "val", titles)
    assert tied.startswith("<strong>Ensemble (weighted vote)</strong> scores highest, with ")
    assert "accuracy 0.870 (0.750" in tied
    assert "but custom CNN is not distinguishable from it" in tied
    assert "Random Forest" not in tied
    clear = best_sentence(rows, pairs(True), "val", titles)
    assert "every other model scores below it by a real difference" in clear
    assert best_sentence(rows.iloc[:1], pairs(True), "val", titles).startswith("The one model")


def test_the_comparison_says_which_models_beat_the_studys_leaky_figure():
    table = pd.DataFrame(
        {
            "model": ["rf", "cnn", "vgg16", "rf"],
            "split": ["val", "val", "val", "test"],
            "accuracy": [0.84, 0.86, 0.47, 0.70],
        }
    )
    reference = {"rf": 0.79, "cnn": 0.965, "vgg16": None}
    titles = {"rf": "Random Forest", "cnn": "custom CNN", "vgg16": "VGG16"}
    recipes = {"rf": "improved", "cnn": "improved", "vgg16": "improved"}
    sentence = above_reference_sentence(table, recipes, titles, reference, "val", "val")
    assert sentence.startswith("On the val, Random Forest scores at or above the study's")
    assert "improved recipe" in sentence and "custom CNN" not in sentence
    assert above_reference_sentence(table, recipes, titles, reference, "test", "TEST") == ""
    same = above_reference_sentence(
        table, {**recipes, "rf": "reference"}, titles, reference, "val", "val"
    )
    assert "with the study's own recipe" in same


def test_a_sections_files_number_and_category_follow_from_its_entry():
    """wbc.report.sections: paths, numbers and snakemake --report categories from SECTIONS
    alone (the rules report.smk makes read them)."""
    model, headline = section_of("model"), section_of("headline")
    assert model.fragment() == "results/report/sections/model/{model}.html"
    assert model.files(model.fragment(), ["rf", "cnn"]) == [
        "results/report/sections/model/rf.html",
        "results/report/sections/model/cnn.html",
    ]
    assert model.job_file("logs") == "results/logs/report_model/{model}.log"
    assert headline.job_file("benchmarks") == "results/benchmarks/report_headline.tsv"
    assert model.figure_files("cnn")[0] == "results/report/figures/cnn/confusion_matrices.png"
    outputs = model.outputs()
    assert outputs["error_table"][0] == "results/report/errors/{model}.tsv"
    assert not outputs["margins"][1].reported and outputs["roc"][1].reported
    # the fragment shows every caption of its figures and of those it reads
    assert model.caption_files()["training"] == "training_curves.rst"
    assert "margins" not in model.caption_files()
    numbered = [s for s in SECTIONS if s.numbered]
    assert [heading(s.id) for s in numbered] == [
        f"{k}. {s.title}" for k, s in enumerate(numbered, start=1)
    ]
    assert headline.category == "0. Headline" and heading("headline") == "Headline"
    assert model.report_place() == {"category": model.category, "subcategory": "{model}"}
    assert SECTIONS[-1].id == "run_facts"  # it describes the jobs of the others


# --- the real workflow ----------------------------------------------------------------------


# the slide of the mini archive whose cell the fixture files under two classes
TWO_LABELS = "BloodImage_00016"


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory):
    """The whole workflow on the real mini archive, plus two images the crop step fails on
    and copies of one slide's cell in two class folders."""
    mini_zip = shared_archive("blood-cells-mini.zip")
    root = tmp_path_factory.mktemp("report")
    data = root / "data"
    with zipfile.ZipFile(mini_zip) as zf:
        zf.extractall(data)
    images = next(data.rglob("TRAIN"))
    neutrophil = sorted((images / "NEUTROPHIL").iterdir())[0]
    # a half-copied JPEG (unreadable) and a field with no stained cell (no_cell_found)
    (images / "NEUTROPHIL" / "half_copied.jpeg").write_bytes(neutrophil.read_bytes()[:2000])
    blank = np.full((240, 320, 3), 235, np.uint8)
    cv2.imwrite(str(images / "LYMPHOCYTE" / "empty_field.jpeg"), blank)
    # copies of one slide's cell (cut as Kaggle's are: 320x240 windows of the 640x480
    # slide) in two class folders: one cell under two labels
    slide = cv2.imread(str(next(data.rglob("JPEGImages")) / f"{TWO_LABELS}.jpg"))
    for k, (label, x, y) in enumerate(
        [("NEUTROPHIL", 80, 80), ("NEUTROPHIL", 60, 100), ("LYMPHOCYTE", 70, 90)]
    ):
        cv2.imwrite(str(images / label / f"two_labels_{k}.jpeg"), slide[y : y + 240, x : x + 320])

    workdir = copy_workflow(root / "wf")
    cfg = write_config(
        workdir, source=str(data), image_size=32, crop={"shards": 2}, models=TINY_MODELS
    )
    run_snakemake(workdir, "--configfile", str(cfg))
    return workdir


def test_the_report_names_a_cell_filed_under_two_classes(mini_run):
    """The integrity check finds the copies of one slide's cell in two class folders,
    keeps them (the default), and the report's dataset section names the slide."""
    results = mini_run / "results"
    verdicts = pd.read_csv(results / "integrity.tsv", sep="\t", dtype=str, keep_default_na=False)
    groups = pd.read_csv(results / "groups.tsv", sep="\t", dtype=str, keep_default_na=False)
    flagged = verdicts[verdicts["cell_under_two_labels"] != ""]
    matched = groups.loc[
        (groups["original"] == TWO_LABELS) & groups["match"].isin(["matched", "weak"]), "image"
    ]
    assert len(flagged) >= 3 and sorted(flagged["image"]) == sorted(matched)
    finding = f"the copies of {TWO_LABELS} (LYMPHOCYTE, NEUTROPHIL) lie in two folders"
    assert (flagged["cell_under_two_labels"] == finding).all()
    assert (flagged["kept"] == "True").all()
    html = read_html(mini_run)
    assert "One cell filed under two classes" in html and finding in html
    assert "cells_under_two_labels: keep" in html


def test_the_report_says_when_a_cell_under_two_classes_is_left_out(mini_run, tmp_path):
    """``cells_under_two_labels: drop`` on a copy of the run: the integrity check, the split
    and the dataset section rerun (only they), the images leave the split files, and the
    section says so instead of the ``keep`` sentence."""
    workdir = tmp_path / "wf"
    shutil.copytree(mini_run, workdir, symlinks=True)
    run = run_snakemake(
        workdir,
        "results/report/sections/dataset.html",
        *("--configfile", "test-config.yaml", "--config", "cells_under_two_labels=drop"),
        *("--allowed-rules", "integrity", "split", "report_dataset", "--forcerun", "integrity"),
    )
    assert set(scheduled_jobs(run)) == {"integrity", "split", "report_dataset"}
    verdicts = pd.read_csv(
        workdir / "results" / "integrity.tsv", sep="\t", dtype=str, keep_default_na=False
    )
    flagged = verdicts[verdicts["cell_under_two_labels"] != ""]
    assert len(flagged) >= 3 and (flagged["kept"] == "False").all()
    assert flagged["reason"].str.contains("cells_under_two_labels: drop").all()
    train = (workdir / "results" / "splits" / "train.tsv").read_text()
    assert not any(image in train for image in flagged["image"])
    html = (workdir / "results" / "report" / "sections" / "dataset.html").read_text()
    assert "Their images are left out of every split file" in html
    assert "cells_under_two_labels: drop</code>)." in html
    assert "Each image keeps its folder's label" not in html


def read_html(workdir: Path) -> str:
    return (workdir / "results" / "report" / "report.html").read_text()


@pytest.mark.slow
def test_report_has_every_section(mini_run):
    page = read_html(mini_run)
    for section in ("dataset", "comparison", "models", "protocols", "run-facts"):
        assert f'<section id="{section}">' in page
    for model in ("rf", "vgg16", "cnn", "ensemble"):
        assert f'<section id="model-{model}">' in page
    # navigation, numbering and order come from one list (wbc.report.sections.SECTIONS)
    nav = re.search(r"<nav>(.*?)</nav>", page, re.S)[1]
    assert re.findall(r'href="#([\w-]+)"', nav) == [s.anchor for s in SECTIONS]
    starts = [page.index(f'<section id="{s.anchor}">') for s in SECTIONS]
    assert starts == sorted(starts)
    numbered = [s for s in SECTIONS if s.numbered]
    for k, section in enumerate(numbered, start=1):
        assert f"<h2>{k}. {section.title}</h2>" in page
    # the mini archive has no TEST folder: said in words, and no TEST chart or column
    assert "No TEST folder in this dataset" in page
    assert f"ours: {EVAL_SPLITS['test']}" not in page
    # the crop gallery shows the failures, and the QC table counts them
    qc = pd.read_csv(mini_run / "results/qc/crops.tsv", sep="\t")
    status = qc.set_index("image")["status"]
    assert status.filter(like="half_copied").tolist() == ["unreadable"]
    assert status.filter(like="empty_field").tolist() == ["no_cell_found"]
    assert "No crop failed" not in page
    # reference figures beside ours, but none for a VGG16 without the study's weights
    assert "96.5%" in page and "79.0%" in page and "91.0%" not in page
    assert "VGG16 (frozen) + head" not in page and "VGG16, random backbone" in page
    assert "random weights (weights: null)" in page
    assert "augmented copies" in page
    # run facts from the benchmark files, every stage the run went through
    for rule in (
        "crop_shard", "group_shard", "groups", "source_cell_index", "train_rf",
        "train_vgg16", "train_cnn", "ensemble", "report_model",
    ):  # fmt: skip
        assert f"<td>{rule}</td>" in page, rule
    assert "split.seed" in page
    # every figure is inlined: the page is one file
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == page.count("<img ")
    assert not re.search(r'(src|href)="(https?:)?//', page)
    # each Keras model has training curves, the Random Forest none
    figures = mini_run / "results" / "report" / "figures"
    assert (figures / "cnn" / "training_curves.png").is_file()
    assert (figures / "vgg16" / "training_curves.png").is_file()
    assert not (figures / "rf" / "training_curves.png").exists()
    # and where it looked on its worst mistakes (SmoothGrad maps of the saved model)
    for model in ("cnn", "vgg16"):
        with np.load(mini_run / f"results/report/saliency/{model}.npz") as maps:
            errors = pd.read_csv(mini_run / f"results/report/errors/{model}.tsv", sep="\t")
            shown = min(len(errors), 4)
            assert list(maps["predicted"]) == list(errors["predicted"][:shown])
            assert maps["for_predicted"].shape[0] == shown
            assert ((maps["for_predicted"] >= 0) & (maps["for_predicted"] <= 1)).all()
    assert page.count("where it looked") == 2


def test_the_comparison_lists_the_cells_every_model_gets_wrong(mini_run):
    """Recomputed from the models' predictions on the honest split (val here: grouped,
    no TEST folder, no folds), both ways: listed when there are such cells, else no
    heading."""
    page = read_html(mini_run)
    wrong = []
    for model in ("rf", "vgg16", "cnn", "ensemble"):
        p = read_predictions(mini_run / f"results/models/{model}/predictions.tsv")
        p = p[p["split"] == "val"]
        share = (p["predicted"] != p["label"]).groupby(p["group"]).mean()
        wrong.append(set(share.index[share > 0.5]))
    every = set.intersection(*wrong)
    assert ("Cells every model gets wrong" in page) == bool(every)
    for cell in every:
        assert f"<td>{cell}</td>" in page
    if every:
        cells = "source cell" if len(every) == 1 else "source cells"
        assert f"On val (grouped by source cell), {len(every)} {cells} (" in page


@pytest.mark.slow
def test_metrics_table_agrees_with_every_metrics_json(mini_run):
    table = pd.read_csv(mini_run / "results/report/metrics.tsv", sep="\t")
    assert list(table.columns)[:7] == ["model", "split", "n", *METRIC_COLUMNS]
    figures = ["n_groups", "balanced_accuracy", "cell_accuracy", "baseline_accuracy"]
    assert set(figures) <= set(table.columns)
    expected = set()
    for model in ("rf", "vgg16", "cnn", "ensemble"):
        metrics = json.loads((mini_run / f"results/models/{model}/metrics.json").read_text())
        for split in EVAL_SPLITS:
            if split in metrics:
                expected.add((model, split))
                row = table[(table["model"] == model) & (table["split"] == split)]
                assert len(row) == 1
                assert row["n"].item() == metrics[split]["n"]
                for column in (*METRIC_COLUMNS, *figures):
                    assert row[column].item() == pytest.approx(metrics[split][column], abs=1e-6)
                for metric, (lo, hi) in metrics[split]["ci95"].items():
                    assert row[f"{metric}_lo"].item() == pytest.approx(lo, abs=1e-6)
                    assert row[f"{metric}_hi"].item() == pytest.approx(hi, abs=1e-6)
                if model != "ensemble":  # what made the model, to join two runs' tables
                    assert row["recipe"].item() == metrics["recipe"]
                    assert row["setting.image_size"].item() == metrics["settings"]["image_size"]
    assert set(zip(table["model"], table["split"], strict=True)) == expected
    assert {split for _, split in expected} == {"val", "test_simple"}


@pytest.mark.slow
def test_ensemble_probabilities_are_the_weighted_mean_of_the_three_models(mini_run):
    models = mini_run / "results" / "models"
    tables = {
        m: pd.read_csv(models / m / "predictions.tsv", sep="\t").set_index(["split", "image"])
        for m in ("rf", "vgg16", "cnn", "ensemble")
    }
    votes = tables.pop("ensemble")
    assert len(votes) == len(tables["rf"]) > 0
    # weights fitted on val (no cross-validation in this run), shown in the report
    ensemble = json.loads((models / "ensemble" / "metrics.json").read_text())
    weights = ensemble["weights"]
    assert ensemble["fitted_on"] == "val" and set(weights) == set(tables)
    assert sum(weights.values()) == pytest.approx(1, abs=1e-3)
    html = read_html(mini_run)
    assert "weights fitted on the" in html
    # the guard's two figures, and what it decided
    guard = ensemble["guard"]
    assert f"{guard['mix']:.3f}" in html and f"{guard['best_member']:.3f}" in html
    decided = "so the ensemble is that member" in html
    assert decided == ensemble["best_member_only"]
    assert ensemble["cross_fitted"]["split"] == "val"
    # test splits: the weighted mean with those weights
    tested = votes.drop(index="val")
    mean = sum(
        w * tables[m].loc[tested.index, PROBABILITIES].to_numpy() for m, w in weights.items()
    ) / sum(weights.values())
    # predictions.tsv keeps 6 significant digits
    np.testing.assert_allclose(tested[PROBABILITIES].to_numpy(), mean, rtol=1e-4, atol=1e-4)
    assert (tested["predicted"].to_numpy() == np.asarray(CLASSES)[mean.argmax(axis=1)]).all()
    # val, where the weights were fitted: each cell voted by weights fitted without it
    members = {m: read_predictions(models / m / "predictions.tsv") for m in tables}
    crossed = vote(members, fit_weights(members)).set_index(["split", "image"]).loc["val"]
    np.testing.assert_allclose(
        votes.loc["val", PROBABILITIES].to_numpy(),
        crossed.loc[votes.loc["val"].index, PROBABILITIES].to_numpy(),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.slow
def test_snakemake_report_archive(mini_run):
    # the report of the run above: same config, so the same DAG
    run_snakemake(mini_run, "--configfile", "test-config.yaml", "--report", "report.zip")
    with zipfile.ZipFile(mini_run / "report.zip") as zf:
        names = zf.namelist()
        pages = "".join(
            zf.read(n).decode("utf-8", "replace") for n in names if n.endswith((".html", ".js"))
        )
    for figure in (
        "comparison.png",
        "crop_gallery.png",
        "dataset.png",
        "confusion_matrices.png",
        "roc_curves.png",
        "training_curves.png",
    ):
        assert any(n.endswith(figure) for n in names), figure
    assert any(n.endswith("metrics.tsv") for n in names)
    assert any(n.endswith("report.html") for n in names)
    # the captions made it in
    assert "One-vs-rest ROC curves of this model" in pages
    # workflow/report/workflow.rst, with the run's source and protocol filled in
    assert "holds source cells no model was trained on" in pages
    assert "its figures are flattered" not in pages
    assert str(mini_run.parent / "data") in pages
    assert "Left: images per split file and class" in pages


@pytest.mark.slow
def test_editing_a_report_section_reruns_only_it_the_run_facts_and_the_assembly(mini_run):
    section = mini_run / "workflow" / "scripts" / "wbc" / "report" / "dataset.py"
    original, stat = section.read_text(), section.stat()
    try:
        section.write_text(original + "\nEDITED = True  # an edit of code\n")
        dry = run_snakemake(mini_run, "--configfile", "test-config.yaml", "--dry-run")
        # the run facts show the section's time and memory: its benchmark file is new
        assert scheduled_jobs(dry) == {"report_dataset": 1, "report_run_facts": 1, "report": 1}
    finally:  # the module's other tests use this run as it was
        section.write_text(original)
        os.utime(section, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.slow
def test_report_opens_in_a_real_browser_with_no_network(mini_run):
    if browser.chromium() is None:
        pytest.skip("chromium is not installed (.ci/browser-up.sh installs it)")
    page = mini_run / "results" / "report" / "report.html"
    visit = browser.visit(page, ARTIFACTS)
    print(f"report screenshots: {visit.screenshots['screen']} and {visit.screenshots['full']}")

    print("section screenshots:", sorted(str(p) for p in visit.screenshots.values()))
    assert visit.images, "the report shows no image"
    # every section is screenshotted; the page fits a 1280-px window, wide tables scroll
    assert set(visit.sections) <= set(visit.screenshots)
    assert visit.page_width <= 1280 and visit.wide_tables == 0
    assert all(img["complete"] and img["width"] > 0 for img in visit.images), visit.images
    # the page itself from disk, every other resource inlined: nothing goes to a network
    assert visit.requests[0] == page.resolve().as_uri()
    assert all(url.startswith("data:") for url in visit.requests[1:]), visit.requests
    assert visit.blocked == []
    assert {"dataset", "comparison", "models", "protocols", "run-facts"} <= set(visit.sections)
    assert "No TEST folder in this dataset" in visit.text
    for shot in visit.screenshots.values():
        assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_report_covers_the_enabled_models_and_the_test_folder(tmp_path):
    """Only the Random Forest enabled, and a dataset with a TEST folder."""
    data = make_dataset(tmp_path / "data", per_class=6, splits=("TRAIN", "TEST"))
    workdir = copy_workflow(tmp_path / "wf")
    cfg = write_config(
        workdir, source=str(data), image_size=32, crop={"shards": 1},
        models={**TINY_MODELS, "enabled": ["rf"]},
    )  # fmt: skip
    run_snakemake(workdir, "--configfile", str(cfg))

    page = read_html(workdir)
    assert '<section id="model-rf">' in page
    for absent in ("vgg16", "cnn", "ensemble"):
        assert f'<section id="model-{absent}">' not in page
    assert not (workdir / "results" / "models" / "ensemble").exists()
    assert "Left out by config key" in page and "custom CNN" in page
    assert "No TEST folder" not in page
    assert f"ours: {EVAL_SPLITS['test']}" in page
    table = pd.read_csv(workdir / "results/report/metrics.tsv", sep="\t")
    assert list(zip(table["model"], table["split"], strict=True)) == [
        ("rf", "val"),
        ("rf", "test"),
    ]
    metrics = json.loads((workdir / "results/models/rf/metrics.json").read_text())
    assert table.set_index("split").loc["test", "accuracy"] == pytest.approx(
        metrics["test"]["accuracy"]
    )
    # the shapes differ by class: the forest beats chance (0.25) clearly on TEST
    assert metrics["test"]["accuracy"] > 0.5


@pytest.mark.slow
def test_benchmark_table_reads_every_rule(mini_run):
    files = (mini_run / "results" / "benchmarks").rglob("*.tsv")
    table = benchmark_table(files, mini_run / "results" / "benchmarks").set_index("rule")
    # two crop methods in this run (the forest's and VGG16's reference, the CNN's nucleus
    # window), 2 shards each: every shard's file
    shards = len(list((mini_run / "results" / "benchmarks" / "crop_shard").glob("*/*.tsv")))
    assert table.loc["crop_shard", "jobs"] == shards == 2 * 2
    assert (table["wall seconds (sum of jobs)"] >= 0).all()
    assert table.loc["report", "jobs"] == 1  # the report rule's own file, once it has run


# --- sentences, errors and probabilities of the run -------------------------------------------


def page_text(workdir: Path) -> str:
    """The report's words, as a reader sees them (tags and inlined figures stripped)."""
    import html

    page = re.sub(r"<(style|script)\b.*?</\1>", " ", read_html(workdir), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# what a page may say only under one protocol (config key split.group_by)
CLAIMS = {
    "source_cell": (
        "val (grouped by source cell)",
        "val holds 20% of TRAIN's source cells",
        "split.group_by: source_cell",
        "val figures are on cells the models never saw",
    ),
    "none": (
        "val (random split of TRAIN)",
        "val is a random 20% of TRAIN's images",
        "split.group_by: none",
        "scores cells the models were trained on and flatters",
    ),
}


@pytest.fixture(scope="module")
def random_split_run(tmp_path_factory):
    """The mini archive with a TEST folder built from it, split at random
    (split.group_by: none, the reference study's protocol): TEST holds the TEST_SIMPLE
    images, a byte copy of one TRAIN image per class (left out of the test figures by
    default) and so a copy of the one TEST_SIMPLE image whose cell TRAIN holds (scored)."""
    mini_zip = shared_archive("blood-cells-mini.zip")
    root = tmp_path_factory.mktemp("random-split")
    data = root / "data"
    with zipfile.ZipFile(mini_zip) as zf:
        zf.extractall(data)
    images = next(data.rglob("TRAIN")).parent
    for folder in sorted((images / "TEST_SIMPLE").iterdir()):
        dest = images / "TEST" / folder.name
        dest.mkdir(parents=True)
        for image in sorted(folder.iterdir()):
            (dest / image.name).write_bytes(image.read_bytes())
        first_train = sorted((images / "TRAIN" / folder.name).iterdir())[0]
        (dest / f"copy{first_train.name}").write_bytes(first_train.read_bytes())
    workdir = copy_workflow(root / "wf")
    cfg = write_config(
        workdir, source=str(data), image_size=32, crop={"shards": 1},
        split={"group_by": "none", "train_copies_in_test": "drop"},
        models={**TINY_MODELS, "enabled": ["rf", "cnn"]},
    )  # fmt: skip
    run_snakemake(workdir, "--configfile", str(cfg))
    return workdir


@pytest.mark.slow
def test_protocol_sentences_are_the_runs_own(mini_run, random_split_run):
    grouped, random = page_text(mini_run), page_text(random_split_run)
    # grouped by source cell, no TEST folder: val is the headline, on unseen cells
    assert all(claim in grouped for claim in CLAIMS["source_cell"][:2])
    assert not [claim for claim in CLAIMS["none"] if claim in grouped]
    assert "Measured on the val (grouped by source cell)" in grouped
    assert "none of which any model was trained on" in grouped
    # the CNN (2 epochs) kept its best val epoch; VGG16's one epoch and the forest chose
    # nothing on val
    tuned = set(re.findall(r"training is the one that scored best on val: ([^.]+)\.", grouped))
    assert tuned == {"custom CNN"}
    # split at random, with a TEST folder: TEST is the headline; val is said to flatter
    assert all(claim in random for claim in CLAIMS["none"])
    assert not [claim for claim in CLAIMS["source_cell"] if claim in random]
    assert "Measured on the TEST folder" in random
    # the TEST folder's copy of a TRAIN cell is scored (drop leaves out byte copies only),
    # and the page says so, with the config's value
    leaks = pd.read_csv(random_split_run / "results/splits/test_leaks.tsv", sep="\t")
    test_leaks = leaks[leaks["folder"] == "TEST"]
    scored = test_leaks[test_leaks["scored"]]
    dropped = test_leaks[~test_leaks["scored"]]
    assert len(dropped) == 4 and (dropped["kind"] == "byte-identical copy").all()
    assert "none of which any model was trained on" not in random
    assert f"{len(dropped)} test images of 4 source cells that TRAIN holds too are left out" in (
        random
    )
    assert "split.train_copies_in_test: drop" in random and "keep)" not in random
    if len(scored):  # said once, in the headline's own words
        verb = "is" if len(scored) == 1 else "are"
        assert f"that TRAIN holds too {verb} scored" in random
    # one row per source cell in the leak table
    cells = leaks["group"].where(leaks["group"].notna(), leaks["image"]).nunique()
    assert f"from {cells} source cell" in random


@pytest.mark.slow
def test_no_two_sentences_run_together(mini_run, random_split_run):
    # a template's optional sentence joined to the next without a space ("right.No split")
    for workdir in (mini_run, random_split_run):
        text = page_text(workdir)
        assert not re.findall(r"(?<![\w.])[a-z]+\.[A-Z][a-z]+\s", text), workdir


def honest_rows(workdir: Path, model: str) -> pd.DataFrame:
    predictions = pd.read_csv(workdir / f"results/models/{model}/predictions.tsv", sep="\t")
    split = "test" if "test" in set(predictions["split"]) else "val"
    return predictions[predictions["split"] == split]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["rf", "cnn", "ensemble"])
def test_error_gallery_has_one_tile_per_misclassified_cell(mini_run, random_split_run, model):
    for workdir in (mini_run, random_split_run):
        rows = honest_rows(workdir, model)
        wrong = rows[rows["label"] != rows["predicted"]]
        table = pd.read_csv(workdir / f"results/report/errors/{model}.tsv", sep="\t")
        assert sorted(table["group"]) == sorted(set(wrong["group"]))
        assert table.set_index("group")["copies_wrong"].to_dict() == (
            wrong.groupby("group").size().to_dict()
        )
        assert table.set_index("group")["copies"].to_dict() == (
            rows[rows["group"].isin(table["group"])].groupby("group").size().to_dict()
        )
        # most confident mistakes first: each tile's probability is its predicted class's
        assert list(table["probability"]) == sorted(table["probability"], reverse=True)
        for row in table.itertuples():
            p = wrong.loc[wrong["group"] == row.group, f"p_{row.predicted}"].max()
            assert row.probability == pytest.approx(p, abs=1e-6)
        n_cells = rows["group"].nunique()
        assert f"{len(table)} of the {n_cells} source cells" in page_text(workdir)
        assert (workdir / f"results/report/figures/{model}/errors.png").stat().st_size > 5_000


@pytest.mark.slow
def test_reliability_bins_and_ece_equal_a_recomputation(mini_run):
    table = pd.read_csv(mini_run / "results/report/metrics.tsv", sep="\t")
    for model in ("rf", "vgg16", "cnn", "ensemble"):
        predictions = pd.read_csv(mini_run / f"results/models/{model}/predictions.tsv", sep="\t")
        for split, rows in predictions.groupby("split"):
            p = rows[PROBABILITIES].to_numpy()
            confidence = p.max(axis=1)
            correct = np.asarray(CLASSES)[p.argmax(axis=1)] == rows["label"].to_numpy()
            # ten equal bins, closed on the right as calibration_curve's: (0.3, 0.4]
            which = np.searchsorted(np.linspace(0, 1, 11)[1:-1], confidence, side="left")
            ece = sum(
                (which == b).sum()
                / len(rows)
                * abs(correct[which == b].mean() - confidence[which == b].mean())
                for b in range(10)
                if (which == b).any()
            )
            row = table[(table["model"] == model) & (table["split"] == split)]
            assert row["ece"].item() == pytest.approx(ece, abs=1e-6), (model, split)
    page = page_text(mini_run)
    rf = table[(table["model"] == "rf") & (table["split"] == "val")]["ece"].item()
    assert f"Expected calibration error {rf:.3f}" in page
    badly = table[(table["split"] == "val") & (table["ece"] > 0.1)]
    assert ("Badly calibrated" in page) == (len(badly) > 0)


@pytest.mark.slow
def test_run_facts_cover_every_rule_that_ran(mini_run):
    """benchmark_files() is checked against the files the run wrote: a rule added without
    its benchmark in the run facts fails here."""
    page = read_html(mini_run)
    root = mini_run / "results" / "benchmarks"
    ran = {p.relative_to(root).parts[0].removesuffix(".tsv") for p in root.rglob("*.tsv")}
    assert ran - {"report", "report_run_facts"}, ran
    for rule in ran - {"report", "report_run_facts"}:  # they run after the table is made
        assert f"<td>{rule}</td>" in page, rule
    facts = page[page.index('<section id="run-facts">') :]
    stages = ("data", "crop", "groups", "integrity", "split", "train", "report")
    for stage in stages:
        assert f"<td>{stage}</td>" in facts, stage
    assert facts.count("<td>total</td>") == len(stages)  # one total per stage


# a section a user adds: what tests/test_report.py's new-section test writes
NEW_SECTION_MODULE = """\"\"\"Report section: each model's accuracy per split, as bars.\"\"\"

import matplotlib.pyplot as plt
import pandas as pd

from .common import save_figure, write_section


def section(job) -> None:
    table = pd.read_csv(job.input["comparison_table"], sep="\\t")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(table)), table["accuracy"])
    save_figure(fig, job.output["bars"])
    models = sorted({job.params["titles"].get(m, m) for m in table["model"]})
    write_section(
        job.output["html"], job.template, models=models, bars=job.output["bars"],
        captions=job.captions,
    )
"""
NEW_SECTION_TEMPLATE = """<section id="{{ anchor("tally") }}">
<h2>{{ heading("tally") }}</h2>
<p>Tally of {{ models | length }} models: {{ models | join(", ") }}.</p>
<img src="{{ bars }}" alt="accuracy per model and split">
<div class="caption">{{ captions.bars | safe }}</div>
</section>
"""
NEW_SECTION_ENTRY = """    Section(
        "tally",
        "Tally",
        inputs=("comparison_table",),
        params=("titles",),
        figures={"bars": Output("tally.png", "tally.rst")},
    ),
"""


@pytest.mark.slow
def test_a_new_section_is_a_module_a_template_a_caption_and_one_entry(mini_run, tmp_path):
    """Issue 18: a section added in a copy of the mini run's workflow, as a user would (a
    module, a template, a caption and one entry in SECTIONS, before the run facts), gets
    its rule, its place in the page's navigation and body, its number, its figure inlined
    and its caption, and its time in the run facts; the sections after it move down."""
    workdir = tmp_path / "wf"
    shutil.copytree(mini_run, workdir, symlinks=True)  # the trained models, up to date
    workflow = workdir / "workflow"
    sections = workflow / "scripts" / "wbc" / "report" / "sections.py"
    text = sections.read_text()
    last = '    Section(\n        "run_facts",'
    assert text.count(last) == 1
    touched = {
        workflow / "scripts" / "wbc" / "report" / "tally.py": NEW_SECTION_MODULE,
        workflow / "report" / "sections" / "tally.html.j2": NEW_SECTION_TEMPLATE,
        workflow / "report" / "tally.rst": "Accuracy of every model on every split (tally).\n",
        sections: text.replace(last, NEW_SECTION_ENTRY + last),
    }
    for path, content in touched.items():
        path.write_text(content)
    assert len(touched) == 4  # the files a new section touches

    run_snakemake(workdir, "--configfile", "test-config.yaml")
    page = read_html(workdir)
    order = [s.anchor for s in SECTIONS]
    order.insert(order.index("run-facts"), "tally")
    nav = re.search(r"<nav>(.*?)</nav>", page, re.S)[1]
    assert re.findall(r'href="#([\w-]+)"', nav) == order
    starts = [page.index(f'<section id="{anchor}">') for anchor in order]
    assert starts == sorted(starts)
    numbered = [s.title for s in SECTIONS if s.numbered]
    numbered.insert(numbered.index("Run facts"), "Tally")
    assert [f"{k}. {t}" for k, t in enumerate(numbered, start=1)] == re.findall(
        r"<h2>(\d+\. [^<]+)</h2>", page
    )
    tally = page[starts[order.index("tally")] : starts[order.index("run-facts")]]
    assert "Tally of 4 models" in tally and "Accuracy of every model on every split" in tally
    assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="accuracy per model', tally)
    assert "<td>report_tally</td>" in page[starts[-1] :]  # its time, in the run facts


def planned_job_blocks(proc) -> list[str]:
    """Each job's block of a dry run's plan (``rule x:`` and its indented lines)."""
    text = proc.stdout + proc.stderr
    return re.split(r"^(?=(?:rule|checkpoint|localrule) \w+:$)", text, flags=re.M)[1:]


def test_run_facts_read_the_benchmark_of_every_job_a_full_dry_run_plans(workflow_dir, mini_zip):
    """benchmark_files() (PLAN.benchmark_jobs) against the plan itself: every job of a full
    run on the mini archive, cross-validation and two models (rf and a CNN with a variant),
    that writes a benchmark is read by the run facts, but theirs and the page's."""
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        split={"folds": 2},
        models={"enabled": ["rf", "cnn"], "cnn": {"variants": {"e20": {"epochs": 20}}}},
    )
    proc = run_snakemake(workflow_dir, "-n", "--configfile", str(cfg))
    benchmarks, read = {}, None
    for block in planned_job_blocks(proc):
        rule = block.split(":", 1)[0].split()[1]
        found = re.search(r"^\s+benchmark: (\S+)$", block, re.M)
        if found:
            benchmarks.setdefault(rule, set()).add(found[1])
        if rule == "report_run_facts":
            read = set(re.search(r"^\s+input: (.*)$", block, re.M)[1].split(", "))
    jobs = scheduled_jobs(proc)
    assert {"group_shard", "train_cnn_fold", "training_arrays", "ensemble"} <= set(jobs), jobs
    assert {rule for rule in jobs if rule not in benchmarks} == set(), "a rule with no benchmark"
    after = {"report_run_facts", "report"}  # they run after the run facts' table is made
    planned = set().union(*(files for rule, files in benchmarks.items() if rule not in after))
    assert sum(len(files) for files in benchmarks.values()) == sum(jobs.values())
    assert planned - read == set(), "jobs whose time the run facts leave out"
    assert {f for f in read if f.startswith("results/benchmarks/")} == planned


def test_the_dataset_section_counts_the_cells_the_grouping_cannot_vouch_for():
    """groups.tsv's doubt column (wbc.groups: weak_link, giant) reaches the report."""
    from wbc.report.dataset import source_cells

    manifest = pd.DataFrame(
        {"image": list("abcde"), "split": ["TRAIN"] * 5, "label": ["X", "X", "Y", "Y", "Y"]}
    )
    groups = pd.DataFrame(
        {
            "image": list("abcde"),
            "group": ["g1", "g1", "g2", "g3", "g3"],
            "original": [""] * 5,
            "votes": ["0"] * 5,
            "runner_up_votes": ["0"] * 5,
            "match": ["near_duplicate"] * 5,
            "doubt": ["", "", "weak_link", "weak_link,giant", "weak_link,giant"],
        }
    )
    doubt = source_cells(manifest, groups)["doubt"]
    assert doubt == {"cells": 2, "images": 3, "kinds": "giant, weak_link"}
    assert source_cells(manifest, groups.drop(columns="doubt"))["doubt"]["cells"] == 0
