"""Frozen VGG16 convolutional base + the reference study's dense head.

The backbone is frozen and sees no augmentation, so rule ``vgg16_features`` runs it once
per split (``extract_features``) and the training rule fits the head on those features:
the same model as training on images, many times less work. The saved ``model.keras`` is
backbone and head as one model on 0..255 RGB images (its preprocessing included).
"""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from ..runtime import UserError
from . import keras_loop
from .facts import ModelFacts

FACTS = ModelFacts(
    name="vgg16",
    title="VGG16 (frozen) + head",
    env="tensorflow",
    model_file="model.keras",
    inputs="vgg16_features",
    keras=True,
    reference_accuracy=0.91,
    config={
        "weights": {
            "type": ["string", "null"],
            "default": "imagenet",
            "description": "Backbone weights: imagenet (fetched once into resources/), null "
            "(random init) or the path of a weights file of VGG16 without its top.",
        },
        "epochs": {
            "type": "integer",
            "minimum": 1,
            "default": 15,
            "description": "Most epochs of head training (early stopping on val_loss).",
        },
        "batch_size": {
            "type": "integer",
            "minimum": 1,
            "default": 32,
            "description": "Batch size of head training.",
        },
        "learning_rate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.001,
            "description": "Adam learning rate of the head.",
        },
        "patience": {
            "type": "integer",
            "minimum": 1,
            "default": 5,
            "description": "Epochs without val_loss improvement before early stopping.",
        },
    },
)
# Keras' own copy of the ImageNet weights of VGG16 without its top (the classifier)
WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"
FEATURE_BATCH = 16  # at 128 px a batch of 64 needs ~0.5 GB for block 1's activations alone
log = logging.getLogger(__name__)
device = keras_loop.device


def _preprocess_layer():
    """keras.applications.vgg16.preprocess_input as a registered layer (RGB->BGR, ImageNet
    mean subtracted), so the saved model takes plain 0..255 RGB and loads anywhere."""
    import keras

    @keras.saving.register_keras_serializable(package="wbc")
    class VGG16Preprocess(keras.layers.Layer):
        def call(self, inputs):
            from keras.applications.vgg16 import preprocess_input

            return preprocess_input(keras.ops.cast(inputs, "float32"))

    return VGG16Preprocess


def backbone(size: int, weights: str | None, seed: int = 42):
    """The frozen VGG16 convolutional base, its input preprocessing included.

    With ``weights=None`` the random initialisation depends on ``seed`` alone, so the
    features rule and the training rule (which saves the backbone) build the same one.
    """
    import keras

    if weights is not None and not Path(weights).is_file():
        raise UserError(
            f"config key 'models.vgg16.weights': {weights} is not a file; give a "
            "weights file, 'imagenet' or null"
        )
    preprocess = _preprocess_layer()
    keras.utils.set_random_seed(seed)
    base = keras.applications.VGG16(include_top=False, input_shape=(size, size, 3), weights=None)
    if weights is not None:  # 'imagenet' reaches here as the file rule vgg16_weights fetched
        try:
            base.load_weights(weights)
        except Exception as err:
            raise UserError(
                f"config key 'models.vgg16.weights': cannot load {weights} into VGG16 "
                f"without its top ({err}); give Keras' "
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 or a file saved "
                "with VGG16(include_top=False).save_weights()"
            ) from None
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="rgb")
    outputs = base(preprocess(name="vgg16_preprocess")(inputs), training=False)
    return keras.Model(inputs, outputs, name="vgg16_backbone")


def head(feature_shape: tuple[int, ...], n_classes: int):
    """The reference study's head on the backbone's feature maps."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(feature_shape),
            layers.Flatten(),
            layers.BatchNormalization(),
            layers.Dense(256, activation="relu"),
            layers.Dropout(0.7),
            layers.BatchNormalization(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="vgg16_head",
    )


def extract_features(images, settings: dict, out: str | Path) -> None:
    """The frozen backbone's output for every row of ``images``, written batch by batch."""
    import numpy as np

    from ..arrays import row_batches, write_npy

    base = backbone(settings["image_size"], settings["weights"], settings["seed"])
    shape = (len(images), *base.output_shape[1:])
    batches = (
        np.asarray(base.predict_on_batch(x.astype(np.float32)))
        for x in row_batches(images, FEATURE_BATCH)
    )
    write_npy(out, shape, np.float32, batches)


def fit(train, val, settings: dict, threads: int):
    """The head on cached backbone features (``train.rows`` are features, not images)."""
    import keras

    classes, batch = settings["classes"], settings["batch_size"]
    model = head(train.rows.row_shape, len(classes))
    model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
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
        [
            keras_loop.early_stopping(settings["patience"]),
            keras_loop.reduce_lr_on_plateau(patience=2, factor=0.3),
        ],
    )
    return model, history


predict = keras_loop.predict  # the head, on a batch of features
predict_images = keras_loop.predict  # the saved model, on a batch of images


def save(trained_head, path, settings) -> None:
    """Backbone and trained head as one model on RGB images."""
    import keras

    base = backbone(settings["image_size"], settings["weights"], settings["seed"])
    inputs = keras.Input(base.input_shape[1:], name="rgb")
    keras.Model(inputs, trained_head(base(inputs)), name="vgg16").save(path)


def load(path):
    _preprocess_layer()  # registered before the model that uses it is read
    return keras_loop.load(path)


def fetch_weights(dest: str | Path, url: str = WEIGHTS_URL, timeout: float = 60) -> Path:
    """Download the ImageNet weights (checked against Keras' MD5) to ``dest``."""
    from ..io import atomic_path

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    with atomic_path(dest) as partial:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                with open(partial, "wb") as fh:
                    while chunk := response.read(1 << 20):
                        fh.write(chunk)
        except OSError as err:  # URLError, timeouts and refused connections are OSErrors
            raise UserError(
                f"cannot download the VGG16 ImageNet weights from {url} ({err}); download "
                "that file on a machine with internet and set config key "
                "'models.vgg16.weights' to its path, or set it to null (random init)"
            ) from None
        md5 = hashlib.md5(partial.read_bytes()).hexdigest()
        if url == WEIGHTS_URL and md5 != WEIGHTS_MD5:
            raise UserError(
                f"{url}: downloaded file has MD5 {md5}, expected {WEIGHTS_MD5}; run again"
            )
    log.info("saved %s (%d bytes)", dest, dest.stat().st_size)
    return dest
