"""The data stages run by Snakemake on generated images: incremental reruns, bad input,
the Kaggle source and config errors."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from test_dataset import seed_kagglehub_cache

from conftest import SNAKEMAKE, SPINE, run_snakemake, scheduled_jobs, write_config
from synthetic import draw_cell, make_dataset
from wbc import SPLITS
from wbc.crop import PAD
from wbc.source import shard_of

SHARDS = 4
# a few images need no 64 crop and 64 grouping jobs (~1 s each) where shards are not tested
FEW_SHARDS = f"crop={{'shards': {SHARDS}}}"


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def shard_stamps(workdir):
    """Modification time of each shard's QC table: it changes only when the shard reran."""
    qc = workdir / "results" / "qc" / "crops" / "reference"
    return {p.stem: p.stat().st_mtime_ns for p in qc.glob("*.tsv")}


def snapshot(folder):
    return {
        p.relative_to(folder): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def folder_run(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=6, splits=("TRAIN", "TEST"))
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    return workflow_dir, source, cfg


def test_folder_source_is_read_in_place_and_never_modified(folder_run):
    workdir, source, cfg = folder_run
    before = snapshot(source)
    run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--forceall")
    assert snapshot(source) == before
    manifest = read_tsv(workdir / "results" / "manifest.tsv")
    assert len(manifest) == 2 * 4 * 6 and not (workdir / "results" / "data").exists()
    assert len(read_tsv(workdir / "results" / "splits" / "test.tsv")) == 24


def test_touch_reruns_nothing(folder_run):
    workdir, source, cfg = folder_run
    for path in source.rglob("*.jpeg"):
        os.utime(path)
    dry = run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_content_change_recrops_only_its_shard(folder_run):
    workdir, source, cfg = folder_run
    image = "TRAIN/MONOCYTE/monocyte_002.jpeg"
    splits_before = (workdir / "results" / "splits" / "train.tsv").read_bytes()
    crops_before = shard_stamps(workdir)
    draw_cell(source / image, radius=48, center=(100, 100))
    run_snakemake(workdir, *SPINE, "--configfile", str(cfg))
    changed = {s for s, t in shard_stamps(workdir).items() if crops_before[s] != t}
    assert changed == {str(shard_of(image, SHARDS))}
    qc = {r["image"]: r for r in read_tsv(workdir / "results" / "qc" / "crops.tsv")}
    # the new cell: radius 48 at (100, 100), grown 8 px by the mask, padded by PAD
    assert abs(int(qc[image]["x0"]) - (100 + PAD - 48 - 8)) <= 3
    # content changed, so the manifest's hash did; the split of these names did not
    assert (workdir / "results" / "splits" / "train.tsv").read_bytes() == splits_before


def test_an_edit_of_no_code_reruns_nothing(folder_run):
    """Docstrings, comments and formatting of package modules every script imports are
    not code: the rules' code versions (a params entry) stay the same."""
    workdir, _, cfg = folder_run
    package = workdir / "workflow" / "scripts" / "wbc"
    for name in ("runtime.py", "io.py", "crop.py"):
        module = package / name
        text = module.read_text()
        assert text.startswith('"""'), name  # a module docstring to edit
        edited = '"""An edited docstring.\n\n' + text[3:]  # the module's docstring
        edited = edited.replace("\n\n\n", "\n\n\n\n")  # formatting: more blank lines
        module.write_text(edited + "\n# a comment\n")
    crop = package / "crop.py"  # and a function's docstring
    text = crop.read_text()
    assert text.count('    """') > 1
    crop.write_text(text.replace('    """', '    """Edited: ', 1))
    dry = run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--dry-run")
    assert scheduled_jobs(dry) == {}, dry.stdout


def test_an_edit_of_code_reruns_the_rules_that_import_it(folder_run):
    """Rules depend on the code of the package modules their scripts import, not only on
    the script: an edit of crop.py's code re-crops, the manifest stays."""
    workdir, _, cfg = folder_run
    report_code = workdir / "workflow" / "scripts" / "wbc" / "report" / "model.py"
    report_code.write_text(
        report_code.read_text() + "\nEDITED = True  # the data stages never run it\n"
    )
    dry = run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--dry-run")
    assert scheduled_jobs(dry) == {}
    crop_code = workdir / "workflow" / "scripts" / "wbc" / "crop.py"
    crop_code.write_text(crop_code.read_text() + "\n\ndef edited():\n    return 1\n")
    dry = run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--dry-run")
    jobs = scheduled_jobs(dry)
    assert jobs["crop_shard"] == SHARDS and "manifest" not in jobs and "shard_lists" not in jobs
    assert "Params have changed since last execution" in dry.stdout + dry.stderr


def test_added_image_crops_only_its_shard(folder_run):
    workdir, source, cfg = folder_run
    image = "TEST/EOSINOPHIL/new_cell.jpeg"
    before = shard_stamps(workdir)
    draw_cell(source / image, radius=25)
    run_snakemake(workdir, *SPINE, "--configfile", str(cfg))
    after = shard_stamps(workdir)
    assert {s for s in after if before[s] != after[s]} == {str(shard_of(image, SHARDS))}
    assert image in {r["image"] for r in read_tsv(workdir / "results" / "splits" / "test.tsv")}


def test_changed_archive_recrops_only_the_changed_shard(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=5)
    archive = tmp_path / "cells.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", source)
    cfg = write_config(workflow_dir, source=str(archive), crop={"shards": SHARDS})
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    before = shard_stamps(workflow_dir)
    image = "TRAIN/LYMPHOCYTE/lymphocyte_001.jpeg"
    draw_cell(source / image, radius=40)
    shutil.make_archive(str(archive.with_suffix("")), "zip", source)
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    after = shard_stamps(workflow_dir)
    assert {s for s in after if before[s] != after[s]} == {str(shard_of(image, SHARDS))}


