"""Data integrity and crash safety (issue 13), run through Snakemake: no silent wrong
result, no good image dropped, any class set, one clear line for bad input."""

from __future__ import annotations

import csv

from conftest import SPINE, run_snakemake, write_config
from synthetic import make_dataset

SHARDS = 2


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def error_lines(proc, text):
    """The lines of a run's output (both streams) that hold ``text``."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if text in line]


# --- booleans on the command line ------------------------------------------------------


def test_yaml_booleans_on_the_command_line(workflow_dir, tmp_path):
    """`--config strict=true`, as the README spells it: Snakemake hands over the string."""
    source = make_dataset(tmp_path / "cells", per_class=3)
    (source / "TRAIN" / "MONOCYTE" / "zero.jpeg").write_bytes(b"")
    base = ["--config", f"source={source}", f"crop={{shards: {SHARDS}}}"]
    for spelling in ("no", "False", "OFF"):
        run_snakemake(workflow_dir, *SPINE, "--dry-run", *base, f"strict={spelling}")
    proc = run_snakemake(workflow_dir, *SPINE, *base, "strict=true", check=False)
    assert proc.returncode != 0
    assert len(error_lines(proc, "zero.jpeg: unreadable image")) == 1  # strict took effect
