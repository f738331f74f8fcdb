"""The model registry: a model added as one module, one registry entry and its config
block reaches the DAG, the metrics table, the report and `predict`."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import pytest
import yaml

from conftest import run_snakemake, write_config

# a fourth model, written as a user would: k-nearest neighbours on the resized crops
KNN_MODULE = '''"""k-nearest neighbours on the pixels of the resized crops."""

from __future__ import annotations

from .facts import ModelFacts

FACTS = ModelFacts(
    name="knn",
    title="k-nearest neighbours",
    env="sklearn",
    model_file="model.joblib",
    recipes={
        "reference": {"image_size": 32, "n_neighbors": 5},
        "improved": {"image_size": 32, "n_neighbors": 5},
    },
    config={
        "image_size": {"type": "integer", "minimum": 8, "description": "Side in pixels."},
        "n_neighbors": {"type": "integer", "minimum": 1, "description": "Neighbours that vote."},
    },
)


def device(settings, threads):
    return "CPU"


def fit(train, val, settings, threads, resume_dir):
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    x = train.rows.read(np.arange(len(train))).reshape(len(train), -1)
    return KNeighborsClassifier(settings["n_neighbors"]).fit(x, train.labels), None, None


def predict(model, x):
    return model.predict_proba(x.reshape(len(x), -1))


predict_images = predict


def save(model, path, settings):
    import joblib

    joblib.dump(model, path)


def load(path):
    import joblib

    return joblib.load(path)
'''


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def add_knn(workdir):
    """What adding a model takes: its module, its registry entry, its config block."""
    models = workdir / "workflow" / "scripts" / "wbc" / "models"
    (models / "knn.py").write_text(KNN_MODULE)
    registry = models / "__init__.py"
    text = registry.read_text()
    assert 'MODELS = ("rf", "vgg16", "cnn")' in text
    registry.write_text(text.replace('"cnn")', '"cnn", "knn")'))
    config_file = workdir / "config" / "config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["models"]["knn"] = {"n_neighbors": 3}
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.slow
def test_a_model_added_through_the_registry_alone(workflow_dir, mini_zip, tmp_path):
    add_knn(workflow_dir)
    new = tmp_path / "new"
    new.mkdir()
    with zipfile.ZipFile(mini_zip) as zf:
        names = sorted(n for n in zf.namelist() if "TEST_SIMPLE/" in n and n.endswith(".jpeg"))
        for name in names[:3]:
            (new / name.rsplit("/", 1)[1]).write_bytes(zf.read(name))
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=16,
        crop={"shards": 2},
        models={"enabled": ["rf", "knn"], "rf": {"n_estimators": 10}},
        predict={"input": str(new), "model": "knn"},
    )
    dry = run_snakemake(workflow_dir, "--dry-run", "--configfile", str(cfg))
    assert "\ntrain_knn " in dry.stdout and "\ntrain_vgg16 " not in dry.stdout
    run_snakemake(workflow_dir, "--configfile", str(cfg))

    results = workflow_dir / "results"
    metrics = json.loads((results / "models" / "knn" / "metrics.json").read_text())
    assert metrics["model"] == "knn" and metrics["val"]["n"] == 24
    table = read_tsv(results / "report" / "metrics.tsv")
    assert {r["model"] for r in table} == {"rf", "knn", "ensemble"}
    knn_val = next(r for r in table if r["model"] == "knn" and r["split"] == "val")
    assert float(knn_val["accuracy"]) == pytest.approx(metrics["val"]["accuracy"], abs=1e-6)
    page = (results / "report" / "report.html").read_text()
    assert '<section id="model-knn">' in page and "k-nearest neighbours" in page
    ensemble = json.loads((results / "models" / "ensemble" / "metrics.json").read_text())
    assert ensemble["members"] == ["rf", "knn"]
    # predict with it (the default target includes predict when predict.input is set)
    (predictions,) = (results / "predict").glob("new-*/predictions.tsv")  # one per folder
    rows = read_tsv(predictions)
    assert len(rows) == 3 and {r["model"] for r in rows} == {"knn"}
    assert all(r["predicted"] in metrics["classes"] for r in rows)
    shutil.rmtree(new)
