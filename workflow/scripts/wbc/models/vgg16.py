"""Frozen VGG16 convolutional base + the reference study's dense head.

The backbone is declared in ``FACTS.frozen_features``: rules ``backbone_weights`` and
``frozen_features`` fetch its weights and compute its features once per split
(``wbc.models.backbones``), and the training rule fits the head on those features. The
saved ``model.keras`` is backbone and head as one model on 0..255 RGB images (its
preprocessing included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def device(settings: dict, threads: int) -> str:
    from .keras_loop import device

    return device(settings, threads)


def backbone(size: int, weights: str | None, seed: int = 42):
    """The frozen VGG16 convolutional base, its input preprocessing included."""
    from . import backbones

    return backbones.build(FACTS, size, weights, seed)


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
    from .backbones import with_backbone

    with_backbone(FACTS, trained_head, settings).save(path)


def load(path):
    import keras

    from .backbones import preprocess_layers

    preprocess_layers()  # registered before the model that uses it is read
    return keras.saving.load_model(path)
