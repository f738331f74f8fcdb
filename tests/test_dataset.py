"""Layout detection, the manifest, archive unpacking and the Kaggle download."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile

import pytest

from synthetic import draw_cell, make_dataset
from wbc import CLASSES
from wbc.dataset import build_manifest, manifest_classes, scan_dataset, write_shard_lists
from wbc.download import download_kaggle, unpack_zip
from wbc.io import read_tsv
from wbc.runtime import UserError
from wbc.source import parse_source, shard_of


def test_kaggle_layout_ignores_whole_slides(tmp_path):
    images = tmp_path / "dataset2-master" / "dataset2-master" / "images"
    make_dataset(images, per_class=2, splits=("TRAIN", "TEST", "TEST_SIMPLE"))
    draw_cell(tmp_path / "dataset-master" / "dataset-master" / "JPEGImages" / "B_0.jpg")
    entries = scan_dataset(tmp_path)
    assert len(entries) == 3 * 4 * 2
    assert {e.split for e in entries} == {"TRAIN", "TEST", "TEST_SIMPLE"}
    assert all(e.image.startswith("dataset2-master/dataset2-master/images/") for e in entries)


def test_plain_class_folders_are_train(tmp_path):
    make_dataset(tmp_path / "mycells", per_class=2, splits=())
    entries = scan_dataset(tmp_path)  # one wrapping folder is looked through
    assert {e.split for e in entries} == {"TRAIN"}
    assert {e.label for e in entries} == set(CLASSES)
    assert entries[0].image.startswith("mycells/")


def test_folder_names_are_case_insensitive(tmp_path):
    draw_cell(tmp_path / "test" / "Monocyte" / "a.png")
    entries = scan_dataset(tmp_path)
    assert [(e.split, e.label, e.image) for e in entries] == [
        ("TEST", "MONOCYTE", "test/Monocyte/a.png")
    ]


def test_stray_files_are_skipped_with_a_warning(tmp_path, caplog):
    make_dataset(tmp_path, per_class=1)
    (tmp_path / "TRAIN" / "MONOCYTE" / "notes.txt").write_text("x")
    (tmp_path / "TRAIN" / "MONOCYTE" / ".DS_Store").write_text("x")
    (tmp_path / "README.md").write_text("x")
    with caplog.at_level(logging.WARNING):
        entries = scan_dataset(tmp_path)
    assert len(entries) == 4
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "notes.txt" in warned and "README.md" in warned and ".DS_Store" not in warned


def test_unknown_split_folder_is_an_error(tmp_path):
    make_dataset(tmp_path, per_class=1)
    (tmp_path / "VALIDATION").mkdir()
    with pytest.raises(UserError, match=r"VALIDATION: unknown split folder"):
        scan_dataset(tmp_path)


def test_test_class_without_train_folder_is_an_error(tmp_path):
    make_dataset(tmp_path, per_class=5, splits=("TRAIN", "TEST"))
    draw_cell(tmp_path / "TEST" / "BASOPHIL" / "b.jpeg")
    with pytest.raises(
        UserError, match=r"TEST/BASOPHIL: class BASOPHIL has no TRAIN folder.*rename or remove"
    ):
        build_manifest(tmp_path)


@pytest.mark.parametrize("classes", [("BASOPHIL", *CLASSES), ("LYMPHOCYTE", "NEUTROPHIL")])
def test_the_classes_are_the_train_folders(tmp_path, classes):
    make_dataset(tmp_path / "mine", per_class=5, splits=(), classes=classes)
    rows = build_manifest(tmp_path)
    assert {r["label"] for r in rows} == set(classes)
    assert manifest_classes(rows) == sorted(classes)


def test_one_class_is_not_a_classifier(tmp_path):
    make_dataset(tmp_path, per_class=5, classes=("MONOCYTE",))
    with pytest.raises(UserError, match=r"TRAIN holds one class \(MONOCYTE\).*add a folder"):
        build_manifest(tmp_path)


def test_too_few_images_of_a_class_says_what_to_add(tmp_path):
    make_dataset(tmp_path, per_class=5, classes=("MONOCYTE", "BASOPHIL"))
    for path in sorted((tmp_path / "TRAIN" / "BASOPHIL").iterdir())[2:]:
        path.unlink()
    with pytest.raises(
        UserError, match=r"TRAIN/BASOPHIL: 2 distinct images.*add at least 3 more"
    ) as err:
        build_manifest(tmp_path, val_fraction=0.2)
    assert "\n" not in str(err.value)
    assert build_manifest(tmp_path, val_fraction=0.5)  # 2 are enough for a half-half split


def test_kaggle_layout_with_other_classes_warns(tmp_path, caplog):
    images = tmp_path / "dataset2-master" / "dataset2-master" / "images"
    make_dataset(images, per_class=5, classes=("BASOPHIL", *CLASSES))
    with caplog.at_level(logging.WARNING):
        build_manifest(tmp_path)
    warned = [r.getMessage() for r in caplog.records if "BASOPHIL" in r.getMessage()]
    assert len(warned) == 1 and "reference study" in warned[0]


def test_empty_class_folder_is_an_error(tmp_path):
    make_dataset(tmp_path, per_class=1)
    for path in (tmp_path / "TRAIN" / "LYMPHOCYTE").iterdir():
        path.unlink()
    with pytest.raises(UserError, match=r"TRAIN/LYMPHOCYTE: class folder holds no images"):
        scan_dataset(tmp_path)


def test_folder_without_the_layout_is_an_error(tmp_path):
    # images loose beside folders of anything but images: no class folder to label them
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    draw_cell(tmp_path / "x.jpeg")
    draw_cell(tmp_path / "a" / "deeper" / "y.jpeg")
    with pytest.raises(UserError, match=r"no image folders in the expected layout"):
        scan_dataset(tmp_path)


def test_manifest_rows(tmp_path):
    make_dataset(tmp_path, per_class=2, splits=("TRAIN", "TEST_SIMPLE"))
    copy = tmp_path / "TEST_SIMPLE" / "MONOCYTE" / "zz_copy.jpeg"
    original = tmp_path / "TEST_SIMPLE" / "MONOCYTE" / "monocyte_000.jpeg"
    copy.write_bytes(original.read_bytes())
    rows = build_manifest(tmp_path, val_fraction=0.5)  # 2 TRAIN images a class: one in val
    assert len(rows) == 17
    by_image = {r["image"]: r for r in rows}
    dup = by_image["TEST_SIMPLE/MONOCYTE/zz_copy.jpeg"]
    assert dup["duplicate_of"] == "TEST_SIMPLE/MONOCYTE/monocyte_000.jpeg"
    assert dup["sha256"] == by_image[dup["duplicate_of"]]["sha256"]
    assert sum(1 for r in rows if r["duplicate_of"]) == 1
    assert {(r["width"], r["height"]) for r in rows} == {("320", "240")}


def test_shard_lists_partition_the_manifest(tmp_path):
    make_dataset(tmp_path / "cells", per_class=5)
    rows = build_manifest(tmp_path / "cells")
    paths = [tmp_path / f"{i}.tsv" for i in range(3)]
    write_shard_lists(rows, paths)
    lists = [read_tsv(p) for p in paths]
    assert sorted(r["image"] for rows_ in lists for r in rows_) == sorted(r["image"] for r in rows)
    for shard, members in enumerate(lists):
        assert all(shard_of(r["image"], 3) == shard and len(r["sha256"]) == 64 for r in members)


def test_unpack_links_the_members_unchanged_since_the_last_unpacking(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"

    def unpack(members):
        """The archive of ``members`` unpacked afresh (Snakemake removes the folder first):
        each file's bytes by its member name."""
        shutil.rmtree(out, ignore_errors=True)
        with zipfile.ZipFile(tmp_path / "cells.zip", "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        unpack_zip(tmp_path / "cells.zip", out, cache)
        return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.jpeg")}

    first = {"TRAIN/A/a.jpeg": b"a", "TRAIN/A/b.jpeg": b"b", "TRAIN/B/c.jpeg": b"c"}
    assert unpack(first) == first
    inode = (out / "TRAIN/A/a.jpeg").stat().st_ino
    second = {"TRAIN/A/a.jpeg": b"a", "TRAIN/A/b.jpeg": b"B!", "TRAIN/B/d.jpeg": b"d"}
    assert unpack(second) == second
    assert (out / "TRAIN/A/a.jpeg").stat().st_ino == inode  # linked, not written again
    assert not (cache / "files" / "TRAIN/B/c.jpeg").exists()  # a member no more
    # a kept copy edited in place (through the unpacked file) is not taken for the member
    (cache / "files" / "TRAIN/A/a.jpeg").write_bytes(b"edited")
    assert unpack(second) == second
    # no usable listing (an interrupted unpacking): everything is extracted
    (cache / "members.tsv").write_text("garbage")
    assert unpack(second) == second
    assert len((cache / "members.tsv").read_text().splitlines()) == len(second)  # kept again


def test_unpack_refuses_corrupt_and_escaping_archives(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UserError, match=r"bad\.zip is not a readable zip archive"):
        unpack_zip(bad, tmp_path / "out")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../escape.jpeg", b"x")
    with pytest.raises(UserError, match=r"outside the target folder"):
        unpack_zip(evil, tmp_path / "out2")
    assert not (tmp_path / "escape.jpeg").exists()


@pytest.mark.parametrize(
    "value, kind",
    [("kaggle:paultimothymooney/blood-cells", "kaggle"), ("kaggle:o/d/versions/3", "kaggle")],
)
def test_parse_kaggle_source(value, kind):
    assert parse_source(value).kind == kind


def test_parse_source_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"config key 'source': .*nope does not exist"):
        parse_source(str(tmp_path / "nope"))
    (tmp_path / "x.tar").write_text("")
    with pytest.raises(ValueError, match=r"neither a \.zip archive nor a folder"):
        parse_source(str(tmp_path / "x.tar"))
    with pytest.raises(ValueError, match=r"not a Kaggle handle"):
        parse_source("kaggle:just-a-name")


