"""Keras training that resumes: a run interrupted after its second epoch goes on from the
third and ends with the weights of a run that was never interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import numpy as np
import psutil
import pytest

from conftest import SNAKEMAKE, copy_workflow, run_snakemake, write_config
from synthetic import make_dataset

TARGET = "results/models/cnn/model.keras"
# the improved recipe's loop (augmentation, cosine schedule, best epoch kept), small
# (epochs of a few seconds, so that the test can stop one after its second epoch)
CNN = {
    "image_size": 64,
    "epochs": 4,
    "width": 0.5,
    "dense_units": 64,
    "batch_size": 16,
    "augment": True,  # resumes with the same augmentation draws
    "restore_best": True,  # the best epoch is restored after a resume too
}


def configured(workdir, data):
    return write_config(
        workdir,
        source=str(data),
        crop={"shards": 2},
        models={"enabled": ["cnn"], "cnn": CNN},
    )


def weights(workdir):
    from wbc.models import cnn

    return [np.asarray(w) for w in cnn.load(workdir / TARGET).weights]


def wait_for_epoch(workdir, epoch: int, proc, timeout=600):
    log = workdir / "results" / "logs" / "train_cnn.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and f"epoch {epoch}/" in log.read_text():
            return
        assert proc.poll() is None, "the run ended before the epoch was reached"
        time.sleep(0.05)
    raise TimeoutError(f"epoch {epoch} not reached")


def training_job(snakemake_pid: int) -> psutil.Process:
    for child in psutil.Process(snakemake_pid).children(recursive=True):
        if any("train_model.py" in part for part in child.cmdline()):
            return child
    raise LookupError("no training job is running")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = make_dataset(root / "cells", per_class=100)
    workdir = copy_workflow(root / "whole")
    run_snakemake(workdir, TARGET, "--configfile", str(configured(workdir, data)))
    metrics = (workdir / "results/models/cnn/metrics.json").read_text()
    return data, weights(workdir), metrics, workdir


@pytest.mark.slow
def test_the_best_epoch_is_the_one_restored(uninterrupted):
    """The saved model is the best epoch's: its val accuracy, scored by the training rule
    after fit, is the best one of the history, at the epoch metrics.json names."""
    import json

    import pandas as pd

    metrics = json.loads(uninterrupted[2])
    history = pd.read_csv(uninterrupted[3] / "results/models/cnn/history.tsv", sep="\t")
    best = metrics["best_epoch"]
    assert history["val_accuracy"].max() == history.loc[best - 1, "val_accuracy"]
    assert metrics["val"]["accuracy"] == pytest.approx(history.loc[best - 1, "val_accuracy"])


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", ["sigterm_all", "sigkill_job"])
def test_interrupted_training_resumes_with_the_same_weights(uninterrupted, tmp_path, interrupt):
    data, expected, expected_metrics, _ = uninterrupted
    workdir = copy_workflow(tmp_path / "wf")
    cfg = configured(workdir, data)
    proc = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2", TARGET, "--configfile", str(cfg)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_epoch(workdir, 2, proc)
        if interrupt == "sigterm_all":
            # Snakemake and its job, as a closed terminal or SLURM's time limit does (a
            # SIGTERM to Snakemake alone lets running jobs finish: nothing to resume)
            os.killpg(proc.pid, signal.SIGTERM)
        else:  # the job dies alone: out of memory, a lost node
            training_job(proc.pid).send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert not (workdir / TARGET).exists()
    checkpoint = workdir / "results" / "models" / "cnn" / ".resume"
    assert (checkpoint / "state.json").is_file()

    run_snakemake(workdir, "--unlock", "--configfile", str(cfg))
    run_snakemake(workdir, TARGET, "--configfile", str(cfg))
    log = (workdir / "results" / "logs" / "train_cnn.log").read_text()
    resumed = re.search(r"resuming from epoch (\d+) of 4", log)
    assert resumed and int(resumed[1]) == 3, log
    assert "epoch 1/" not in log and "epoch 4/4" in log
    assert not checkpoint.exists()  # removed once the training finished
    for got, want in zip(weights(workdir), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # the same best epoch, history and figures as the uninterrupted run
    assert (workdir / "results/models/cnn/metrics.json").read_text().split('"train_seconds"')[
        0
    ] == expected_metrics.split('"train_seconds"')[0]
