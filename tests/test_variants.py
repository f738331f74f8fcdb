"""Model variants and seeds as DAG wildcards: many settings compared in one run, nothing
recomputed or overwritten, every model's provenance recorded."""

from __future__ import annotations

import json
import subprocess
import zipfile

import pandas as pd
import pytest

from conftest import copy_workflow, run_snakemake, scheduled_jobs, shared_archive, write_config

CNN = {"image_size": 32, "epochs": 1, "width": 0.25, "dense_units": 16}


def sweep(**cnn_variants):
    return {
        "enabled": ["rf", "cnn"],
        "rf": {"n_estimators": 10, "seeds": [1, 2]},
        "cnn": {**CNN, "variants": cnn_variants},
    }


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Two CNN variants and two seeds of the Random Forest, in one run of a git checkout."""
    mini_zip = shared_archive("blood-cells-mini.zip")
    root = tmp_path_factory.mktemp("variants")
    new = root / "new"
    new.mkdir()
    with zipfile.ZipFile(mini_zip) as zf:
        for name in sorted(n for n in zf.namelist() if n.endswith(".jpeg"))[:3]:
            (new / name.rsplit("/", 1)[1]).write_bytes(zf.read(name))
    workdir = copy_workflow(root / "wf")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "workflow"]):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
        subprocess.run(git, cwd=workdir, check=True, capture_output=True)
    config = dict(source=str(mini_zip), crop={"shards": 2}, predict={"input": str(new)})
    models = sweep(lr={"learning_rate": 0.01}, e2={"epochs": 2})
    cfg = write_config(workdir, **config, models=models)
    run_snakemake(workdir, "--configfile", str(cfg))
    return workdir, config


@pytest.mark.slow
def test_variants_and_seeds_in_one_run(swept):
    workdir, _ = swept
    results = workdir / "results"
    table = pd.read_csv(results / "report" / "metrics.tsv", sep="\t")
    models = {"rf_s1", "rf_s2", "cnn", "cnn-lr", "cnn-e2", "ensemble"}
    assert set(table["model"]) == models
    page = (results / "report" / "report.html").read_text()
    for model in models:
        assert f'<section id="model-{model}">' in page
    assert "custom CNN (lr)" in page and "Random Forest (seed 2)" in page
    # the variants' settings reached their models; the seeds theirs
    rows = table[table["split"] == "val"].set_index("model")
    assert rows.loc["cnn-lr", "setting.learning_rate"] == 0.01
    assert rows.loc["cnn", "setting.learning_rate"] == 0.001
    assert rows.loc["cnn-e2", "setting.epochs"] == 2
    assert list(rows.loc[["rf_s1", "rf_s2"], "seed"]) == [1, 2]
    # mean and spread across the forest's seeds, beside each run's interval
    seeds = pd.read_csv(results / "report" / "seeds.tsv", sep="\t")
    forest = seeds[(seeds["model"] == "rf") & (seeds["split"] == "val")].iloc[0]
    assert forest["seeds"] == 2
    assert forest["accuracy_mean"] == pytest.approx(
        rows.loc[["rf_s1", "rf_s2"], "accuracy"].mean(),
        abs=1e-6,  # tables hold 6 decimals
    )
    assert "Across seeds" in page
    # the ensemble averages each model's base settings: the first seed, no variant
    ensemble = json.loads((results / "models" / "ensemble" / "metrics.json").read_text())
    assert ensemble["members"] == ["rf_s1", "cnn"]


@pytest.mark.slow
def test_every_model_records_its_provenance(swept):
    workdir, config = swept
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout.strip()
    for model in ("rf_s2", "cnn-lr"):
        metrics = json.loads((workdir / f"results/models/{model}/metrics.json").read_text())
        assert metrics["provenance"] == {"source": config["source"], "workflow_commit": commit}
        assert metrics["recipe"] == "improved" and metrics["seed"] == metrics["settings"]["seed"]
        assert {"image_size", "seed", "recipe"} <= set(metrics["settings"])
    table = pd.read_csv(workdir / "results/report/metrics.tsv", sep="\t")
    assert set(table.loc[table["model"] != "ensemble", "workflow_commit"]) == {commit}


@pytest.mark.slow
def test_a_variant_reaches_predict(swept):
    workdir, config = swept
    cfg = write_config(
        workdir,
        **{**config, "predict": {**config["predict"], "model": "cnn-lr"}},
        models=sweep(lr={"learning_rate": 0.01}, e2={"epochs": 2}),
    )
    proc = run_snakemake(workdir, "predict", "--configfile", str(cfg))
    assert not [job for job in scheduled_jobs(proc) if job.startswith("train_")]
    (result,) = (workdir / "results" / "predict").glob("*/predictions.tsv")
    rows = pd.read_csv(result, sep="\t")
    assert set(rows["model"]) == {"cnn-lr"}


@pytest.mark.slow
def test_adding_a_variant_runs_only_it_and_the_report(swept):
    workdir, config = swept
    models = sweep(lr={"learning_rate": 0.01}, e2={"epochs": 2}, px48={"image_size": 48})
    cfg = write_config(workdir, **config, models=models)
    dry = run_snakemake(workdir, "--configfile", str(cfg), "--dry-run")
    jobs = scheduled_jobs(dry)
    # the new variant: its own arrays (another image size), its training, its figures
    assert jobs.pop("training_arrays") == 4
    assert "output: results/arrays/nucleus_window/48px/" in dry.stdout  # the CNN's crop
    assert "output: results/arrays/nucleus_window/32px/" not in dry.stdout  # the others stand
    assert jobs.pop("train_cnn") == 1 and "results/models/cnn-px48/" in dry.stdout
    assert not [job for job in jobs if job.startswith("train_")]
    assert set(jobs) <= {
        "report_model", "report_training", "report_saliency", "report_comparison",
        "report_headline", "report_run_facts", "config_used", "report",
        "predict",  # predict.model: best chooses among the models again
    }  # fmt: skip
    assert "ensemble" not in jobs and "split" not in jobs
    # removing it again leaves the others untouched
    cfg = write_config(workdir, **config, models=sweep(lr={"learning_rate": 0.01}))
    jobs = scheduled_jobs(run_snakemake(workdir, "--configfile", str(cfg), "--dry-run"))
    assert not [job for job in jobs if job.startswith(("train_", "training_arrays"))]
