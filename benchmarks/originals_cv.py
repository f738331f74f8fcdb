"""Issue 22, item 2's last lever: train the CNN on views of the original slides made on the
fly, instead of (or beside) Kaggle's fixed augmented copies, and judge it on cv.

    .venv/bin/python benchmarks/originals_cv.py RUN --variant n80 --views 0.5 --folds 1 2 3 4 5
    .venv/bin/python benchmarks/originals_cv.py RUN --variant n80 --gallery views.png

RUN is a finished cross-validation run of the workflow (``split.folds: 5``) whose crop
method is the nucleus window (a variant such as ``n80: {crop: nucleus_window,
image_size: 80}``, ``crop.window``) and whose unpacked archive holds Kaggle's
``dataset-master`` slides. Each fold is trained exactly as the workflow's fold job of the
variant (``wbc.models.training.train_fold``: the same cells, inner val split, settings and
seed) except for its training rows: each drawn copy is replaced, with probability
``--views``, by a fresh view of the slide that copy was made from (its ``original`` in
``results/groups.tsv``). A view: the 640x480 slide downscaled to Kaggle's 320x240 (as the
copies were), turned by any angle, mirrored at random, scaled by 0.9-1.1, shifted by up to
10 % of the window, cut to the window around the slide's nucleus (``crop.window``,
``wbc.crop.nucleus_mask``), resized as the arrays are, then brightness and stain jitter.
The class and cell mix stays that of the copies. Inner val and the held-out cells are
Kaggle's copies, as for every other try. Predictions go to
``RUN/results/models/cnn-<variant>-views<share>/folds/<k>/`` so that
``benchmarks/cv_tries.py`` pairs them with the workflow's own tries.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from common import ARRAY, write_fold  # also puts workflow/scripts on the path
from wbc.arrays import predict_rows, resize
from wbc.crop import nucleus_mask, read_rgb
from wbc.io import read_tsv, write_table
from wbc.models import cnn
from wbc.models.training import PREDICT_BATCH, class_list, fold_parts, load_splits
from wbc.settings import model_settings

log = logging.getLogger("originals_cv")
SLIDES = Path("results/data/unpacked/dataset-master/dataset-master/JPEGImages")
KAGGLE_SIZE = (320, 240)  # TRAIN's copies: the slides at half their side


def slide_centre(rgb: np.ndarray) -> tuple[float, float]:
    """The nucleus's centre in a 320x240 slide (the crop's own nucleus finder)."""
    mask = nucleus_mask(rgb)
    if not mask.any():
        return rgb.shape[1] / 2, rgb.shape[0] / 2
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


class Slides:
    """The training cells' slides at 320x240 and their nuclei, and views of them."""

    def __init__(self, run: Path, originals: list[str], window: int, size: int):
        self.window, self.size = window, size
        self.images, self.centres = {}, {}
        for name in sorted(set(originals)):
            rgb = read_rgb(run / SLIDES / f"{name}.jpg")
            small = cv2.resize(rgb, KAGGLE_SIZE, interpolation=cv2.INTER_AREA)
            self.images[name] = small
            self.centres[name] = slide_centre(small)

    def view(self, name: str, rng: np.random.Generator) -> np.ndarray:
        image, (cx, cy), w = self.images[name], self.centres[name], self.window
        angle, scale = rng.uniform(0, 360), rng.uniform(0.9, 1.1)
        dx, dy = rng.uniform(-0.1, 0.1, size=2) * w
        m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
        m[:, 2] += (w / 2 - cx + dx, w / 2 - cy + dy)  # the nucleus near the window's centre
        out = cv2.warpAffine(
            image, m, (w, w), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        if rng.random() < 0.5:
            out = out[:, ::-1]
        out = resize(np.ascontiguousarray(out), self.size).astype(np.float32)
        out *= (1 + rng.uniform(-0.1, 0.1)) * (1 + rng.uniform(-0.05, 0.05, size=3))
        return np.clip(out, 0, 255)


class ViewRows:
    """The training copies as the Keras loop reads them, each row replaced with
    probability ``share`` by a fresh view of its slide (a new draw at every read)."""

    def __init__(self, rows, originals: list[str], slides: Slides, share: float, seed: int):
        self.rows, self.originals, self.slides, self.share = rows, originals, slides, share
        self.row_shape, self.dtype = rows.row_shape, np.float32
        self.rng = np.random.default_rng([seed, 2026])

    def __len__(self) -> int:
        return len(self.rows)

    def read(self, indices) -> np.ndarray:
        out = self.rows.read(indices).astype(np.float32)
        for j, i in enumerate(np.asarray(indices)):
            if self.rng.random() < self.share:
                out[j] = self.slides.view(self.originals[i], self.rng)
        return out


def run_config(run: Path, variant: str, window: int) -> dict:
    config = yaml.safe_load((run / "results/report/config.yaml").read_text())
    config["crop"]["window"] = window
    config["models"]["cnn"] = {
        "variants": {variant: {"crop": "nucleus_window", "image_size": int(variant[1:])}}
    }
    return config


def train_splits(run: Path, size: int):
    """The run's train and val splits with their nucleus-window arrays at ``size`` px."""
    tables = {s: run / f"results/splits/{s}.tsv" for s in ("train", "val")}
    arrays = {s: run / ARRAY.format(method="nucleus_window", size=size, split=s) for s in tables}
    return load_splits(tables, arrays)


def train_fold(run: Path, args, fold: int) -> dict:
    config = run_config(run, args.variant, args.window)
    settings = model_settings(config, f"cnn-{args.variant}")
    size = settings["image_size"]
    splits = train_splits(run, size)
    classes = class_list(splits)
    settings = {**settings, "classes": classes}
    device = cnn.device(settings, args.threads)
    inner_val = (config["split"]["val_fraction"], config["split"]["seed"])
    train, val, heldout = fold_parts(splits, run / "results/splits/folds.tsv", fold, inner_val)
    original = {r["image"]: r["original"] for r in read_tsv(run / "results/groups.tsv")}
    originals = [original[image] for image in train.images]
    slides = Slides(run, originals, args.window, size)
    train.rows = ViewRows(train.rows, originals, slides, args.views, settings["seed"])
    log.info(
        "fold %d: %d copies of %d cells (%d slides), views share %.2f; inner val %d cells",
        fold,
        len(train),
        len(set(train.groups)),
        len(slides.images),
        args.views,
        len(set(val.groups)),
    )
    out = run / "results/models" / f"cnn-{args.variant}-views{args.views:g}" / "folds" / str(fold)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, history, best_epoch = cnn.fit(train, val, settings, args.threads, out / ".resume")
    seconds = time.perf_counter() - start
    write_table(out / "history.tsv", history)
    p = predict_rows(lambda x: cnn.predict(model, x), heldout.rows, PREDICT_BATCH, len(classes))
    metrics = {
        "model": f"cnn-{args.variant}-views{args.views:g}",
        "fold": fold,
        "best_epoch": best_epoch,
        "train_seconds": round(seconds, 3),
        "device": device,
    }
    metrics = write_fold(out, heldout, p, classes, metrics)
    log.info("fold %d: held-out accuracy %.4f in %.0f s", fold, metrics["cv"]["accuracy"], seconds)
    return metrics


def gallery(run: Path, args) -> None:
    """Copies and views of a few cells side by side, to look at before training."""
    config = run_config(run, args.variant, args.window)
    size = model_settings(config, f"cnn-{args.variant}")["image_size"]
    split = train_splits(run, size)["train"]
    original = {r["image"]: r["original"] for r in read_tsv(run / "results/groups.tsv")}
    rng = np.random.default_rng(0)
    picks = rng.choice(len(split), size=8, replace=False)
    slides = Slides(run, [original[split.images[i]] for i in picks], args.window, size)
    lines = []
    for i in picks:
        copies = [split.rows.read([i])[0].astype(np.float32)]
        views = [slides.view(original[split.images[i]], rng) for _ in range(5)]
        lines.append(np.concatenate(copies + views, axis=1))
    cv2.imwrite(
        str(args.gallery),
        cv2.cvtColor(np.concatenate(lines, axis=0).astype(np.uint8), cv2.COLOR_RGB2BGR),
    )
    print(f"{args.gallery}: per row, a copy then five views of its slide")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--variant", default="n80", help="nNN: the nucleus window at NN px")
    p.add_argument("--window", type=int, default=128, help="crop.window of the run")
    p.add_argument("--views", type=float, default=0.5, help="share of rows drawn as views")
    p.add_argument("--folds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gallery", type=Path, help="write a gallery of views and stop")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.gallery:
        return gallery(args.run, args)
    for fold in args.folds:
        train_fold(args.run, args, fold)


if __name__ == "__main__":
    main()
