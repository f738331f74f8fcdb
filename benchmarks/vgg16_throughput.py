"""CPU cost per image of the VGG16 convolutional base (random weights) by input size.

    .venv/bin/python benchmarks/vgg16_throughput.py [--sizes 128 96 80 64] [--batch 16]
        [--images 64] [--threads 2] [--deterministic]

One process per size (TensorFlow's thread pools are set once per process): a warm-up
batch, then ``--images`` images in batches of ``--batch`` (rule frozen_features uses 16);
prints wall and CPU milliseconds per image. The cost scales with the pixels (side²).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def one(size: int, batch: int, images: int, threads: int, deterministic: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    keras.utils.set_random_seed(42)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    base = keras.applications.VGG16(include_top=False, input_shape=(size, size, 3), weights=None)
    x = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3)).astype(np.float32)
    base.predict_on_batch(x)  # warm-up

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    start, cpu0 = time.perf_counter(), cpu()
    for _ in range(images // batch):
        base.predict_on_batch(x)
    n = images // batch * batch
    print(
        f"| {size} px | {batch} | {(time.perf_counter() - start) / n * 1000:.1f} | "
        f"{(cpu() - cpu0) / n * 1000:.1f} |",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 96, 80, 64])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one, args.batch, args.images, args.threads, args.deterministic)
        return
    print(f"load {os.getloadavg()[0]:.1f}\n")
    print("| input | batch | wall ms per image | CPU ms per image |\n| --- | --- | --- | --- |")
    for size in args.sizes:
        extra = ["--deterministic"] if args.deterministic else []
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--batch",
                str(args.batch),
                "--images",
                str(args.images),
                "--threads",
                str(args.threads),
                *extra,
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
