"""Data integrity and crash safety (issue 13), run through Snakemake: no silent wrong
result, no good image dropped, any class set, one clear line for bad input."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import SNAKEMAKE, SPINE, assert_no_staged_names, run_snakemake, write_config
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


def test_yaml_null_on_the_command_line():
    """`--config "models={vgg16: {weights: null}}"`, as the offline error line says."""
    from wbc.settings import typed_from_command_line

    spec = {"type": ["string", "null"]}
    schema = {"properties": {"models": {"properties": {"vgg16": {"properties": {"w": spec}}}}}}
    given = {"models": {"vgg16": {"w": "null"}}}
    assert typed_from_command_line(given, schema) == {"models": {"vgg16": {"w": None}}}
    assert typed_from_command_line({"models": {"vgg16": {"w": "a.h5"}}}, schema) == {
        "models": {"vgg16": {"w": "a.h5"}}
    }


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


# --- one image, two labels --------------------------------------------------------------


def split_images(workdir, names=("train", "val", "test", "test_simple")):
    return {
        r["image"]
        for name in names
        for r in read_tsv(workdir / "results" / "splits" / f"{name}.tsv")
    }


def test_one_image_with_two_labels_stops_the_run_or_is_left_out(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=6)
    original = "TRAIN/MONOCYTE/monocyte_001.jpeg"
    copy = "TRAIN/NEUTROPHIL/zz_copy.jpeg"
    (source / copy).write_bytes((source / original).read_bytes())
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    lines = error_lines(proc, "under two labels")
    assert len(lines) == 1 and original in lines[0] and copy in lines[0]
    assert "conflicting_labels: drop" in lines[0]
    assert not (workflow_dir / "results" / "manifest.tsv").exists()

    cfg = write_config(
        workflow_dir, source=str(source), crop={"shards": SHARDS}, conflicting_labels="drop"
    )
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    assert not {original, copy} & split_images(workflow_dir)
    assert len(split_images(workflow_dir)) == 4 * 6 - 1
    qc = {r["image"]: r for r in read_tsv(workflow_dir / "results" / "qc" / "crops.tsv")}
    assert qc[original]["label_conflict"] == copy and qc[copy]["label_conflict"] == original
    assert sum(1 for r in qc.values() if r["label_conflict"]) == 2
    assert len(error_lines(proc, "conflicting labels")) == 1  # the warning, on the terminal
    log = (workflow_dir / "results" / "logs" / "manifest.log").read_text()
    assert copy in log and original in log


# --- TRAIN images copied into TEST ------------------------------------------------------


def test_copies_of_train_images_in_test_are_listed_and_left_out(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=5, splits=("TRAIN", "TEST"))
    planted = {}
    for i, label in enumerate(["EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL", "MONOCYTE"]):
        folder = "TEST" if i < 3 else "TEST_SIMPLE"
        original = f"TRAIN/{label}/{label.lower()}_{i:03d}.jpeg"
        copy = f"{folder}/{label}/copy_{i}.jpeg"
        (source / copy).parent.mkdir(parents=True, exist_ok=True)
        (source / copy).write_bytes((source / original).read_bytes())
        planted[copy] = original
    (source / "TRAIN" / "MONOCYTE" / "empty.jpeg").write_bytes(b"")  # warned about, by path
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    section = "results/report/sections/dataset.html"
    proc = run_snakemake(workflow_dir, *SPINE, section, "--configfile", str(cfg))
    assert "listed in results/qc/crops.tsv" in proc.stderr
    assert "listed in results/splits/test_leaks.tsv" in proc.stderr
    assert_no_staged_names(workflow_dir, proc)
    tests = split_images(workflow_dir, ("test", "test_simple"))
    assert not tests & set(planted) and len(tests) == 20
    qc = {r["image"]: r for r in read_tsv(workflow_dir / "results" / "qc" / "crops.tsv")}
    assert {i: r["copy_of_train"] for i, r in qc.items() if r["copy_of_train"]} == planted
    # the report counts them by source cell; the image list is results/splits/test_leaks.tsv
    leaks = {r["image"]: r for r in read_tsv(workflow_dir / "results/splits/test_leaks.tsv")}
    assert {i: r["train_image"] for i, r in leaks.items()} == planted
    assert not any(r["scored"] == "True" for r in leaks.values())
    html = (workflow_dir / section).read_text()
    assert f"{len(planted)} TEST / TEST_SIMPLE images, from" in html

    cfg = write_config(
        workflow_dir,
        source=str(source),
        crop={"shards": SHARDS},
        split={"train_copies_in_test": "keep"},
    )
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    assert set(planted) <= split_images(workflow_dir, ("test", "test_simple"))


# --- any class set ----------------------------------------------------------------------

QUICK = {
    "image_size": 16,
    "crop": {"shards": SHARDS},
    "models": {"enabled": ["rf", "cnn"], "rf": {"n_estimators": 10}, "cnn": {"epochs": 1}},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "classes",
    [
        ("BASOPHIL", "EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"),
        ("LYMPHOCYTE", "MONOCYTE"),
    ],
    ids=["five classes", "two classes"],
)
def test_any_class_set_end_to_end(workflow_dir, tmp_path, classes):
    """A user's own folders, named by the data: models, metrics, report and predict."""
    source = make_dataset(
        tmp_path / "cells", per_class=6, splits=("TRAIN", "TEST"), classes=classes
    )
    new = tmp_path / "new"
    new.mkdir()
    for label in classes:
        shutil.copy(source / "TEST" / label / f"{label.lower()}_000.jpeg", new / f"{label}.jpeg")
    cfg = write_config(workflow_dir, source=str(source), predict={"input": str(new)}, **QUICK)
    run_snakemake(workflow_dir, "--configfile", str(cfg))
    results = workflow_dir / "results"
    for model in ("rf", "cnn", "ensemble"):
        metrics = json.loads((results / "models" / model / "metrics.json").read_text())
        assert metrics["test"]["labels"] == sorted(classes)
        assert np.array(metrics["test"]["confusion_matrix"]).shape == (len(classes),) * 2
    table = read_tsv(results / "report" / "metrics.tsv")
    assert {(r["model"], r["split"]) for r in table} == {
        (m, s) for m in ("rf", "cnn", "ensemble") for s in ("val", "test")
    }
    html = (results / "report" / "report.html").read_text()
    assert all(label in html for label in classes)
    (predictions,) = results.glob("predict/*/predictions.tsv")
    rows = read_tsv(predictions)
    assert len(rows) == len(classes)
    assert [c for c in rows[0] if c.startswith("p_")] == [f"p_{c}" for c in sorted(classes)]
    assert {r["predicted"] for r in rows} <= set(classes)


