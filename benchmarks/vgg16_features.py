"""VGG16 feature stage at several image sizes and precisions, side by side: time and
grouped-val accuracy.

    .venv/bin/python benchmarks/vgg16_features.py --workdir /work/fullspeed/after \\
        [--sizes 128 64] [--precisions float32 auto] [--source ../shared/data/blood-cells.zip]

``--workdir`` is a copy of a finished run of the data stages (``benchmarks/reruns.py
prepare`` makes one). For each size and precision the script adds a variant
``vgg16-px<size><precision>`` of the improved recipe with ``weights: null`` (ImageNet
weights need internet), builds the training arrays (not timed), times rule
``frozen_features`` for all four splits (wall and CPU seconds of Snakemake and its jobs,
and the jobs' own benchmark files), then trains each variant's head and prints its
grouped-val and TEST_SIMPLE accuracy with the 95 % interval (bootstrap over source cells)
from its ``metrics.json``. With a random backbone the accuracies compare sizes and
precisions for random features only, not for ImageNet's.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import yaml

from common import ARRAY, FULL_ARCHIVE, SNAKEMAKE, load, timed  # and wbc's path
from wbc import SPLITS
from wbc.plan import RunPlan


def snakemake(workdir: Path, config: Path, *targets: str) -> tuple[float, float]:
    """Wall and CPU seconds of one Snakemake call (targets before ``--configfile``: it
    takes lists)."""
    wall, cpu, _ = timed(
        [SNAKEMAKE, "--cores", "2", *targets, "--configfile", str(config)], workdir
    )
    return wall, cpu


def feature_folders(workdir: Path, bench: dict) -> dict[str, str]:
    """Each variant's features folder, as the run plan names it for the workdir's config
    with ``bench`` laid over it."""
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["source"] = bench["source"]
    config["models"].update(bench["models"])
    plan = RunPlan(config)
    return {v: plan.backbone(f"vgg16-{v}") for v in bench["models"]["vgg16"]["variants"]}


def job_seconds(workdir: Path, folder: str) -> tuple[float, float]:
    """Wall and CPU seconds summed over the feature jobs' benchmark files."""
    wall = cpu = 0.0
    for split in SPLITS:
        path = workdir / f"results/benchmarks/frozen_features/vgg16/{folder}/{split}.tsv"
        with open(path, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        wall, cpu = wall + float(row["s"]), cpu + float(row["cpu_time"])
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 64])
    parser.add_argument(
        "--precisions", nargs="+", default=["float32"], choices=["float32", "bfloat16", "auto"]
    )
    parser.add_argument("--source", type=Path, default=FULL_ARCHIVE)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    # variant name -> (size, precision)
    runs = {f"px{s}{p}": (s, p) for s in args.sizes for p in args.precisions}
    variants = {name: {"image_size": s, "precision": p} for name, (s, p) in runs.items()}
    bench = {
        "source": str(args.source.resolve()),
        "models": {
            "enabled": ["vgg16"],
            "recipe": "improved",
            "vgg16": {"weights": None, "variants": variants},
        },
    }
    config = workdir / "bench-vgg16.yaml"
    config.write_text(yaml.safe_dump(bench))
    folders = feature_folders(workdir, bench)
    rows = []
    for name, (size, precision) in runs.items():
        arrays = [ARRAY.format(method="reference", size=size, split=s) for s in SPLITS]
        snakemake(workdir, config, *arrays)
        folder = folders[name]
        features = [f"results/features/vgg16/{folder}/{s}.npy" for s in SPLITS]
        start_load = load()
        wall, cpu = snakemake(workdir, config, *features)
        jobs_wall, jobs_cpu = job_seconds(workdir, folder)
        print(
            f"{size} px, {precision}: features of all splits {wall:.0f} s wall, {cpu:.0f} "
            f"CPU s (jobs: {jobs_wall:.0f} s wall, {jobs_cpu:.0f} CPU s; load {start_load} "
            f"-> {load()})",
            flush=True,
        )
        rows.append([name, size, precision, wall, cpu, jobs_wall, jobs_cpu])
    print(
        "\n| image size | precision | features wall s | CPU s | jobs' wall s | jobs' CPU s | "
        "grouped val (95 % CI) | TEST_SIMPLE (95 % CI) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, precision, wall, cpu, jobs_wall, jobs_cpu in rows:
        metrics_file = f"results/models/vgg16-{name}/metrics.json"
        snakemake(workdir, config, metrics_file)
        metrics = json.loads((workdir / metrics_file).read_text())
        cells = []
        for split in ("val", "test_simple"):
            m = metrics.get(split)
            cells.append(
                f"{m['accuracy']:.3f} ({m['ci95']['accuracy'][0]:.3f}-"
                f"{m['ci95']['accuracy'][1]:.3f})"
                if m
                else "-"
            )
        print(
            f"| {size} px | {precision} | {wall:.0f} | {cpu:.0f} | {jobs_wall:.0f} | "
            f"{jobs_cpu:.0f} | {cells[0]} | {cells[1]} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
