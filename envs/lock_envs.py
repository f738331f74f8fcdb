"""Write the pip section of every rule env (envs/<env>.yaml) from the lock.

Run by ``make lock`` after it has written requirements.txt (the lock) from
requirements.in. Each env installs the packages its rules import (``DIRECT`` below) and
everything those need, at the lock's versions: uv resolves each env with every locked
version as a constraint, so an env holds the closure of its own packages only, not the
whole lock. The GPU env's CUDA wheels are not in the lock (the tests run the CPU-only
build): uv resolves them, keeping the versions the env file pins already unless the
TensorFlow release needs others.

Everything above ``- pip:`` in an env file (its comment, channels, conda's python and pip)
is kept as written. Standard library only: ``make lock`` runs it beside uv, before the
venv is rebuilt.

    python envs/lock_envs.py [--uv path/to/uv] [--lock requirements.txt]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ENVS = Path(__file__).resolve().parent
REPO = ENVS.parent

# What each env's rules import (workflow/scripts and the wbc modules they use), as
# requirements without versions: the versions come from the lock.
DIRECT = {
    # download_kaggle, unpack_zip, manifest, shard_lists
    "data": ["kagglehub", "requests", "pillow"],
    # crop_shard, crop_qc, training_arrays
    # and the source-cell groups (source_cell_index, group_shard, groups)
    "crop": ["numpy", "opencv-python-headless", "pillow", "scipy"],
    # split, train_rf (its features: OpenCV resizing, colour histograms, HOG)
    "sklearn": ["numpy", "scikit-learn", "joblib", "pandas", "opencv-python-headless", "pillow"],
    # backbone_weights, frozen_features, train_vgg16, train_cnn, predict (which may load the
    # Random Forest, and crops as crop_shard does)
    "tensorflow": [
        'tensorflow[and-cuda] ; sys_platform == "linux"',
        'tensorflow ; sys_platform != "linux"',
        "keras",
        "numpy",
        "pandas",
        "scikit-learn",
        "joblib",
        "opencv-python-headless",
        "pillow",
    ],
    # ensemble, config_used, report_* and report: figures, HTML templates, captions
    # (reStructuredText, rendered with docutils)
    "report": [
        "numpy",
        "pandas",
        "scikit-learn",
        "matplotlib",
        "pillow",
        "jinja2",
        "docutils",
        "pyyaml",
    ],
}
# The GPU env installs the CUDA build of the release the lock holds as the CPU-only build.
GPU_BUILD_OF = {"tensorflow": "tensorflow-cpu"}
# packages that only the GPU env installs, not in the lock
GPU_ONLY = re.compile(r"^nvidia-[a-z0-9-]+$")
PYTHON_VERSION = "3.11"  # conda's python in every env file, as in the Makefile

PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
    r"\s*(;\s*(?P<marker>[^\\#]+?))?\s*(\\|#.*)?$"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> list[dict]:
    """The ``name==version ; marker`` lines of a requirements file (hash lines skipped)."""
    pins = []
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins.append(
                {
                    "name": canonical(match["name"]),
                    "extras": match["extras"] or "",
                    "version": match["version"],
                    "marker": (match["marker"] or "").strip().replace("'", '"'),
                    "via": line.split("# via", 1)[1].strip() if "# via" in line else "",
                }
            )
    return pins


def lock_versions(lock: Path) -> dict[str, str]:
    """name -> version of every package in the lock, the GPU builds added."""
    versions: dict[str, str] = {}
    for pin in read_pins(lock.read_text()):
        if versions.setdefault(pin["name"], pin["version"]) != pin["version"]:
            sys.exit(f"{lock.name}: two versions of {pin['name']}; lock_envs.py expects one")
    for gpu, cpu in GPU_BUILD_OF.items():
        if versions.setdefault(gpu, versions[cpu]) != versions[cpu]:
            sys.exit(f"{lock.name}: {gpu}=={versions[gpu]} but {cpu}=={versions[cpu]}")
    return versions


def split_env_file(path: Path) -> tuple[list[str], list[str]]:
    """(lines up to and with ``  - pip:``, the pip pins written there now)."""
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    pins = [
        line.strip().removeprefix("- ").split(" #")[0]
        for line in lines[at + 1 :]
        if line.strip().startswith("- ")
    ]
    return lines[: at + 1], pins


def resolve(uv: str, env: str, constraints: Path, current: list[str]) -> list[dict]:
    """The env's packages and all they need, pinned by uv for every platform."""
    with tempfile.TemporaryDirectory() as tmp:
        direct = Path(tmp, f"{env}.in")
        direct.write_text("\n".join(DIRECT[env]) + "\n")
        out = Path(tmp, f"{env}.txt")  # uv keeps the versions an existing output pins
        out.write_text("\n".join(current) + "\n")
        cmd = [
            uv,
            "pip",
            "compile",
            str(direct),
            "--constraint",
            str(constraints),
            "--universal",
            "--python-version",
            PYTHON_VERSION,
            "--no-strip-extras",
            "--no-header",
            "--annotation-style",
            "line",
            "--quiet",
            "--output-file",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"uv could not resolve envs/{env}.yaml:\n{proc.stderr}")
        return read_pins(out.read_text())


def via(pin: dict) -> str:
    """The packages of this env that need ``pin`` (uv's annotation, input files left out)."""
    names = [n.strip() for n in pin["via"].split(",")]
    return ", ".join(n for n in names if n and not n.startswith("-"))


def pip_lines(env: str, pins: list[dict], versions: dict[str, str]) -> list[str]:
    direct = {canonical(re.split(r"[\[ ;=]", r)[0]) for r in DIRECT[env]}
    for pin in pins:
        if pin["name"] not in versions and not GPU_ONLY.match(pin["name"]):
            sys.exit(f"envs/{env}.yaml needs {pin['name']}, which is not in the lock")
        if pin["name"] in versions and pin["version"] != versions[pin["name"]]:
            sys.exit(f"envs/{env}.yaml: uv pinned {pin['name']}=={pin['version']}, not the lock's")

    def line(pin: dict, comment: str = "") -> str:
        marker = f" ; {pin['marker']}" if pin["marker"] else ""
        text = f"      - {pin['name']}{pin['extras']}=={pin['version']}{marker}"
        return f"{text}  # via {comment}" if comment else text

    first = [p for p in pins if p["name"] in direct]
    rest = [p for p in pins if p["name"] not in direct]
    first.sort(key=lambda p: (p["name"], p["extras"]))
    return [
        "      # the packages the rules import, then what they need: the lock's versions,",
        "      # written by `make lock` (envs/lock_envs.py; edit DIRECT there, not here)",
        *(line(p) for p in first),
        *(line(p, via(p)) for p in rest),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv", default="uv", help="the uv executable (default: uv)")
    parser.add_argument("--lock", type=Path, default=REPO / "requirements.txt")
    args = parser.parse_args()

    versions = lock_versions(args.lock)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp, "constraints.txt")
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(versions.items())))
        for env in DIRECT:
            path = ENVS / f"{env}.yaml"
            head, current = split_env_file(path)
            pins = resolve(args.uv, env, constraints, current)
            path.write_text("\n".join([*head, *pip_lines(env, pins, versions)]) + "\n")
            print(f"envs/{env}.yaml: {len(pins)} pip packages", file=sys.stderr)


if __name__ == "__main__":
    main()
