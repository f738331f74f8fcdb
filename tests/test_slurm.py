"""The workflow on a real SLURM cluster through profiles/slurm.

.ci/slurm-up.sh starts a one-node cluster on localhost (partitions cpu and gpu, one GPU,
accounting). The test runs the real mini archive up to the CNN and then reads SLURM's own
accounting (sacct) to check that every rule except localrules ran as a SLURM job, that the
crop shards went as one group job, and that the TensorFlow rule asked for a GPU.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_envs import workflow_rules

from conftest import REPO, run_snakemake, write_config

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
SACCT_FIELDS = ("JobID", "JobName", "Partition", "State", "ExitCode", "ReqTRES", "SubmitLine")


def load_profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def gpu_rules(profile: dict) -> set[str]:
    return {rule for rule, res in profile["set-resources"].items() if res.get("gpu")}


def slurm_state() -> str | None:
    """The state of the local node, or None when no SLURM answers."""
    if shutil.which("sinfo") is None:
        return None
    proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return proc.stdout.split()[0] if proc.returncode == 0 and proc.stdout.split() else None


@pytest.fixture
def slurm_cluster():
    state = slurm_state()
    if state not in {"idle", "mix", "alloc"}:
        message = f"no SLURM cluster is running (sinfo: {state}); start one with .ci/slurm-up.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the SLURM test")
        pytest.skip(message)
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%c %m"], capture_output=True, text=True)
    cpus, mem_mb = map(int, out.stdout.split()[:2])
    return {"cpus": cpus, "mem_mb": mem_mb}


def ci_profile(workdir: Path, node: dict) -> str:
    """profiles/slurm with only what this one-node test cluster needs changed."""
    profile = load_profile()
    # conda channels are unreachable here: the rules run in the test environment
    # (the env files are checked by test_envs.py)
    profile.pop("software-deployment-method")
    # two jobs at a time fit this node's memory (the real profile sizes for real data)
    cap = node["mem_mb"] // node["cpus"]
    for resources in (profile["default-resources"], *profile["set-resources"].values()):
        if "mem_mb" in resources:
            resources["mem_mb"] = min(resources["mem_mb"], cap)
    # the plugin first checks a job 40 s after submitting it (then +10 s per round): right
    # for a busy cluster, most of the runtime here, where a job takes 7-20 s; a local disk
    # needs no latency wait
    profile["slurm-init-seconds-before-status-checks"] = 10
    profile["latency-wait"] = 5
    folder = workdir / "profiles" / "slurm-ci"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return str(folder.relative_to(workdir))


def sacct(job_ids: list[str]) -> list[dict]:
    proc = subprocess.run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "--delimiter=\x1f",
            "-j",
            ",".join(job_ids),
            "--format=" + ",".join(SACCT_FIELDS),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [
        dict(zip(SACCT_FIELDS, line.split("\x1f"), strict=True))
        for line in proc.stdout.splitlines()
    ]


def submitted_jobs(submit_line: str) -> list[str]:
    """The Snakemake jobs a SLURM job ran: its `--target-jobs 'rule:wildcards' ...`."""
    targets = re.search(r"--target-jobs (.+?) --", submit_line)[1]
    return re.findall(r"'([^']+)'", targets)


def test_profile_resources_name_real_rules(workflow_dir):
    """A typo in set-resources or groups would silently fall back to the defaults."""
    profile = load_profile()
    rules = workflow_rules(workflow_dir)
    assert profile["executor"] == "slurm"
    assert {"slurm_partition", "mem_mb", "runtime", "cpus_per_task"} <= set(
        profile["default-resources"]
    )
    assert set(profile["set-resources"]) <= set(rules), set(profile["set-resources"]) - set(rules)
    assert set(profile["groups"]) <= set(rules)
    # the rules that declare a GPU get one, on the GPU partition
    declared = {name for name, rule in rules.items() if "gpu" in rule["resources"]}
    assert declared and declared == gpu_rules(profile)
    for name in declared:
        assert profile["set-resources"][name]["gpu"] == 1
        assert profile["set-resources"][name]["slurm_partition"] == "gpu"
    # crop shards reach the cluster in groups (64 shards: 4 jobs)
    group = profile["groups"]["crop_shard"]
    assert 1 < profile["group-components"][group] < 64


@pytest.mark.slow
def test_workflow_runs_as_slurm_jobs(workflow_dir, mini_zip, slurm_cluster):
    profile = load_profile()
    rules = workflow_rules(workflow_dir)
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=32,
        crop={"shards": 4},
        models={"enabled": ["cnn"], "cnn": {"epochs": 1}, "vgg16": {"weights": None}},
    )
    target = "results/models/cnn/metrics.json"
    run = run_snakemake(
        workflow_dir,
        target,
        "--profile",
        ci_profile(workflow_dir, slurm_cluster),
        "--configfile",
        str(cfg),
        cores=slurm_cluster["cpus"],
    )
    log = run.stderr
    assert json.loads((workflow_dir / target).read_text())

    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    records = sacct(job_ids)
    print("\nSLURM jobs of this run (sacct):")
    for rec in records:
        gpus = re.findall(r"--gpus=\S+", rec["SubmitLine"].split(" --wrap", 1)[0])
        print(
            f"  {rec['JobID']:>5} {rec['Partition']:4} {rec['State']:9} {rec['ReqTRES']:45} "
            f"{' '.join(gpus) or '-':10} {' '.join(submitted_jobs(rec['SubmitLine']))}"
        )
    assert sorted(r["JobID"] for r in records) == sorted(job_ids)
    assert all(r["State"] == "COMPLETED" and r["ExitCode"] == "0:0" for r in records), records
    assert len({r["JobName"] for r in records}) == 1  # the plugin names jobs by run

    # every job Snakemake ran outside itself is in SLURM's accounting, and only those:
    # Snakemake prints "rule x:" (or "checkpoint x:") for a submitted job and
    # "localrule x:" for one it runs itself
    ran_remote = re.findall(r"^\s*(?:rule|checkpoint) (\w+):$", log, flags=re.M)
    ran_local = set(re.findall(r"^\s*local(?:rule|checkpoint) (\w+):$", log, flags=re.M))
    in_slurm = [job.split(":")[0] for rec in records for job in submitted_jobs(rec["SubmitLine"])]
    assert sorted(in_slurm) == sorted(ran_remote)
    assert not {r for r in ran_remote if rules[r]["local"]}
    assert ran_local <= {n for n, r in rules.items() if r["local"] or not r["runs_code"]}
    assert {"unpack_zip", "manifest", "crop_shard", "split", "train_cnn"} <= set(in_slurm)

    by_rule = {}
    for rec in records:
        for job in submitted_jobs(rec["SubmitLine"]):
            by_rule.setdefault(job.split(":")[0], []).append(rec)
    # the 4 crop shards in one group job
    assert in_slurm.count("crop_shard") == 4
    assert len({rec["JobID"] for rec in by_rule["crop_shard"]}) == 1

    # the TensorFlow rule asked for a GPU and got one, on the GPU partition; no other did
    for rule, recs in by_rule.items():
        for rec in recs:
            sbatch_options = rec["SubmitLine"].split(" --wrap", 1)[0]
            if rule in gpu_rules(profile):
                assert "--gpus=1" in sbatch_options.split() and "gres/gpu=1" in rec["ReqTRES"], rec
                assert rec["Partition"] == "gpu", rec
            else:
                assert "--gpus" not in sbatch_options and "gres/gpu" not in rec["ReqTRES"], rec
                assert rec["Partition"] == "cpu", rec
    assert "train_cnn" in by_rule
