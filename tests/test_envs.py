"""The lock, the venv and the per-rule conda envs agree (the envs checked statically:
conda channels are unreachable here).

requirements.txt is the lock (`make lock`, from requirements.in): every package and
version, with hashes. The venv the tests run in is exactly the lock, and every env file
pins the lock's versions of its rules' packages and of everything those need, so a rule
runs on a cluster with the library versions the tests passed with.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement

from conftest import REPO

ENV_DIR = REPO / "envs"
ENV_FILES = sorted(ENV_DIR.glob("*.yaml"))
# one env per rule family
FAMILIES = {"data", "crop", "sklearn", "tensorflow", "report"}
# The GPU env installs the CUDA build of the release the tests run as tensorflow-cpu
# (the same source tree, built without CUDA), and the CUDA libraries as pip wheels.
GPU_BUILD_OF = {"tensorflow": "tensorflow-cpu"}
GPU_ONLY = re.compile(r"^nvidia-[a-z0-9-]+$")
# seeded by `python -m venv` at the version its Python bundles; the Makefile pins pip,
# and a venv built from the lock has the lock's setuptools
VENV_TOOLING = {"pip", "setuptools"}
LOCK = REPO / "requirements.txt"

CONDA_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+) =(?P<version>[0-9][0-9A-Za-z.*+!_-]*)$")
PIP_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)(\[(?P<extras>[a-z0-9,-]+)\])?"
    r"==(?P<version>[0-9][0-9A-Za-z.+!_-]*)"
    r"(\s*;\s*(?P<marker>.+))?$"
)


def canonical(name: str) -> str:
    """PEP 503 name: tensorflow_cpu, TensorFlow-CPU and tensorflow.cpu are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK) -> list[dict]:
    """The lock's entries: requirement (name, marker), version, hashes, and the packages
    that need it (uv's `# via` annotations: the resolution's dependency graph)."""
    entries: list[dict] = []
    logical = ""
    in_via = False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            if comment.startswith("via"):
                in_via = True
                comment = comment.removeprefix("via").strip()
            if in_via and comment and entries:
                entries[-1]["via"].update(n.strip() for n in comment.split(","))
            continue
        in_via = False
        if not stripped:
            continue
        logical += " " + stripped.removesuffix("\\")
        if stripped.endswith("\\"):
            continue
        spec, *hashes = logical.strip().split(" --hash=")
        logical = ""
        req = Requirement(spec)
        specifiers = list(req.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", spec
        entries.append(
            {
                "name": canonical(req.name),
                "version": specifiers[0].version,
                "marker": req.marker,
                "hashes": [h.strip() for h in hashes],
                "via": set(),
            }
        )
    for entry in entries:
        entry["via"] = {canonical(n) for n in entry["via"] if not n.startswith("-")}
    return entries


def lock_versions() -> dict[str, str]:
    """name -> version of every package in the lock (for any platform)."""
    versions = {}
    for entry in read_lock():
        assert versions.setdefault(entry["name"], entry["version"]) == entry["version"], entry
    return versions


def lock_here() -> dict[str, str]:
    """name -> version of the lock's packages for this platform (markers evaluated)."""
    env = default_environment()
    return {
        e["name"]: e["version"]
        for e in read_lock()
        if e["marker"] is None or e["marker"].evaluate(env)
    }


def lock_dependencies() -> dict[str, set[str]]:
    """package -> the packages it needs, on some platform (the lock's `# via` graph)."""
    needs: dict[str, set[str]] = {}
    for entry in read_lock():
        for parent in entry["via"]:
            needs.setdefault(parent, set()).add(entry["name"])
    return needs


def lock_envs():
    """envs/lock_envs.py, which writes the env files' pip sections (``make lock``)."""
    spec = importlib.util.spec_from_file_location("lock_envs", ENV_DIR / "lock_envs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
            "script": (
                str((Path(rule.snakefile).parent / rule.script).resolve())
                if rule.script
                else None
            ),
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
def test_env_pins_equal_the_lock(path):
    """Each pip pin is the lock's version; the GPU build pins the lock's CPU release."""
    pins = lock_versions()
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
            assert name in pins, f"{path.name}: {name} is not in the lock (run make lock)"
            assert version == pins[name], (
                f"{path.name}: {name}=={version} but the lock pins {pins[name]} (run make lock)"
            )


def env_pins(path: Path) -> dict[str, str]:
    """name -> version of an env file's pip pins."""
    return {
        canonical(PIP_PIN.match(d)["name"]): PIP_PIN.match(d)["version"]
        for d in split_dependencies(path)[1]
    }


def and_cuda() -> set[str]:
    """What the CUDA build adds: the `and-cuda` extra of the tested CPU build (same
    release, same metadata), read from the venv."""
    return {
        canonical(Requirement(r).name)
        for r in metadata.requires(GPU_BUILD_OF["tensorflow"]) or []
        if 'extra == "and-cuda"' in r
    }


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_is_the_closure_of_its_packages(path):
    """An env holds its rules' packages (envs/lock_envs.py's DIRECT) and everything they
    need by the lock's dependency graph, and nothing else: complete, yet no bigger than
    its rules need."""
    direct = {canonical(Requirement(r).name) for r in lock_envs().DIRECT[path.stem]}
    needs = lock_dependencies()
    needs.setdefault("tensorflow", set()).update(and_cuda())
    closure, todo = set(), list(direct)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(needs.get(name, ()))
    pinned = set(env_pins(path))
    assert not closure - pinned, f"{path.name} lacks {sorted(closure - pinned)} (run make lock)"
    assert not pinned - closure, f"{path.name}: {sorted(pinned - closure)} needed by none"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_python_and_pip_are_the_tests(path):
    """conda's python and pip: the tests' Python minor version and the Makefile's pip."""
    makefile_pip = re.search(r"pip==(\S+)", (REPO / "Makefile").read_text())[1]
    conda = {
        CONDA_PIN.match(d)["name"]: CONDA_PIN.match(d)["version"]
        for d in split_dependencies(path)[0]
    }
    assert conda.get("python") == "{}.{}".format(*sys.version_info[:2]), path.name
    # the lock and the env resolutions are made for the same Python
    lock_python = re.search(r"--python-version (\S+)", (REPO / "Makefile").read_text())[1]
    assert conda.get("python") == lock_python == lock_envs().PYTHON_VERSION, path.name
    assert conda.get("pip") == makefile_pip, (
        f"{path.name}: pip ={conda.get('pip')}, Makefile pip=={makefile_pip}"
    )


def test_lock_pins_requirements_in_with_hashes():
    """requirements.txt is requirements.in locked: each direct pin is there, with its
    marker, and every package carries hashes (pip installs it with --require-hashes)."""
    entries = read_lock()
    locked = {(e["name"], e["version"], str(e["marker"])) for e in entries}
    for line in (REPO / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"requirements.in: pin '{line}' with =="
            key = (canonical(req.name), spec.version, str(req.marker))
            assert key in locked, f"requirements.txt lacks '{line}': run make lock"
    unhashed = [e["name"] for e in entries if not e["hashes"]]
    assert not unhashed, f"no hashes for {unhashed}: run make lock"


def test_venv_is_the_lock():
    """The venv the tests run in holds exactly the lock's packages for this platform, at
    the lock's versions: the env pins are the tested versions."""
    locked = lock_here()
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {
        name: (locked.get(name), installed.get(name))
        for name in (locked.keys() | installed.keys()) - VENV_TOOLING
        if locked.get(name) != installed.get(name)
    }
    assert not wrong, f"(lock, venv) versions differ: {wrong} (run make clean-venv test)"


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


# Imports a rule's code makes where its rules never run them: wbc/io.py's read_table and
# write_table import pandas, which the data and crop rules (read_tsv, write_tsv) never call.
IMPORTS_NOT_RUN = {("wbc/io.py", "pandas")}


def third_party_imports(path: Path, scripts: Path) -> set[str]:
    """Top-level names of the non-standard, non-package modules a file imports, anywhere
    in it (lazy imports inside functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    relative = path.relative_to(scripts).as_posix()
    return {
        n
        for n in names - set(sys.stdlib_module_names) - {"__future__", "wbc"}
        if (relative, n) not in IMPORTS_NOT_RUN
    }


def test_rule_imports_are_in_its_env(workflow_dir):
    """Every module a rule's script imports, directly or through the wbc package, comes
    from a package of the rule's env. (A job would not fail without it: Snakemake puts its
    own environment's paths on a script's sys.path, so a missing package is taken from
    the environment Snakemake runs in, on the submit node's Python, if it is there.)"""
    scripts = workflow_dir / "workflow" / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        from wbc import models as registry
        from wbc.imports import package_modules
        from wbc.report.sections import SECTIONS
    finally:
        sys.path.remove(str(scripts))
    distributions = metadata.packages_distributions()
    cpu_builds = {cpu: gpu for gpu, cpu in GPU_BUILD_OF.items()}
    missing = {}
    for name, rule in workflow_rules(workflow_dir).items():
        if not rule["script"] or not rule["conda"]:
            continue
        # the modules a rule loads by name (importlib): a training rule its model's, predict
        # every model's, a report section's rule its section's
        model = name.removeprefix("train_")
        loads = (
            [f"wbc.models.{model}"]
            if model in registry.MODELS
            else [f"wbc.models.{m}" for m in registry.MODELS]
            if name == "predict"
            else [f"wbc.report.{name.removeprefix('report_')}"]
            if name.removeprefix("report_") in {s.id for s in SECTIONS}
            else []
        )
        files = [Path(rule["script"]), *map(Path, package_modules(rule["script"], loads))]
        needed = set()
        for module in set().union(*(third_party_imports(f, scripts) for f in files)):
            assert module in distributions, f"rule {name}: no package provides '{module}'"
            needed.update(canonical(d) for d in distributions[module])
        needed = {cpu_builds.get(n, n) for n in needed}
        lacking = needed - set(env_pins(Path(rule["conda"])))
        if lacking:
            missing[name] = (Path(rule["conda"]).name, sorted(lacking))
    assert not missing, f"rule: (env, packages its code imports that the env lacks): {missing}"
