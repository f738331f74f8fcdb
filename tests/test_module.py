"""The workflow used as a Snakemake module by another workflow, as `snakedeploy
deploy-workflow` writes it: from a local path, and through `github(...)` (served offline
from Snakemake's own git cache, seeded with a clone of this working tree)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow, run_snakemake
from synthetic import make_dataset
from wbc import CLASSES

# what snakedeploy's use_module.smk.jinja renders, with our module's name
DEPLOYED_SNAKEFILE = """configfile: "config/config.yaml"


# declare the white-blood-cell workflow as a module
module wbc:
    snakefile:
        {snakefile}
    config:
        config


# use all rules from it
use rule * from wbc
"""
GITHUB_REPO, GITHUB_TAG = "wbc-team/wbc-workflow", "v0.0.0-test"


def deploy(dest: Path, source_repo: Path, snakefile: str, data: Path) -> Path:
    """A deploying workflow: its workflow/Snakefile and the module's config/ copied, as
    snakedeploy does, with the data and a quick Random Forest set in the config."""
    (dest / "workflow").mkdir(parents=True)
    (dest / "workflow" / "Snakefile").write_text(DEPLOYED_SNAKEFILE.format(snakefile=snakefile))
    shutil.copytree(source_repo / "config", dest / "config")
    config = yaml.safe_load((dest / "config" / "config.yaml").read_text())
    config.update(source=str(data), image_size=16, crop={"shards": 2})
    config["models"]["enabled"] = ["rf"]
    config["models"]["rf"]["n_estimators"] = 10
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return dest


def check_runs(deployed: Path, env=None) -> None:
    """A dry run of the whole DAG, then a real run of the data stages and the forest: the
    rule scripts import the workflow's package wherever the module's files are."""
    dry = run_snakemake(deployed, "--dry-run", env=env)
    for rule in ("manifest", "crop_shard", "split", "train_rf", "report"):
        assert f"\n{rule} " in dry.stdout, rule
    run_snakemake(deployed, "results/models/rf/metrics.json", env=env)
    metrics = yaml.safe_load((deployed / "results/models/rf/metrics.json").read_text())
    assert metrics["classes"] == list(CLASSES) and metrics["val"]["n"] > 0


@pytest.mark.slow
def test_module_from_a_local_path(tmp_path):
    source = copy_workflow(tmp_path / "wbc-workflow")
    data = make_dataset(tmp_path / "cells", per_class=6)
    snakefile = f'"{source / "workflow" / "Snakefile"}"'
    check_runs(deploy(tmp_path / "deployed", source, snakefile, data))


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.slow
def test_module_from_github(tmp_path):
    """`github(...)` reads files through Snakemake's source cache, one by one: the
    package must reach the cache beside the rule scripts (workflow/scripts/wbc/FILES)."""
    source = copy_workflow(tmp_path / "wbc-workflow")
    git("init", "-q", "-b", "main", cwd=source)
    git("add", "-A", cwd=source)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot", cwd=source)
    git("tag", GITHUB_TAG, cwd=source)
    # where Snakemake keeps its clone of a github() module (snakemake.sourcecache): a bare
    # clone there, with the tag, is used as it is and never fetched
    cache = tmp_path / "xdg-cache"
    clone = cache / "snakemake/snakemake/source-cache/snakemake-git-cache/github.com"
    git("clone", "-q", "--bare", str(source), str(clone / GITHUB_REPO), cwd=tmp_path)
    data = make_dataset(tmp_path / "cells", per_class=6)
    snakefile = f'github("{GITHUB_REPO}", path="workflow/Snakefile", tag="{GITHUB_TAG}")'
    deployed = deploy(tmp_path / "deployed", source, snakefile, data)
    shutil.rmtree(source)  # the module is read from the git cache alone
    check_runs(deployed, env={"XDG_CACHE_HOME": str(cache)})


def test_package_file_list_is_complete():
    """wbc/FILES lists every module of the package (what a github() module copies), as
    `make files` writes it."""
    from conftest import REPO
    from wbc.imports import file_list

    package = REPO / "workflow" / "scripts" / "wbc"
    assert (package / "FILES").read_text() == file_list(package), "run `make files`"
