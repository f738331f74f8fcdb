"""What the Keras models share: TensorFlow set-up, batches streamed from ``.npy`` rows
(augmented on the fly where a recipe asks), and one training loop that logs an epoch a
line, keeps the best epoch on val, and resumes after an interruption.

Every random choice of an epoch (the order of the images, their augmentation, the
dropout masks) is a function of the seed and the epoch's number, and the loop saves its
whole state after every epoch: a run killed after epoch n and rerun goes on from epoch n+1
and ends with the weights an uninterrupted run ends with.

Imported only by Keras models, in the TensorFlow env.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ..arrays import NpyRows
from ..runtime import native_output_to_log
from .training import one_hot

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
log = logging.getLogger(__name__)


def configure_tensorflow(threads: int, seed: int, deterministic: bool) -> str:
    """Thread pools, seeds and determinism, set before any op runs; returns the device
    the rule will use (a GPU when TensorFlow sees one)."""
    with native_output_to_log():  # TensorFlow's device lines go to the rule's log
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


def bfloat16_units(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """Where this machine computes bfloat16 natively ("GPU (compute capability 8.0)",
    "CPU avx512_bf16"), or None: elsewhere bfloat16 is emulated and slower than float32."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0)
        )
        return (
            f"GPU (compute capability {capability[0]}.{capability[1]})"
            if capability >= (8, 0)
            else None
        )
    try:
        flags = next(
            (
                line.split(":", 1)[1].split()
                for line in Path(cpuinfo).read_text().splitlines()
                if line.startswith("flags")
            ),
            [],
        )
    except OSError:  # not Linux: no cheap way to know, so float32
        return None
    native = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    return f"CPU {native[0]}" if native else None


def compute_dtype(precision: str, units: str | None) -> str:
    """The dtype a setting ``precision`` (float32, bfloat16, auto) computes in on a
    machine whose bfloat16 units are ``units`` (``bfloat16_units()``)."""
    if precision != "auto":
        return precision
    return "bfloat16" if units else "float32"


def device(settings: dict, threads: int) -> str:
    """The model modules' ``device``: TensorFlow set up with the model's seed."""
    return configure_tensorflow(threads, settings["seed"], settings["deterministic"])


# --- data -----------------------------------------------------------------------------


def augment(x: np.ndarray, rng: np.random.Generator, shift: float, jitter: float) -> np.ndarray:
    """Random flips and 90° turns (a cell has no up or left), shifts of up to ``shift`` of
    the side with black fill (as Kaggle's augmented copies have), and a brightness and
    per-channel stain jitter of up to ``jitter``; uint8-range float32 in and out."""
    n, size = len(x), x.shape[1]
    out = np.empty_like(x)
    for i in range(n):
        image = np.rot90(x[i], k=int(rng.integers(4)))
        if rng.random() < 0.5:
            image = image[:, ::-1]
        if shift:
            limit = int(round(shift * size))
            dy, dx = rng.integers(-limit, limit + 1, size=2)
            moved = np.zeros_like(image)
            ys, yd = (
                (slice(0, size - dy), slice(dy, size))
                if dy >= 0
                else (slice(-dy, size), slice(0, size + dy))
            )
            xs, xd = (
                (slice(0, size - dx), slice(dx, size))
                if dx >= 0
                else (slice(-dx, size), slice(0, size + dx))
            )
            moved[yd, xd] = image[ys, xs]
            image = moved
        out[i] = image
    if jitter:
        scale = 1 + rng.uniform(-jitter, jitter, size=(n, 1, 1, 1))
        stain = 1 + rng.uniform(-jitter / 2, jitter / 2, size=(n, 1, 1, 3))
        out = np.clip(out * scale * stain, 0, 255)
    return out


