"""The reference study's custom CNN: five convolutions with batch norm, two dense layers.

It takes RGB pixels in 0..255 and scales them itself, so a saved ``model.keras``
classifies resized crops as they are.
"""

from __future__ import annotations

from . import keras_loop
from .facts import ModelFacts

FACTS = ModelFacts(
    name="cnn",
    title="custom CNN",
    env="tensorflow",
    model_file="model.keras",
    keras=True,
    reference_accuracy=0.965,
    config={
        "epochs": {
            "type": "integer",
            "minimum": 1,
            "default": 10,
            "description": "Training epochs of the custom CNN.",
        },
        "batch_size": {
            "type": "integer",
            "minimum": 1,
            "default": 32,
            "description": "Batch size of the custom CNN.",
        },
        "learning_rate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.001,
            "description": "SGD learning rate of the custom CNN.",
        },
        "momentum": {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1,
            "default": 0.0,
            "description": "SGD momentum of the custom CNN "
            "(0, the reference study's, is plain SGD).",
        },
    },
)
device = keras_loop.device
predict = predict_images = keras_loop.predict
save, load = keras_loop.save, keras_loop.load


def build(size: int, n_classes: int):
    """The reference architecture (36,755,076 parameters at 128 x 128, 4 classes)."""
    import keras
    from keras import layers

    def conv(filters):
        return [
            layers.Conv2D(filters, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
        ]

    pool = layers.MaxPooling2D
    return keras.Sequential(
        [
            keras.Input((size, size, 3), name="rgb"),
            layers.Rescaling(1 / 127.5, offset=-1),  # 0..255 -> -1..1
            *conv(64), pool(2),
            *conv(128), pool(2),
            *conv(256), *conv(256), pool(2),
            *conv(512), pool(2),
            layers.Flatten(),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(1024, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="cnn",
    )  # fmt: skip


def fit(train, val, settings: dict, threads: int):
    import keras

    classes, batch = settings["classes"], settings["batch_size"]
    model = build(settings["image_size"], len(classes))
    model.compile(
        optimizer=keras.optimizers.SGD(settings["learning_rate"], momentum=settings["momentum"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = keras_loop.fit(
        model,
        keras_loop.batches(
            train.rows, train.labels, classes, batch, shuffle=True, seed=settings["seed"]
        ),
        keras_loop.batches(val.rows, val.labels, classes, batch),
        settings["epochs"],
    )
    return model, history
