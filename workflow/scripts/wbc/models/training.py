"""What every training rule does, whatever the model: read the split files and their
arrays, fit on train (tuning on val), score every evaluated split, and write the model,
``metrics.json``, ``predictions.tsv`` (and ``history.tsv`` for models that have one).

With cross-validation (config key ``split.folds`` >= 2) a model is trained once per fold
(``train_fold``: on the other folds' cells, any early stopping on an inner grouped split
of those cells, scored on the fold's held-out cells), then once on all of TRAIN for the
epochs the folds chose (``train_model`` with ``folds``), which pools the folds' held-out
predictions into split ``cv``."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import EVAL_SPLITS
from ..arrays import NpyRows, predict_rows
from ..io import atomic_path, read_json, read_tsv, write_json, write_table
from ..metrics import evaluate, predictions_frame, read_predictions, write_predictions
from ..runtime import UserError
from ..splits import grouped_split
from . import get, uses_val

log = logging.getLogger(__name__)
PREDICT_BATCH = 64  # images scored at a time (memory, not speed, sets it)


class Split:
    """A split file and its array (row i of the array is row i of the file)."""

    def __init__(self, name: str, table: str | Path, array: str | Path):
        self.name = name
        rows = read_tsv(table)
        self.images = [r["image"] for r in rows]
        self.labels = [r["label"] for r in rows]
        self.groups = [r["group"] for r in rows]  # source cells: what the bootstrap resamples
        self.rows = NpyRows(array)
        if len(self.rows) != len(rows):
            raise UserError(
                f"{array} has {len(self.rows)} rows but {table} has {len(rows)}: "
                "rebuild it (snakemake --forcerun training_arrays)"
            )

    def __len__(self) -> int:
        return len(self.images)


class PickedRows:
    """Chosen rows of several arrays, in a chosen order (a fold's share of TRAIN, whose
    images are in the train and val arrays): what NpyRows offers a model."""

    def __init__(self, parts: list, picks):
        self.parts = parts
        self.picks = np.asarray(picks, dtype=np.int64).reshape(-1, 2)  # (part, row)
        self.row_shape, self.dtype = parts[0].row_shape, parts[0].dtype

    def __len__(self) -> int:
        return len(self.picks)

    def read(self, indices) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), *self.row_shape), self.dtype)
        for p, part in enumerate(self.parts):
            here = self.picks[indices, 0] == p
            if here.any():
                out[here] = part.read(self.picks[indices[here], 1])
        return out


def pick(name: str, sources: list[Split], images: list[str]) -> Split:
    """A split of the rows of ``sources`` named by ``images``, in that order."""
    where = {image: (p, i) for p, s in enumerate(sources) for i, image in enumerate(s.images)}
    try:
        picks = [where[image] for image in images]
    except KeyError as err:
        raise UserError(
            f"{err.args[0]} is in results/splits/folds.tsv but in neither train.tsv nor "
            "val.tsv: remake the folds (snakemake --forcerun folds)"
        ) from None
    split = Split.__new__(Split)
    split.name, split.images = name, list(images)
    split.labels = [sources[p].labels[i] for p, i in picks]
    split.groups = [sources[p].groups[i] for p, i in picks]
    split.rows = PickedRows([s.rows for s in sources], picks)
    return split


def run_facts(model_module, settings: dict) -> dict:
    """What metrics.json records of a model beyond its settings: for a frozen backbone,
    whether it was random (``weights: null``), for the report to say so; and whatever
    the module's own ``run_facts(settings)`` adds, where it has one."""
    found = {}
    if model_module.FACTS.frozen_features is not None:
        found["random_backbone"] = settings["weights"] is None
    if hasattr(model_module, "run_facts"):
        found.update(model_module.run_facts(settings))
    return found


def load_splits(tables: dict, arrays: dict) -> dict[str, Split]:
    """The splits by name; every class of train must also be in val, and vice versa."""
    splits = {name: Split(name, tables[name], arrays[name]) for name in tables}
    classes = class_list(splits)
    for name, change in (("train", "lower"), ("val", "raise")):
        missing = sorted(set(classes) - set(splits[name].labels))
        if missing:
            raise UserError(
                f"the {name} split has no images of {', '.join(missing)}: add images "
                f"of that class or {change} config key 'split.val_fraction'"
            )
    return splits


def class_list(splits: dict[str, Split]) -> list[str]:
    """The classes the model learns: those of the training images, sorted."""
    return sorted(set(splits["train"].labels) | set(splits["val"].labels))