def cell_balanced(labels, groups) -> np.ndarray:
    """Probabilities of drawing each row: each class alike, each source cell of a class
    alike, each copy of a cell alike (Kaggle made 5 to 310 copies per cell, so plain
    shuffling lets a few cells outweigh the rest)."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    p = np.zeros(len(labels))
    for label in np.unique(labels):
        in_class = labels == label
        cells, copies = np.unique(groups[in_class], return_counts=True)
        share = dict(zip(cells, 1 / (len(cells) * copies), strict=True))
        p[in_class] = [share[g] for g in groups[in_class]]
    return p / p.sum()


def batches(
    rows: NpyRows,
    labels,
    classes,
    batch_size: int,
    shuffle=False,
    seed=0,
    aug=None,
    p=None,
    mixup=0.0,
):
    """A keras.utils.PyDataset of (x, one-hot y) over ``rows``; x is float32 in the rows'
    own scale (models scale their inputs). With ``shuffle``, epoch e's order is a function
    of (seed, e), set by ``set_epoch`` (the training loop calls it); with ``p`` (row
    probabilities, e.g. ``cell_balanced``) an epoch draws as many rows with replacement
    instead; ``aug``: the keyword arguments of ``augment``, drawn per (seed, epoch, batch);
    ``mixup``: a > 0 blends each image and its label with another of its batch, weights
    from Beta(a, a) (Zhang et al. 2018), drawn per (seed, epoch, batch) as well."""
    targets = one_hot(labels, classes)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            n = len(rows)
            rng = np.random.default_rng([seed, epoch])
            if p is not None:
                self.order = rng.choice(n, size=n, p=p)
            else:
                self.order = rng.permutation(n) if shuffle else np.arange(n)

        def __len__(self):
            return -(-len(rows) // batch_size)

        def __getitem__(self, i):
            take = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            x = rows.read(take).astype(np.float32)
            if aug:
                x = augment(x, np.random.default_rng([seed, self.epoch, i, 1]), **aug)
            y = targets[take]
            if mixup:
                rng = np.random.default_rng([seed, self.epoch, i, 2])
                lam = rng.beta(mixup, mixup, size=len(take)).astype(np.float32)
                partner = rng.permutation(len(take))
                x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
                y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
            return x, y

    return Batches()


# --- the training loop -----------------------------------------------------------------


def _seed_states(model) -> list:
    """The random generators' states (dropout masks): Keras does not save them with the
    weights, so a resumed run restores them itself."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


