"""The workflow on a real SLURM cluster through profiles/slurm, following the steps of
profiles/slurm/README.md.

.ci/slurm-up.sh starts a one-node cluster on localhost (partitions cpu and gpu, one GPU,
accounting). The tests dry-run the workflow through the profile; run the real mini
archive up to the CNN with the training's time limit changed in the profile, watch its
jobs with squeue, stop it with Ctrl-C during the training, and run the same command again
(the training resumes from its last finished epoch); then read SLURM's own accounting
(sacct) to check that every rule except localrules ran as a SLURM job, that the crop
shards went as one group job, that the TensorFlow rule asked for a GPU, and that the time
limits reached sbatch. Another test cancels a job with scancel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from test_envs import workflow_rules

from conftest import REPO, SNAKEMAKE, run_snakemake, scheduled_jobs, write_config

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
SACCT_FIELDS = (
    "JobID",
    "JobName",
    "Partition",
    "State",
    "ExitCode",
    "TimelimitRaw",
    "ReqTRES",
    "SubmitLine",
)
# the training job's time limit, changed in the profile as the guide shows (minutes)
CNN_RUNTIME = 17
# epochs of the training the test stops after its second (the resumed run trains the
# rest, so each epoch more costs a second run's time); a thread watching its log
# suspends the job within 0.1 s, so no CPU finishes them before Snakemake cancels it
CNN_EPOCHS = 60


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


def ci_profile(
    workdir: Path, node: dict | None = None, edits: dict | None = None, name: str = "slurm-ci"
) -> str:
    """profiles/slurm with only what this one-node test cluster needs changed, and the
    ``edits`` (rule -> resources) a user would make to set-resources."""
    profile = load_profile()
    for rule, resources in (edits or {}).items():
        profile["set-resources"].setdefault(rule, {}).update(resources)
    # conda channels are unreachable here: the rules run in the test environment
    # (the env files are checked by test_envs.py)
    profile.pop("software-deployment-method")
    # two jobs at a time fit this node's memory (the real profile sizes for real data)
    if node:
        cap = node["mem_mb"] // node["cpus"]
        for resources in (profile["default-resources"], *profile["set-resources"].values()):
            if "mem_mb" in resources:
                resources["mem_mb"] = min(resources["mem_mb"], cap)
    # the plugin first checks a job 40 s after submitting it (then +10 s per round): right
    # for a busy cluster, most of the runtime here, where a job takes 7-20 s; a local disk
    # needs no latency wait
    profile["slurm-init-seconds-before-status-checks"] = 10
    profile["latency-wait"] = 5
    folder = workdir / "profiles" / name
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


def submitted(log: str) -> dict[str, tuple[str, Path]]:
    """SLURM job id -> (rule_<rule> or group_<group>, its SLURM log), from Snakemake's log."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", log, re.M)
    return {job: (re.search(r"slurm_logs/([^/]+)/", path)[1], Path(path)) for job, path in found}


def squeue() -> list[dict]:
    """The user's jobs as `squeue --me` shows them: id, state, time limit, comment (the
    rule)."""
    proc = subprocess.run(
        ["squeue", "--me", "-h", "-o", "%i|%T|%l|%k"], capture_output=True, text=True
    )
    rows = [line.split("|") for line in proc.stdout.splitlines()]
    return [dict(zip(("id", "state", "limit", "comment"), r, strict=True)) for r in rows]


