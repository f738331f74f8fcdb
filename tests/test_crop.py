"""The crop function on drawn cells whose geometry is known, and image reading."""

from __future__ import annotations

import numpy as np
import pytest

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
