"""What every training rule does, whatever the model: read the split files and their
arrays, fit on train (tuning on val), score every evaluated split, and write the model,
``metrics.json``, ``predictions.tsv`` (and ``history.tsv`` for models that have one)."""

from __future__ import annotations

import logging
import time
from importlib import import_module
from pathlib import Path

import numpy as np

from .. import EVAL_SPLITS
from ..arrays import NpyRows, predict_rows
from ..io import atomic_path, read_tsv, write_json, write_table
from ..metrics import evaluate, predictions_frame, write_predictions
from ..runtime import UserError

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
    import subprocess

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
    resume_dir: str | Path | None = None,
):
    """Train model ``name`` (an instance of registry model ``family``) and write its
    artefacts; returns its metrics. A Keras model keeps a checkpoint after every epoch in
    ``resume_dir`` (default: ``.resume`` beside the model file), where an interrupted
    training resumes from; the rule names it, as the job writes its outputs elsewhere."""
    # the module itself, not the registry: adding a model to the registry must not make
    # Snakemake retrain the others (rules depend on the code they import)
    model_module = import_module(f"{__package__}.{family}")
    splits = load_splits(tables, arrays)
    classes = class_list(splits)
    settings = {**settings, "classes": classes}
    device = model_module.device(settings, threads)
    # an interrupted training resumes from here (Keras models; removed when it ends)
    resume_dir = Path(resume_dir or Path(out["model"]).parent / ".resume")
    start = time.perf_counter()
    model, history, best_epoch = model_module.fit(
        splits["train"], splits["val"], settings, threads, resume_dir
    )
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
    facts = {
        "family": family,
        "recipe": settings["recipe"],
        "seed": settings["seed"],
        "settings": {k: v for k, v in settings.items() if k != "classes"},
        **({} if best_epoch is None else {"best_epoch": best_epoch}),
        "provenance": provenance or {},
    }
    return write_outputs(name, splits, probabilities, classes, seconds, device, out, facts)


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
