"""Training benchmarks on the full archive (issue 6, items 3-5).

    .venv/bin/python benchmarks/training.py prepare --workdir /tmp/wbc-train
    .venv/bin/python benchmarks/training.py rf    --workdir /tmp/wbc-train [--repeats 3]
    .venv/bin/python benchmarks/training.py cnn   --workdir /tmp/wbc-train [--batches 20] \
        [--repeats 3]
    .venv/bin/python benchmarks/training.py vgg16 --workdir /tmp/wbc-train [--batches 20]

``prepare`` runs the workflow in a scratch copy up to the training arrays and the VGG16
model (``weights: null``: ImageNet weights need internet). Each measurement runs in a
fresh subprocess so its peak RSS (``ru_maxrss``) is its own:

- rf: the fit of rule train_rf (flattened uint8 pixels, 100 trees), seconds and peak RSS;
- cnn: images/s of the training rule's way (batches streamed from the uint8 array) vs
  the reference study's way (all images as one in-memory float32 array), over the same
  number of batches (the first batch, graph tracing, is not timed), and peak RSS of both;
- vgg16: the rule's way (backbone features once, per the frozen_features benchmarks,
  plus the head's training time from metrics.json) vs the same frozen model trained end
  to end on images for the same epochs, extrapolated from ``--batches`` timed steps
  (``--batches 0``: train it end to end for real and report its accuracy too).

Prints one JSON line per run and a Markdown summary (medians) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ARRAY, REPO, SNAKEMAKE, require_archive, workflow_copy
from wbc import SPLITS
from wbc.models import MODELS, facts_of

# each model at its default input side, on the default (reference) crop
SIZES = {model: facts_of(model).settings().image_size for model in MODELS}


def array(size: int, split: str) -> str:
    return ARRAY.format(method="reference", size=size, split=split)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def prepare(workdir: Path, cores: int) -> None:
    archive = require_archive()
    if not (workdir / "Snakefile").is_file():
        workflow_copy(workdir)
    (workdir / "bench.yaml").write_text(
        f"source: {archive}\nmodels:\n  vgg16: {{weights: null}}\n"
    )
    subprocess.run(
        [SNAKEMAKE, "--cores", str(cores), "results/models/vgg16/metrics.json",
         *(array(z, s) for z in set(SIZES.values()) for s in SPLITS),
         "--configfile", "bench.yaml"],
        cwd=workdir, check=True,
    )  # fmt: skip


def splits(workdir: Path, model: str):
    """The split files and their arrays at ``model``'s input side."""
    from wbc.models.training import Split

    return {
        s: Split(
            s,
            workdir / f"results/splits/{s}.tsv",
            workdir / array(SIZES[model], s),
        )
        for s in SPLITS
    }


def worker_rf(workdir: Path, threads: int) -> dict:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    train = splits(workdir, "rf")["train"]
    x = train.rows.read(np.arange(len(train.rows))).reshape(len(train.rows), -1)
    start = time.perf_counter()  # the fit alone, as wbc.models.rf.fit does it
    model = RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=threads)
    model.fit(x, np.array(train.labels))
    return {"fit_s": time.perf_counter() - start, "images": len(x), "peak_rss_mb": peak_rss_mb()}