def test_changed_archive_image_keeps_the_originals_index(workflow_dir, mini_zip, tmp_path):
    """A re-encoded TRAIN image in the archive unpacks it again (that member alone
    written: the others are linked from the last unpacking), but the index of the
    originals (whose list and checksums did not change) is kept, and so is every group
    shard but the image's own; the training arrays resize that image's crop alone."""
    import zipfile

    import cv2
    import numpy as np

    archive = tmp_path / "cells.zip"
    shutil.copy(mini_zip, archive)
    cfg = write_config(workflow_dir, source=str(archive), crop={"shards": SHARDS})
    arrays = [f"results/arrays/reference/16px/{split}.npy" for split in SPLITS]
    run_snakemake(workflow_dir, *SPINE, *arrays, "--configfile", str(cfg))
    results = workflow_dir / "results"
    index = results / "groups" / "originals.npz"
    shards = [
        *(results / "groups" / "features").iterdir(),
        *(results / "groups" / "matches").iterdir(),
    ]
    stamps = {p: p.stat().st_mtime_ns for p in [index, *shards]}

    with zipfile.ZipFile(mini_zip) as src, zipfile.ZipFile(archive, "w") as out:
        names = [n for n in src.namelist() if "/TRAIN/" in n and n.endswith(".jpeg")]
        image = sorted(names)[0]
        for info in src.infolist():
            data = src.read(info)
            if info.filename == image:
                bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                data = cv2.imencode(".jpeg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
            out.writestr(info, data)
    unpacked = results / "benchmarks" / "unpack_zip.tsv"
    unpacked_at = unpacked.stat().st_mtime_ns
    run_snakemake(workflow_dir, *SPINE, *arrays, "--configfile", str(cfg))
    assert unpacked.stat().st_mtime_ns != unpacked_at  # the archive was unpacked again
    # ... writing only the changed member: the others are linked from the last unpacking
    files, linked = map(
        int,
        re.search(
            r"(\d+) files: (\d+) unchanged", (results / "logs" / "unpack_zip.log").read_text()
        ).groups(),
    )
    assert linked == files - 1 and files > 100
    assert index.stat().st_mtime_ns == stamps[index]
    rerun = {p.name for p, t in stamps.items() if p.stat().st_mtime_ns != t}
    shard = shard_of(image, SHARDS)  # image ids are paths in the archive
    assert rerun == {f"{shard}.npz", f"{shard}.tsv"}, rerun
    # every array was rebuilt (its crops' folders changed), from its last build but one crop
    folder = "reference/16px"
    counts = [
        re.search(r"(\d+) resized, (\d+) unchanged", log.read_text()).groups()
        for log in [results / "logs" / "training_arrays" / folder / f"{s}.log" for s in SPLITS]
    ]
    rows = sum(len(np.load(results / "arrays" / folder / f"{s}.npy")) for s in SPLITS)
    assert [sum(int(c[k]) for c in counts) for k in (0, 1)] == [1, rows - 1], counts


def test_split_files_are_byte_identical_on_rerun(folder_run):
    workdir, _, cfg = folder_run
    splits = sorted((workdir / "results" / "splits").glob("*.tsv"))
    before = [p.read_bytes() for p in splits]
    run_snakemake(workdir, *SPINE, "--configfile", str(cfg), "--forceall")
    assert [p.read_bytes() for p in splits] == before


def unreadable_files(source):
    (source / "TRAIN" / "NEUTROPHIL" / "zero.jpeg").write_bytes(b"")
    good = (source / "TRAIN" / "NEUTROPHIL" / "neutrophil_000.jpeg").read_bytes()
    (source / "TRAIN" / "NEUTROPHIL" / "half.jpeg").write_bytes(good[: len(good) // 2])
    (source / "TRAIN" / "EOSINOPHIL" / "text.jpeg").write_text("not an image")
    return {
        "TRAIN/NEUTROPHIL/zero.jpeg",
        "TRAIN/NEUTROPHIL/half.jpeg",
        "TRAIN/EOSINOPHIL/text.jpeg",
    }


def test_unreadable_images_are_listed_and_left_out(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=6)
    bad = unreadable_files(source)
    # a whole JPEG with bytes after its end-of-image marker, as some cameras write: readable
    whole = (source / "TRAIN" / "MONOCYTE" / "monocyte_000.jpeg").read_bytes()
    (source / "TRAIN" / "MONOCYTE" / "trailer.jpeg").write_bytes(whole + b"\0" * 100)
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS})
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    qc = read_tsv(workflow_dir / "results" / "qc" / "crops.tsv")
    assert {r["image"] for r in qc if r["status"] == "unreadable"} == bad
    assert "3 unreadable image(s) left out" in proc.stderr
    kept = {
        r["image"]
        for n in ("train", "val")
        for r in read_tsv(workflow_dir / "results" / "splits" / f"{n}.tsv")
    }
    assert len(kept) == 25 and not kept & bad and "TRAIN/MONOCYTE/trailer.jpeg" in kept


def test_strict_makes_unreadable_fatal_and_leaves_no_partial_output(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=5)
    (source / "TRAIN" / "MONOCYTE" / "zero.jpeg").write_bytes(b"")
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": SHARDS}, strict=True)
    proc = run_snakemake(
        workflow_dir, *SPINE, "--configfile", str(cfg), "--keep-going", check=False
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "zero.jpeg: unreadable image" in line]
    assert len(errors) == 1 and "strict: false" in errors[0]
    shard = str(shard_of("TRAIN/MONOCYTE/zero.jpeg", SHARDS))
    assert not (workflow_dir / "results" / "crops" / "reference" / shard).exists()
    assert not (workflow_dir / "results" / "qc" / "crops" / "reference" / f"{shard}.tsv").exists()
    assert not (workflow_dir / "results" / "qc" / "crops.tsv").exists()


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (
            lambda s: draw_cell(s / "TEST" / "BASOPHIL" / "b.jpeg"),
            "TEST/BASOPHIL: class BASOPHIL has no TRAIN folder",
        ),
        (
            lambda s: [p.unlink() for p in (s / "TRAIN" / "MONOCYTE").iterdir()],
            "TRAIN/MONOCYTE: class folder holds no images",
        ),
    ],
)
def test_bad_folders_fail_with_one_line(workflow_dir, tmp_path, make_bad, message):
    source = make_dataset(tmp_path / "cells", per_class=2)
    make_bad(source)
    cfg = write_config(workflow_dir, source=str(source))
    proc = run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert len([line for line in proc.stderr.splitlines() if message in line]) == 1
    assert not (workflow_dir / "results" / "manifest.tsv").exists()
    # the error is the last thing the user reads: no list of every image after it
    last = proc.stderr.strip().splitlines()[-5:]
    assert any(message in line and "ERROR" in line for line in last), last
    assert (proc.stdout + proc.stderr).count(".jpeg") < 5