class Background:
    """Snakemake running in the background, its log collected as it comes."""

    def __init__(self, workdir: Path, *args: str, cores: int):
        self.proc = subprocess.Popen(
            [SNAKEMAKE, "--cores", str(cores), *args],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Ctrl-C must reach Snakemake: a shell that started the tests with `&` hands
            # them an ignored SIGINT, which Snakemake would inherit
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # Snakemake cancels its SLURM jobs on the way out
            raise
        finally:
            self.reader.join()
        return code


def planned_resources(log: str, rule: str) -> dict[str, str]:
    """The resources a dry run prints for a rule's (first) job."""
    block = re.search(rf"^rule {rule}:$(.*?)^\s*resources: (.*?)$", log, re.M | re.S)
    return dict(item.split("=", 1) for item in block[2].split(", "))


def epochs_logged(log: Path) -> int:
    """The last epoch a Keras training log reports finished."""
    text = log.read_text() if log.is_file() else ""
    return max(map(int, re.findall(r"epoch (\d+)/\d+:", text)), default=0)


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


def test_dry_run_through_the_profile(workflow_dir, mini_zip):
    """The guide's first step: `snakemake --profile profiles/slurm -n` lists the jobs it
    would submit, touching neither SLURM nor the files; with cross-validation, each fold
    of each model is a job of its own, with its model's resources."""
    run = run_snakemake(
        workflow_dir,
        "--profile",
        ci_profile(workflow_dir),
        "-n",
        "--config",
        f"source={mini_zip}",
        "split={'folds': 3}",
    )
    jobs = scheduled_jobs(run)
    assert jobs["train_cnn_fold"] == jobs["train_vgg16_fold"] == jobs["train_rf_fold"] == 3
    fold = planned_resources(run.stdout + run.stderr, "train_cnn_fold")
    assert fold["slurm_partition"] == "gpu" and fold["gpu"] == "1", fold
    assert planned_resources(run.stdout + run.stderr, "train_rf_fold")["mem_mb"] == "16000"
    # 64 crop shards per crop method (the forest's and VGG16's reference, the CNN's
    # nucleus window; the profile sends them as 8 group jobs), every model and the report
    assert jobs["crop_shard"] == 64 * 2, jobs
    assert {"unpack_zip", "manifest", "split", "train_rf", "train_vgg16", "train_cnn"} <= set(jobs)
    assert "report" in jobs
    # every rule with many jobs reaches the cluster in groups (a job costs a queue wait),
    # each job asking for its own resources (a group asks for the sum of its jobs')
    profile = load_profile()
    many = {rule for rule, n in jobs.items() if n > 8}
    assert {"crop_shard", "group_shard"} <= many, jobs
    assert many <= set(profile["groups"]), many - set(profile["groups"])
    assert many <= set(profile["set-resources"]), many - set(profile["set-resources"])
    assert "This was a dry-run" in run.stdout + run.stderr
    assert not (workflow_dir / "results").exists()
    # what a job will ask for: the profile's resources for the rule
    train = planned_resources(run.stdout + run.stderr, "train_cnn")
    assert train["slurm_partition"] == "gpu" and train["gpu"] == "1", train
    assert train["runtime"] == "240" and train["mem_mb"] == "32000", train


def test_command_line_set_resources_replace_the_profiles(workflow_dir, mini_zip):
    """What the guide warns about: `--set-resources` on the command line does not add to
    the profile's set-resources, it replaces all of them (Snakemake gives every top-level
    profile key given on the command line precedence as a whole): the training then gets
    its new time limit but loses its GPU partition and memory, and every other rule its
    settings too."""
    run = run_snakemake(
        workflow_dir,
        "--profile",
        ci_profile(workflow_dir),
        "-n",
        "--config",
        f"source={mini_zip}",
        "--set-resources",
        "train_cnn:runtime=480",
    )
    log = run.stdout + run.stderr
    profile = load_profile()
    train = planned_resources(log, "train_cnn")
    assert train["runtime"] == "480", train
    default = profile["default-resources"]
    assert train["slurm_partition"] == default["slurm_partition"] != "gpu", train
    assert train["mem_mb"] == str(default["mem_mb"]), train
    manifest = planned_resources(log, "manifest")
    assert manifest["runtime"] == str(default["runtime"]), manifest
    assert profile["set-resources"]["manifest"]["runtime"] != default["runtime"]


@pytest.mark.slow
def test_workflow_runs_as_slurm_jobs(workflow_dir, mini_zip, slurm_cluster):
    profile = load_profile()
    rules = workflow_rules(workflow_dir)
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=32,
        crop={"shards": 4},
        models={
            "enabled": ["cnn"],
            "cnn": {"epochs": CNN_EPOCHS},
            "vgg16": {"weights": None},
        },
    )
    target = "results/models/cnn/metrics.json"
    args = (
        target,
        # the training's time limit changed in the profile (the guide's way)
        "--profile",
        ci_profile(workflow_dir, slurm_cluster, {"train_cnn": {"runtime": CNN_RUNTIME}}),
        "--configfile",
        str(cfg),
    )
    train_log = workflow_dir / "results" / "logs" / "train_cnn.log"

    # 1. run, watch the jobs with squeue, and stop the run with Ctrl-C (SIGINT) during
    # the training, after its second epoch
    first = Background(workflow_dir, *args, cores=slurm_cluster["cpus"])
    seen, stopped, running_training = {}, [], []

    def stop_after_second_epoch():
        # once squeue has shown the training running and epoch 2 is logged: hold the job
        # where it is (SLURM's suspend: epochs of a tiny network take milliseconds on a
        # fast CPU, less than Snakemake's way from Ctrl-C to scancel), then Ctrl-C
        while first.proc.poll() is None:
            if running_training and epochs_logged(train_log) >= 2:
                stopped.append(running_training[0])
                subprocess.run(["scontrol", "suspend", stopped[0]], check=True)
                first.proc.send_signal(signal.SIGINT)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=stop_after_second_epoch)
    watcher.start()
    deadline = time.monotonic() + 900
    while first.proc.poll() is None and time.monotonic() < deadline:
        jobs = submitted(first.log)
        for row in squeue():
            if row["id"] in jobs:
                seen.setdefault(row["id"], []).append(row)
                training = jobs[row["id"]][0] == "rule_train_cnn"
                if training and row["state"] == "RUNNING" and not running_training:
                    running_training.append(row["id"])
        time.sleep(0.5)
    watcher.join(timeout=60)
    assert first.wait(timeout=300) != 0, first.log[-3000:]
    assert stopped, f"the training job was not seen running:\n{first.log[-3000:]}"
    stopped = stopped[0]
    # squeue showed the training job running, with the rule as its comment and the
    # profile's time limit; and every job before it while it was queued or running
    running = [row for row in seen[stopped] if row["state"] == "RUNNING"]
    assert running, seen[stopped]
    assert running[0]["comment"].startswith("rule_train_cnn"), running
    assert running[0]["limit"] == f"{CNN_RUNTIME}:00", running
    assert len(seen) == len(submitted(first.log)), (seen, submitted(first.log))
    # Snakemake cancelled the running job with scancel on its way out
    assert "Terminating processes on user request" in first.log
    (cancelled,) = sacct([stopped])
    deadline = time.monotonic() + 60
    while cancelled["State"] == "SUSPENDED" and time.monotonic() < deadline:
        time.sleep(1)  # the accounting shows the scancel of a suspended job a moment later
        (cancelled,) = sacct([stopped])
    if cancelled["State"] == "SUSPENDED":  # never cancelled: free the node for other tests
        subprocess.run(["scancel", stopped], check=False)
    assert cancelled["State"].startswith("CANCELLED"), cancelled
    assert not (workflow_dir / target).exists()
    stopped_at = epochs_logged(train_log)
    assert 2 <= stopped_at < CNN_EPOCHS, stopped_at
    assert (workflow_dir / "results" / "models" / "cnn" / ".resume").is_dir()

    # 2. the same command again: only the training reruns, from its last finished epoch
    second = run_snakemake(workflow_dir, *args, cores=slurm_cluster["cpus"])
    assert json.loads((workflow_dir / target).read_text())
    resumed = re.search(r"resuming from epoch (\d+) of (\d+)", train_log.read_text())
    assert resumed and int(resumed[2]) == CNN_EPOCHS, train_log.read_text()[-2000:]
    assert int(resumed[1]) >= 3, resumed[0]
    assert re.findall(r"^\s*rule (\w+):$", second.stderr, flags=re.M) == ["train_cnn"]

    log = first.log + second.stderr
    job_ids = list(submitted(log))
    records = sacct(job_ids)
    print("\nSLURM jobs of both runs (sacct):")
    for rec in records:
        gpus = re.findall(r"--gpus=\S+", rec["SubmitLine"].split(" --wrap", 1)[0])
        print(
            f"  {rec['JobID']:>5} {rec['Partition']:4} {rec['State']:14} "
            f"{rec['TimelimitRaw']:>4} min {rec['ReqTRES']:45} "
            f"{' '.join(gpus) or '-':10} {' '.join(submitted_jobs(rec['SubmitLine']))}"
        )
    assert sorted(r["JobID"] for r in records) == sorted(job_ids)
    for rec in records:
        if rec["JobID"] == stopped:
            assert rec["State"].startswith("CANCELLED"), rec
        else:
            assert rec["State"] == "COMPLETED" and rec["ExitCode"] == "0:0", rec
    assert len({r["JobName"] for r in records}) == 2  # the plugin names jobs by run

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
    # the 4 crop shards of each of the 2 crop methods in one group job
    assert in_slurm.count("crop_shard") == 4 * 2
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

    # time limits: the edited profile's for the training (both runs), the profile's for
    # the rest (a rule's runtime, else default-resources)
    assert len(by_rule["train_cnn"]) == 2
    for rule in ("unpack_zip", "manifest", "split", "train_cnn"):
        expected = (
            CNN_RUNTIME
            if rule == "train_cnn"
            else profile["set-resources"]
            .get(rule, {})
            .get("runtime", profile["default-resources"]["runtime"])
        )
        for rec in by_rule[rule]:
            assert rec["TimelimitRaw"] == str(expected), rec
            assert f" -t {expected} " in rec["SubmitLine"], rec["SubmitLine"]


