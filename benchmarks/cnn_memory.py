"""Where the CNN's memory goes (issue 6 item 4, the ≤ 1 GB goal), and what the ways
under it would cost.

    .venv/bin/python benchmarks/cnn_memory.py [--repeats 3] [--steps 15] [--threads 2]

Each variant runs in a fresh process that reads its own /proc/self/status: resident
memory split into anonymous (heap: tensors, weights) and file-backed (TensorFlow's
shared libraries), after importing TensorFlow, after building the model, and the peak
(VmHWM) over a short fit; images/s over ``--steps`` steps after one untimed warm-up
epoch. Inputs are random pixels: memory and speed do not depend on their values, so no
archive is needed. Variants:

- ``rule``: what rule train_cnn does (batch 32, TensorFlow's default oneDNN allocator);
- ``micro8x4`` / ``micro4x8``: micro-batches of 8 / 4 with Keras'
  ``gradient_accumulation_steps`` 4 / 8 (an update every 32 images, but BatchNorm
  statistics over the micro-batch: not the issue's model);
- ``system-malloc``: batch 32 with ``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`` (oneDNN's
  allocator keeps freed blocks; glibc's returns them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import REPO

VARIANTS = {
    "rule": {"micro": 32, "env": {}},
    "micro8x4": {"micro": 8, "env": {}},
    "micro4x8": {"micro": 4, "env": {}},
    "system-malloc": {"micro": 32, "env": {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1"}},
}
BATCH = 32  # the batch size: one optimizer update per 32 images in every variant


def status_mb() -> dict:
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def worker(variant: str, steps: int, threads: int) -> dict:
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    micro = VARIANTS[variant]["micro"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from wbc.models import cnn
    from wbc.models.keras_loop import configure_tensorflow

    configure_tensorflow(threads, 42, True)
    after_import = status_mb()
    model = cnn.build(128, 4)
    accumulate = BATCH // micro if micro < BATCH else None
    model.compile(
        optimizer=keras.optimizers.SGD(0.001, gradient_accumulation_steps=accumulate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    after_build = status_mb()
    rng = np.random.default_rng(0)
    updates = steps * BATCH // micro

    class RandomPixels(keras.utils.PyDataset):
        def __len__(self):
            return updates

        def __getitem__(self, i):
            x = rng.integers(0, 256, (micro, 128, 128, 3), dtype=np.uint8).astype(np.float32)
            return x, keras.utils.to_categorical(np.arange(micro) % 4, 4)

    model.fit(RandomPixels(), epochs=1, verbose=0)  # traces the graph
    start = time.perf_counter()
    model.fit(RandomPixels(), epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    end = status_mb()
    weights_mb = sum(int(np.prod(w.shape)) for w in model.weights) * 4 / 2**20
    return {
        "variant": variant,
        "import_rss_mb": after_import["VmRSS"],
        "import_anon_mb": after_import["RssAnon"],
        "import_file_mb": after_import["RssFile"],
        "built_rss_mb": after_build["VmRSS"],
        "weights_mb": weights_mb,
        "peak_rss_mb": end["VmHWM"],
        "images_per_s": steps * BATCH / seconds,
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15, help="timed updates of 32 images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.threads)))
        return

    runs = {v: [] for v in args.variants}
    for _ in range(args.repeats):  # interleaved, so every variant sees the same load
        for variant in args.variants:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                variant,
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
            ]
            env = {**os.environ, **VARIANTS[variant]["env"]}
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(runs[variant][-1]), flush=True)

    def med(variant, key):
        return statistics.median(r[key] for r in runs[variant])

    first = args.variants[0]
    print(
        f"\nTensorFlow imported: {med(first, 'import_rss_mb'):.0f} MB RSS "
        f"({med(first, 'import_file_mb'):.0f} MB shared libraries, "
        f"{med(first, 'import_anon_mb'):.0f} MB heap); "
        f"model built: {med(first, 'built_rss_mb'):.0f} MB "
        f"(weights {med(first, 'weights_mb'):.0f} MB)\n"
    )
    print(f"| variant | peak RSS | images/s | vs {first} |\n|---|---|---|---|")
    for variant in args.variants:
        print(
            f"| {variant} | {med(variant, 'peak_rss_mb'):.0f} MB "
            f"| {med(variant, 'images_per_s'):.1f} "
            f"| {med(variant, 'images_per_s') / med(first, 'images_per_s'):.2f} |"
        )
    print(f"\nmedians of {args.repeats} runs, {args.steps} timed updates of {BATCH} images each")


if __name__ == "__main__":
    main()
