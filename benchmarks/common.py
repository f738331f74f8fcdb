"""Shared by the benchmark scripts: the real data, a scratch copy of the workflow, timing."""

from __future__ import annotations

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


def timed_snakemake(workdir: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([SNAKEMAKE, *args], cwd=workdir, check=True, capture_output=True)
    return time.perf_counter() - start
