"""The crop methods on drawn cells whose geometry is known, image reading, and two crop
methods in one run of the workflow on the real mini archive."""

from __future__ import annotations

import csv
import json
from typing import get_args

import cv2
import numpy as np
import pytest

from conftest import run_snakemake, scheduled_jobs, write_config
from synthetic import BACKGROUND_RGB, STAIN_RGB, draw_cell
from wbc import CROPPED, NO_CELL, UNREADABLE
from wbc.crop import (
    PAD,
    PAD_RGB,
    UnreadableImage,
    crop_cell,
    crop_file,
    crop_images,
    crop_paths,
    crop_with,
    nucleus_window,
    read_rgb,
)
from wbc.runtime import UserError
from wbc.source import shard_of


def test_drawn_cell_is_cropped_to_its_box(tmp_path):
    cx, cy, r = 150, 110, 40
    rgb = read_rgb(draw_cell(tmp_path / "cell.png", center=(cx, cy), radius=r))
    result = crop_cell(rgb)
    assert result.status == CROPPED
    x0, y0, x1, y1 = result.box
    # The mask is eroded 2 px and dilated 10 px (5 x 5 kernel, 5 times): radius r + 8,
    # in the frame padded by PAD on every side.
    grown = r + 8
    for got, want in zip(
        (x0, y0, x1, y1),
        (cx + PAD - grown, cy + PAD - grown, cx + PAD + grown, cy + PAD + grown),
        strict=True,
    ):
        assert abs(got - want) <= 3, (result.box, want)
    assert result.image.shape == (y1 - y0, x1 - x0, 3)
    assert result.contour_area == pytest.approx(np.pi * grown**2, rel=0.1)
    # inside the contour the stain is kept; outside it (the box corners) is blacked out
    centre = result.image[(y1 - y0) // 2, (x1 - x0) // 2]
    assert np.abs(centre.astype(int) - STAIN_RGB).max() <= 3
    assert (result.image[0, 0] == 0).all() and (result.image[-1, -1] == 0).all()


def test_cell_on_the_image_edge_is_clipped_not_wrapped(tmp_path):
    rgb = read_rgb(draw_cell(tmp_path / "edge.png", center=(0, 0), radius=30))
    result = crop_cell(rgb)
    assert result.status == CROPPED
    x0, y0, x1, y1 = result.box
    assert x0 == 0 and y0 == 0  # the reference wrapped negative coordinates around
    assert 0 < x1 < 80 and 0 < y1 < 80
    assert result.image.shape[:2] == (y1, x1)


def test_image_without_stain_keeps_the_padded_image():
    rgb = np.full((60, 80, 3), BACKGROUND_RGB, np.uint8)
    result = crop_cell(rgb)
    assert result.status == NO_CELL and result.box is None
    assert result.image.shape == (60 + 2 * PAD, 80 + 2 * PAD, 3)
    assert tuple(result.image[0, 0]) == PAD_RGB


def test_reads_rgb_not_bgr(tmp_path):
    path = draw_cell(tmp_path / "cell.png", center=(50, 50), radius=10, size=(100, 100))
    assert tuple(read_rgb(path)[50, 50]) == STAIN_RGB


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"this is not an image", "not a decodable image"),
        ("truncate", "truncated JPEG"),
    ],
)
def test_unreadable_files(tmp_path, content, reason):
    path = tmp_path / "bad.jpeg"
    if content == "truncate":
        good = draw_cell(tmp_path / "good.jpeg").read_bytes()
        content = good[: len(good) // 2]
    path.write_bytes(content)
    with pytest.raises(UnreadableImage, match=reason):
        read_rgb(path)
    result = crop_file(path)
    assert result.status == UNREADABLE and reason in result.reason and result.image is None


@pytest.mark.parametrize(
    "trailer",
    [b"\x00" * 62, b"\x00" * 64, b"CAMERA-TRAILER " * 40],
    ids=["62 bytes", "64 bytes", "600 bytes"],
)
def test_jpeg_with_bytes_after_its_end_is_read_whole(tmp_path, trailer):
    """Some cameras and exporters write bytes after the end-of-image marker: decoders
    read the image whole, and so must the crop (and predict, through crop_file)."""
    good = draw_cell(tmp_path / "good.jpeg")
    path = tmp_path / "trailer.jpeg"
    path.write_bytes(good.read_bytes() + trailer)
    np.testing.assert_array_equal(read_rgb(path), read_rgb(good))
    assert crop_file(path).status == CROPPED


def test_jpeg_cut_anywhere_is_unreadable(tmp_path):
    good = draw_cell(tmp_path / "good.jpeg").read_bytes()
    path = tmp_path / "cut.jpeg"
    for keep in (len(good) // 4, len(good) // 2, len(good) - 64, len(good) - 2):
        path.write_bytes(good[:keep])
        assert crop_file(path).status == UNREADABLE, keep


def test_crop_images_writes_crops_and_qc(tmp_path):
    good = draw_cell(tmp_path / "in" / "good.jpeg")
    bad = tmp_path / "in" / "bad.jpeg"
    bad.write_bytes(b"")
    rows = crop_images([("A/good.jpeg", str(good)), ("A/bad.jpeg", str(bad))], tmp_path / "out")
    assert [r["status"] for r in rows] == [CROPPED, UNREADABLE]
    assert (tmp_path / "out" / "A" / "good.jpeg.png").is_file()
    assert rows[1]["crop"] == "" and rows[1]["reason"] == "empty file (0 bytes)"
    # a row names no file; the shard's crops folder, given, places each crop
    assert [r["crop"] for r in crop_paths(rows, "results/crops/3")] == [
        "results/crops/3/A/good.jpeg.png",
        "",
    ]
    with pytest.raises(UserError, match=r"bad\.jpeg.*strict"):
        crop_images([("A/bad.jpeg", str(bad))], tmp_path / "out2", strict=True)


def test_shards_are_stable_and_spread():
    names = [f"TRAIN/NEUTROPHIL/_{i}_{i * 7}.jpeg" for i in range(2000)]
    first = [shard_of(n, 64) for n in names]
    assert first == [shard_of(n, 64) for n in names]
    counts = np.bincount(first, minlength=64)
    assert counts.min() > 10 and counts.max() < 60  # ~31 each


# --- crop methods: nucleus_window, and two methods in one run ---------------------------


def stained_field(size=(320, 240), center=(200, 90), nucleus_rgb=STAIN_RGB, seed=0):
    """A field like Kaggle's: pale background, pink red cells, black corners (the fill of
    a rotated copy) and one white cell: a cytoplasm ring around a stained nucleus."""
    rng = np.random.default_rng(seed)
    width, height = size
    rgb = np.full((height, width, 3), (214, 206, 200), np.uint8)
    for x, y in ((40, 40), (90, 190), (280, 200), (150, 60)):  # red cells
        cv2.circle(rgb, (x, y), 24, (205, 140, 150), thickness=-1)
    cv2.fillPoly(rgb, [np.array([[0, 0], [30, 0], [0, 40]])], (0, 0, 0))
    cv2.fillPoly(rgb, [np.array([[width, height], [width - 30, height], [width, height - 40]])], 0)
    cv2.circle(rgb, center, 34, (200, 170, 190), thickness=-1)  # cytoplasm
    cv2.circle(rgb, center, 20, nucleus_rgb, thickness=-1)
    return np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("center", [(200, 90), (60, 180), (300, 20)])
def test_nucleus_window_is_centred_on_the_nucleus(center):
    rgb = stained_field(center=center)
    result = nucleus_window(rgb, 96)
    assert result.status == CROPPED and result.image.shape == (96, 96, 3)
    x0, y0, x1, y1 = (v - PAD for v in result.box)
    assert (x1 - x0, y1 - y0) == (96, 96)
    # the window lies in the image; the nucleus is inside it, centred unless at an edge
    assert 0 <= x0 and x1 <= 320 and 0 <= y0 and y1 <= 240
    cx, cy = center
    assert x0 + 20 <= cx <= x1 - 20 and y0 + 20 <= cy <= y1 - 20
    if 48 <= cx <= 320 - 48 and 48 <= cy <= 240 - 48:
        assert abs((x0 + x1) / 2 - cx) <= 2 and abs((y0 + y1) / 2 - cy) <= 2
    # nothing blacked out: the window is the image's pixels
    np.testing.assert_array_equal(result.image, rgb[y0:y1, x0:x1])
    assert result.contour_area == pytest.approx(np.pi * 20**2, rel=0.2)


def test_nucleus_window_adapts_to_another_stain():
    """A darker, bluer nucleus than the reference's RGB box allows (another stain or
    microscope): the reference finds nothing, the adaptive threshold finds the nucleus."""
    rgb = stained_field(center=(120, 150), nucleus_rgb=(70, 45, 120))
    assert crop_cell(rgb).status == NO_CELL
    result = nucleus_window(rgb, 64)
    assert result.status == CROPPED
    x0, y0, x1, y1 = (v - PAD for v in result.box)
    assert abs((x0 + x1) / 2 - 120) <= 2 and abs((y0 + y1) / 2 - 150) <= 2


def test_nucleus_window_on_a_blank_or_small_image():
    blank = np.full((240, 320, 3), BACKGROUND_RGB, np.uint8)
    result = nucleus_window(blank, 96)
    assert result.status == NO_CELL and result.image.shape == (96, 96, 3)
    small = stained_field(size=(80, 60), center=(40, 30))
    result = nucleus_window(small, 96)  # padded up to the window
    assert result.status == CROPPED and result.image.shape == (96, 96, 3)


def test_the_settings_know_every_crop_method():  # they are read without OpenCV
    from wbc.crop import METHODS
    from wbc.models.facts import CROP_METHODS, CropMethod

    assert METHODS == CROP_METHODS == get_args(CropMethod)


def test_reference_method_is_the_study_crop(tmp_path):
    path = draw_cell(tmp_path / "cell.png", center=(120, 100), radius=30)
    study = crop_cell(read_rgb(path))
    chosen = crop_file(path, method="reference")
    assert chosen.box == study.box and chosen.contour_area == study.contour_area
    np.testing.assert_array_equal(chosen.image, study.image)
    with pytest.raises(ValueError, match="nucleus_window"):
        crop_with(read_rgb(path), "otsu")


def test_crop_images_by_method(tmp_path):
    good, blank = tmp_path / "in" / "good.png", tmp_path / "in" / "blank.png"
    good.parent.mkdir()
    cv2.imwrite(str(good), cv2.cvtColor(stained_field(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(blank), np.full((240, 320, 3), BACKGROUND_RGB, np.uint8))
    images = [("A/good.png", str(good)), ("A/blank.png", str(blank))]
    rows = crop_images(images, tmp_path / "out", method="nucleus_window", window=96)
    assert [r["status"] for r in rows] == [CROPPED, NO_CELL]
    assert read_rgb(tmp_path / "out" / "A" / "good.png.png").shape == (96, 96, 3)
    # no nucleus: the centre window is kept, its QC row says so (area 0)
    assert rows[1]["contour_area"] == "0.0" and "no nucleus" in rows[1]["reason"]
    assert read_rgb(tmp_path / "out" / "A" / "blank.png.png").shape == (96, 96, 3)


def test_two_crop_methods_coexist_in_one_run(workflow_dir, mini_zip):
    """The run's method (reference) and a forest variant on nucleus_window: both crops,
    both arrays, each model trained on its own; a new window re-crops only its method;
    the reference crops are the study's crop of each image."""
    models = {
        "enabled": ["rf"],
        "rf": {
            "image_size": 32,
            "pixel_size": 16,
            "n_estimators": 20,
            "variants": {"nw": {"crop": "nucleus_window"}},
        },
    }
    crop = {"shards": 2, "window": 96}
    cfg = write_config(workflow_dir, source=str(mini_zip), crop=crop, models=models)
    targets = ["results/models/rf/metrics.json", "results/models/rf-nw/metrics.json"]
    run_snakemake(workflow_dir, *targets, "--configfile", str(cfg))
    results = workflow_dir / "results"
    rows = {}
    for method in ("reference", "nucleus_window"):
        rows[method] = [  # a shard's QC rows name no file: crop_paths finds each crop
            row
            for table in sorted((results / "qc" / "crops" / method).glob("*.tsv"))
            for row in crop_paths(
                list(csv.DictReader(table.open(), delimiter="\t")),
                results / "crops" / method / table.stem,
            )
        ]
        assert (results / "arrays" / method / "32px" / "train.npy").is_file()
        cropped = [r for r in rows[method] if r["status"] == CROPPED]
        assert len(cropped) >= 0.9 * len(rows[method]), method
    assert len(rows["reference"]) == len(rows["nucleus_window"]) > 100
    windows = {
        read_rgb(workflow_dir / r["crop"]).shape for r in rows["nucleus_window"] if r["crop"]
    }
    assert windows == {(96, 96, 3)}
    for row in rows["reference"][:10]:  # the study's crop, byte for byte
        if row["status"] == CROPPED:
            original = results / "data" / "unpacked" / row["image"]
            study = crop_cell(read_rgb(original)).image
            np.testing.assert_array_equal(read_rgb(workflow_dir / row["crop"]), study)
    for model, method in (("rf", "reference"), ("rf-nw", "nucleus_window")):
        metrics = json.loads((results / "models" / model / "metrics.json").read_text())
        assert metrics["settings"]["crop"] == method
    # nothing left to do; a new window re-crops nucleus_window's shards and retrains rf-nw only
    dry = run_snakemake(workflow_dir, *targets, "--configfile", str(cfg), "--dry-run")
    assert scheduled_jobs(dry) == {}
    cfg = write_config(
        workflow_dir, source=str(mini_zip), crop={"shards": 2, "window": 80}, models=models
    )
    dry = run_snakemake(workflow_dir, *targets, "--configfile", str(cfg), "--dry-run")
    jobs = scheduled_jobs(dry)
    assert jobs.get("crop_shard") == 2 and jobs.get("train_rf") == 1, jobs
    assert "results/crops/nucleus_window/0" in dry.stdout
    assert "results/crops/reference/" not in dry.stdout
