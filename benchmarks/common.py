"""Shared by the benchmark scripts: the real data, a scratch copy of the workflow, timing."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FULL_ARCHIVE = REPO.parent / "shared" / "data" / "blood-cells.zip"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
# rule training_arrays' output: one split's crops at one side, by crop method
ARRAY = "results/arrays/{method}/{size}px/{split}.npy"


def require_archive(path: Path = FULL_ARCHIVE) -> Path:
    if not path.is_file():
        sys.exit(f"skipped: {path} is absent (see ../shared/data/README.md)")
    return path


def unpacked(archive: Path, dest: Path) -> Path:
    if not dest.is_dir():
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    return dest


def workflow_copy(dest: Path) -> Path:
    """A scratch copy of the workflow, so the repository's results/ stays untouched."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "config", "envs", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, the command and its children) and its output;
    a failed command ends the benchmark with its error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        raise SystemExit(f"{cwd}: {' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout + proc.stderr


def load() -> str:
    """The 1-minute load average, or "?" where /proc is absent."""
    path = Path("/proc/loadavg")
    return path.read_text().split()[0] if path.exists() else "?"


def timed_snakemake(workdir: Path, *args: str) -> float:
    """Wall seconds of one Snakemake call in ``workdir``."""
    return timed([SNAKEMAKE, *args], workdir)[0]


def write_fold(out: Path, heldout, p, classes, metrics: dict) -> dict:
    """A benchmark's fold as the workflow's fold job writes it (``predictions.tsv``,
    ``metrics.json`` with the held-out figures and the process's peak memory), where
    ``benchmarks/cv_tries.py`` pairs it with the workflow's own tries."""
    from wbc.io import write_json
    from wbc.metrics import evaluate, predictions_frame, write_predictions

    metrics = {
        **metrics,
        "cv": evaluate(heldout.labels, p, classes, heldout.groups),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    frame = predictions_frame("cv", heldout.images, heldout.labels, p, classes, heldout.groups)
    write_predictions(out / "predictions.tsv", [frame], classes)
    write_json(out / "metrics.json", metrics)
    return metrics
