"""The catalogue of the workflow's tables (wbc.tables): wbc.io reads each with its types
and refuses to write one with other columns, and a real run's tables are what it says."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import run_snakemake, write_config
from wbc import tables
from wbc.io import read_table, write_table, write_tsv


def test_tables_are_found_by_their_path_staged_or_not():
    assert tables.find("results/manifest.tsv") is tables.MANIFEST
    assert tables.find("/runs/a/results/qc/.staged-1a2b3c4d/crops.tsv") is tables.CROP_QC
    assert tables.find("results/qc/crops/reference/7.tsv") is tables.CROP_QC_SHARD
    assert tables.find("results/splits/test_simple.tsv") is tables.SPLIT
    assert tables.find("results/splits/test_leaks.tsv") is tables.TEST_LEAKS
    assert tables.find("results/models/cnn/folds/2/predictions.tsv") is tables.PREDICTIONS
    assert tables.find("results/benchmarks/groups.tsv") is None
    assert tables.find("notes/manifest.tsv") is None


def test_a_catalogued_table_is_written_with_its_columns_only(tmp_path):
    path = tmp_path / "results" / "splits" / "train.tsv"
    path.parent.mkdir(parents=True)
    row = {"image": "TRAIN/X/a.png", "label": "X", "group": "g", "crop": "c.png"}
    write_tsv(path, [row])  # the catalogue's columns by default
    assert path.read_text().splitlines()[0].split("\t") == list(tables.SPLIT.names)
    with pytest.raises(ValueError, match=r"train\.tsv: columns image, label are not those"):
        write_tsv(path, [row], ["image", "label"])
    predictions = tmp_path / "results" / "models" / "rf" / "predictions.tsv"
    predictions.parent.mkdir(parents=True)
    frame = pd.DataFrame(
        {"image": ["a"], "split": ["val"], "label": ["X"], "group": [""], "predicted": ["X"]}
    )
    write_table(predictions, frame.assign(p_X=[0.75], p_Y=[0.25]))  # a family: p_<class>
    with pytest.raises(ValueError, match="then p_"):
        write_table(predictions, frame.assign(score=[0.75]))


def test_read_table_gives_the_catalogues_types(tmp_path):
    path = tmp_path / "results" / "manifest.tsv"
    path.parent.mkdir(parents=True)
    rows = [
        {"image": "a", "split": "TRAIN", "label": "X", "sha256": "1", "width": "320",
         "height": "240", "bytes": "6674", "duplicate_of": ""},
        {"image": "b", "split": "TRAIN", "label": "X", "sha256": "2", "width": "",
         "height": "", "bytes": "0", "duplicate_of": "a"},
    ]  # fmt: skip
    write_tsv(path, rows)
    manifest = read_table(path)
    assert manifest["width"].dtype == "Int64" and manifest["width"].isna().tolist() == [
        False,
        True,
    ]
    assert manifest["bytes"].tolist() == [6674, 0]
    assert manifest["duplicate_of"].tolist() == ["", "a"]  # text: empty, never NaN
    other = tmp_path / "notes.tsv"
    write_tsv(other, rows, list(rows[0]))
    assert read_table(other)["width"].tolist() == ["320", ""]  # not catalogued: text


def assert_tables_match_the_catalogue(results: Path) -> set[str]:
    """Every table of a run that the catalogue names has its columns, and each value
    reads as its column's type; returns the names of the tables found."""
    found = set()
    for path in sorted(results.rglob("*.tsv")):
        table = tables.find(path.relative_to(results.parent))
        if table is None:
            continue
        found.add(table.name)
        header = path.read_text().splitlines()[0].split("\t")
        table.check(header, path)
        frame = read_table(path)  # raises on a value that is not of its type
        for column in frame.columns:
            kind = table.type_of(column)
            if kind == "bool":
                assert frame[column].dtype == bool, (path, column)
            elif kind in ("int", "float"):
                assert pd.api.types.is_numeric_dtype(frame[column]), (path, column)
    return found


def test_a_real_runs_tables_match_the_catalogue(workflow_dir, mini_zip):
    """The data stages, a Random Forest, the metrics tables and the report sections that
    read them, on the real mini archive."""
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=16,
        crop={"shards": 2},
        models={"enabled": ["rf"], "rf": {"n_estimators": 10}},
    )
    # and two report sections that read them with wbc.io.read_table
    sections = [f"results/report/sections/{s}.html" for s in ("dataset", "headline")]
    run_snakemake(workflow_dir, "results/report/metrics.tsv", *sections, "--configfile", str(cfg))
    found = assert_tables_match_the_catalogue(workflow_dir / "results")
    assert found == {table.name for table in tables.CATALOGUE} - {"folds"}
