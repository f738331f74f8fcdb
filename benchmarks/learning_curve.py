"""Issue 22: would more source cells lift the CNN? Train each fold on a share of its
training cells and judge the held-out cells on cv, as the workflow's fold jobs do.

    .venv/bin/python benchmarks/learning_curve.py RUN --config config/config.yaml cv5.yaml \
        --model cnn-n64all --shares 0.25 0.5

RUN is a finished cross-validation run of the workflow (``split.folds: 5``); ``--config``
names its config files (relative to RUN, merged in order as Snakemake merges them, then
validated with the workflow's schema and its defaults), which declare the model (a variant
such as ``n64all`` of the CNN). Each fold is trained as the workflow's fold job of that model
(``wbc.models.training``: the same held-out cells, settings and seed; a model that keeps
its best epoch gets its inner val from the kept cells), except that only a share of the
fold's training cells is kept: in each class, the cells in an order drawn from
(seed, fold, class), the first ``ceil(share x cells)`` of them (at least one), with all
their copies. So a smaller share's cells are among a larger one's. The epochs are raised so
that every share makes as many training steps as the whole fold (``--same-epochs``: the
recipe's epochs instead). Predictions go to
``RUN/results/models/<model>-cells<share>/folds/<k>/`` so that
``benchmarks/cv_tries.py`` pairs them with the workflow's own fold jobs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from common import ARRAY, write_fold  # also puts workflow/scripts on the path
from wbc.arrays import predict_rows
from wbc.io import write_table
from wbc.models import get, uses_val
from wbc.models.training import PREDICT_BATCH, class_list, fold_parts, load_splits, pick
from wbc.settings import model_settings, parse_id

log = logging.getLogger("learning_curve")
SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def kept_cells(split, share: float, seed: int, fold: int) -> list[str]:
    """A share of the split's cells in each class (at least one), nested across shares."""
    cells_of: dict[str, set] = {}
    for label, group in zip(split.labels, split.groups, strict=True):
        cells_of.setdefault(label, set()).add(group)
    kept = []
    for k, label in enumerate(sorted(cells_of)):
        cells = sorted(cells_of[label])
        order = np.random.default_rng([seed, fold, k]).permutation(len(cells))
        kept += [cells[i] for i in order[: max(1, math.ceil(share * len(cells)))]]
    return kept


def run_config(run: Path, files: list[str]) -> dict:
    """The run's config files merged (later keys win, nested blocks merged), then validated
    with the workflow's schema, which fills in its defaults."""
    from snakemake.utils import update_config, validate

    from wbc.settings import config_schema

    config: dict = {}
    for name in files:
        update_config(config, yaml.safe_load((run / name).read_text()))
    base = yaml.safe_load(SCHEMA.read_text())
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(config_schema(base), fh)
        fh.flush()
        validate(config, fh.name)
    return config


def train_fold(run: Path, args, fold: int) -> dict:
    config = run_config(run, args.config)
    settings = model_settings(config, args.model)
    family = parse_id(args.model)[0]
    module = get(family)
    method, size = settings["crop"], settings["image_size"]  # crop.method, when set, is in it
    tables = {s: run / f"results/splits/{s}.tsv" for s in ("train", "val")}
    arrays = {s: run / ARRAY.format(method=method, size=size, split=s) for s in tables}
    splits = load_splits(tables, arrays)
    classes = class_list(splits)
    settings = {**settings, "classes": classes}
    device = module.device(settings, args.threads)
    inner = (
        (config["split"]["val_fraction"], config["split"]["seed"])
        if uses_val(family, settings)
        else None
    )
    folds_table = run / "results/splits/folds.tsv"
    whole, val, heldout = fold_parts(splits, folds_table, fold, inner)
    cells = set(kept_cells(whole, args.share, settings["seed"], fold))
    images = [i for i, g in zip(whole.images, whole.groups, strict=True) if g in cells]
    train = pick("train", [splits["train"], splits["val"]], images)
    if not args.same_epochs:
        settings["epochs"] = max(1, round(settings["epochs"] * len(whole) / len(train)))
    name = f"{args.model}-cells{args.share:g}"
    log.info(
        "%s fold %d: %d of %d cells (%d of %d images), %d epochs; held out %d images",
        name,
        fold,
        len(cells),
        len(set(whole.groups)),
        len(train),
        len(whole),
        settings["epochs"],
        len(heldout),
    )
    out = run / "results/models" / name / "folds" / str(fold)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, history, best_epoch = module.fit(train, val, settings, args.threads, out / ".resume")
    seconds = time.perf_counter() - start
    if history is not None:
        write_table(out / "history.tsv", history)
    p = predict_rows(lambda x: module.predict(model, x), heldout.rows, PREDICT_BATCH, len(classes))
    metrics = {
        "model": name,
        "fold": fold,
        "cells": len(cells),
        "n_train": len(train),
        "epochs": settings["epochs"],
        **({} if best_epoch is None else {"best_epoch": best_epoch}),
        "train_seconds": round(seconds, 3),
        "device": device,
    }
    metrics = write_fold(out, heldout, p, classes, metrics)
    log.info(
        "%s fold %d: held-out accuracy %.4f in %.0f s",
        name,
        fold,
        metrics["cv"]["accuracy"],
        seconds,
    )
    return metrics


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--config", nargs="+", default=["config/config.yaml"], help="RUN's files")
    p.add_argument("--model", default="cnn-n64all", help="a model id of the run's config")
    p.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5])
    p.add_argument("--folds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    p.add_argument("--same-epochs", action="store_true", help="the recipe's epochs at every share")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for fold in args.folds:  # fold by fold, so that every finished fold is paired
        for share in args.shares:
            args.share = share
            train_fold(args.run, args, fold)


if __name__ == "__main__":
    main()
