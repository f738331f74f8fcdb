"""Random Forest on features of the resized crops.

Recipe ``reference``: the flattened RGB pixels at 128 px, as the reference study (which
fitted one-hot targets, a multi-output forest; this one is fitted on class labels, which
gives one probability per class that sums to one). Recipe ``improved``: features that
survive the rotations and shifts between copies of a cell better than raw pixels do
(docs/benchmarks.md, "Recipes").
"""

from __future__ import annotations

import logging

from .facts import ModelFacts

FEATURES = ("pixels", "colour_histogram", "hog")
FACTS = ModelFacts(
    name="rf",
    title="Random Forest",
    env="sklearn",
    model_file="model.joblib",
    reference_accuracy=0.79,
    recipes={
        "reference": {
            "image_size": 128,
            "n_estimators": 100,
            "features": ["pixels"],
            "pixel_size": 128,
            "min_samples_leaf": 1,
        },
        "improved": {
            "image_size": 64,
            "n_estimators": 300,
            "features": ["pixels", "colour_histogram", "hog"],
            "pixel_size": 16,
            "min_samples_leaf": 1,
        },
    },
    config={
        "image_size": {
            "type": "integer",
            "minimum": 16,
            "maximum": 1024,
            "description": "Side in pixels of the resized crops features come from.",
        },
        "n_estimators": {"type": "integer", "minimum": 1, "description": "Trees of the forest."},
        "features": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(FEATURES)},
            "description": "pixels (RGB, at pixel_size), colour_histogram (of the "
            "stained cell), hog (gradient histograms of the grey image).",
        },
        "pixel_size": {
            "type": "integer",
            "minimum": 4,
            "description": "Side the crop is shrunk to for the pixels feature.",
        },
        "min_samples_leaf": {
            "type": "integer",
            "minimum": 1,
            "description": "Fewest images in a leaf of a tree.",
        },
    },
)
log = logging.getLogger(__name__)


def device(settings: dict, threads: int) -> str:
    return f"CPU ({threads} threads)"


def features(images, settings: dict):
    """The forest's input for a batch of uint8 RGB images (n x size x size x 3)."""
    import cv2
    import numpy as np

    parts = []
    if "pixels" in settings["features"]:
        size = settings["pixel_size"]
        small = [cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA) for x in images]
        parts.append(np.asarray(small, np.float32).reshape(len(images), -1))
    if "colour_histogram" in settings["features"]:
        parts.append(np.asarray([colour_histogram(x) for x in images], np.float32))
    if "hog" in settings["features"]:
        parts.append(np.asarray([hog(x) for x in images], np.float32))
    return np.concatenate(parts, axis=1)


def colour_histogram(rgb, bins: int = 8):
    """Hue-saturation-value histogram of the cell's pixels (the crop blacks out the rest),
    normalised to sum to one: the stain's colours, wherever the cell lies."""
    import cv2
    import numpy as np

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    mask = (rgb.max(axis=2) > 0).astype(np.uint8)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, [bins] * 3, [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(hist.sum(), 1)


def hog(rgb, size: int = 64, cell: int = 8, bins: int = 9):
    """Histograms of oriented gradients (Dalal and Triggs) of the grey image at ``size``
    px: unsigned orientations in ``bins`` bins per ``cell`` x ``cell`` cell, each 2 x 2
    block of cells L2-normalised. (OpenCV 5 has no HOGDescriptor in its main modules.)"""
    import cv2
    import numpy as np

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
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

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
    import joblib

    joblib.dump(model, path, compress=3)


def load(path):
    import joblib

    return joblib.load(path)
