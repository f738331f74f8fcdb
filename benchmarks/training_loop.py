"""The Keras training loop: ``model.fit`` over the streamed batches (the loop before
2026-12-05's sixth session) against ``wbc.models.keras_loop.run_epoch`` (train_on_batch,
the loop now), on a run's real training array, in alternating fresh processes.

    .venv/bin/python benchmarks/training_loop.py RUN/results/arrays/nucleus_window/80px/train.npy \
        [--batches 60] [--repeats 3] [--threads 2] [--loops fit run_epoch xla nondeterministic]

``--loops`` picks what is compared (default: ``fit`` and ``run_epoch``); the first is the
ratios' baseline. ``xla`` is ``run_epoch`` with the model compiled by XLA
(``jit_compile=True``; Keras leaves XLA off on a CPU-only machine), ``nondeterministic``
is ``run_epoch`` without TensorFlow's op determinism (the rules' ``deterministic: true``).

Each measurement builds the improved CNN (``facts_of("cnn").settings()``: its width,
head, optimizer, learning rate and label smoothing) at the array's side, with deterministic
ops as the rules run, and trains ``--batches`` batches of its batch size twice (two
epochs: the first holds the graph tracing, the second is timed). Prints one JSON line per
run and the medians' ratio for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

LABELS = {
    "fit": "`model.fit` over the streamed batches (before)",
    "run_epoch": "`keras_loop.run_epoch` (train_on_batch, now)",
    "xla": "`run_epoch`, model compiled by XLA",
    "nondeterministic": "`run_epoch` without op determinism",
}
LOOPS = tuple(LABELS)


def worker(array: str, loop: str, batches: int, threads: int) -> dict:
    import keras
    import numpy as np

    from wbc import CLASSES
    from wbc.arrays import NpyRows
    from wbc.models import cnn, facts_of, keras_loop

    s = facts_of("cnn").settings()  # the improved recipe
    assert s.optimizer == "adam", "the recipe's optimizer changed: update this benchmark"
    device = keras_loop.configure_tensorflow(threads, 42, loop != "nondeterministic")
    rows = NpyRows(array)

    class First:  # the array's first rows: enough for the timed batches
        row_shape = rows.row_shape

        def __len__(self):
            return min(len(rows), batches * s.batch_size)

        def read(self, indices):
            return rows.read(indices)

    subset = First()
    labels = [CLASSES[i % 4] for i in range(len(subset))]  # timing does not depend on them
    data = keras_loop.batches(subset, labels, CLASSES, s.batch_size, shuffle=True, seed=42)
    model = cnn.build(rows.row_shape[0], len(CLASSES), s.width, s.head, s.dense_units)
    model.compile(
        optimizer=keras.optimizers.Adam(s.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing),
        metrics=["accuracy"],
        jit_compile=loop == "xla",
    )
    seconds = []
    for epoch in range(2):
        data.set_epoch(epoch)
        start = time.perf_counter()
        if loop == "fit":
            model.fit(data, epochs=1, verbose=0)
        else:
            keras_loop.run_epoch(model, data, training=True)
        seconds.append(time.perf_counter() - start)
    return {
        "loop": loop,
        "images": len(subset),
        "side": int(rows.row_shape[0]),
        "seconds": round(seconds[1], 2),
        "images_per_s": round(len(subset) / seconds[1], 1),
        "first_epoch_s": round(seconds[0], 2),
        "device": device,
        "check": float(np.asarray(model.get_weights()[0]).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("array", help="a training array (.npy of uint8 images)")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=["fit", "run_epoch"])
    parser.add_argument("--worker", choices=LOOPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.array, args.worker, args.batches, args.threads)))
        return
    if not Path(args.array).is_file():
        raise SystemExit(f"{args.array}: no such array (run the workflow's training_arrays)")
    runs = {loop: [] for loop in args.loops}
    for _ in range(args.repeats):
        for loop in runs:
            out = subprocess.run(
                [sys.executable, __file__, args.array, "--worker", loop,
                 "--batches", str(args.batches), "--threads", str(args.threads)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            result = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(result), flush=True)
            runs[loop].append(result["images_per_s"])
    medians = {loop: statistics.median(v) for loop, v in runs.items()}
    base = args.loops[0]
    print(f"\n| loop | images/s (median of {args.repeats}) | ratio to {base} |\n|---|---|---|")
    for loop, median in medians.items():
        print(f"| {LABELS[loop]} | {median:.1f} | {median / medians[base]:.2f} |")


if __name__ == "__main__":
    main()
