"""The custom CNN: five 3x3 convolutions with batch norm and max pooling, then a dense head
(its facts and settings: ``facts/cnn.py``).

Recipe ``reference`` is the reference study's network and training, kept exactly (Flatten
into two dense layers of 1024, 36.8 M parameters at 128 px; plain SGD, 10 epochs, the last
epoch kept). Recipe ``improved`` is what won on val grouped by source cell
(docs/benchmarks.md, "Recipes"). The network takes RGB pixels in 0..255 and scales them
itself, so a saved ``model.keras`` classifies resized crops as they are.
"""

from __future__ import annotations

import keras
from keras import layers

from . import keras_loop
from .facts.cnn import FACTS  # noqa: F401 (the model's facts, with its code)

AUGMENT = {"shift": 0.1, "jitter": 0.1}
device = keras_loop.device
predict = keras_loop.predict
predict_images = predict


def save(model, path, settings) -> None:
    model.save(path)


def load(path):
    return keras.saving.load_model(path)


def build(size: int, n_classes: int, width: float = 1.0, head: str = "flatten", units=1024):
    """The network (reference settings: 36,755,076 parameters at 128 x 128, 4 classes)."""

    def conv(filters):
        return [
            layers.Conv2D(max(8, round(filters * width)), 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
        ]

    pool = layers.MaxPooling2D
    if head == "flatten":
        top = [
            layers.Flatten(),
            layers.Dense(units, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(units, activation="relu"),
            layers.Dropout(0.5),
        ]
    else:
        top = [
            layers.GlobalAveragePooling2D(),
            layers.Dense(units, activation="relu"),
            layers.Dropout(0.5),
        ]
    return keras.Sequential(
        [
            keras.Input((size, size, 3), name="rgb"),
            layers.Rescaling(1 / 127.5, offset=-1),  # 0..255 -> -1..1
            *conv(64), pool(2),
            *conv(128), pool(2),
            *conv(256), *conv(256), pool(2),
            *conv(512), pool(2),
            *top,
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="cnn",
    )  # fmt: skip


def fit(train, val, settings: dict, threads: int, resume_dir):
    s, classes = settings, settings["classes"]
    model = build(s["image_size"], len(classes), s["width"], s["head"], s["dense_units"])
    optimizer = (
        keras.optimizers.Adam(s["learning_rate"])
        if s["optimizer"] == "adam"
        else keras.optimizers.SGD(s["learning_rate"], momentum=s["momentum"])
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s["label_smoothing"]),
        metrics=["accuracy"],
    )
    trainer = keras_loop.Trainer(
        model,
        s["epochs"],
        resume_dir,
        monitor="val_accuracy",
        patience=s["patience"],
        restore_best=s["restore_best"],
        cosine=s["schedule"] == "cosine",
        stop_after=s.get("final_epochs"),
    )
    history, best_epoch = trainer.fit(
        keras_loop.batches(
            train.rows,
            train.labels,
            classes,
            s["batch_size"],
            shuffle=True,
            seed=s["seed"],
            aug=AUGMENT if s["augment"] else None,
            mixup=s["mixup"],
            p=keras_loop.cell_balanced(train.labels, train.groups)
            if s["sampling"] == "cells"
            else None,
        ),
        None
        if val is None
        else keras_loop.batches(val.rows, val.labels, classes, s["batch_size"]),
    )
    return model, history, best_epoch