def provenance(given: dict, scriptdir) -> dict:
    """What a model's metrics.json records of where it came from: ``given`` (the data
    source) and the workflow's git commit (with "-dirty" for uncommitted changes), read
    when the job runs so that a new commit retrains nothing."""

    def git(*args):
        proc = subprocess.run(
            ["git", "-C", str(scriptdir), *args], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no", "--", "."):
        commit += "-dirty"
    return {**given, "workflow_commit": commit}


def train_model(
    name: str,
    family: str,
    tables: dict,
    arrays: dict,
    settings: dict,
    threads: int,
    out,
    provenance: dict | None = None,
    folds: dict | None = None,
    resume_dir: str | Path | None = None,
):
    """Train model ``name`` (an instance of registry model ``family``) and write its
    artefacts; returns its metrics. A Keras model keeps a checkpoint after every epoch in
    ``resume_dir`` (default: ``.resume`` beside the model file), where an interrupted
    training resumes from; the rule names it, as the job writes its outputs elsewhere.

    ``folds`` (cross-validation: ``{"table": folds.tsv, "metrics": [...], "predictions":
    [...]}`` of the fold jobs, in fold order): train on all of TRAIN, for the median of
    the folds' chosen epochs where the model chooses one, score TEST and TEST_SIMPLE, and
    pool the folds' held-out predictions into split ``cv`` (no val: it was trained on).
    """
    # the module itself, not the registry: adding a model to the registry must not make
    # Snakemake retrain the others (rules depend on the code they import)
    model_module = get(family)
    splits = load_splits(tables, arrays)
    classes = class_list(splits)
    settings = {**settings, "classes": classes}
    device = model_module.device(settings, threads)
    cv = pooled_folds(folds, splits, classes) if folds else None
    if cv is not None:
        every_train = [splits["train"], splits["val"]]
        train = pick("train", every_train, [i for s in every_train for i in s.images])
        val = None
        epochs = cv["facts"]["best_epochs"]
        if epochs:  # the epoch count the folds chose: their median
            settings["final_epochs"] = max(1, int(round(float(np.median(epochs)))))
        del splits["val"]  # trained on: not a figure
    else:
        train, val = splits["train"], splits["val"]
    # an interrupted training resumes from here (Keras models; removed when it ends)
    resume_dir = Path(resume_dir or Path(out["model"]).parent / ".resume")
    start = time.perf_counter()
    model, history, best_epoch = model_module.fit(train, val, settings, threads, resume_dir)
    seconds = time.perf_counter() - start
    log.info("%s fitted in %.1f s on %s", name, seconds, device)
    with atomic_path(out["model"]) as partial:
        model_module.save(model, partial, settings)
    if history is not None:
        write_table(out["history"], history)
    probabilities = {
        split.name: predict_rows(
            lambda x: model_module.predict(model, x), split.rows, PREDICT_BATCH, len(classes)
        )
        for split in splits.values()
        if split.name in EVAL_SPLITS and len(split)
    }
    if cv is not None:
        splits["cv"], probabilities["cv"] = cv["split"], cv["probabilities"]
    facts = {
        "family": family,
        "recipe": settings["recipe"],
        "seed": settings["seed"],
        "settings": {k: v for k, v in settings.items() if k not in ("classes", "final_epochs")},
        **({} if best_epoch is None else {"best_epoch": best_epoch}),
        **({} if cv is None else {"cv_folds": cv["facts"]}),
        **run_facts(model_module, settings),
        "provenance": provenance or {},
    }
    return write_outputs(name, splits, probabilities, classes, seconds, device, out, facts)


def pooled_folds(folds: dict, splits: dict[str, Split], classes: list[str]) -> dict:
    """The folds' held-out predictions as one split ``cv`` (every TRAIN image once, in
    folds.tsv's order), its probabilities, and what the folds chose."""
    table = read_tsv(folds["table"])
    metrics = [read_json(p) for p in folds["metrics"]]
    pooled = pd.concat([read_predictions(p) for p in folds["predictions"]], ignore_index=True)
    images = [r["image"] for r in table]
    counts = pooled["image"].value_counts()
    wrong = sorted(set(images) ^ set(pooled["image"])) or sorted(counts[counts > 1].index)
    if wrong:
        raise UserError(
            f"the folds' predictions do not score every TRAIN image once (e.g. {wrong[0]}): "
            "rerun them (snakemake --forcerun folds)"
        )
    pooled = pooled.set_index("image").loc[images]
    split = pick("cv", [splits["train"], splits["val"]], images)
    if list(pooled["label"]) != split.labels:
        raise UserError("the folds' predictions have other labels than train.tsv and val.tsv")
    columns = [f"p_{c}" for c in classes]
    return {
        "split": split,
        "probabilities": pooled[columns].to_numpy(dtype=float),
        "facts": {
            "folds": len(metrics),
            "best_epochs": [m["best_epoch"] for m in metrics if "best_epoch" in m],
            "fold_accuracy": [m["cv"]["accuracy"] for m in metrics],
            "fold_train_seconds": [m["train_seconds"] for m in metrics],
        },
    }


def fold_parts(
    splits: dict[str, Split], folds_table, fold: int, inner_val: tuple[float, int] | None
) -> tuple[Split, Split | None, Split]:
    """Fold ``fold`` of TRAIN (train and val together, by ``folds_table``): the images to
    fit on, an inner val (a grouped split of the fitted cells by ``inner_val``, i.e.
    ``(split.val_fraction, split.seed)``; None: no val) and the held-out images."""
    every_train = [splits["train"], splits["val"]]
    rows = read_tsv(folds_table)
    held = [r for r in rows if int(r["fold"]) == fold]
    fitted_on = [r for r in rows if int(r["fold"]) != fold]
    if not held:
        raise UserError(
            f"{folds_table} has no fold {fold}: remake it (snakemake --forcerun folds)"
        )
    if inner_val:
        inner_train, inner_val_rows = grouped_split(fitted_on, *inner_val)
        train = pick("train", every_train, [r["image"] for r in inner_train])
        val = pick("val", every_train, [r["image"] for r in inner_val_rows])
    else:
        train, val = pick("train", every_train, [r["image"] for r in fitted_on]), None
    return train, val, pick("cv", every_train, [r["image"] for r in held])


def train_fold(
    name: str,
    family: str,
    tables: dict,
    arrays: dict,
    folds_table: str,
    fold: int,
    settings: dict,
    threads: int,
    out,
    val_fraction: float,
    split_seed: int,
    resume_dir: str | Path | None = None,
) -> dict:
    """Train model ``name`` on every TRAIN cell but those of ``fold`` and score the fold's
    held-out cells (split ``cv``). A model that tunes on val (``uses_val``) gets an inner
    grouped split of its training cells (``split.val_fraction``, ``split.seed``): the
    held-out cells decide nothing. Writes predictions.tsv, metrics.json (with the best
    epoch) and history.tsv where the model has one."""
    model_module = get(family)
    splits = load_splits(tables, arrays)
    classes = class_list(splits)
    settings = {**settings, "classes": classes}
    device = model_module.device(settings, threads)
    inner_val = (val_fraction, split_seed) if uses_val(family, settings) else None
    train, val, heldout = fold_parts(splits, folds_table, fold, inner_val)
    log.info(
        "fold %d: training on %d images of %d cells%s; held out: %d images of %d cells",
        fold,
        len(train),
        len(set(train.groups)),
        "" if val is None else f" (inner val: {len(val)} images of {len(set(val.groups))} cells)",
        len(heldout),
        len(set(heldout.groups)),
    )
    resume_dir = Path(resume_dir or Path(out["predictions"]).parent / ".resume")
    start = time.perf_counter()
    model, history, best_epoch = model_module.fit(train, val, settings, threads, resume_dir)
    seconds = time.perf_counter() - start
    if history is not None:
        write_table(out["history"], history)
    p = predict_rows(
        lambda x: model_module.predict(model, x), heldout.rows, PREDICT_BATCH, len(classes)
    )
    metrics = {
        "model": name,
        "fold": fold,
        "classes": list(classes),
        "family": family,
        "n_train": len(train),
        "n_inner_val": 0 if val is None else len(val),
        # the cells the best epoch was chosen on: none of them held out (a test checks)
        "inner_val_cells": [] if val is None else sorted(set(val.groups)),
        **({} if best_epoch is None else {"best_epoch": best_epoch}),
        "cv": evaluate(heldout.labels, p, classes, heldout.groups),
        "train_seconds": round(seconds, 3),
        "device": device,
    }
    log.info(
        "%s fold %d: held-out accuracy %.4f (n=%d)",
        name,
        fold,
        metrics["cv"]["accuracy"],
        len(heldout),
    )
    frame = predictions_frame("cv", heldout.images, heldout.labels, p, classes, heldout.groups)
    write_predictions(out["predictions"], [frame], classes)
    write_json(out["metrics"], metrics)
    return metrics


def write_outputs(name, splits, probabilities, classes, seconds, device, out, facts) -> dict:
    """metrics.json and predictions.tsv; test splits only where their files have rows.
    ``facts``: what made the model (recipe, settings, best epoch), recorded with it."""
    metrics: dict = {"model": name, "classes": list(classes), **facts}
    frames = []
    for split_name in EVAL_SPLITS:
        if split_name not in probabilities:
            continue
        split, p = splits[split_name], probabilities[split_name]
        metrics[split_name] = evaluate(split.labels, p, classes, split.groups)
        frames.append(
            predictions_frame(split_name, split.images, split.labels, p, classes, split.groups)
        )
        log.info(
            "%s %s: accuracy %.4f (n=%d)",
            name,
            split_name,
            metrics[split_name]["accuracy"],
            len(split),
        )
    metrics["train_seconds"] = round(seconds, 3)
    metrics["device"] = device
    write_predictions(out["predictions"], frames, classes)
    write_json(out["metrics"], metrics)
    return metrics


def one_hot(labels, classes) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(labels), len(classes)), np.float32)
    out[np.arange(len(labels)), [index[label] for label in labels]] = 1
    return out
