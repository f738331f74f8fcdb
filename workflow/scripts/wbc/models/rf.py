"""Random Forest on features of the resized crops (its facts and settings:
``facts/rf.py``).

Recipe ``reference``: the flattened RGB pixels at 128 px, as the reference study (which
fitted one-hot targets, a multi-output forest; this one is fitted on class labels, which
gives one probability per class that sums to one). Recipe ``improved``: features that
survive the rotations and shifts between copies of a cell better than raw pixels do
(docs/benchmarks.md, "Recipes").
"""

from __future__ import annotations

import logging

import cv2
import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from ..crop import FILL_MAX, haematoxylin
from .facts.rf import FACTS  # noqa: F401 (the model's facts, with its code)

log = logging.getLogger(__name__)


def device(settings: dict, threads: int) -> str:
    return f"CPU ({threads} threads)"


def features(images, settings: dict):
    """The forest's input for a batch of uint8 RGB images (n x size x size x 3)."""

    parts = []
    if "pixels" in settings["features"]:
        size = settings["pixel_size"]
        small = [cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in images]
        parts.append(np.asarray(small, np.float32).reshape(len(images), -1))
    if "colour_histogram" in settings["features"]:
        parts.append(np.asarray([colour_histogram(x) for x in images], np.float32))
    if "hog" in settings["features"]:
        parts.append(np.asarray([hog(x) for x in images], np.float32))
    if "morphology" in settings["features"]:
        parts.append(np.asarray([morphology(x) for x in images], np.float32))
    return np.concatenate(parts, axis=1)


MORPHOLOGY_SIZE = 96  # px the morphology features are measured at (the kernels' scale)
MORPHOLOGY = (
    "nucleus_fraction",  # nucleus area / image area
    "nucleus_cell_ratio",  # nucleus area / cell area (N:C ratio)
    "solidity",  # nucleus area / its convex hull's
    "circularity",  # 4 pi area / perimeter^2
    "elongation",  # minor / major axis of the nucleus's second moments
    "lobes",  # lobes: separate nucleus parts, or deep concavities of its outline
    "nucleus_stain",  # mean haematoxylin of the nucleus
    "nucleus_stain_sd",  # its spread (chromatin texture)
    "cytoplasm_r",  # mean R, G, B of the cytoplasm (granules: orange-red, blue, none)
    "cytoplasm_g",
    "cytoplasm_b",
    "cytoplasm_red_blue",  # (R - B) / (R + B): eosinophilic (+) or basophilic (-)
    "cytoplasm_saturation",
    "cytoplasm_grey_sd",  # granularity: grey-level spread of the cytoplasm
    "cytoplasm_laplacian",  # granularity: fine detail (mean |Laplacian|)
    "eosin_fraction",  # share of cytoplasm pixels redder than blue by a margin
)


