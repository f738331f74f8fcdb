"""The spine on the real mini archive: download/unpack -> manifest -> crops -> splits."""

from __future__ import annotations

import csv

from conftest import SPINE, run_snakemake, write_config


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_mini_archive_end_to_end(workflow_dir, mini_zip):
    cfg = write_config(workflow_dir, source=str(mini_zip), crop={"shards": 4})
    run_snakemake(workflow_dir, *SPINE, "--configfile", str(cfg))
    results = workflow_dir / "results"

    manifest = read_tsv(results / "manifest.tsv")
    # 30 TRAIN images per class and all 71 of TEST_SIMPLE; the whole slides are not cells
    assert len(manifest) == 4 * 30 + 71
    assert {r["split"] for r in manifest} == {"TRAIN", "TEST_SIMPLE"}
    assert all(r["image"].startswith("dataset2-master/") for r in manifest)
    assert all(len(r["sha256"]) == 64 and r["width"] == "320" for r in manifest)
    # the two byte-identical pairs of Kaggle's TEST_SIMPLE/EOSINOPHIL are named
    assert sum(1 for r in manifest if r["duplicate_of"]) == 2

    qc = read_tsv(results / "qc" / "crops.tsv")
    assert [r["image"] for r in qc] == sorted(r["image"] for r in manifest)
    assert all(r["status"] == "cropped" for r in qc)
    assert all((workflow_dir / r["crop"]).is_file() for r in qc)

    splits = {
        n: read_tsv(results / "splits" / f"{n}.tsv")
        for n in ("train", "val", "test", "test_simple")
    }
    assert splits["test"] == []  # the mini archive has no TEST folder
    # one TEST_SIMPLE image is of a TRAIN source cell: listed, and by default not scored
    leaks = read_tsv(results / "splits" / "test_leaks.tsv")
    assert [(r["kind"], r["scored"]) for r in leaks] == [("same source cell", "False")]
    assert len(splits["test_simple"]) == 71 - 1
    assert leaks[0]["image"] not in {r["image"] for r in splits["test_simple"]}
    assert len(splits["train"]) + len(splits["val"]) == 120
    assert len(splits["val"]) == 24
