"""Data integrity and crash safety (issue 13), run through Snakemake: no silent wrong
result, no good image dropped, any class set, one clear line for bad input."""

from __future__ import annotations

import csv
import os
import shutil
import zipfile

from conftest import SPINE, run_snakemake, write_config
from synthetic import draw_cell, make_dataset

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
    source = make_dataset(tmp_path / "cells", per_class=5)
    (source / "TRAIN" / "MONOCYTE" / "zero.jpeg").write_bytes(b"")
    base = ["--config", f"source={source}", f"crop={{shards: {SHARDS}}}"]
    for spelling in ("no", "False", "OFF"):
        run_snakemake(workflow_dir, *SPINE, "--dry-run", *base, f"strict={spelling}")
    proc = run_snakemake(workflow_dir, *SPINE, *base, "strict=true", check=False)
    assert proc.returncode != 0
    assert len(error_lines(proc, "zero.jpeg: unreadable image")) == 1  # strict took effect


# --- archives, ~ and stray links --------------------------------------------------------


def test_empty_archive_says_so(workflow_dir, tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("just-a-folder/", b"")
    proc = run_snakemake(workflow_dir, *SPINE, "--config", f"source={archive}", check=False)
    assert proc.returncode != 0
    lines = error_lines(proc, "the archive holds no files")
    assert len(lines) == 1 and str(archive) in lines[0] and "config key 'source'" in lines[0]
    assert not error_lines(proc, "MissingOutputException")


def test_tilde_in_source_for_a_zip(workflow_dir, tmp_path):
    home = tmp_path / "home"
    source = make_dataset(tmp_path / "cells", per_class=5)
    shutil.make_archive(str(home / "cells"), "zip", source)
    cfg = write_config(workflow_dir, source="~/cells.zip", crop={"shards": SHARDS})
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg), env={"HOME": str(home)})
    assert len(read_tsv(workflow_dir / "results" / "manifest.tsv")) == 20


def test_dangling_symlink_is_skipped_like_other_strays(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=5)
    link = source / "TRAIN" / "MONOCYTE" / "moved.jpeg"
    link.symlink_to(tmp_path / "no-longer-here.jpeg")
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    assert len(error_lines(proc, "moved.jpeg")) == 1
    assert len(read_tsv(workflow_dir / "results" / "manifest.tsv")) == 20


# --- file names Snakemake cannot take as they are ---------------------------------------


def odd_names(folder):
    """A name with braces (a wildcard to Snakemake) and one that is not UTF-8; returns
    the first (path relative to ``folder``) and how a warning shows the second."""
    braces = folder / "cell{1}.jpeg"
    draw_cell(braces, radius=30)
    latin1 = os.path.join(os.fsencode(folder), b"caf\xe9.jpeg")
    with open(latin1, "wb") as fh:
        fh.write(braces.read_bytes())
    return braces.relative_to(folder).as_posix(), "caf\\xe9.jpeg"


def test_odd_file_names_work_or_are_skipped_with_a_warning(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=5)
    braces, shown = odd_names(source / "TRAIN" / "MONOCYTE")
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    kept = {
        r["image"]
        for name in ("train", "val")
        for r in read_tsv(workflow_dir / "results" / "splits" / f"{name}.tsv")
    }
    assert f"TRAIN/MONOCYTE/{braces}" in kept and len(kept) == 21
    warnings = error_lines(proc, shown)
    assert len(warnings) == 1 and "UTF-8" in warnings[0]
    assert not error_lines(proc, "Traceback")

    # predict's inputs are the folder's files too: its DAG builds
    folder = tmp_path / "new"
    odd_names(folder)
    cfg = write_config(
        workflow_dir, source=str(source), crop={"shards": SHARDS}, predict={"input": str(folder)}
    )
    run_snakemake(workflow_dir, "predict", "--dry-run", "--configfile", str(cfg))