def morphology(rgb):
    """What a haematologist looks at (after Tavakoli et al. 2021): nucleus shape and lobe
    count, nucleus/cell area ratio, cytoplasm colour and granularity (MORPHOLOGY, in order).

    The nucleus: Otsu's threshold on the haematoxylin channel (``wbc.crop``); the cell:
    Otsu's threshold on the total optical density, the region that holds the nucleus
    (a blacked-out reference crop: its non-black pixels); the cytoplasm: cell minus nucleus.
    """

    size = MORPHOLOGY_SIZE
    rgb = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=cv2.INTER_AREA)
    valid = rgb.max(axis=2) > FILL_MAX
    out = np.zeros(len(MORPHOLOGY), np.float32)
    if valid.sum() < 32:
        return out
    stain = haematoxylin(rgb)
    nucleus = _otsu(stain, valid)
    nucleus = cv2.morphologyEx(nucleus, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(nucleus)
    if count < 2:
        return out
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))
    # the nucleus: its largest part and the parts near it (a neutrophil's lobes)
    near = cv2.dilate((labels == largest).astype(np.uint8), np.ones((15, 15), np.uint8))
    parts = [
        k
        for k in range(1, count)
        if stats[k, cv2.CC_STAT_AREA] >= 0.1 * areas.max() and (near[labels == k]).any()
    ]
    mask = np.isin(labels, parts).astype(np.uint8)
    area = float(mask.sum())
    joined = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    )
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(contour)
    hull_area = max(cv2.contourArea(hull), 1.0)
    perimeter = max(cv2.arcLength(contour, True), 1.0)
    moments = cv2.moments(joined, binaryImage=True)
    cov = np.array([[moments["mu20"], moments["mu11"]], [moments["mu11"], moments["mu02"]]])
    eig = np.sort(np.linalg.eigvalsh(cov / max(moments["m00"], 1.0)))
    elongation = float(np.sqrt(max(eig[0], 0) / max(eig[1], 1e-6)))
    radius = np.sqrt(cv2.contourArea(contour) / np.pi)
    deep = 0
    if len(contour) > 3:
        defects = cv2.convexityDefects(contour, cv2.convexHull(contour, returnPoints=False))
        if defects is not None:
            deep = int((defects.reshape(-1, 4)[:, 3] / 256.0 > 0.2 * radius).sum())
    lobes = max(len(parts), deep, 1)
    # the cell: dense (stained) pixels, the region touching the nucleus
    density = -np.log((rgb.astype(np.float32) + 1) / 256).sum(axis=2)
    if (rgb.max(axis=2) == 0).mean() > 0.2:
        cell = valid.astype(np.uint8)  # a blacked-out (reference) crop: what it kept
    else:
        # background against the rest (cytoplasm, red cells), the nucleus left out
        dense = _otsu(density, valid & (mask == 0)) | mask
        dense = cv2.morphologyEx(dense, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        count, labels = cv2.connectedComponents(dense)
        touching = np.unique(labels[mask > 0])
        cell = np.isin(labels, touching[touching > 0]).astype(np.uint8)
    cell_area = max(float(cell.sum()), area)
    cytoplasm = (cell > 0) & (mask == 0) & valid
    if cytoplasm.sum() >= 8:
        pixels = rgb[cytoplasm].astype(np.float32)
        r, g, b = pixels.mean(axis=0)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
        colour = [
            r,
            g,
            b,
            (r - b) / max(r + b, 1.0),
            float(hsv[..., 1][cytoplasm].mean()),
            float(grey[cytoplasm].std()),
            float(laplacian[cytoplasm].mean()),
            float((pixels[:, 0] > pixels[:, 2] + 10).mean()),
        ]
    else:
        colour = [0.0] * 8
    out[:] = [
        area / size**2,
        area / cell_area,
        area / hull_area,
        4 * np.pi * cv2.contourArea(contour) / perimeter**2,
        elongation,
        lobes,
        float(stain[mask > 0].mean()),
        float(stain[mask > 0].std()),
        *colour,
    ]
    return out


def _otsu(values, valid):
    """uint8 0/1 mask of ``values`` above Otsu's threshold among the ``valid`` pixels."""

    low, high = np.percentile(values[valid], [0.5, 99.5])
    if high - low < 1e-6:
        return np.zeros(values.shape, np.uint8)
    scaled = np.clip((values - low) / (high - low) * 255, 0, 255).astype(np.uint8)
    threshold, _ = cv2.threshold(
        np.ascontiguousarray(scaled[valid][:, None]), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU
    )
    return ((scaled > threshold) & valid).astype(np.uint8)


def colour_histogram(rgb, bins: int = 8):
    """Hue-saturation-value histogram of the cell's pixels (the crop blacks out the rest),
    normalised to sum to one: the stain's colours, wherever the cell lies."""

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    mask = (rgb.max(axis=2) > 0).astype(np.uint8)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, [bins] * 3, [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(hist.sum(), 1)


def hog(rgb, size: int = 64, cell: int = 8, bins: int = 9):
    """Histograms of oriented gradients (Dalal and Triggs) of the grey image at ``size``
    px: unsigned orientations in ``bins`` bins per ``cell`` x ``cell`` cell, each 2 x 2
    block of cells L2-normalised. (OpenCV 5 has no HOGDescriptor in its main modules.)"""

    grey = cv2.cvtColor(cv2.resize(np.ascontiguousarray(rgb), (size, size)), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    magnitude, angle = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    which = (np.mod(angle, 180) / (180 / bins)).astype(int) % bins
    cells = size // cell
    hist = np.zeros((cells, cells, bins), np.float32)
    rows, cols = np.indices((size, size)) // cell
    np.add.at(hist, (rows, cols, which), magnitude)
    blocks = np.concatenate(
        [hist[:-1, :-1], hist[1:, :-1], hist[:-1, 1:], hist[1:, 1:]], axis=2
    )  # every 2 x 2 block of cells
    norms = np.sqrt((blocks**2).sum(axis=2, keepdims=True) + 1e-6)
    return (blocks / norms).ravel()


def fit(train, val, settings: dict, threads: int, resume_dir=None):
    """A scikit-learn pipeline, features then forest, fitted on the train split's images
    (read 512 at a time: the features, not the images, are held in memory)."""

    kind = {k: settings[k] for k in ("features", "pixel_size")}
    to_features = FunctionTransformer(features, kw_args={"settings": kind})
    forest = RandomForestClassifier(
        n_estimators=settings["n_estimators"],
        min_samples_leaf=settings["min_samples_leaf"],
        random_state=settings["seed"],
        n_jobs=threads,
    )
    x = np.concatenate(
        [
            features(train.rows.read(np.arange(i, min(i + 512, len(train)))), kind)
            for i in range(0, len(train), 512)
        ]
    )
    forest.fit(x, np.asarray(train.labels))
    log.info("fitted %d trees on %d images, %d features each", len(forest.estimators_), *x.shape)
    return Pipeline([("features", to_features), ("forest", forest)]), None, None


def predict(model, x):
    """Class probabilities of uint8 images, columns in sorted class order."""
    return model.predict_proba(x)


predict_images = predict


def save(model, path, settings) -> None:

    joblib.dump(model, path, compress=3)


def load(path):

    return joblib.load(path)
