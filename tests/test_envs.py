"""The per-rule conda envs, checked statically (conda channels are unreachable here).

requirements.txt is the single source of truth for versions: it is what the tests run
with, and every env file pins the same versions, so a rule runs on a cluster with the
library versions the tests passed with.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ENV_DIR = REPO / "envs"
ENV_FILES = sorted(ENV_DIR.glob("*.yaml"))
# one env per rule family
FAMILIES = {"data", "crop", "sklearn", "tensorflow", "report"}
# The GPU env installs the CUDA build of the release the tests run as tensorflow-cpu
# (the same source tree, built without CUDA), and the CUDA libraries as pip wheels.
GPU_BUILD_OF = {"tensorflow": "tensorflow-cpu"}
GPU_ONLY = re.compile(r"^nvidia-[a-z0-9-]+$")

CONDA_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+) =(?P<version>[0-9][0-9A-Za-z.*+!_-]*)$")
PIP_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)(\[(?P<extras>[a-z0-9,-]+)\])?"
    r"==(?P<version>[0-9][0-9A-Za-z.+!_-]*)"
    r"(\s*;\s*(?P<marker>.+))?$"
)


def canonical(name: str) -> str:
    """PEP 503 name: tensorflow_cpu, TensorFlow-CPU and tensorflow.cpu are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: '{line}' is not pinned with =="
            pins[canonical(name)] = version.strip()
    return pins


def load_env(path: Path) -> dict:
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict), f"{path.name}: not a YAML mapping"
    return env


def split_dependencies(path: Path) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip dependencies) of an env file."""
    conda, pip = [], []
    for dep in load_env(path)["dependencies"]:
        if isinstance(dep, dict):
            assert list(dep) == ["pip"], f"{path.name}: unexpected {dep}"
            pip.extend(dep["pip"])
        else:
            conda.append(dep)
    return conda, pip


def workflow_rules(workdir: Path) -> dict[str, dict]:
    """Every rule of the parsed workflow (Snakemake's API, in a subprocess: parsing
    imports the workflow's helpers and changes the working directory)."""
    code = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings()) as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(), snakefile=Path("Snakefile")
    )._workflow
    rules = {}
    for rule in workflow.rules:
        env = rule.conda_env
        rules[rule.name] = {
            "runs_code": any((rule.shellcmd, rule.script, rule.notebook, rule.wrapper)),
            "run_block": bool(rule.is_run),
            "conda": (
                None if env is None else str((Path(rule.snakefile).parent / str(env)).resolve())
            ),
            "local": rule.name in workflow._localrules,
            "resources": sorted(rule.resources),
        }
    print("RULES-JSON " + json.dumps(rules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RULES-JSON "))
    return json.loads(line.removeprefix("RULES-JSON "))


def test_one_env_per_rule_family():
    assert {p.stem for p in ENV_FILES} == FAMILIES


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_pinned_conda_forge(path):
    env = load_env(path)
    assert env["channels"] == ["conda-forge", "nodefaults"], path.name
    conda, pip = split_dependencies(path)
    for dep in conda:
        assert CONDA_PIN.match(dep), (
            f"{path.name}: conda dependency '{dep}' is not pinned as 'name =version'"
        )
    for dep in pip:
        assert PIP_PIN.match(dep), (
            f"{path.name}: pip dependency '{dep}' is not pinned as 'name==version'"
        )
    names = [canonical(PIP_PIN.match(d)["name"]) + str(PIP_PIN.match(d)["marker"]) for d in pip]
    assert len(names) == len(set(names)), f"{path.name}: a package is listed twice"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_equal_requirements(path):
    """Each pip pin is requirements.txt's; the GPU build pins the tests' CPU release."""
    pins = requirements()
    for dep in split_dependencies(path)[1]:
        match = PIP_PIN.match(dep)
        name, version = canonical(match["name"]), match["version"]
        if name in GPU_BUILD_OF:
            tested = GPU_BUILD_OF[name]
            assert version == pins.get(tested), (
                f"{path.name}: {name}=={version} but the tests run {tested}=={pins.get(tested)}"
            )
        elif GPU_ONLY.match(name):
            assert match["marker"] == 'sys_platform == "linux"', (
                f"{path.name}: {dep}: CUDA wheels exist for Linux only"
            )
        else:
            assert name in pins, f"{path.name}: {name} is not in requirements.txt (add it there)"
            assert version == pins[name], (
                f"{path.name}: {name}=={version} but requirements.txt pins {pins[name]}"
            )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_python_and_pip_are_the_tests(path):
    """conda's python and pip: the tests' Python minor version and the Makefile's pip."""
    makefile_pip = re.search(r"pip==(\S+)", (REPO / "Makefile").read_text())[1]
    conda = {
        CONDA_PIN.match(d)["name"]: CONDA_PIN.match(d)["version"]
        for d in split_dependencies(path)[0]
    }
    assert conda.get("python") == "{}.{}".format(*sys.version_info[:2]), path.name
    assert conda.get("pip") == makefile_pip, (
        f"{path.name}: pip ={conda.get('pip')}, Makefile pip=={makefile_pip}"
    )


def test_requirements_are_what_the_tests_run():
    """Installed versions equal requirements.txt: the env pins are the tested versions."""
    wrong = {}
    for name, version in requirements().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert not wrong, (
        f"requirements.txt pin != installed version: {wrong} (run make clean-venv test)"
    )


def test_every_rule_that_runs_code_has_an_env(workflow_dir):
    rules = workflow_rules(workflow_dir)
    env_dir = (workflow_dir / "envs").resolve()
    missing = [n for n, r in rules.items() if r["runs_code"] and r["conda"] is None]
    assert not missing, f"rules without a conda: directive: {missing}"
    # run: blocks execute inside Snakemake's own process, where conda: has no effect
    assert not [n for n, r in rules.items() if r["run_block"]], "use script:, not run:"
    for name, rule in rules.items():
        if rule["conda"]:
            env = Path(rule["conda"])
            assert env.parent == env_dir and env.is_file(), (
                f"rule {name}: conda env {env} not in envs/"
            )
    used = {Path(r["conda"]).stem for r in rules.values() if r["conda"]}
    assert used == FAMILIES, f"env files no rule uses: {FAMILIES - used}"
    # the rules that need a GPU declare it; the TensorFlow training rules among them
    gpu_rules = {n for n, r in rules.items() if "gpu" in r["resources"]}
    assert {"train_vgg16", "train_cnn"} <= gpu_rules
    assert all(Path(rules[n]["conda"]).stem == "tensorflow" for n in gpu_rules)
