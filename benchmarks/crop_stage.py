"""Crop stage through the workflow vs a plain one-process loop; dry run and reruns.

    .venv/bin/python benchmarks/crop_stage.py [--repeats 3] [--cores 2] [--scratch /tmp/wbc-bench]

Prints a Markdown table (medians of the repeats) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import require_archive, timed_snakemake, unpacked, workflow_copy
from wbc.crop import crop_images
from wbc.io import read_tsv


def plain_loop(root: Path, manifest: list[dict], out: Path) -> float:
    """The same crop function over the same images in one process, writing the same PNGs."""
    images = [(row["image"], str(root / row["image"])) for row in manifest]
    start = time.perf_counter()
    crop_images(images, out)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "wbc-bench")
    args = parser.parse_args()

    root = unpacked(require_archive(), args.scratch / "data")
    opts = ["--cores", str(args.cores), "--config", f"source={root}"]  # --config goes last
    spine = ["crop_qc", "split"]  # the data stages, no training
    loop_s, stage_s, dry_s, noop_s, change_s, recropped = [], [], [], [], [], []
    for repeat in range(args.repeats):
        wf = workflow_copy(args.scratch / "wf")
        timed_snakemake(wf, "results/manifest.tsv", *opts)
        manifest = read_tsv(wf / "results" / "manifest.tsv")
        loop_s.append(plain_loop(root, manifest, args.scratch / f"loop{repeat}"))
        stage_s.append(timed_snakemake(wf, "crop_qc", *opts))
        timed_snakemake(wf, *spine, *opts)  # the split files too
        dry_s.append(timed_snakemake(wf, "--dry-run", *spine, *opts))
        noop_s.append(timed_snakemake(wf, *spine, *opts))

        # change one image's content (swap in another image's bytes), rerun, restore
        target = root / manifest[repeat]["image"]
        original = target.read_bytes()
        target.write_bytes((root / manifest[-1 - repeat]["image"]).read_bytes())
        qc_dir = wf / "results" / "qc" / "crops"
        before = {p: p.stat().st_mtime_ns for p in qc_dir.glob("*.tsv")}
        change_s.append(timed_snakemake(wf, *spine, *opts))
        rerun = [p for p in qc_dir.glob("*.tsv") if p.stat().st_mtime_ns != before[p]]
        recropped.append(sum(len(read_tsv(p)) for p in rerun))
        target.write_bytes(original)
        print(
            f"repeat {repeat}: loop {loop_s[-1]:.1f} s, workflow crop stage {stage_s[-1]:.1f} s, "
            f"dry run {dry_s[-1]:.1f} s, no-op {noop_s[-1]:.1f} s, "
            f"one image changed {change_s[-1]:.1f} s "
            f"({len(rerun)} shard, {recropped[-1]} images re-cropped)",
            flush=True,
        )

    med = statistics.median
    print(f"\n{len(manifest)} images, --cores {args.cores}, medians of {args.repeats} runs\n")
    print("| measure | seconds |\n| --- | --- |")
    print(f"| plain one-process loop (crop_images over every image) | {med(loop_s):.1f} |")
    print(
        f"| workflow crop stage (`snakemake --cores {args.cores} crop_qc`) | {med(stage_s):.1f} |"
    )
    print(f"| ratio workflow / loop | {med(stage_s) / med(loop_s):.2f} |")
    print(f"| dry run (`-n`) | {med(dry_s):.1f} |")
    print(f"| no-op rerun | {med(noop_s):.1f} |")
    print(f"| rerun after one image's content changed | {med(change_s):.1f} |")
    print(f"| images re-cropped then | {med(recropped):.0f} of {len(manifest)} |")


if __name__ == "__main__":
    main()
