"""Source groups (wbc.groups) on the full archive: quality, distributions and timings.

    .venv/bin/python benchmarks/grouping.py [--outdir /tmp/groups-full] [--processes 2]
        [--shards 16] [--subsets 1000 3000] [--exact-sample 300] [--scratch /tmp/wbc-groups]

Runs what the workflow would: the index of the originals, then shard jobs (describe +
match, one process per shard, ``--processes`` at a time), then the collecting step
(``assign_groups``). Writes ``<outdir>/groups.tsv`` (every cell image, ids relative to the
dataset root) and prints the summary. Then times the no-originals near-duplicate grouping
on TRAIN subsets and scores it against the original-matched groups, and checks the
bag-of-words shortlist against matching every original on a sample.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import resource
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from common import require_archive, unpacked
from wbc import groups as G
from wbc.dataset import scan_dataset, write_tsv
from wbc.source import shard_of


def run_shard(job: tuple[list[tuple[str, str]], str, str]) -> tuple[list[dict], float, float]:
    """One shard job: describe (features saved) then match; returns rows and CPU times."""
    import cv2

    cv2.setNumThreads(1)  # one core per shard job, as the workflow would give it
    images, features_path, index_path = job
    start = time.process_time()
    features = G.describe_shard(images, features_path)
    described = time.process_time()
    rows = G.match_shard(features, G.load_index(index_path))
    return rows, described - start, time.process_time() - described


def quantiles(values, qs=(0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1)) -> str:
    values = np.asarray(list(values), float)
    if not len(values):
        return "(none)"
    return " ".join(f"q{int(q * 100)}={np.quantile(values, q):g}" for q in qs)


def subset(images: list[str], n: int) -> list[str]:
    """A fixed pseudo-random subset (by hash of the id): the same on every run."""
    return sorted(images, key=lambda i: hashlib.sha1(i.encode()).hexdigest())[:n]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", type=Path, default=Path("/tmp/groups-full"))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "wbc-groups")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--subsets", type=int, nargs="*", default=[1000, 3000])
    parser.add_argument("--exact-sample", type=int, default=300)
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.scratch / "shards").mkdir(parents=True, exist_ok=True)

    root = unpacked(require_archive(), args.scratch / "data")
    entries = scan_dataset(root)
    split_of = {e.image: e.split for e in entries}
    label_of = {e.image: e.label for e in entries}
    print(f"{len(entries)} cell images: {dict(Counter(e.split for e in entries))}")

    originals = G.find_originals(root)
    index_path = args.scratch / "index.npz"
    start = time.perf_counter()
    index = G.build_index(originals, index_path)
    index_s = time.perf_counter() - start
    print(
        f"index: {len(index.names)} originals, {len(index.desc)} descriptors (with mirrors), "
        f"{len(index.vocabulary.idf)} words, built in {index_s:.1f} s, "
        f"{index_path.stat().st_size / 1e6:.1f} MB"
    )
    families = Counter(index.family.tolist())
    print(
        f"related originals (same or overlapping field): {len(index.related)} pairs, "
        f"{sum(n > 1 for n in families.values())} families of "
        f"{sorted((n for n in families.values() if n > 1), reverse=True)} originals"
    )
    print("  " + ", ".join(f"{a[-5:]}-{b[-5:]} ({v})" for a, b, v in index.related))

    # shard jobs, then the collecting step, as the workflow runs them
    members = defaultdict(list)
    for e in entries:
        members[shard_of(e.image, args.shards)].append((e.image, str(root / e.image)))
    jobs = [
        (members[k], str(args.scratch / "shards" / f"{k}.npz"), str(index_path))
        for k in sorted(members)
    ]
    # one BLAS thread per process: each shard job has one core
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = pool.map(run_shard, jobs, chunksize=1)
    shards_s = time.perf_counter() - start
    rows = [row for shard_rows, _, _ in results for row in shard_rows]
    describe_cpu = sum(r[1] for r in results)
    match_cpu = sum(r[2] for r in results)

    start = time.perf_counter()
    features = G.load_features(job[1] for job in jobs)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    groups = G.assign_groups(rows, features, index.related)
    collect_s = time.perf_counter() - start
    write_tsv(args.outdir / "groups.tsv", groups, G.GROUP_COLUMNS)
    n = len(groups)
    print(
        f"shard jobs: {len(jobs)} shards, {args.processes} processes, {shards_s:.1f} s wall "
        f"({shards_s / n * 1000:.1f} ms/image wall); CPU per image: describe "
        f"{describe_cpu / n * 1000:.1f} ms + match {match_cpu / n * 1000:.1f} ms"
    )
    print(f"collect: load features {load_s:.1f} s, assign_groups {collect_s:.1f} s")
    print(f"wrote {args.outdir / 'groups.tsv'} ({n} rows)")
    summarize(groups, split_of, label_of, G.read_original_labels(root))

    by_image = {r["image"]: r for r in groups}
    check_shortlist(index, features, by_image, args.exact_sample)
    train = [r["image"] for r in groups if split_of[r["image"]] == "TRAIN"]
    for size in args.subsets:
        near_duplicates(features, by_image, subset(train, size))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def summarize(groups, split_of, label_of, labels) -> None:
    print("\nmatch status:")
    for split in sorted({split_of[r["image"]] for r in groups}):
        counts = Counter(r["match"] for r in groups if split_of[r["image"]] == split)
        print(f"  {split}: {dict(sorted(counts.items()))}")
    readable = [r for r in groups if r["match"] != G.UNREADABLE]
    print("votes of the best original:", quantiles(r["votes"] for r in readable))
    print("votes of the runner-up:    ", quantiles(r["runner_up_votes"] for r in readable))
    print(
        "runner-up / best:          ",
        quantiles(r["runner_up_votes"] / max(r["votes"], 1) for r in readable),
    )
    for status in (G.WEAK, G.AMBIGUOUS, G.UNMATCHED):
        for r in [r for r in groups if r["match"] == status][:10]:
            print(f"  {status}: {r['image']} {r['original']} {r['votes']} "
                  f"{r['runner_up']} {r['runner_up_votes']}")  # fmt: skip

    train = [r for r in groups if split_of[r["image"]] == "TRAIN"]
    print("\nTRAIN groups per class (distinct groups / images):")
    for label in sorted({label_of[r["image"]] for r in train}):
        mine = [r for r in train if label_of[r["image"]] == label]
        print(f"  {label}: {len({r['group'] for r in mine})} / {len(mine)}")
    sizes = Counter(r["group"] for r in train)
    print(f"  all TRAIN: {len(sizes)} groups; images per group: {quantiles(sizes.values())}")
    classes = defaultdict(set)
    for r in groups:
        classes[r["group"]].add(label_of[r["image"]])
    mixed = {g: sorted(c) for g, c in classes.items() if len(c) > 1}
    print(f"  groups holding more than one class: {len(mixed)} {dict(list(mixed.items())[:8])}")
    not_original = [r for r in groups if not r["group"].startswith("BloodImage_")]
    print(f"  images in groups without an original: {len(not_original)}")

    by_split = defaultdict(set)
    for r in groups:
        by_split[split_of[r["image"]]].add(r["group"])
    train_originals = defaultdict(Counter)
    for r in groups:
        if split_of[r["image"]] == "TRAIN":
            train_originals[r["group"]][r["original"]] += 1
    for split in sorted(by_split):
        if split == "TRAIN":
            continue
        shared = [
            r for r in groups
            if split_of[r["image"]] == split and r["group"] in by_split["TRAIN"]
        ]  # fmt: skip
        print(f"{split} images whose group also appears in TRAIN: {len(shared)}")
        for r in shared:
            print(
                f"  {r['image']} (original {r['original']}): group {r['group']}, in TRAIN "
                f"{dict(train_originals[r['group']])}"
            )

    matched = [r for r in groups if r["match"] == G.MATCHED]
    agree = sum(label_of[r["image"]] in labels.get(r["original"], ()) for r in matched)
    blank = sum(labels.get(r["original"], ()) == () for r in matched)
    print(
        f"labels.csv check of matched images: the original lists the image's class for "
        f"{agree} of {len(matched)}; original's label blank or missing: {blank}"
    )
    wrong = Counter(
        (label_of[r["image"]], ",".join(labels.get(r["original"], ())) or "(blank)")
        for r in matched
        if label_of[r["image"]] not in labels.get(r["original"], ())
    )
    print(f"  image class vs labels.csv when not listed: {dict(wrong.most_common(12))}")


def check_shortlist(index, features, by_image, sample_size) -> None:
    """Bag-of-words shortlist vs matching against every original, on a sample."""
    if not sample_size:
        return
    sample = {i: features[i] for i in subset(list(features), sample_size)}
    start = time.process_time()
    exact = G.match_shard(sample, index, shortlist=len(index.names))
    exact_cpu = time.process_time() - start
    same = sum(e["original"] == by_image[e["image"]]["original"] for e in exact)
    status = sum(e["match"] == by_image[e["image"]]["match"] for e in exact)
    extra = [by_image[e["image"]]["votes"] - e["votes"] for e in exact]
    extra_ru = [by_image[e["image"]]["runner_up_votes"] - e["runner_up_votes"] for e in exact]
    print(
        f"\nshortlist ({G.SHORTLIST}) vs all {len(index.names)} originals, {len(exact)} images: "
        f"same best original {same}, same status {status}; votes gained by the shortlist "
        f"{quantiles(extra, (0, 0.5, 0.95, 1))}, "
        f"runner-up {quantiles(extra_ru, (0, 0.5, 0.95, 1))}; "
        f"exhaustive matching {exact_cpu / len(exact) * 1000:.0f} ms/image CPU"
    )


def near_duplicates(features, by_image, images: list[str]) -> None:
    """No-originals grouping of a TRAIN subset, scored against the original-based groups."""
    subset_features = {i: features[i] for i in images}
    start, cpu = time.perf_counter(), time.process_time()
    links = G.near_duplicate_links(subset_features)
    groups = G.group_near_duplicates(subset_features, links)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    truth = {i: by_image[i]["group"] for i in images}
    purity, completeness = G.cluster_agreement(truth, groups)
    # the originals' groups merge overlapping originals, which near duplicates cannot see
    # unless the copies themselves overlap: scored against single originals too
    per_original = {i: by_image[i]["original"] for i in images}
    purity_o, completeness_o = G.cluster_agreement(per_original, groups)
    n_groups = len(set(groups.values()))
    wrong = sum(by_image[a]["group"] != by_image[b]["group"] for a, b, _ in links)
    print(
        f"\nnear duplicates, {len(images)} TRAIN images ({len(set(truth.values()))} groups of "
        f"{len(set(per_original.values()))} originals): {n_groups} groups, {len(links)} links "
        f"({wrong} across the originals' groups), {wall:.1f} s wall, {cpu:.1f} s CPU\n"
        f"  vs the originals' groups: purity {purity:.3f}, completeness {completeness:.3f}; "
        f"vs single originals: purity {purity_o:.3f}, completeness {completeness_o:.3f}"
    )
    print("  link inliers:", quantiles([n for *_, n in links], (0, 0.01, 0.05, 0.5)))


if __name__ == "__main__":
    main()
