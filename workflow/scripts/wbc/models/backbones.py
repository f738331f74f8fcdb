"""Frozen pre-trained backbones from ``keras.applications``, for every model that declares
one (``FACTS.frozen_features``, a ``wbc.models.facts.Backbone``).

The backbone is frozen and sees no augmentation, so rule ``frozen_features`` runs it once
per split and backbone settings (``extract_features``) and the model's training rule fits
its head on those features: the same model as training on images, many times less work.
Rule ``backbone_weights`` fetches its ImageNet weights once (``fetch_weights``). The model
saves backbone and head as one model on 0..255 RGB images (``build``: its preprocessing
included).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import urllib.request
from pathlib import Path

from ..runtime import UserError
from .facts import ModelFacts

log = logging.getLogger(__name__)


def preprocess_layers():
    """The layer that applies a backbone's ``preprocess_input``, registered with Keras so
    that a saved model takes plain 0..255 RGB and loads anywhere (call before loading)."""
    import keras

    @keras.saving.register_keras_serializable(package="wbc")
    class BackbonePreprocess(keras.layers.Layer):
        """keras.applications.<module>.preprocess_input as a layer."""

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

    return BackbonePreprocess


def build(facts: ModelFacts, size: int, weights: str | None, seed: int = 42):
    """The frozen convolutional base of ``facts``' backbone, its preprocessing included.

    ``weights``: a weights file of the network without its top ('imagenet' reaches here
    as the file rule backbone_weights fetched), or None for random weights, which then
    depend on ``seed`` alone, so the features rule and the training rule (which saves the
    backbone) build the same one.
    """
    import keras

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
    preprocess = preprocess_layers()
    keras.utils.set_random_seed(seed)
    application = getattr(keras.applications, spec.application)
    base = application(include_top=False, input_shape=(size, size, 3), weights=None)
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
    layer = preprocess(spec.preprocess, name=f"{facts.name}_preprocess")
    outputs = base(layer(inputs), training=False)
    return keras.Model(inputs, outputs, name=f"{facts.name}_backbone")


def extract_features(facts: ModelFacts, images, settings: dict, out: str | Path) -> None:
    """The frozen backbone's output for every row of ``images``, written batch by batch."""
    import numpy as np

    from ..arrays import row_batches, write_npy

    base = build(facts, settings["image_size"], settings["weights"], settings["seed"])
    shape = (len(images), *base.output_shape[1:])
    batches = (
        np.asarray(base.predict_on_batch(x.astype(np.float32)))
        for x in row_batches(images, facts.frozen_features.batch)
    )
    write_npy(out, shape, np.float32, batches)


def with_backbone(facts: ModelFacts, head, settings: dict):
    """Backbone and trained ``head`` as one model on RGB images (what the model saves)."""
    import keras

    base = build(facts, settings["image_size"], settings["weights"], settings["seed"])
    inputs = keras.Input(base.input_shape[1:], name="rgb")
    return keras.Model(inputs, head(base(inputs)), name=facts.name)


def fetch_weights(
    dest: str | Path, facts: ModelFacts, url: str | None = None, timeout: float = 60
) -> Path:
    """Download the ImageNet weights of ``facts``' backbone (checked against the declared
    MD5 when the URL is the declared one) to ``dest``."""
    from ..io import atomic_path

    spec = facts.frozen_features
    url = url or spec.weights_url
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
                f"cannot download the {spec.application} ImageNet weights from {url} "
                f"({err}); download that file on a machine with internet and set config "
                f"key 'models.{facts.name}.weights' to its path, or set it to null "
                "(random init)"
            ) from None
        md5 = hashlib.md5(partial.read_bytes()).hexdigest()
        if url == spec.weights_url and spec.weights_md5 and md5 != spec.weights_md5:
            raise UserError(
                f"{url}: downloaded file has MD5 {md5}, expected {spec.weights_md5}; run again"
            )
    log.info("saved %s (%d bytes)", dest, dest.stat().st_size)
    return dest