def test_archive_without_layout_fails_with_one_line(workflow_dir, tmp_path):
    archive = tmp_path / "photos.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        # images loose at the top: no class folder to label them
        zf.writestr("a.jpeg", draw_cell(tmp_path / "a.jpeg").read_bytes())
        zf.writestr("b.jpeg", b"x")
        zf.writestr("docs/readme.txt", b"x")
    proc = run_snakemake(workflow_dir, *SPINE, "--config", f"source={archive}", check=False)
    assert proc.returncode != 0
    assert "no image folders in the expected layout" in proc.stderr


def test_kaggle_source_through_kagglehub(workflow_dir, tmp_path):
    cache = tmp_path / "kagglehub"
    seed_kagglehub_cache(cache, "someone", "cells", 2, per_class=5)
    env = {"KAGGLEHUB_CACHE": str(cache)}
    source = "source=kaggle:someone/cells/versions/2"
    run_snakemake(workflow_dir, *SPINE, "--config", source, FEW_SHARDS, env=env)
    assert len(read_tsv(workflow_dir / "results" / "splits" / "test.tsv")) == 20
    assert (workflow_dir / "results" / "data" / "kaggle" / "dataset2-master").is_dir()


def test_kaggle_unreachable_fails_with_one_line(workflow_dir, tmp_path):
    env = {"KAGGLEHUB_CACHE": str(tmp_path / "cache"), "KAGGLE_API_ENDPOINT": "http://127.0.0.1:9"}
    proc = run_snakemake(workflow_dir, *SPINE, check=False, env=env)  # the default source
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if "cannot reach Kaggle" in line]
    assert len(lines) == 1 and "paultimothymooney/blood-cells" in lines[0]
    assert "config key 'source'" in lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config", "image_size=8"],
            "config key 'image_size': 8 is less than the minimum of 16",
        ),
        (["--config", "strict=maybe"], "config key 'strict': 'maybe' is not of type 'boolean'"),
        (["--config", "sourse=x"], "'sourse' was unexpected"),
        (
            ["--config", "source=/no/such/cells.zip"],
            "config key 'source': /no/such/cells.zip does not exist",
        ),
    ],
)
def test_config_errors_fail_at_start_up(workflow_dir, args, message):
    proc = run_snakemake(workflow_dir, "--dry-run", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout  # Snakemake reports parse-time errors on stdout
    assert not (workflow_dir / "results").exists()


def test_configfile_overlay_deep_merges(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=10)
    cfg = write_config(workflow_dir, source=str(source), split={"val_fraction": 0.5})
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    val = read_tsv(workflow_dir / "results" / "splits" / "val.tsv")
    assert len(val) == 20  # 0.5 of 40, and split.seed still came from the defaults
    log = (workflow_dir / "results" / "logs" / "manifest.log").read_text()
    assert "40 images listed" in log
    assert len(read_tsv(workflow_dir / "results" / "manifest.tsv")) == 40
    assert (
        len({p.name for p in (workflow_dir / "results" / "crops" / "reference").iterdir()}) <= 64
    )


def test_interrupted_run_resumes(workflow_dir, tmp_path):
    source = make_dataset(tmp_path / "cells", per_class=100)
    cfg = write_config(workflow_dir, source=str(source), crop={"shards": 1})
    cmd = [SNAKEMAKE, "--cores", "1", *SPINE, "--configfile", str(cfg)]
    proc = subprocess.Popen(
        cmd,
        cwd=workflow_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    crops = workflow_dir / "results" / "crops" / "reference" / "0"
    deadline = time.monotonic() + 120
    # the job writes its crops under a temporary name until it ends (wbc.lease)
    results = workflow_dir / "results"

    def any_crop():  # os.walk skips folders that other jobs' staging removes mid-walk
        return any(f.endswith(".png") for _, _, files in os.walk(results) for f in files)

    while not any_crop() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # as a lost node or a closed laptop would
    proc.wait()
    qc = workflow_dir / "results" / "qc" / "crops" / "reference" / "0.tsv"
    assert not qc.exists(), "the crop job finished before it could be interrupted"
    # a killed Snakemake leaves its lock: --unlock, then the default profile's
    # rerun-incomplete redoes the interrupted job instead of stopping on it
    run_snakemake(workflow_dir, "--unlock", "--configfile", str(cfg))
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    rows = read_tsv(qc)
    assert len(rows) == 400 and all(r["status"] == "cropped" for r in rows)
    collected = read_tsv(workflow_dir / "results" / "qc" / "crops.tsv")  # with the crops' paths
    assert all(r["crop"].startswith(f"{crops.relative_to(workflow_dir)}/") for r in collected)
    # the killed job's half-written crops are gone
    assert len(list(crops.rglob("*.png"))) == len(list(results.rglob("*.png"))) == 400


def test_macos_zip_of_class_folders_runs(workflow_dir, tmp_path):
    from test_dataset import macos_zip

    cells = make_dataset(tmp_path / "cells", per_class=6, splits=())  # <CLASS>/<image>
    archive = macos_zip(tmp_path / "cells.zip", cells)
    proc = run_snakemake(workflow_dir, *SPINE, "--config", f"source={archive}", FEW_SHARDS)
    assert "__MACOSX" not in proc.stderr and "Thumbs.db" not in proc.stderr
    manifest = read_tsv(workflow_dir / "results" / "manifest.tsv")
    assert {r["label"] for r in manifest} == {"EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE", "NEUTROPHIL"}
    assert len(manifest) == 4 * 6