def seed_kagglehub_cache(cache, owner, dataset, version, per_class=2):
    """Lay out a dataset as kagglehub's own cache holds a finished download."""
    base = cache / "datasets" / owner / dataset
    images = base / "versions" / str(version) / "dataset2-master" / "dataset2-master" / "images"
    make_dataset(images, per_class=per_class, splits=("TRAIN", "TEST"))
    (base / f"{version}.complete").write_text("")
    return base / "versions" / str(version)


def test_kaggle_download_through_kagglehub_cache(tmp_path, monkeypatch):
    # kagglehub itself resolves the versioned handle from its cache: the real code path,
    # without the network
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    seed_kagglehub_cache(tmp_path / "cache", "someone", "cells", 3)
    dest = download_kaggle("someone/cells/versions/3", tmp_path / "dl")
    assert len(scan_dataset(dest)) == 2 * 4 * 2


def test_kaggle_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    # an unversioned handle must ask Kaggle for its latest version: unreachable here, and
    # pointed at a closed local port so the test does not depend on this machine's network
    monkeypatch.setenv("KAGGLE_API_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(UserError) as err:
        download_kaggle("someone/cells", tmp_path / "dl")
    message = str(err.value)
    assert "\n" not in message
    assert "cannot reach Kaggle" in message and "config key 'source'" in message


def macos_zip(archive, folder):
    """A zip of ``folder`` as macOS's Finder writes it: each file also as ``__MACOSX/.../._<name>``
    (AppleDouble metadata), plus ``.DS_Store`` and Windows' ``Thumbs.db`` in the folders."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_dir():
                zf.writestr(f"{name}/.DS_Store", b"\0\0\0\1Bud1")
                zf.writestr(f"{name}/Thumbs.db", b"\xd0\xcf\x11\xe0 not an image")
                continue
            zf.write(path, name)
            parent, _, base = name.rpartition("/")
            zf.writestr(f"__MACOSX/{parent}/._{base}", b"\0\5\26\7 AppleDouble")
        zf.writestr(".DS_Store", b"\0\0\0\1Bud1")
    return archive


def test_macos_and_windows_metadata_is_ignored(tmp_path, caplog):
    make_dataset(tmp_path / "cells", per_class=2, splits=())  # <CLASS>/<image>
    unpack_zip(macos_zip(tmp_path / "cells.zip", tmp_path / "cells"), tmp_path / "out")
    with caplog.at_level(logging.WARNING):
        entries = scan_dataset(tmp_path / "out")
    assert {e.label for e in entries} == set(CLASSES) and len(entries) == 4 * 2
    assert not any("Thumbs.db" in r.getMessage() for r in caplog.records)


def test_folder_fingerprint_follows_names_and_contents_not_times(tmp_path):
    """What reruns the manifest of a source folder (a param, not one input per image)."""
    from wbc.source import folder_fingerprint

    root = make_dataset(tmp_path / "cells", per_class=2, splits=())
    index = tmp_path / "index.json"
    first = folder_fingerprint(root, index)
    assert index.is_file() and folder_fingerprint(root) == first  # the index only caches
    image = next(root.rglob("*.jpeg"))
    os.utime(image, (1, 1))  # touched: same content
    (root / "EOSINOPHIL" / ".DS_Store").write_bytes(b"x")  # ignored, like every hidden file
    assert folder_fingerprint(root, index) == first
    image.write_bytes(image.read_bytes() + b"\0")  # edited
    edited = folder_fingerprint(root, index)
    assert edited != first
    image.rename(image.with_name("renamed.jpeg"))
    assert folder_fingerprint(root, index) not in (first, edited)