# --- offline: what needs the network, said before any job starts -----------------------

OFFLINE = {"KAGGLE_API_ENDPOINT": "http://127.0.0.1:9"}  # a closed port: no network needed


def test_offline_run_names_each_missing_download_before_any_job(workflow_dir, tmp_path):
    env = {**OFFLINE, "KAGGLEHUB_CACHE": str(tmp_path / "empty-cache")}
    proc = run_snakemake(workflow_dir, check=False, env=env)  # `make run`: the defaults
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    source, weights = lines[-2:]  # the last thing the user reads: one line each
    assert source.startswith("config key 'source': cannot reach Kaggle")
    assert "make run ARGS='--config source=" in source  # what `make run` can pass
    assert weights.startswith("config key 'models.vgg16.weights': cannot download")
    assert "models: {vgg16: {weights: " in weights and "null" in weights
    assert "make run ARGS='--configfile " in weights
    assert not error_lines(proc, "Error") and not error_lines(proc, "Traceback")
    assert len(lines) <= 60, len(lines)  # was 99, with the fixes at lines 73 and 83
    assert not (workflow_dir / "results").exists()  # no job started


def test_make_says_when_the_package_index_is_unreachable(tmp_path):
    """`make` on a machine without a venv and without internet: one line, not pip's retries."""
    from conftest import REPO

    venv = tmp_path / "venv"
    proc = subprocess.run(
        ["make", "venv", f"VENV={venv}", "PIP_INDEX_URL=http://127.0.0.1:9/simple/"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    first, *rest = proc.stderr.strip().splitlines()
    assert first.startswith("make: cannot reach the package index http://127.0.0.1:9/simple/")
    assert "PIP_INDEX_URL" in first and len(rest) <= 1 and "Retrying" not in proc.stderr
    assert not venv.exists()


def test_make_run_passes_snakemake_options():
    """What the offline fixes tell a user to type: `make run ARGS=...`."""
    from conftest import REPO

    proc = subprocess.run(
        ["make", "-n", "run", "CORES=3", "ARGS=--config source=cells.zip"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "snakemake --cores 3 --config source=cells.zip" in proc.stdout


def test_offline_run_uses_kagglehubs_cache(workflow_dir, tmp_path):
    from test_dataset import seed_kagglehub_cache

    cache = tmp_path / "kagglehub"
    seed_kagglehub_cache(cache, "someone", "cells", 2, per_class=5)
    env = {**OFFLINE, "KAGGLEHUB_CACHE": str(cache)}
    cfg = write_config(workflow_dir, source="kaggle:someone/cells", crop={"shards": SHARDS})
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg), env=env)
    assert len(error_lines(proc, "using its cached version 2")) == 1
    assert len(read_tsv(workflow_dir / "results" / "splits" / "test.tsv")) == 20


# --- an orphaned job never writes over a newer run ---------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def job_process(snakemake_pid: int, script: str) -> int:
    """The Python process running a rule's script under a Snakemake process."""
    for pid in descendants(snakemake_pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"python" in cmdline[0] and any(script.encode() in part for part in cmdline):
            return pid
    raise AssertionError(f"no {script} job under Snakemake {snakemake_pid}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has finished: its parent, init, reaps it


def wait_until(condition, timeout=300, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_an_orphaned_job_never_writes_over_a_newer_run(workflow_dir, tmp_path):
    """`kill -9` of Snakemake leaves its running job alive; after `--unlock` a rerun with
    a small setting must not let the orphan write its results over the new ones."""
    import joblib

    source = make_dataset(tmp_path / "cells", per_class=6, splits=("TRAIN", "TEST"))

    def config(trees):
        return write_config(
            workflow_dir,
            source=str(source),
            image_size=16,
            crop={"shards": SHARDS},
            models={"enabled": ["rf"], "rf": {"n_estimators": trees}},
        )

    target = "results/models/rf/model.joblib"
    model = workflow_dir / target
    first = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2", target, "--configfile", str(config(20000))],
        cwd=workflow_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = workflow_dir / "results" / "logs" / "train_rf.log"
    wait_until(log.exists, what="train_rf to start")
    time.sleep(1)  # into its 20,000 trees
    orphan = job_process(first.pid, "train_model")
    os.kill(orphan, signal.SIGSTOP)  # held, so that it finishes when the test says
    os.kill(first.pid, signal.SIGKILL)  # Snakemake alone, as `kill -9 <snakemake>` does
    first.wait()
    try:
        run_snakemake(workflow_dir, "--unlock", "--configfile", str(config(5)))
        second = run_snakemake(workflow_dir, target, "--configfile", str(config(5)), check=False)
    finally:
        os.kill(orphan, signal.SIGCONT)
    wait_until(lambda: not alive(orphan), what="the orphan to finish")
    # the orphan never wrote its 20,000-tree forest where the newer run writes
    assert not model.exists() or joblib.load(model).named_steps["forest"].n_estimators == 5
    # the rerun stopped at once, saying which process to stop
    assert second.returncode != 0
    lines = error_lines(second, f"PID {orphan}")
    assert len(lines) == 1 and "train_rf" in lines[0] and f"kill {orphan}" in lines[0]
    # the orphan gone, the rerun makes the newer result, and it stays
    run_snakemake(workflow_dir, target, "--configfile", str(config(5)))
    assert joblib.load(model).named_steps["forest"].n_estimators == 5
    dry = run_snakemake(workflow_dir, target, "--configfile", str(config(5)), "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    leftovers = [p for p in (workflow_dir / "results").rglob(".*") if "snakemake" not in p.name]
    assert not leftovers, leftovers
