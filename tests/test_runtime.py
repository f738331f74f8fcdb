"""Leases on a job's outputs held on another host (a SLURM node), where no PID can be
checked: the holder's heartbeat decides. (The same host, for real: test_integrity.py.)"""

from __future__ import annotations

import json
import os
import time

import pytest
from snakemake.iocontainers import OutputFiles

from wbc.lease import STALE, Lease, LeaseError

OUTPUTS = ["results/models/rf/model.joblib", "results/models/rf/metrics.json"]


def lease_of_another_host(tmp_path, age: float, slurm_job=None) -> Lease:
    """The lease file a job on node-17 wrote, last refreshed ``age`` seconds ago, and
    the half-written output it left."""
    lease = Lease("train_rf", OUTPUTS)
    leftover = tmp_path / "results" / "models" / "rf" / ".staged-0123abcd" / "model.joblib"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("half a forest")
    lease.path.parent.mkdir(parents=True)
    lease.path.write_text(
        json.dumps(
            {
                "rule": "train_rf",
                "host": "node-17",
                "pid": 4242,
                "slurm_job": slurm_job,
                "started": "2026-01-01T00:00:00",
                "token": "0123abcd" * 4,
                "staged": [str(leftover.relative_to(tmp_path))],
            }
        )
    )
    then = time.time() - age
    os.utime(lease.path, (then, then))
    return lease


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_a_live_lease_on_another_host_stops_the_job_and_is_revoked(tmp_path):
    lease = lease_of_another_host(tmp_path, age=STALE / 10)
    with pytest.raises(LeaseError) as err:
        lease.acquire()
    message = str(err.value)
    assert "\n" not in message and "PID 4242 on host node-17" in message
    assert "ssh node-17 kill 4242" in message
    assert "revoked_by" in json.loads(lease.path.read_text())  # its results will be discarded


def test_a_slurm_job_is_stopped_with_scancel(tmp_path):
    lease = lease_of_another_host(tmp_path, age=0, slurm_job="991")
    with pytest.raises(LeaseError, match=r"\(SLURM job 991\).*scancel 991"):
        lease.acquire()


def test_a_lease_without_heartbeat_is_taken_over_and_its_leftovers_deleted(tmp_path):
    lease = lease_of_another_host(tmp_path, age=STALE + 60)
    lease.acquire()
    try:
        assert lease.ours()
        assert not list((tmp_path / "results").rglob(".staged*"))
    finally:
        lease.release()
    assert not lease.path.exists()


def test_outputs_are_published_only_while_the_lease_is_ours(tmp_path):
    lease = Lease("train_rf", OUTPUTS)
    lease.acquire()
    named = OutputFiles(fromdict={"model": OUTPUTS[0], "metrics": OUTPUTS[1]})
    output = lease.staged_output(named)
    assert output.model == output[0] != OUTPUTS[0]  # the names Snakemake's object gives
    for path in output:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("new")
    assert [os.path.basename(p) for p in output] == [os.path.basename(p) for p in OUTPUTS]
    data = json.loads(lease.path.read_text())
    lease.path.write_text(json.dumps({**data, "revoked_by": {"pid": 7, "host": "vm"}}))
    with pytest.raises(LeaseError, match=r"results discarded: a newer run \(PID 7 on host vm\)"):
        lease.publish()
    lease.release()
    assert not list((tmp_path / "results").rglob("*.*"))  # nothing published, nothing left


def rule_job(tmp_path, folder, log=None):
    """What a rule script gets from Snakemake (``snakemake``): its rule, outputs and log."""
    from types import SimpleNamespace

    outputs = {"model": f"{folder}/model.joblib", "metrics": f"{folder}/metrics.json"}
    return SimpleNamespace(
        rule="train_rf",
        output=OutputFiles(fromdict=outputs),
        log=[str(log or tmp_path / "train_rf.log")],
    )


def test_an_orphan_whose_lease_was_revoked_says_results_discarded(tmp_path, capsys):
    from wbc.runtime import run_rule

    job = rule_job(tmp_path, "results/models/rf")
    lease = Lease("train_rf", list(job.output))

    def main():  # a newer run revokes the lease, and deletes what this job was reading
        data = json.loads(lease.path.read_text())
        revoked = {**data, "revoked_by": {"pid": 7, "host": "vm"}}
        lease.path.write_text(json.dumps(revoked))
        open(tmp_path / "results" / "models" / "rf" / ".resume" / "epoch.keras").close()

    with pytest.raises(SystemExit):
        run_rule(main, job)
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        len(lines) == 1
        and "train_rf: results discarded: a newer run (PID 7 on host vm)" in lines[0]
    )
    assert "Traceback" not in (tmp_path / "train_rf.log").read_text()
    assert not list((tmp_path / "results").rglob("*.*"))


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB file system (tmpfs; needs root, as in CI's container)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    import logging

    for handler in logging.root.handlers[:]:  # the job's log file, on that disk
        handler.close()
        logging.root.removeHandler(handler)
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def write_zeros(path):
    with open(path, "wb") as fh:
        for _ in range(4):
            fh.write(b"\0" * (512 << 10))  # 2 MB into 1 MB


def write_crop(path):  # OpenCV's imwrite fails without an errno: wbc.crop.write_png
    import numpy as np

    from wbc.crop import write_png

    noise = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    write_png(f"{path}.png", noise)  # 3 MB of incompressible pixels


@pytest.mark.parametrize("writer", [write_zeros, write_crop], ids=["python", "opencv"])
def test_a_full_disk_is_one_line_naming_the_output_and_the_space_needed(
    tmp_path, small_disk, capsys, writer
):
    from wbc.runtime import run_rule

    job = rule_job(tmp_path, "disk/models/rf", log=small_disk / "train_rf.log")

    def main():
        (tmp_path / job.output.metrics).write_text("{}")
        writer(job.output.model)

    with pytest.raises(SystemExit):
        run_rule(main, job)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert "no space left on the disk of disk/models/rf/model.joblib" in line
    assert "free at least" in line and "MB" in line and ".staged" not in line
    assert not [p for p in small_disk.rglob("*") if p.is_file() and p.name != "train_rf.log"]