class Trainer:
    """Fit with a per-epoch log line, the best epoch kept, early stopping, a learning-rate
    schedule, and a checkpoint in ``resume_dir`` after every epoch (removed at the end).

    ``monitor``: the val figure that picks the best epoch and early stopping ("val_loss" or
    "val_accuracy"); ``patience``: epochs without improvement before stopping (None: run
    every epoch); ``restore_best``: end with the best epoch's weights (else the last);
    ``plateau``: {"monitor", "patience", "factor"} to cut the learning rate when a val figure
    stalls; ``cosine``: decay the learning rate to 0 along a half cosine over the epochs;
    ``stop_after``: end after this many epochs (the count cross-validation chose), the
    schedule still that of ``epochs``. Without val (``fit(train, None)``: the final model
    of a cross-validation) nothing looks at val: no early stopping, best epoch or plateau.
    """

    def __init__(
        self,
        model,
        epochs,
        resume_dir,
        monitor="val_loss",
        patience=None,
        restore_best=True,
        plateau=None,
        cosine=False,
        stop_after=None,
    ):
        self.model, self.epochs, self.dir = model, epochs, Path(resume_dir)
        self.monitor, self.patience, self.restore_best = monitor, patience, restore_best
        self.plateau, self.cosine, self.stop_after = plateau, cosine, stop_after
        self.state = {
            "epoch": 0,
            "history": [],
            "best": None,
            "best_epoch": 0,
            "wait": 0,
            "plateau_best": None,
            "plateau_wait": 0,
        }

    def better(self, value, best, monitor) -> bool:
        if best is None:
            return True
        return value < best if monitor.endswith("loss") else value > best

    def learning_rate(self):
        return float(np.asarray(self.model.optimizer.learning_rate))

    # checkpoint: weights (optimizer included), best weights, random states, counters
    def save(self, improved: bool) -> None:
        partial = self.dir.with_name(self.dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.model.save_weights(partial / "last.weights.h5")
        best = self.dir / "best.weights.h5"
        if improved:
            self.model.save_weights(partial / "best.weights.h5")
        elif best.exists():
            shutil.copy2(best, partial / "best.weights.h5")
        seeds = [np.asarray(v).tolist() for v in _seed_states(self.model)]
        state = {**self.state, "seeds": seeds, "learning_rate": self.learning_rate()}
        (partial / "state.json").write_text(json.dumps(state))
        # swap in the new checkpoint: at every moment a whole one exists (or .old does)
        old = self.dir.with_name(self.dir.name + ".old")
        if self.dir.exists():
            self.dir.rename(old)
        partial.rename(self.dir)
        shutil.rmtree(old, ignore_errors=True)

    def load(self) -> int:
        """Restore the last checkpoint, if any; returns the epoch to start from."""
        old = self.dir.with_name(self.dir.name + ".old")
        if not self.dir.exists() and old.exists():  # killed mid-swap
            old.rename(self.dir)
        state_file = self.dir / "state.json"
        if not state_file.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
            return 0
        state = json.loads(state_file.read_text())
        self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.dir / "last.weights.h5")
        for variable, value in zip(_seed_states(self.model), state.pop("seeds"), strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        self.model.optimizer.learning_rate.assign(state.pop("learning_rate"))
        self.state = state
        return state["epoch"]

    def fit(self, train, val):
        if val is None:  # nothing to choose by: a fixed count of epochs, the last kept
            self.patience, self.restore_best, self.plateau = None, False, None
        start_epoch = self.load()
        if start_epoch:
            log.info(
                "resuming from epoch %d of %d (checkpoint %s)",
                start_epoch + 1,
                self.epochs,
                self.dir,
            )
        base_rate = self.learning_rate() if not start_epoch else None

        # Our own loop of train_on_batch, not model.fit: fit streams the batches through
        # tf.data.from_generator, which on 2 cores left the CNN's steps waiting (about
        # half the speed, docs/benchmarks.md "The training loop"), and shuffled the
        # batch order once more with Python's random, outside the epoch's seed.
        for epoch in range(start_epoch, self.epochs):
            if self.state.get("stopped"):
                break
            start = time.perf_counter()
            train.set_epoch(epoch)
            if self.cosine:
                rate = 0.5 * self.state.setdefault("base_rate", base_rate)
                rate *= 1 + np.cos(np.pi * epoch / self.epochs)
                self.model.optimizer.learning_rate.assign(rate)
            logs = run_epoch(self.model, train, training=True)
            if val is not None:
                figures = run_epoch(self.model, val, training=False)
                logs |= {f"val_{k}": v for k, v in figures.items()}
            self.end_epoch(epoch, logs, time.perf_counter() - start)
        best = self.dir / "best.weights.h5"
        if self.restore_best and best.exists():
            self.model.load_weights(best)
            log.info(
                "kept epoch %d, the best on %s (%.4g)",
                self.state["best_epoch"],
                self.monitor,
                self.state["best"],
            )
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.history(), (
            self.state["best_epoch"] if self.restore_best else len(self.state["history"])
        )

    def end_epoch(self, epoch: int, logs: dict, seconds: float) -> None:
        state = self.state
        row = {
            "epoch": epoch + 1,
            **{k: float(logs.get(k, np.nan)) for k in HISTORY_COLUMNS[1:-1]},
            "learning_rate": self.learning_rate(),
            "seconds": round(seconds, 1),
        }
        state["history"].append(row)
        value = row[self.monitor]
        improved = self.better(value, state["best"], self.monitor)
        if improved:
            state["best"], state["best_epoch"], state["wait"] = value, epoch + 1, 0
        else:
            state["wait"] += 1
        if self.plateau:
            figure = row[self.plateau["monitor"]]
            if self.better(figure, state["plateau_best"], self.plateau["monitor"]):
                state["plateau_best"], state["plateau_wait"] = figure, 0
            else:
                state["plateau_wait"] += 1
                if state["plateau_wait"] >= self.plateau["patience"]:
                    new = max(self.learning_rate() * self.plateau["factor"], 1e-6)
                    self.model.optimizer.learning_rate.assign(new)
                    state["plateau_wait"] = 0
                    log.info("learning rate lowered to %.3g", new)
        state["epoch"] = epoch + 1
        if self.patience is not None and state["wait"] >= self.patience:
            state["stopped"] = True
        if self.stop_after is not None and epoch + 1 >= self.stop_after:
            state["stopped"] = "chosen"
        self.save(improved)
        left = (self.epochs - epoch - 1) * np.mean([r["seconds"] for r in state["history"]])
        figures = " ".join(  # without val (a final model) there are no val figures to show
            f"{k}={row[k]:.4g}" for k in HISTORY_COLUMNS[1:] if not np.isnan(row[k])
        )
        ending = (
            "; stopping: the epoch count cross-validation chose"
            if state.get("stopped") == "chosen"
            else "; stopping early: no val improvement"
            if state.get("stopped")
            else f"; about {left / 60:.0f} min left"
            if left >= 90
            else f"; about {left:.0f} s left"
        )
        log.info("epoch %d/%d: %.1f s %s%s", epoch + 1, self.epochs, seconds, figures, ending)

    def history(self):
        return pd.DataFrame(self.state["history"], columns=[*HISTORY_COLUMNS, "seconds"])[
            list(HISTORY_COLUMNS)
        ]


def run_epoch(model, batches, training: bool) -> dict:
    """One pass over ``batches`` (training, or evaluating val): the loss and metrics over
    the pass, each batch weighted by its images, as ``model.fit`` logs an epoch."""
    step = model.train_on_batch if training else model.test_on_batch
    totals, seen = {}, 0
    for i in range(len(batches)):
        x, y = batches[i]
        for name, value in step(x, y, return_dict=True).items():  # this batch's figures
            totals[name] = totals.get(name, 0.0) + float(value) * len(x)
        seen += len(x)
    return {name: total / seen for name, total in totals.items()}


def predict(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a batch (the Keras models' ``predict``)."""
    return np.asarray(model.predict_on_batch(x.astype(np.float32)))
