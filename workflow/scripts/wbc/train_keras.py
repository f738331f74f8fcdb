"""Training loop shared by the Keras rules: batches streamed from ``.npy`` rows, one log
line per epoch, history.tsv, and probabilities for the evaluated splits."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from . import CLASSES
from .arrays import NpyRows

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
log = logging.getLogger(__name__)


def one_hot(labels) -> np.ndarray:
    index = {c: i for i, c in enumerate(CLASSES)}
    out = np.zeros((len(labels), len(CLASSES)), np.float32)
    out[np.arange(len(labels)), [index[label] for label in labels]] = 1
    return out


def batches(rows: NpyRows, labels=None, batch_size=32, shuffle=False, seed=0):
    """A keras.utils.PyDataset over ``rows`` (reshuffled each epoch when ``shuffle``)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.targets = None if labels is None else one_hot(labels)
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
            x = rows.read(take).astype(np.float32)
            return x if self.targets is None else (x, self.targets[take])

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


def fit(model, train, val, epochs: int, callbacks=()) -> pd.DataFrame:
    """Fit and return the history table (HISTORY_COLUMNS)."""
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


def predict(model, rows: NpyRows, batch_size: int) -> np.ndarray:
    """Class probabilities of every row, in row order."""
    if len(rows) == 0:
        return np.zeros((0, len(CLASSES)), np.float32)
    out = []
    for i in range(0, len(rows), batch_size):
        x = rows.read(np.arange(i, min(i + batch_size, len(rows)))).astype(np.float32)
        out.append(np.asarray(model.predict_on_batch(x)))
    return np.concatenate(out)
