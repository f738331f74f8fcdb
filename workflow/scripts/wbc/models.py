"""The three classifiers: Random Forest on pixels, frozen VGG16 + dense head, custom CNN.

Keras models take RGB pixels in 0..255 and carry their own input scaling, so a saved
``.keras`` file classifies resized crops as they are (rule predict).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import CLASSES
from .runtime import UserError

# Keras' own copy of the ImageNet weights of VGG16 without its top (the classifier)
VGG16_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
    "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
VGG16_WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"
log = logging.getLogger(__name__)


def build_rf(n_estimators: int, seed: int, threads: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators, random_state=seed, n_jobs=threads
    )


def configure_tensorflow(threads: int, seed: int, deterministic: bool) -> str:
    """Thread pools, seeds and determinism, set before any op runs; returns the device
    the rule will use (a GPU when TensorFlow sees one)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        device = f"GPU:0 ({details.get('device_name', 'unknown')})"
    else:
        device = f"CPU ({threads} threads)"
    log.info("TensorFlow %s on %s; deterministic ops: %s", tf.__version__, device, deterministic)
    return device


def _keras():
    import keras

    @keras.saving.register_keras_serializable(package="wbc")
    class VGG16Preprocess(keras.layers.Layer):
        """keras.applications.vgg16.preprocess_input as a layer (RGB->BGR, ImageNet
        mean subtracted), so the saved model takes plain 0..255 RGB."""

        def call(self, inputs):
            from keras.applications.vgg16 import preprocess_input

            return preprocess_input(keras.ops.cast(inputs, "float32"))

    return keras, VGG16Preprocess


def vgg16_backbone(size: int, weights: str | None, seed: int = 42):
    """The frozen VGG16 convolutional base, its input preprocessing included.

    With ``weights=None`` the random initialisation depends on ``seed`` alone, so the
    features rule and the training rule (which saves the backbone) build the same one.
    """
    keras, VGG16Preprocess = _keras()
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise UserError(
            f"config key 'models.vgg16.weights': {weights} is not a file; give a "
            "weights file, 'imagenet' or null"
        )
    keras.utils.set_random_seed(seed)
    base = keras.applications.VGG16(
        include_top=False, input_shape=(size, size, 3), weights=None
    )
    if weights is not None:
        # 'imagenet' reaches here as the file rule vgg16_weights fetched
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
    outputs = base(VGG16Preprocess(name="vgg16_preprocess")(inputs), training=False)
    return keras.Model(inputs, outputs, name="vgg16_backbone")


def vgg16_head(feature_shape: tuple[int, ...]):
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
            layers.Dense(len(CLASSES), activation="softmax"),
        ],
        name="vgg16_head",
    )


def vgg16_full(backbone, head):
    """Backbone and trained head as one model on RGB images."""
    import keras

    inputs = keras.Input(backbone.input_shape[1:], name="rgb")
    return keras.Model(inputs, head(backbone(inputs)), name="vgg16")


def cnn(size: int):
    """The reference study's 5-conv CNN (36,755,076 parameters at 128 x 128)."""
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
            layers.Dense(len(CLASSES), activation="softmax"),
        ],
        name="cnn",
    )  # fmt: skip


def load_model(path: str | Path):
    """A saved Keras model or a joblib Random Forest."""
    path = Path(path)
    if path.suffix == ".keras":
        keras, _ = _keras()  # registers VGG16Preprocess
        return keras.saving.load_model(path)
    import joblib

    return joblib.load(path)


def fetch_vgg16_weights(dest: str | Path, url: str = VGG16_WEIGHTS_URL, timeout: float = 60) -> Path:
    """Download the ImageNet weights (checked against Keras' MD5) to ``dest``."""
    import hashlib
    import urllib.request

    dest = Path(dest)
    partial = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as fh:
            while chunk := response.read(1 << 20):
                fh.write(chunk)
    except OSError as err:  # URLError, timeouts and refused connections are OSErrors
        partial.unlink(missing_ok=True)
        raise UserError(
            f"cannot download the VGG16 ImageNet weights from {url} ({err}); download "
            f"that file on a machine with internet and set config key "
            "'models.vgg16.weights' to its path, or set it to null (random init)"
        ) from None
    md5 = hashlib.md5(partial.read_bytes()).hexdigest()
    if url == VGG16_WEIGHTS_URL and md5 != VGG16_WEIGHTS_MD5:
        partial.unlink()
        raise UserError(f"{url}: downloaded file has MD5 {md5}, expected {VGG16_WEIGHTS_MD5}; run again")
    partial.replace(dest)
    log.info("saved %s (%d bytes)", dest, dest.stat().st_size)
    return dest
