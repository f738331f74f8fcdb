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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..runtime import UserError
from .facts import Backbone, ModelFacts, setting


@dataclass(frozen=True)
class Settings:
    weights: str | None = setting(
        "imagenet",
        "Backbone weights: imagenet (fetched once into resources/), null (random init) or "
        "the path of a weights file of VGG16 without its top.",
    )
    image_size: int = setting(
        128, "Side in pixels of the images the backbone sees.", minimum=32, maximum=1024
    )
    head: Literal["flatten", "gap"] = setting(
        "gap",
        "flatten: the reference's head (Flatten, BN, dense 256-128-64 with dropout); "
        "gap: global average pooling, dense 256, dropout.",
    )
    epochs: int = setting(
        30, "Most epochs of head training (early stopping on val_loss).", minimum=1
    )
    batch_size: int = setting(32, "Batch size.", minimum=1)
    learning_rate: float = setting(
        0.001,
        "Adam learning rate of the head (cut x 0.3 after 2 epochs without val accuracy gain).",
        exclusiveMinimum=0,
    )
    label_smoothing: float = setting(
        0.1, "Label smoothing of the cross-entropy.", minimum=0, maximum=0.5
    )
    patience: int = setting(
        8,
        "Epochs without val_loss improvement before early stopping; the best epoch's "
        "weights are kept.",
        minimum=1,
    )


FACTS = ModelFacts(
    name="vgg16",
    title="VGG16 (frozen) + head",
    env="tensorflow",
    model_file="model.keras",
    keras=True,
    reference_accuracy=0.91,
    settings=Settings,
    reference={"head": "flatten", "epochs": 15, "label_smoothing": 0.0, "patience": 5},
    # Keras' own copy of the ImageNet weights of VGG16 without its top (the classifier)
    frozen_features=Backbone(
        application="VGG16",
        preprocess="vgg16",
        weights_url="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_md5="6d6bbae143d832006294945121d1f1fc",
    ),
)
WEIGHTS_URL = FACTS.frozen_features.weights_url
WEIGHTS_MD5 = FACTS.frozen_features.weights_md5
FEATURE_BATCH = 16  # at 128 px a batch of 64 needs ~0.5 GB for block 1's activations alone
log = logging.getLogger(__name__)


def device(settings: dict, threads: int) -> str:
    from .keras_loop import device

    return device(settings, threads)


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
    if weights is None:
        log.warning(
            "VGG16 backbone with RANDOM weights (config key models.vgg16.weights: null, "
            "seed %d): its features are not ImageNet's, so this model's accuracy says "
            "nothing about the pretrained VGG16",
            seed,
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


def run_facts(settings: dict) -> dict:
    """What metrics.json records of this model beyond its settings: whether its backbone
    was random (``weights: null``), for the report to say so."""
    return {"random_backbone": settings["weights"] is None}


def head(feature_shape: tuple[int, ...], n_classes: int, kind: str = "flatten"):
    """The head on the backbone's feature maps: the reference study's, or global average
    pooling and one dense layer."""
    import keras
    from keras import layers

    if kind == "gap":
        return keras.Sequential(
            [
                keras.Input(feature_shape),
                layers.GlobalAveragePooling2D(),
                layers.Dense(256, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(n_classes, activation="softmax"),
            ],
            name="vgg16_head",
        )
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


def fit(train, val, settings: dict, threads: int, resume_dir):
    """The head on cached backbone features (``train.rows`` are features, not images):
    early stopping on val_loss keeping the best epoch, the learning rate cut on plateaus."""
    import keras

    from . import keras_loop

    s, classes = settings, settings["classes"]
    model = head(train.rows.row_shape, len(classes), s["head"])
    model.compile(
        optimizer=keras.optimizers.Adam(s["learning_rate"]),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s["label_smoothing"]),
        metrics=["accuracy"],
    )
    trainer = keras_loop.Trainer(
        model,
        s["epochs"],
        resume_dir,
        monitor="val_loss",
        patience=s["patience"],
        restore_best=True,
        plateau={"monitor": "val_accuracy", "patience": 2, "factor": 0.3},
        stop_after=s.get("final_epochs"),
    )
    history, best_epoch = trainer.fit(
        keras_loop.batches(
            train.rows, train.labels, classes, s["batch_size"], shuffle=True, seed=s["seed"]
        ),
        None
        if val is None
        else keras_loop.batches(val.rows, val.labels, classes, s["batch_size"]),
    )
    return model, history, best_epoch


def predict(model, x):
    """Class probabilities of a batch: of features for the head (training), of images for
    the saved model (predict)."""
    from .keras_loop import predict

    return predict(model, x)


predict_images = predict


def save(trained_head, path, settings) -> None:
    """Backbone and trained head as one model on RGB images."""
    import keras

    base = backbone(settings["image_size"], settings["weights"], settings["seed"])
    inputs = keras.Input(base.input_shape[1:], name="rgb")
    keras.Model(inputs, trained_head(base(inputs)), name="vgg16").save(path)


def load(path):
    import keras

    _preprocess_layer()  # registered before the model that uses it is read
    return keras.saving.load_model(path)


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
