"""What the three training rules do: fit on the train split, stop and tune on val, and
write the model, metrics.json, predictions.tsv (and history.tsv for Keras models)."""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from . import CLASSES
from .arrays import NpyRows
from .metrics import EVAL_SPLITS, evaluate, predictions_frame, write_predictions
from .runtime import UserError

log = logging.getLogger(__name__)


class Split:
    """A split file and its array (row i of the array is row i of the file)."""

    def __init__(self, name: str, table: str | Path, array: str | Path):
        self.name = name
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        self.images = [r["image"] for r in rows]
        self.labels = [r["label"] for r in rows]
        self.rows = NpyRows(array)
        if len(self.rows) != len(rows):
            raise UserError(
                f"{array} has {len(self.rows)} rows but {table} has {len(rows)}: "
                "rebuild it (snakemake --forcerun training_arrays)"
            )


def load_splits(tables: dict, arrays: dict) -> dict[str, Split]:
    splits = {name: Split(name, tables[name], arrays[name]) for name in tables}
    for name in ("train", "val"):
        missing = sorted(set(CLASSES) - set(splits[name].labels))
        if missing:
            raise UserError(
                f"the {name} split has no images of {', '.join(missing)}: add images "
                "of every class or lower config key 'split.val_fraction'"
            )
    return splits


def write_outputs(model_name, splits, probabilities, seconds, device, out) -> dict:
    """metrics.json and predictions.tsv; test splits only where their files have rows."""
    metrics: dict = {"model": model_name}
    frames = []
    for name in EVAL_SPLITS:
        split = splits.get(name)
        if split is None or not split.images:
            continue
        metrics[name] = evaluate(split.labels, probabilities[name])
        frames.append(predictions_frame(name, split.images, split.labels, probabilities[name]))
        log.info("%s %s: accuracy %.4f (n=%d)", model_name, name, metrics[name]["accuracy"], len(split.images))
    metrics["train_seconds"] = round(seconds, 3)
    metrics["device"] = device
    Path(out["metrics"]).write_text(json.dumps(metrics, indent=2) + "\n")
    write_predictions(out["predictions"], frames)
    return metrics


def train_rf(splits, n_estimators: int, seed: int, threads: int, out) -> dict:
    import joblib

    from .models import build_rf

    train = splits["train"]
    x = train.rows.read(np.arange(len(train.rows))).reshape(len(train.rows), -1)
    model = build_rf(n_estimators, seed, threads)
    start = time.perf_counter()
    model.fit(x, np.array(train.labels))  # class names: one output, not one-hot targets
    seconds = time.perf_counter() - start
    del x
    log.info("fitted %d trees on %d images in %.1f s", n_estimators, len(train.rows), seconds)
    joblib.dump(model, out["model"], compress=3)
    order = [list(model.classes_).index(c) for c in CLASSES]
    probabilities = {}
    for name in EVAL_SPLITS:
        if name in splits:
            rows, chunks = splits[name].rows, []
            for i in range(0, len(rows), 256):  # a float copy of 256 images at a time
                x = rows.read(np.arange(i, min(i + 256, len(rows))))
                chunks.append(model.predict_proba(x.reshape(len(x), -1))[:, order])
            probabilities[name] = np.concatenate(chunks) if chunks else np.zeros((0, len(CLASSES)))
    return write_outputs("rf", splits, probabilities, seconds, "CPU", out)


def _callbacks(patience=None, reduce_lr=None):
    import keras

    callbacks = []
    if patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    if reduce_lr is not None:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", min_lr=1e-6, **reduce_lr)
        )
    return callbacks


def train_vgg16(splits, features, weights, size, cfg, device, out) -> dict:
    """The head on cached backbone features, saved with the backbone as one model."""
    import keras

    from . import models
    from .train_keras import batches, fit, predict

    feats = {name: NpyRows(path) for name, path in features.items()}
    head = models.vgg16_head(feats["train"].row_shape)
    head.compile(
        optimizer=keras.optimizers.Adam(cfg["learning_rate"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    train = batches(feats["train"], splits["train"].labels, cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    val = batches(feats["val"], splits["val"].labels, cfg["batch_size"])
    start = time.perf_counter()
    history = fit(
        head, train, val, cfg["epochs"],
        _callbacks(cfg["patience"], {"patience": 2, "factor": 0.3}),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    history.to_csv(out["history"], sep="\t", index=False, float_format="%.6g")
    model = models.vgg16_full(models.vgg16_backbone(size, weights, cfg["seed"]), head)
    model.save(out["model"])
    probabilities = {n: predict(head, feats[n], 256) for n in EVAL_SPLITS if n in feats}
    return write_outputs("vgg16", splits, probabilities, seconds, device, out)


def train_cnn(splits, size, cfg, device, out) -> dict:
    import keras

    from . import models
    from .train_keras import batches, fit, predict

    model = models.cnn(size)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg["learning_rate"], momentum=cfg["momentum"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    train = batches(splits["train"].rows, splits["train"].labels, cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    val = batches(splits["val"].rows, splits["val"].labels, cfg["batch_size"])
    start = time.perf_counter()
    history = fit(model, train, val, cfg["epochs"])
    seconds = time.perf_counter() - start
    history.to_csv(out["history"], sep="\t", index=False, float_format="%.6g")
    model.save(out["model"])
    probabilities = {n: predict(model, splits[n].rows, cfg["batch_size"]) for n in EVAL_SPLITS if n in splits}
    return write_outputs("cnn", splits, probabilities, seconds, device, out)


def vgg16_features(images: NpyRows, size: int, weights, seed: int, out: str, batch_size: int = 16) -> None:
    """The frozen backbone's output for every row, written batch by batch (small
    batches: at 128 px a batch of 64 needs ~0.5 GB for block 1's activations alone)."""
    from . import models

    backbone = models.vgg16_backbone(size, weights, seed)
    shape = (len(images), *backbone.output_shape[1:])
    from .arrays import write_npy

    def rows():
        for i in range(0, len(images), batch_size):
            x = images.read(np.arange(i, min(i + batch_size, len(images)))).astype(np.float32)
            yield np.asarray(backbone.predict_on_batch(x))

    write_npy(out, shape, np.float32, rows())
