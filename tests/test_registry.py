"""The model registry: a model added as its facts, its code and one registry entry (and
`make docs` run) reaches the DAG, the metrics table, the report and `predict`; a second
pre-trained backbone is one module (its facts) and one registry entry."""

from __future__ import annotations

import csv
import filecmp
import json
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO, WORKFLOW_FILES, run_snakemake, write_config

# a fourth model, written as a user would: k-nearest neighbours on the resized crops; its
# facts (read by the Snakefile: standard library only) and its code (scikit-learn)
KNN_FACTS = '''"""k-nearest neighbours: facts and settings."""

from __future__ import annotations

from dataclasses import dataclass

from . import ModelFacts, setting


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
'''
KNN_CODE = '''"""k-nearest neighbours on the pixels of the resized crops."""

from __future__ import annotations

import joblib
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from .facts.knn import FACTS  # noqa: F401


def device(settings, threads):
    return "CPU"


def fit(train, val, settings, threads, resume_dir):
    x = train.rows.read(np.arange(len(train))).reshape(len(train), -1)
    return KNeighborsClassifier(settings["n_neighbors"]).fit(x, train.labels), None, None


def predict(model, x):
    return model.predict_proba(x.reshape(len(x), -1))


predict_images = predict


def save(model, path, settings):
    joblib.dump(model, path)


def load(path):
    return joblib.load(path)
'''


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def add_model(workdir, name: str, facts: str, code: str | None = None) -> None:
    """What adding a model takes: its facts module, its code module (none for a frozen
    backbone) and its registry entry; then `make docs` (its settings' rows in
    config/README.md, its block in config/config.yaml)."""
    models = workdir / "workflow" / "scripts" / "wbc" / "models"
    (models / "facts" / f"{name}.py").write_text(facts)
    if code is not None:
        (models / f"{name}.py").write_text(code)
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
    return sorted(changed)


def add_knn(workdir):
    add_model(workdir, "knn", KNN_FACTS, KNN_CODE)
    # its facts, its code and its registry entry by hand; the docs by `make docs`
    assert touched(workdir) == [
        "config/README.md",
        "config/config.yaml",
        "workflow/scripts/wbc/models/__init__.py",
        "workflow/scripts/wbc/models/facts/knn.py",
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


# a second pre-trained backbone, written as a user would: EfficientNetB0 from
# keras.applications, frozen, under the generic head and training (wbc.models.backbones)
EFFNET_FACTS = '''"""Frozen EfficientNetB0 (keras.applications) + a dense head."""

from __future__ import annotations

from dataclasses import dataclass

from . import Backbone, ModelFacts, setting
from .vgg16 import Settings as FrozenHeadSettings


@dataclass(frozen=True)
class Settings(FrozenHeadSettings):
    image_size: int = setting(64, "Side in pixels the backbone sees.", minimum=32)
    epochs: int = setting(20, "Most epochs of head training.", minimum=1)


FACTS = ModelFacts(
    name="effnet",
    title="EfficientNetB0 (frozen) + head",
    env="tensorflow",
    model_file="model.keras",
    keras=True,
    settings=Settings,
    frozen_features=Backbone(
        application="EfficientNetB0",
        preprocess="efficientnet",
        weights_url="https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
    ),
)
'''


def test_a_second_pretrained_backbone_is_one_module(workflow_dir, mini_zip):
    """Its frozen features and its weights come from the generic rules frozen_features
    and backbone_weights, cached per backbone settings like VGG16's."""
    add_model(workflow_dir, "effnet", EFFNET_FACTS)
    # its facts (no code) and its registry entry by hand; the docs by `make docs`
    assert touched(workflow_dir) == [
        "config/README.md",
        "config/config.yaml",
        "workflow/scripts/wbc/models/__init__.py",
        "workflow/scripts/wbc/models/facts/effnet.py",
    ]
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        models={"enabled": ["effnet", "vgg16"], "effnet": {"variants": {"long": {"epochs": 40}}}},
    )
    dry = run_snakemake(workflow_dir, "--dry-run", "--configfile", str(cfg)).stdout
    weights = "resources/efficientnetb0_notop.h5"
    assert f"output: {weights}" in dry and "vgg16_weights_tf_dim_ordering" in dry
    features = re.findall(r"output: (results/features/\S+)", dry)
    # one job per split and backbone settings: the variant reuses the base model's features
    # the precision (auto, inherited from VGG16's settings) names the folder too
    assert sorted(features) == sorted(
        f"results/features/{model}/imagenet-{size}px-reference-auto/{split}.npy"
        for model, size in (("effnet", 64), ("vgg16", 128))
        for split in ("train", "val", "test", "test_simple")
    )
    assert "\ntrain_effnet " in dry and "\nreport_saliency " in dry


@pytest.mark.slow
def test_a_second_pretrained_backbone_trains(workflow_dir, mini_zip, tmp_path):
    """Trained on the mini archive (random weights: no download here): its features are
    computed once for two variants, and the saved model classifies images itself."""
    add_model(workflow_dir, "effnet", EFFNET_FACTS)
    new = tmp_path / "new"
    new.mkdir()
    with zipfile.ZipFile(mini_zip) as zf:
        names = sorted(n for n in zf.namelist() if "TEST_SIMPLE/" in n and n.endswith(".jpeg"))
        for name in names[:2]:
            (new / name.rsplit("/", 1)[1]).write_bytes(zf.read(name))
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        crop={"shards": 2},
        models={
            "enabled": ["effnet"],
            "effnet": {
                "weights": None,
                "image_size": 32,
                "epochs": 2,
                "variants": {"short": {"epochs": 1}},
            },
        },
        predict={"input": str(new), "model": "effnet"},
    )
    targets = [f"results/models/{m}/metrics.json" for m in ("effnet", "effnet-short")]
    run_snakemake(workflow_dir, *targets, "predict", "--configfile", str(cfg))
    results = workflow_dir / "results"
    features = sorted(p.relative_to(results).as_posix() for p in results.glob("features/**/*.npy"))
    assert features == [
        f"features/effnet/random42-32px-reference-auto/{s}.npy"
        for s in sorted(("train", "val", "test", "test_simple"))
    ]
    metrics = json.loads((results / "models" / "effnet" / "metrics.json").read_text())
    assert metrics["random_backbone"] is True and metrics["val"]["n"] > 0
    assert metrics["settings"]["epochs"] == 2
    log = results / "logs" / "frozen_features" / "effnet" / "random42-32px-reference-auto"
    assert "EfficientNetB0 backbone with RANDOM weights" in (log / "val.log").read_text()
    assert not (workflow_dir / "resources").exists()  # nothing fetched
    # the saved model (backbone, its preprocessing and head) classifies images itself
    (predictions,) = (results / "predict").glob("new-*/predictions.tsv")
    rows = read_tsv(predictions)
    assert len(rows) == 2 and all(r["predicted"] in metrics["classes"] for r in rows)
