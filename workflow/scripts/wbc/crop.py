"""Single-cell cropping: the reference study's colour-threshold + contour crop."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import CROPPED, NO_CELL, UNREADABLE

PAD = 10
PAD_RGB = (198, 203, 208)
# Purple-stained nucleus range in RGB (the reference study's values).
MASK_LOW = np.array([80, 80, 180])
MASK_HIGH = np.array([180, 170, 245])


@dataclass
class CropResult:
    """A crop (RGB uint8) and what happened: box is (x0, y0, x1, y1) in the padded frame."""

    image: np.ndarray | None
    status: str
    box: tuple[int, int, int, int] | None = None
    contour_area: float | None = None
    reason: str = ""


class UnreadableImage(Exception):
    """The file is not a complete, decodable image."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8, refusing empty, truncated and non-image files."""
    data = Path(path).read_bytes()
    if not data:
        raise UnreadableImage("empty file (0 bytes)")
    if data[:2] == b"\xff\xd8":
        _check_jpeg_complete(data)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableImage("not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_jpeg_complete(data: bytes) -> None:
    """Decode the JPEG's whole entropy-coded data with Pillow, which raises where it ends
    early (``ImageFile.LOAD_TRUNCATED_IMAGES``, False by default). OpenCV's libjpeg fills
    a truncated JPEG with grey and only warns: a half-copied file must never be trained
    on. Bytes after the end-of-image marker, as some cameras write, are no truncation."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (img.width // 8, img.height // 8))  # 1/8 scale: same check, faster
            img.load()
    except Exception as err:  # Pillow: OSError on truncation, others on corrupt headers
        raise UnreadableImage(f"truncated JPEG ({err})") from None


def _edges(mask: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(mask, (1, 1), 0)
    smoothed = cv2.bilateralFilter(blurred, 9, 75, 75)
    edges = cv2.Canny(smoothed, 100, 400)
    edges = cv2.dilate(edges, None, iterations=1)
    return cv2.erode(edges, None, iterations=1)


def crop_cell(rgb: np.ndarray) -> CropResult:
    """Crop the stained cell out of an RGB image.

    Pads, thresholds the stain colour, finds external contours of the mask's edges and
    keeps the largest contour with a non-degenerate rotated box: pixels outside it are
    blacked out and the image is cropped to the box, clipped to the padded frame.
    """
    padded = cv2.copyMakeBorder(rgb, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=PAD_RGB)
    mask = cv2.inRange(padded, MASK_LOW, MASK_HIGH)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8), iterations=5)
    contours, _ = cv2.findContours(_edges(mask), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best = None
    for contour in sorted(contours, key=cv2.contourArea):
        box = np.intp(cv2.boxPoints(cv2.minAreaRect(contour)))
        # the reference kept a box when both of its sides have non-zero length
        if np.linalg.norm(box[0] - box[1]) > 0 and np.linalg.norm(box[1] - box[2]) > 0:
            best = (contour, box)  # ascending order: the last kept one is the largest
    if best is None:
        return CropResult(padded, NO_CELL)

    contour, box = best
    filled = np.zeros(padded.shape[:2], np.uint8)
    cv2.drawContours(filled, [contour], -1, 255, thickness=cv2.FILLED)
    masked = cv2.bitwise_and(padded, padded, mask=filled)
    height, width = padded.shape[:2]
    # clip to the frame: the reference let negative coordinates wrap around
    x0, y0 = (int(v) for v in np.clip(box.min(axis=0), 0, [width, height]))
    x1, y1 = (int(v) for v in np.clip(box.max(axis=0), 0, [width, height]))
    crop = masked[y0:y1, x0:x1]
    if crop.size == 0:
        crop = masked
    return CropResult(crop, CROPPED, (x0, y0, x1, y1), float(cv2.contourArea(contour)))


def crop_file(path: str | Path) -> CropResult:
    """Read and crop one file; unreadable files come back with status ``unreadable``."""
    try:
        rgb = read_rgb(path)
    except (UnreadableImage, OSError) as err:
        return CropResult(None, UNREADABLE, reason=str(err))
    return crop_cell(rgb)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


QC_COLUMNS = ("image", "status", "x0", "y0", "x1", "y1", "contour_area", "crop", "reason")


def crop_path(crops_dir: str | Path, image: str) -> Path:
    """Where the crop of a dataset-relative image lives inside its shard's folder."""
    return Path(crops_dir) / f"{image}.png"


def crop_images(
    images: list[tuple[str, str]], crops_dir: str | Path, strict: bool = False
) -> list[dict[str, str]]:
    """Crop ``(image, path)`` pairs into ``crops_dir``; returns one QC row per image.

    A row names no file: an image's crop is ``crop_path(<shard's crops folder>, image)``
    whenever its status is not unreadable (``crop_paths`` fills the column)."""
    from .runtime import UserError

    Path(crops_dir).mkdir(parents=True, exist_ok=True)  # an empty shard too
    rows = []
    for image, path in images:
        result = crop_file(path)
        if result.status == UNREADABLE and strict:
            raise UserError(
                f"{path}: unreadable image ({result.reason}); replace or remove it, "
                "or set config key 'strict: false' to leave unreadable images out"
            )
        row = dict.fromkeys(QC_COLUMNS, "")
        row.update(image=image, status=result.status, reason=result.reason)
        if result.box is not None:
            row.update(zip(("x0", "y0", "x1", "y1"), map(str, result.box), strict=True))
            row["contour_area"] = f"{result.contour_area:.1f}"
        if result.image is not None:
            write_png(crop_path(crops_dir, image), result.image)
        rows.append(row)
    return rows


def crop_paths(rows: list[dict[str, str]], crops_dir: str | Path) -> list[dict[str, str]]:
    """A shard's QC rows with their ``crop`` column: where each crop lies in the shard's
    crops folder (none for an unreadable image)."""
    return [
        {
            **row,
            "crop": "" if row["status"] == UNREADABLE else str(crop_path(crops_dir, row["image"])),
        }
        for row in rows
    ]