@pytest.mark.slow
def test_scancel_fails_the_run_and_a_rerun_completes(workflow_dir, mini_zip, slurm_cluster):
    """`scancel <jobid>` on one job: Snakemake reports the job failed and stops, and the
    same command again completes. The job is submitted held (`sbatch --hold`, through the
    profile's slurm_extra), so that it is still there to cancel.

    With `--slurm-status-command squeue`: with the default (sacct), the plugin (2.8.0)
    does not recognise the state sacct gives a job a user cancelled ("CANCELLED by
    <uid>") and keeps waiting for it (the guide says so)."""
    target = "results/manifest.tsv"
    held = ci_profile(
        workflow_dir,
        slurm_cluster,
        {"unpack_zip": {"slurm_extra": "--hold"}},
        name="slurm-held",
    )
    config = ("--config", f"source={mini_zip}")
    first = Background(
        workflow_dir,
        target,
        "--profile",
        held,
        *config,
        "--slurm-status-command",
        "squeue",
        cores=slurm_cluster["cpus"],
    )
    deadline = time.monotonic() + 300
    while not submitted(first.log) and first.proc.poll() is None:
        assert time.monotonic() < deadline, first.log[-3000:]
        time.sleep(0.5)
    (job,) = submitted(first.log)
    assert [row["state"] for row in squeue() if row["id"] == job] == ["PENDING"]
    subprocess.run(["scancel", job], check=True)
    assert first.wait(timeout=300) != 0, first.log[-3000:]
    assert f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in first.log
    assert "Error in rule unpack_zip" in first.log
    assert "Exiting because a job execution failed" in first.log

    rerun = run_snakemake(
        workflow_dir,
        target,
        "--profile",
        ci_profile(workflow_dir, slurm_cluster),
        *config,
        cores=slurm_cluster["cpus"],
    )
    assert (workflow_dir / target).is_file()
    assert sorted(re.findall(r"^\s*rule (\w+):$", rerun.stderr, flags=re.M)) == [
        "manifest",
        "unpack_zip",
    ]
