"""The custom CNN: five 3x3 convolutions with batch norm and max pooling, then a dense head.

Recipe ``reference`` is the reference study's network and training, kept exactly (Flatten
into two dense layers of 1024, 36.8 M parameters at 128 px; plain SGD, 10 epochs, the last
epoch kept). Recipe ``improved`` is what won on val grouped by source cell
(docs/benchmarks.md, "Recipes"). The network takes RGB pixels in 0..255 and scales them
itself, so a saved ``model.keras`` classifies resized crops as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .facts import ModelFacts, setting


@dataclass(frozen=True)
class Settings:
    image_size: int = setting(
        64, "Side in pixels of the images the network sees.", minimum=16, maximum=1024
    )
    width: float = setting(
        0.5, "Multiplier of the filters (64, 128, 256, 256, 512 at 1).", exclusiveMinimum=0
    )
    head: Literal["flatten", "gap"] = setting(
        "gap",
        "flatten: the reference's Flatten + two dense layers; "
        "gap: global average pooling + one dense layer.",
    )
    dense_units: int = setting(256, "Units of each dense layer of the head.", minimum=1)
    epochs: int = setting(15, "Training epochs.", minimum=1)
    batch_size: int = setting(32, "Batch size.", minimum=1)
    optimizer: Literal["sgd", "adam"] = setting("adam", "sgd (with momentum) or adam.")
    learning_rate: float = setting(
        0.001, "Learning rate (the start of the schedule).", exclusiveMinimum=0
    )
    momentum: float = setting(
        0.0,
        "SGD momentum (0: plain SGD, the reference's).",
        minimum=0,
        exclusiveMaximum=1,
    )
    schedule: Literal["constant", "cosine"] = setting(
        "cosine", "Learning rate: constant, or a half cosine to 0."
    )
    label_smoothing: float = setting(
        0.1, "Label smoothing of the cross-entropy.", minimum=0, maximum=0.5
    )
    # on: grouped val 0.842 against 0.886 off (docs/benchmarks.md)
    augment: bool = setting(
        False,
        "Random flips, 90° turns, shifts and stain jitter of the training batches "
        "(never of val or test).",
    )
    restore_best: bool = setting(
        True, "Keep the epoch with the best val accuracy (else the last)."
    )
    patience: int | None = setting(
        None, "Stop after this many epochs without val improvement (null: never).", minimum=1
    )


FACTS = ModelFacts(
    name="cnn",
    title="custom CNN",
    env="tensorflow",
    model_file="model.keras",
    keras=True,
    reference_accuracy=0.965,
    settings=Settings,
    reference={
        "image_size": 128,
        "width": 1.0,
        "head": "flatten",
        "dense_units": 1024,
        "epochs": 10,
        "optimizer": "sgd",
        "schedule": "constant",
        "label_smoothing": 0.0,
        "restore_best": False,
    },
)
AUGMENT = {"shift": 0.1, "jitter": 0.1}
# TensorFlow and numpy are imported inside the functions: the Snakefile reads FACTS


def device(settings: dict, threads: int) -> str:
    from .keras_loop import device

    return device(settings, threads)


def predict(model, x):
    from .keras_loop import predict

    return predict(model, x)


predict_images = predict


def save(model, path, settings) -> None:
    model.save(path)


def load(path):
    import keras

    return keras.saving.load_model(path)


def build(size: int, n_classes: int, width: float = 1.0, head: str = "flatten", units=1024):
    """The network (reference settings: 36,755,076 parameters at 128 x 128, 4 classes)."""
    import keras
    from keras import layers

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
    import keras

    from . import keras_loop

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
        ),
        None
        if val is None
        else keras_loop.batches(val.rows, val.labels, classes, s["batch_size"]),
    )
    return model, history, best_epoch
