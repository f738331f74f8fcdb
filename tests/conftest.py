"""Shared fixtures: a private copy of the workflow to run Snakemake in, and the real data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# what a user's checkout holds that a run needs
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "envs", "profiles")
# targets of the data stages alone (rule names): the spine tests train no model
SPINE = ("crop_qc", "split")
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def shared_archive(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture
def mini_zip() -> Path:
    """The real 212-file Kaggle-layout archive."""
    return shared_archive("blood-cells-mini.zip")


def copy_workflow(dest: Path) -> Path:
    """A fresh copy of the workflow, so each run has its own results/ and .snakemake/."""
    dest.mkdir(parents=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture
def workflow_dir(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, cores: int = 2, env=None
) -> subprocess.CompletedProcess:
    """Run the real Snakemake CLI in ``workdir``; output is captured for assertions."""
    cmd = [SNAKEMAKE, "--cores", str(cores), *args]
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def assert_no_staged_names(workdir: Path, proc: subprocess.CompletedProcess) -> None:
    """No message on the console or in a job's log, and no table, names a job's temporary
    output (``.staged``): every path a user reads must exist once the run ends."""
    texts = {"console": proc.stdout + proc.stderr}
    for path in [*(workdir / "results").rglob("*.log"), *(workdir / "results").rglob("*.tsv")]:
        texts[str(path.relative_to(workdir))] = path.read_text(errors="replace")
    named = [where for where, text in texts.items() if ".staged" in text]
    assert not named, f".staged names in {named}"


def scheduled_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule from Snakemake's "Job stats" table (a dry run's plan), without the
    target rule ``all``."""
    text = proc.stdout + proc.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    jobs = dict(line.split() for line in table if line.strip())
    jobs.pop("total", None)
    jobs.pop("all", None)
    return {rule: int(count) for rule, count in jobs.items()}


def write_config(workdir: Path, **overrides) -> Path:
    """An overlay config file (``--configfile``) merged over config/config.yaml."""
    import yaml

    path = workdir / "test-config.yaml"
    path.write_text(yaml.safe_dump(overrides))
    return path
