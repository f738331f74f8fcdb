"""What the Keras models share: TensorFlow set-up, batches streamed from ``.npy`` rows, the
training loop with one log line per epoch, and the history table.

Imported only by Keras models, in the TensorFlow env.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from ..arrays import NpyRows
from .training import one_hot

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
log = logging.getLogger(__name__)


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


def device(settings: dict, threads: int) -> str:
    """The model modules' ``device``: TensorFlow set up with the model's seed."""
    return configure_tensorflow(threads, settings["seed"], settings["deterministic"])


def batches(rows: NpyRows, labels, classes, batch_size: int, shuffle=False, seed=0):
    """A keras.utils.PyDataset of (x, one-hot y) over ``rows``, reshuffled each epoch when
    ``shuffle``; x is float32 in the rows' own scale (models scale their inputs)."""
    import keras

    targets = one_hot(labels, classes)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = np.arange(len(rows))
            self.on_epoch_end()

        def __len__(self):
            return -(-len(rows) // batch_size)

        def on_epoch_end(self):
            if shuffle:
                self.order = self.rng.permutation(len(rows))

        def __getitem__(self, i):
            take = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            return rows.read(take).astype(np.float32), targets[take]

    return Batches()


def log_epochs():
    """Keras' per-epoch figures as log lines (a rule's stdout is not its log)."""
    import keras

    class LogEpochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            figures = " ".join(f"{k}={v:.4g}" for k, v in (logs or {}).items())
            log.info("epoch %d: %.1f s %s", epoch + 1, time.perf_counter() - self.start, figures)

    return LogEpochs()


def early_stopping(patience: int):
    import keras

    return keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )


def reduce_lr_on_plateau(patience: int, factor: float):
    import keras

    return keras.callbacks.ReduceLROnPlateau(
        monitor="val_accuracy", patience=patience, factor=factor, min_lr=1e-6
    )


def fit(model, train, val, epochs: int, callbacks=()):
    """Fit and return the history table (HISTORY_COLUMNS) as a DataFrame."""
    import pandas as pd

    history = model.fit(
        train,
        validation_data=val,
        epochs=epochs,
        callbacks=[log_epochs(), *callbacks],
        verbose=0,
    )
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    if "learning_rate" not in table:  # added by Keras when a callback changes it
        table["learning_rate"] = float(np.asarray(model.optimizer.learning_rate))
    return table[list(HISTORY_COLUMNS)]


def predict(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a batch (the Keras models' ``predict``)."""
    return np.asarray(model.predict_on_batch(x.astype(np.float32)))


def save(model, path, settings) -> None:
    model.save(path)


def load(path):
    import keras

    return keras.saving.load_model(path)
