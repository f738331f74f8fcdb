"""The three training rules for real on small data: artefacts, schemas, learning,
reproducibility and the VGG16 weights options."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import copy_workflow, run_snakemake, write_config
from synthetic import make_dataset
from wbc import CLASSES
from wbc.models.keras_loop import HISTORY_COLUMNS, batches, cell_balanced

MODELS = ("rf", "vgg16", "cnn")
# the trained models' files: targets for the tests that read nothing of the report
TRAINED = [f"results/models/{model}/metrics.json" for model in MODELS]
PREDICTION_COLUMNS = [
    "image",
    "split",
    "label",
    "group",
    "predicted",
    *(f"p_{c}" for c in CLASSES),
]
M_KEYS = {
    "n",
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "per_class",
    "confusion_matrix",
    "labels",
    # figures a reader can trust (issue 11): intervals over source cells, baseline
    "balanced_accuracy",
    "baseline_accuracy",
    "n_groups",
    "cell_accuracy",
    "ci95",
}
# a quick configuration: small images, few trees and epochs
QUICK = {
    "image_size": 32,
    "crop": {"shards": 4},
    "models": {
        "rf": {"n_estimators": 20},
        "vgg16": {"weights": None, "epochs": 2},
        "cnn": {"epochs": 1, "optimizer": "sgd", "momentum": 0.5},
    },
}


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="module")
def trained_mini(tmp_path_factory):
    """All three models trained on the real mini archive with the quick config."""
    from conftest import shared_archive

    archive = shared_archive("blood-cells-mini.zip")
    workdir = copy_workflow(tmp_path_factory.mktemp("mini") / "wf")
    cfg = write_config(workdir, source=str(archive), **QUICK)
    run_snakemake(workdir, *TRAINED, "--configfile", str(cfg))  # the report is test_report's
    return workdir, cfg


def check_metrics_schema(metrics, model, splits):
    assert metrics["model"] == model
    assert {
        k for k in metrics if isinstance(metrics[k], dict) and "accuracy" in metrics[k]
    } == set(splits)
    assert metrics["classes"] == list(CLASSES)
    assert metrics["train_seconds"] > 0 and metrics["device"]
    for split, n in splits.items():
        m = metrics[split]
        assert set(m) == M_KEYS
        assert m["n"] == n and m["labels"] == list(CLASSES)
        assert set(m["per_class"]) == set(CLASSES)
        assert all(
            set(v) == {"precision", "recall", "f1", "support"} for v in m["per_class"].values()
        )
        matrix = np.array(m["confusion_matrix"])
        assert matrix.shape == (4, 4) and matrix.sum() == n
        assert m["accuracy"] == pytest.approx(np.trace(matrix) / n)
        assert [v["support"] for v in m["per_class"].values()] == matrix.sum(axis=1).tolist()


def check_predictions(path, splits_dir, splits):
    rows = read_tsv(path)
    assert list(rows[0]) == PREDICTION_COLUMNS
    for split in splits:
        expected = [(r["image"], r["label"]) for r in read_tsv(splits_dir / f"{split}.tsv")]
        assert [(r["image"], r["label"]) for r in rows if r["split"] == split] == expected
    assert {r["split"] for r in rows} == set(splits)
    for r in rows:
        p = np.array([float(r[f"p_{c}"]) for c in CLASSES])
        assert p.sum() == pytest.approx(1, abs=1e-4)
        assert r["predicted"] == CLASSES[int(p.argmax())]
    return rows


@pytest.mark.slow
def test_every_artefact_on_the_mini_archive(trained_mini):
    from wbc.models import get

    workdir, _ = trained_mini
    results = workdir / "results"
    # the mini archive has no TEST folder: metrics.json has no "test" entry; one of its 71
    # TEST_SIMPLE images is of a TRAIN cell, left out (split.train_copies_in_test)
    splits = {"val": 24, "test_simple": 70}
    arrays = np.load(results / "arrays" / "reference" / "32px" / "train.npy", mmap_mode="r")
    assert arrays.dtype == np.uint8 and arrays.shape == (96, 32, 32, 3)
    for model in MODELS:
        folder = results / "models" / model
        metrics = json.loads((folder / "metrics.json").read_text())
        check_metrics_schema(metrics, model, splits)
        rows = check_predictions(folder / "predictions.tsv", results / "splits", splits)
        # the saved model reproduces the reported probabilities from its crops (the
        # improved CNN's are nucleus windows)
        family = get(model)
        fitted = family.load(folder / family.FACTS.model_file)
        crop = metrics["settings"]["crop"]
        assert crop == ("nucleus_window" if model == "cnn" else "reference")
        val = np.load(results / "arrays" / crop / "32px" / "val.npy")[:5]
        if model == "rf":
            p = fitted.predict_proba(val)  # images in; classes_ are sorted like CLASSES
        else:
            p = np.asarray(fitted.predict_on_batch(val.astype(np.float32)))
        reported = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows[:5]])
        np.testing.assert_allclose(p, reported, atol=1e-4)
        assert (results / "benchmarks" / f"train_{model}.tsv").is_file()
        log = (results / "logs" / f"train_{model}.log").read_text()
        assert "val: accuracy" in log
        if model != "rf":
            assert metrics["device"].startswith(("CPU", "GPU"))
            assert metrics["device"] in log
            history = read_tsv(folder / "history.tsv")
            assert list(history[0]) == list(HISTORY_COLUMNS)
            assert [int(h["epoch"]) for h in history] == list(
                range(1, QUICK["models"][model]["epochs"] + 1)
            )
            epochs = QUICK["models"][model]["epochs"]
            assert f"epoch 1/{epochs}: " in log and "left" in log  # one line per epoch
        if model == "vgg16":  # weights: null: the log and metrics.json say so
            assert metrics["random_backbone"] is True
            assert "RANDOM weights" in log
            features_log = (
                results
                / "logs"
                / "frozen_features"
                / "vgg16"
                / "random42-32px-reference-auto"
                / "val.log"
            )
            assert "RANDOM weights" in features_log.read_text()
            assert "VGG16 backbone computes in " in features_log.read_text()
        if model == "cnn":  # config key models.cnn.momentum reached the optimizer
            assert fitted.optimizer.momentum == pytest.approx(QUICK["models"]["cnn"]["momentum"])


@pytest.mark.slow
def test_same_seed_gives_identical_results(trained_mini):
    workdir, cfg = trained_mini
    models = workdir / "results" / "models"
    before = {m: (models / m / "predictions.tsv").read_bytes() for m in ("rf", "vgg16")}
    rf_metrics = json.loads((models / "rf" / "metrics.json").read_text())
    forced = ("--forcerun", "train_rf", "train_vgg16")
    run_snakemake(workdir, *TRAINED, "--configfile", str(cfg), *forced)
    again = json.loads((models / "rf" / "metrics.json").read_text())
    for split in ("val", "test_simple"):
        assert again[split] == rf_metrics[split]
    for model, content in before.items():  # vgg16 too: deterministic: true
        assert (models / model / "predictions.tsv").read_bytes() == content, model


@pytest.mark.slow
def test_models_beat_chance_on_separable_images(workflow_dir, tmp_path):
    data = make_dataset(tmp_path / "cells", per_class=30, splits=("TRAIN", "TEST"))
    cfg = write_config(
        workflow_dir,
        source=str(data),
        image_size=32,
        crop={"shards": 2},
        models={
            "rf": {"n_estimators": 50},
            # small batches, many steps: BatchNorm's moving statistics (momentum 0.99)
            # must settle, or inference-mode predictions collapse to one class
            "vgg16": {"weights": None, "epochs": 40, "batch_size": 4, "patience": 40},
            "cnn": {"epochs": 15, "batch_size": 4, "learning_rate": 0.005},
        },
    )
    # the models alone: this test reads nothing of the report
    run_snakemake(workflow_dir, *TRAINED, "--configfile", str(cfg))
    for model in MODELS:
        metrics = json.loads(
            (workflow_dir / "results" / "models" / model / "metrics.json").read_text()
        )
        assert metrics["test"]["n"] == 120
        # chance is 0.25 on four balanced classes
        assert metrics["test"]["accuracy"] >= 0.5, (model, metrics["test"]["accuracy"])


@pytest.mark.slow
def test_vgg16_loads_a_local_weights_file(workflow_dir, mini_zip, tmp_path):
    import keras

    weights = tmp_path / "my_vgg16.weights.h5"
    backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    backbone.save_weights(weights)
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=32,
        crop={"shards": 2},
        models={"enabled": ["vgg16"], "vgg16": {"weights": str(weights), "epochs": 1}},
    )
    run_snakemake(workflow_dir, "results/models/vgg16/metrics.json", "--configfile", str(cfg))
    from wbc.models import get

    model = get("vgg16").load(workflow_dir / "results" / "models" / "vgg16" / "model.keras")
    saved = model.get_layer("vgg16_backbone").get_layer("vgg16")
    for mine, theirs in zip(backbone.weights, saved.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert not (workflow_dir / "resources").exists()  # nothing fetched


def test_fetch_vgg16_weights(tmp_path):
    """The download of rule backbone_weights: a local URL stands in for Keras' server."""
    from wbc.models import facts_of
    from wbc.models.weights import fetch_weights
    from wbc.runtime import UserError

    vgg16 = facts_of("vgg16")
    source = tmp_path / "served.h5"
    source.write_bytes(b"weights")
    dest = tmp_path / "resources" / "w.h5"
    assert fetch_weights(dest, vgg16, url=source.as_uri()).read_bytes() == b"weights"
    # offline: one line naming the config key to set instead, and no partial file left
    with pytest.raises(UserError, match="set config key 'models.vgg16.weights'"):
        fetch_weights(tmp_path / "x.h5", vgg16, url="http://127.0.0.1:9/v.h5", timeout=5)
    assert list(tmp_path.glob("x.h5*")) == []


