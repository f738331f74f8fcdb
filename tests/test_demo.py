"""`make demo` from a fresh clone: a sample of real images built from the BCCD originals,
the whole DAG on it, a report at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, shared_archive
from wbc import demo
from wbc.io import read_tsv
from wbc.runtime import UserError


@pytest.mark.slow
def test_make_demo_from_a_fresh_clone(tmp_path):
    # the Kaggle archive holds the BCCD originals; users get them from the BCCD archive
    source = shared_archive("blood-cells.zip")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    venv = Path(sys.executable).parents[1]
    proc = subprocess.run(
        [
            "make",
            f"--old-file={venv}/bin/.installed",  # the venv is the lock's (test_envs)
            "demo",
            f"VENV={venv}",
            f"DEMO_SOURCE={source}",
            "CORES=2",
            'DEMO_ARGS=--config "models={vgg16: {weights: null}}"',  # no ImageNet here
        ],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "The demo's report: demo/results/report/report.html" in proc.stdout

    images = clone / "demo" / "images"
    manifest = read_tsv(clone / "demo" / "results" / "manifest.tsv")
    per_split = {s: sum(r["split"] == s for r in manifest) for s in ("TRAIN", "TEST_SIMPLE")}
    per_class = demo.SLIDES_PER_CLASS - demo.TEST_PER_CLASS
    assert per_split == {"TRAIN": 4 * per_class * 5, "TEST_SIMPLE": 4 * demo.TEST_PER_CLASS}
    assert sum(f.stat().st_size for f in images.rglob("*.jpeg")) < 5e6  # a few MB
    assert "MIT License" in (clone / "demo" / "CREDITS.md").read_text()
    # a slide's copies are one source cell: never on both sides of train/val
    splits = clone / "demo" / "results" / "splits"
    train = {r["group"] for r in read_tsv(splits / "train.tsv")}
    val = {r["group"] for r in read_tsv(splits / "val.tsv")}
    assert val and not train & val
    # every slide's copies found each other (slides of one field, as BloodImage_00037 and
    # 00038, rightly share a group)
    group_of_slide = {}
    for row in read_tsv(clone / "demo" / "results" / "groups.tsv"):
        if row["image"].startswith("TRAIN/"):
            slide = Path(row["image"]).stem.rsplit("_", 1)[0]
            group_of_slide.setdefault(slide, set()).add(row["group"])
    assert len(group_of_slide) == 4 * per_class
    assert all(len(groups) == 1 for groups in group_of_slide.values())

    page = (clone / "demo" / "results" / "report" / "report.html").read_text()
    for model in ("rf", "vgg16", "cnn", "ensemble"):
        assert f'<section id="model-{model}">' in page
    table = pd.read_csv(clone / "demo" / "results" / "report" / "metrics.tsv", sep="\t")
    assert set(table["model"]) == {"rf", "vgg16", "cnn", "ensemble"}
    # nothing of the sample is tracked: the clone's git status is clean
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_demo_sample_needs_the_originals(tmp_path):
    (tmp_path / "not-bccd").mkdir()
    with pytest.raises(UserError, match="no labels.csv of the BCCD originals"):
        demo.build_sample(tmp_path / "not-bccd", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_demo_sample_offline_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="DEMO_SOURCE"):
        demo.fetch("http://127.0.0.1:9/bccd.zip", tmp_path / "cache.zip")
