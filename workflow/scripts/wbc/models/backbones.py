"""Frozen pre-trained backbones from ``keras.applications`` and a dense head on their
features: the code of every model whose facts declare a backbone
(``FACTS.frozen_features``, a ``wbc.models.facts.Backbone``), e.g. VGG16.

The backbone is frozen and sees no augmentation, so rule ``frozen_features`` runs it once
per split and backbone settings (``extract_features``) and the model's training rule fits
the head on those features: the same model as training on images, many times less work.
Rule ``backbone_weights`` fetches its ImageNet weights once (``wbc.models.weights``). The saved
model is backbone and head as one model on 0..255 RGB images (its preprocessing included).

``implementation(facts)`` is the model's code for ``wbc.models.get``; its settings are
those of ``facts/vgg16.py``'s ``Settings`` (weights, image_size, head, epochs,
batch_size, learning_rate, label_smoothing, patience).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ..arrays import row_batches, write_npy
from ..runtime import UserError
from . import keras_loop
from .facts import ModelFacts

log = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="wbc")
class BackbonePreprocess(keras.layers.Layer):
    """keras.applications.<module>.preprocess_input as a layer, so that a saved model
    takes plain 0..255 RGB and loads anywhere."""

    def __init__(self, module: str, **kwargs):
        super().__init__(**kwargs)
        self.module = module

    def call(self, inputs):
        app = importlib.import_module(f"keras.applications.{self.module}")
        return app.preprocess_input(keras.ops.cast(inputs, "float32"))

    def get_config(self):
        return {**super().get_config(), "module": self.module}


@keras.saving.register_keras_serializable(package="wbc")
class VGG16Preprocess(BackbonePreprocess):
    """The name VGG16's models were saved with before backbones were generic."""

    def __init__(self, module: str = "vgg16", **kwargs):
        super().__init__(module, **kwargs)


def build(
    facts: ModelFacts, size: int, weights: str | None, seed: int = 42, precision: str = "float32"
):
    """The frozen convolutional base of ``facts``' backbone, its preprocessing included.

    ``weights``: a weights file of the network without its top ('imagenet' reaches here
    as the file rule backbone_weights fetched), or None for random weights, which then
    depend on ``seed`` alone, so the features rule and the training rule (which saves the
    backbone) build the same one. ``precision`` (float32, bfloat16, auto): the base's
    arithmetic (``keras_loop.compute_dtype``); its variables and its output stay float32.
    """
    spec, key = facts.frozen_features, f"models.{facts.name}.weights"
    if weights is not None and not Path(weights).is_file():
        raise UserError(
            f"config key '{key}': {weights} is not a file; give a weights file, 'imagenet' or null"
        )
    if weights is None:
        log.warning(
            "%s backbone with RANDOM weights (config key %s: null, seed %d): its features "
            "are not ImageNet's, so this model's accuracy says nothing about the "
            "pretrained %s",
            spec.application,
            key,
            seed,
            spec.application,
        )
    keras.utils.set_random_seed(seed)
    application = getattr(keras.applications, spec.application)
    units = keras_loop.bfloat16_units()
    dtype = keras_loop.compute_dtype(precision, units)
    log.info(
        "%s backbone computes in %s (precision: %s; bfloat16 units: %s)",
        spec.application,
        dtype,
        precision,
        units or "none",
    )
    # the policy is global in Keras: set while the base's layers are made, then restored
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
    try:
        base = application(include_top=False, input_shape=(size, size, 3), weights=None)
    finally:
        keras.config.set_dtype_policy(policy)
    if weights is not None:
        try:
            base.load_weights(weights)
        except Exception as err:
            raise UserError(
                f"config key '{key}': cannot load {weights} into {spec.application} "
                f"without its top ({err}); give Keras' {spec.weights_file} or a file "
                f"saved with {spec.application}(include_top=False).save_weights()"
            ) from None
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="rgb")
    preprocess = BackbonePreprocess(spec.preprocess, name=f"{facts.name}_preprocess")
    outputs = base(preprocess(inputs), training=False)
    outputs = layers.Identity(dtype="float32", name=f"{facts.name}_features")(outputs)
    return keras.Model(inputs, outputs, name=f"{facts.name}_backbone")


def extract_features(facts: ModelFacts, images, settings: dict, out: str | Path) -> None:
    """The frozen backbone's output for every row of ``images``, written batch by batch."""
    base = build(
        facts,
        settings["image_size"],
        settings["weights"],
        settings["seed"],
        settings["precision"],
    )
    shape = (len(images), *base.output_shape[1:])
    batches = (
        np.asarray(base.predict_on_batch(x.astype(np.float32)))
        for x in row_batches(images, facts.frozen_features.batch)
    )
    write_npy(out, shape, np.float32, batches)


def head(feature_shape: tuple[int, ...], n_classes: int, kind: str = "flatten", name="head"):
    """The head on the backbone's feature maps: the reference study's (VGG16's: Flatten,
    BN, dense 256-128-64 with dropout), or global average pooling and one dense layer."""
    if kind == "gap":
        return keras.Sequential(
            [
                keras.Input(feature_shape),
                layers.GlobalAveragePooling2D(),
                layers.Dense(256, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(n_classes, activation="softmax"),
            ],
            name=name,
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
        name=name,
    )


class FrozenBackbone:
    """The code of a model with a frozen backbone (``wbc.models.get``'s interface): the
    head on cached backbone features, saved with its backbone."""

    def __init__(self, facts: ModelFacts):
        self.FACTS = facts

    device = staticmethod(keras_loop.device)
    # class probabilities of a batch: of features for the head (training), of images for
    # the saved model (predict)
    predict = staticmethod(keras_loop.predict)
    predict_images = staticmethod(keras_loop.predict)

    def fit(self, train, val, settings: dict, threads: int, resume_dir):
        """The head on cached backbone features (``train.rows`` are features, not images):
        early stopping on val_loss keeping the best epoch, the learning rate cut on
        plateaus."""
        s, classes = settings, settings["classes"]
        model = head(train.rows.row_shape, len(classes), s["head"], f"{self.FACTS.name}_head")
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

    def backbone(self, size: int, weights: str | None, seed: int = 42, precision: str = "float32"):
        return build(self.FACTS, size, weights, seed, precision)

    def extract_features(self, images, settings: dict, out: str | Path) -> None:
        """Rule frozen_features: the backbone's output for every row of ``images``."""
        extract_features(self.FACTS, images, settings, out)

    def save(self, trained_head, path, settings) -> None:
        """Backbone and trained head as one model on RGB images."""
        base = self.backbone(
            settings["image_size"],
            settings["weights"],
            settings["seed"],
            settings["precision"],
        )
        inputs = keras.Input(base.input_shape[1:], name="rgb")
        keras.Model(inputs, trained_head(base(inputs)), name=self.FACTS.name).save(path)

    @staticmethod
    def load(path):
        return keras.saving.load_model(path)


implementation = FrozenBackbone