@pytest.mark.slow
def test_the_reference_recipe_on_the_mini_archive(workflow_dir, mini_zip):
    """models.recipe: reference trains the reference study's models (quick: small images,
    few trees, two epochs); every model records its recipe and, for Keras, the epoch kept."""
    from wbc.models import facts_of

    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=32,
        crop={"shards": 4},
        models={
            "recipe": "reference",
            "enabled": ["rf", "cnn"],
            "rf": {"n_estimators": 10},
            "cnn": {"epochs": 2},
        },
    )
    run_snakemake(workflow_dir, "--configfile", str(cfg))
    for model in ("rf", "cnn"):
        metrics = json.loads(
            (workflow_dir / "results" / "models" / model / "metrics.json").read_text()
        )
        reference = facts_of(model).recipes["reference"]
        assert metrics["recipe"] == metrics["settings"]["recipe"] == "reference"
        assert metrics["settings"]["crop"] == "reference"  # the study's crop
        for key, value in reference.items():
            if key not in ("image_size", "n_estimators", "epochs"):  # the quick overrides
                assert metrics["settings"][key] == value, (model, key)
    cnn = json.loads((workflow_dir / "results/models/cnn/metrics.json").read_text())
    assert cnn["best_epoch"] == 2  # the reference keeps the last epoch
    with open(workflow_dir / "results" / "report" / "metrics.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert {(r["model"], r["recipe"]) for r in rows if r["model"] != "ensemble"} == {
        ("rf", "reference"),
        ("cnn", "reference"),
    }


def test_cell_balanced_sampling_weighs_classes_and_cells_alike():
    # class A: cell x with 3 copies, cell y with 1; class B: cell z with 2 copies
    labels = ["A", "A", "A", "A", "B", "B"]
    groups = ["x", "x", "x", "y", "z", "z"]
    p = cell_balanced(labels, groups)
    np.testing.assert_allclose(p, [1 / 12] * 3 + [1 / 4] + [1 / 4] * 2)
    # an epoch draws as many rows, in those proportions (many epochs pooled)
    rows = np.arange(6, dtype=np.uint8).reshape(6, 1, 1, 1)

    class Rows:
        row_shape, dtype = (1, 1, 1), np.uint8

        def __len__(self):
            return 6

        def read(self, indices):
            return rows[indices]

    data = batches(Rows(), labels, ["A", "B"], 6, shuffle=True, seed=1, p=p)
    drawn = []
    for epoch in range(2000):
        data.set_epoch(epoch)
        assert len(data.order) == 6
        drawn += data.order.tolist()
    share = np.bincount(drawn, minlength=6) / len(drawn)
    np.testing.assert_allclose(share, p, atol=0.01)
