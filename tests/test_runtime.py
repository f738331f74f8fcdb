"""Leases on a job's outputs held on another host (a SLURM node), where no PID can be
checked: the holder's heartbeat decides. (The same host, for real: test_integrity.py.)"""

from __future__ import annotations

import json
import os
import time

import pytest
from snakemake.iocontainers import OutputFiles

from wbc.runtime import STALE, Lease, UserError, final_path

OUTPUTS = ["results/models/rf/model.joblib", "results/models/rf/metrics.json"]


def lease_of_another_host(tmp_path, age: float, slurm_job=None) -> Lease:
    """The lease file a job on node-17 wrote, last refreshed ``age`` seconds ago, and
    the half-written output it left."""
    lease = Lease("train_rf", OUTPUTS)
    leftover = tmp_path / "results" / "models" / "rf" / ".model.0123abcd.staged.joblib"
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
    with pytest.raises(UserError) as err:
        lease.acquire()
    message = str(err.value)
    assert "\n" not in message and "PID 4242 on host node-17" in message
    assert "ssh node-17 kill 4242" in message
    assert "revoked_by" in json.loads(lease.path.read_text())  # its results will be discarded


def test_a_slurm_job_is_stopped_with_scancel(tmp_path):
    lease = lease_of_another_host(tmp_path, age=0, slurm_job="991")
    with pytest.raises(UserError, match=r"\(SLURM job 991\).*scancel 991"):
        lease.acquire()


def test_a_lease_without_heartbeat_is_taken_over_and_its_leftovers_deleted(tmp_path):
    lease = lease_of_another_host(tmp_path, age=STALE + 60)
    lease.acquire()
    try:
        assert lease.ours()
        assert not list((tmp_path / "results").rglob(".*staged*"))
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
    assert final_path(output[0]) == OUTPUTS[0]
    data = json.loads(lease.path.read_text())
    lease.path.write_text(json.dumps({**data, "revoked_by": {"pid": 7, "host": "vm"}}))
    with pytest.raises(UserError, match=r"results discarded: a newer run \(PID 7 on host vm\)"):
        lease.publish()
    lease.release()
    assert not list((tmp_path / "results").rglob("*.*"))  # nothing published, nothing left