class StepTimer:
    """Wall time of training steps 2..N (step 1 traces the graph)."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch == 0:
                    timer.start = time.perf_counter()
                timer.end, timer.steps = time.perf_counter(), batch

        self.callback = Callback()


def worker_cnn(workdir: Path, mode: str, batches: int, threads: int) -> dict:
    import keras
    import numpy as np

    from wbc import CLASSES
    from wbc.models import cnn
    from wbc.models.keras_loop import batches as stream
    from wbc.models.keras_loop import configure_tensorflow
    from wbc.models.training import one_hot

    device = configure_tensorflow(threads, 42, True)
    train = splits(workdir, "cnn")["train"]
    size = train.rows.row_shape[0]
    model = cnn.build(size, len(CLASSES))
    model.compile(
        optimizer=keras.optimizers.SGD(0.001),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    timer = StepTimer()
    if mode == "stream":  # rule train_cnn's way: streamed batches, keras_loop's own epoch
        data = stream(train.rows, train.labels, CLASSES, 32, shuffle=True, seed=42)
        for i in range(batches + 1):  # as keras_loop.run_epoch; step 1 traces the graph
            model.train_on_batch(*data[i])
            if i == 0:
                timer.start = time.perf_counter()
        timer.end, timer.steps = time.perf_counter(), batches
    else:  # the reference study: every image as float32 in memory, then fit
        x = train.rows.read(np.arange(len(train.rows))).astype(np.float32)
        y = one_hot(train.labels, CLASSES)
        model.fit(
            x,
            y,
            batch_size=32,
            epochs=1,
            steps_per_epoch=batches,
            callbacks=[timer.callback],
            verbose=0,
        )
    seconds = timer.end - timer.start
    return {
        "mode": mode,
        "timed_batches": timer.steps,
        "seconds": seconds,
        "images_per_s": timer.steps * 32 / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "device": device,
    }


def worker_vgg16(workdir: Path, batches: int, threads: int) -> dict:
    """The rule's frozen VGG16 + head, trained end to end on images."""
    import keras

    from wbc import CLASSES
    from wbc.models import backbones, get
    from wbc.models.keras_loop import Trainer, configure_tensorflow
    from wbc.models.keras_loop import batches as stream

    configure_tensorflow(threads, 42, True)
    data = splits(workdir, "vgg16")
    metrics = json.loads((workdir / "results/models/vgg16/metrics.json").read_text())
    history = read_tsv(workdir / "results/models/vgg16/history.tsv")
    size = data["train"].rows.row_shape[0]
    backbone = get("vgg16").backbone(size, None, 42)
    inputs = keras.Input(backbone.input_shape[1:])
    head = backbones.head(backbone.output_shape[1:], len(CLASSES))
    model = keras.Model(inputs, head(backbone(inputs)))
    model.compile(
        optimizer=keras.optimizers.Adam(0.001),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    train = stream(data["train"].rows, data["train"].labels, CLASSES, 32, shuffle=True, seed=42)
    val = stream(data["val"].rows, data["val"].labels, CLASSES, 32)
    result = {
        "head_epochs": len(history),
        "head_train_s": metrics["train_seconds"],
        "head_val_accuracy": metrics["val"]["accuracy"],
    }
    if batches:
        timer = StepTimer()
        model.fit(train, epochs=1, steps_per_epoch=batches, callbacks=[timer.callback], verbose=0)
        per_train_step = (timer.end - timer.start) / timer.steps
        start = time.perf_counter()  # validation is a forward pass over val each epoch
        for i in range(min(batches, len(val))):
            model.predict_on_batch(val[i][0])
        per_val_step = (time.perf_counter() - start) / min(batches, len(val))
        epoch_s = per_train_step * len(train) + per_val_step * len(val)
        result.update(
            end_to_end_epoch_s=epoch_s,
            end_to_end_s=epoch_s * len(history),
            extrapolated_from_batches=batches,
        )
        # the feature pass timed in this same process (rule frozen_features: batches of 16)
        rows = data["train"].rows
        backbone.predict_on_batch(rows.read(range(16)).astype("float32"))  # tracing
        start = time.perf_counter()
        for i in range(1, batches + 1):
            backbone.predict_on_batch(rows.read(range(16 * i, 16 * i + 16)).astype("float32"))
        per_image = (time.perf_counter() - start) / (16 * batches)
        images = sum(len(d.rows) for d in data.values())
        result.update(features_same_run_s=per_image * images)
        result["ratio_same_run"] = result["end_to_end_s"] / (
            per_image * images + result["head_train_s"]
        )
    else:
        start = time.perf_counter()
        trainer = Trainer(model, len(history), workdir / ".resume-bench", restore_best=False)
        table, _ = trainer.fit(train, val)
        result.update(
            end_to_end_s=time.perf_counter() - start,
            end_to_end_val_accuracy=float(table["val_accuracy"].iloc[-1]),
        )
    features_s = sum(
        float(read_tsv(workdir / f"results/benchmarks/frozen_features/vgg16/{s}.tsv")[0]["s"])
        for s in SPLITS
    )
    result.update(
        features_s=features_s,
        ratio=result["end_to_end_s"] / (features_s + result["head_train_s"]),
        peak_rss_mb=peak_rss_mb(),
    )
    return result


def run_worker(args, *extra) -> dict:
    cmd = [sys.executable, __file__, "_worker", args.what, "--workdir", str(args.workdir),
           "--threads", str(args.threads), "--batches", str(args.batches), *extra]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(result), flush=True)
    return result


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["prepare", "rf", "cnn", "vgg16", "_worker"])
    parser.add_argument("worker", nargs="?")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wbc-train"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="stream")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))

    if args.what == "_worker":
        if args.worker == "rf":
            result = worker_rf(args.workdir, args.threads)
        elif args.worker == "cnn":
            result = worker_cnn(args.workdir, args.mode, args.batches, args.threads)
        else:
            result = worker_vgg16(args.workdir, args.batches, args.threads)
        print(json.dumps(result))
    elif args.what == "prepare":
        prepare(args.workdir, args.threads)
    elif args.what == "rf":
        runs = [run_worker(args) for _ in range(args.repeats)]
        print(
            f"| Random Forest fit, 100 trees, {runs[0]['images']} images "
            f"| {median(runs, 'fit_s'):.1f} s | peak RSS {median(runs, 'peak_rss_mb'):.0f} MB "
            f"| median of {len(runs)} |"
        )
    elif args.what == "cnn":
        runs = {m: [] for m in ("stream", "memory")}
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            for mode in runs:
                runs[mode].append(run_worker(args, "--mode", mode))
        ours, theirs = (median(runs[m], "images_per_s") for m in ("stream", "memory"))
        rss = {m: median(runs[m], "peak_rss_mb") for m in runs}
        print(
            f"| CNN training, streamed uint8 batches (ours) | {ours:.1f} images/s "
            f"| peak RSS {rss['stream']:.0f} MB |"
        )
        print(
            f"| CNN training, in-memory float32 (reference) | {theirs:.1f} images/s "
            f"| peak RSS {rss['memory']:.0f} MB |"
        )
        print(
            f"| ratio ours / reference | {ours / theirs:.2f} "
            f"| median of {args.repeats}, {args.batches} batches each |"
        )
    else:
        runs = [run_worker(args) for _ in range(args.repeats)]
        print(
            "| VGG16 end to end / cached features + head (rule benchmarks) "
            f"| {median(runs, 'ratio'):.1f}x | median of {len(runs)} |"
        )
        if "ratio_same_run" in runs[0]:
            print(
                "| VGG16 end to end / features + head, feature pass timed in the same run "
                f"| {median(runs, 'ratio_same_run'):.1f}x | |"
            )


if __name__ == "__main__":
    main()
