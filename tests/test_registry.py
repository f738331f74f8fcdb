"""The model registry: a model added as one module and one registry entry (and `make docs`
run) reaches the DAG, the metrics table, the report and `predict`; a second pre-trained
backbone is one module too."""

from __future__ import annotations

import csv
import filecmp
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO, WORKFLOW_FILES, run_snakemake, write_config

# a fourth model, written as a user would: k-nearest neighbours on the resized crops
KNN_MODULE = '''"""k-nearest neighbours on the pixels of the resized crops."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import ModelFacts, setting


@dataclass(frozen=True)
class Settings:
    image_size: int = setting(32, "Side in pixels.", minimum=8)
    n_neighbors: int = setting(5, "Neighbours that vote.", minimum=1)


FACTS = ModelFacts(
    name="knn",
    title="k-nearest neighbours",
    env="sklearn",
    model_file="model.joblib",
    settings=Settings,
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


def add_model(workdir, name: str, module: str) -> None:
    """What adding a model takes: its module and its registry entry; then `make docs`
    (its settings' rows in config/README.md, its block in config/config.yaml)."""
    models = workdir / "workflow" / "scripts" / "wbc" / "models"
    (models / f"{name}.py").write_text(module)
    registry = models / "__init__.py"
    text = registry.read_text()
    assert 'MODELS = ("rf", "vgg16", "cnn")' in text
    registry.write_text(text.replace('"cnn")', f'"cnn", "{name}")'))
    subprocess.run(
        [sys.executable, "-m", "wbc.docs", "config"],
        cwd=workdir,
        env={"PYTHONPATH": str(workdir / "workflow" / "scripts")},
        check=True,
        capture_output=True,
    )


def touched(workdir) -> list[str]:
    """The workflow's files that differ in ``workdir`` from this checkout, or are new."""
    changed = []
    for top in WORKFLOW_FILES:
        for path in sorted((workdir / top).rglob("*") if (workdir / top).is_dir() else []):
            if path.is_file() and "__pycache__" not in path.parts:
                mine = REPO / path.relative_to(workdir)
                if not mine.is_file() or not filecmp.cmp(path, mine, shallow=False):
                    changed.append(str(path.relative_to(workdir)))
    return changed


def add_knn(workdir):
    add_model(workdir, "knn", KNN_MODULE)
    # the module and its registry entry by hand; the docs by `make docs`
    assert touched(workdir) == [
        "config/README.md",
        "config/config.yaml",
        "workflow/scripts/wbc/models/__init__.py",
        "workflow/scripts/wbc/models/knn.py",
    ]
    readme = (workdir / "config" / "README.md").read_text()
    assert "| `models.knn.n_neighbors` | `5` | Neighbours that vote. |" in readme


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
        models={"enabled": ["rf", "knn"], "rf": {"n_estimators": 10}, "knn": {"n_neighbors": 3}},
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
