"""Source groups (wbc.groups) on the full archive: quality, distributions and timings.

    .venv/bin/python benchmarks/grouping.py [--code DIR] [--outdir /tmp/groups-full]
        [--processes 2] [--shards 64] [--reference results/groups.tsv] [--no-originals]
        [--subsets 1000 3000] [--exact-sample 300] [--scratch /tmp/wbc-groups]

Runs what the workflow would: the index of the originals, then shard jobs (describe +
match, one process per shard, ``--processes`` at a time, a fresh process each as Snakemake
starts one), then the collecting step (``assign_groups``). Writes ``<outdir>/groups.tsv``
(every cell image, ids relative to the dataset root) and prints the summary.

Before and after side by side: ``--code`` names the ``workflow/scripts`` folder whose
``wbc`` package runs (default: this checkout's), e.g. today's main unpacked with
``git archive main workflow/scripts | tar -x -C /tmp/before``; run once per version with
the other's ``groups.tsv`` as ``--reference`` (share of images in the same group, and the
disagreements). ``--no-originals`` then groups TRAIN as a user's folder without
``dataset-master/`` (the workflow's path: every image unmatched, near duplicates linked)
and scores its grouped split against the groups with originals (the truth): the share of
val images whose source cell also has images in train. ``--subsets`` times the
no-originals grouping on TRAIN subsets; ``--exact-sample`` checks the bag-of-words
shortlist against matching every original.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from common import REPO, require_archive, unpacked


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", type=Path, default=REPO / "workflow" / "scripts")
    parser.add_argument("--outdir", type=Path, default=Path("/tmp/groups-full"))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "wbc-groups")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--reference", type=Path, help="a groups.tsv to compare with")
    parser.add_argument("--no-originals", action="store_true")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--subsets", type=int, nargs="*", default=[])
    parser.add_argument("--exact-sample", type=int, default=0)
    return parser.parse_args()


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # the wbc package of the version measured
    sys.path.insert(0, str(ARGS.code.resolve()))
from wbc import groups as G  # noqa: E402
from wbc.dataset import scan_dataset, write_tsv  # noqa: E402
from wbc.source import shard_of  # noqa: E402


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


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    args = ARGS
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.scratch / "shards").mkdir(parents=True, exist_ok=True)
    print(f"code: {args.code}; {load()}")

    root = unpacked(require_archive(), args.scratch / "data")
    entries = scan_dataset(root)
    split_of = {e.image: e.split for e in entries}
    label_of = {e.image: e.label for e in entries}
    print(f"{len(entries)} cell images: {dict(Counter(e.split for e in entries))}")

    originals = G.find_originals(root)
    index_path = args.scratch / "index.npz"
    stage_start = start = time.perf_counter()
    cpu = time.process_time()
    index = G.build_index(originals, index_path)
    index_s, index_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"index: {len(index.names)} originals, {len(index.desc)} descriptors (with mirrors), "
        f"{len(index.vocabulary.idf)} words, built in {index_s:.1f} s ({index_cpu:.1f} s CPU), "
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
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.processes, maxtasksperchild=1) as pool:  # a fresh process per job
        results = pool.map(run_shard, jobs, chunksize=1)
    shards_s = time.perf_counter() - start
    rows = [row for shard_rows, _, _ in results for row in shard_rows]
    describe_cpu = sum(r[1] for r in results)
    match_cpu = sum(r[2] for r in results)

    start = time.perf_counter()
    features = G.load_features(job[1] for job in jobs)
    load_s = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    groups = G.assign_groups(rows, features, index.related)
    collect_s, collect_cpu = time.perf_counter() - start, time.process_time() - cpu
    stage_s = time.perf_counter() - stage_start
    columns = getattr(G, "GROUP_COLUMNS", None)
    write_tsv(args.outdir / "groups.tsv", groups, columns)
    n = len(groups)
    print(
        f"shard jobs: {len(jobs)} shards, {args.processes} processes, {shards_s:.1f} s wall "
        f"({shards_s / n * 1000:.1f} ms/image wall); CPU per image: describe "
        f"{describe_cpu / n * 1000:.1f} ms + match {match_cpu / n * 1000:.1f} ms"
    )
    print(
        f"collect: load features {load_s:.1f} s, assign_groups {collect_s:.1f} s "
        f"({collect_cpu:.1f} s CPU)"
    )
    print(f"grouping stage (index + shards + collect): {stage_s:.1f} s wall; {load()}")
    print(f"wrote {args.outdir / 'groups.tsv'} ({n} rows)")
    summarize(groups, split_of, label_of, G.read_original_labels(root))
    by_image = {r["image"]: r for r in groups}
    if args.reference:
        compare(by_image, args.reference)
    if args.no_originals:
        no_originals(features, by_image, split_of, label_of, args)
    check_shortlist(index, features, by_image, args.exact_sample)
    train = [r["image"] for r in groups if split_of[r["image"]] == "TRAIN"]
    for size in args.subsets:
        near_duplicates(features, by_image, subset(train, size))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def compare(by_image: dict, reference: Path) -> None:
    """Share of images whose group holds the same images as in ``reference`` (names may
    differ), with purity/completeness, and the disagreements."""
    import csv

    with open(reference, newline="") as fh:
        ref = {r["image"]: r for r in csv.DictReader(fh, delimiter="\t")}
    images = sorted(set(ref) & set(by_image))
    mine = {i: by_image[i]["group"] for i in images}
    theirs = {i: ref[i]["group"] for i in images}
    purity, completeness = G.cluster_agreement(theirs, mine)
    # an image agrees when its group's majority reference group is its own reference group
    # and its reference group's majority group here is its own group
    major_ref = {g: c.most_common(1)[0][0] for g, c in _tally(mine, theirs).items()}
    major_mine = {g: c.most_common(1)[0][0] for g, c in _tally(theirs, mine).items()}
    differ = [
        i for i in images if major_ref[mine[i]] != theirs[i] or major_mine[theirs[i]] != mine[i]
    ]
    print(
        f"\nvs {reference}: {len(images)} images in both; same group for "
        f"{len(images) - len(differ)} ({1 - len(differ) / len(images):.2%}); purity "
        f"{purity:.4f}, completeness {completeness:.4f}; disagreements {len(differ)}:"
    )
    for i in differ[:40]:
        print(
            f"  {i}: here {mine[i]} ({by_image[i]['match']} {by_image[i]['votes']}), "
            f"reference {theirs[i]} ({ref[i]['match']} {ref[i]['votes']})"
        )


def _tally(by: dict, of: dict) -> dict:
    out: dict = defaultdict(Counter)
    for image, g in by.items():
        out[g][of[image]] += 1
    return out


def no_originals(features, by_image, split_of, label_of, args) -> None:
    """TRAIN grouped as a folder without originals (the workflow's path), split as the
    workflow splits it; leaks scored against the groups found with the originals."""
    from wbc.splits import grouped_split

    train = {i: f for i, f in features.items() if split_of[i] == "TRAIN"}
    start, cpu = time.perf_counter(), time.process_time()
    rows = G.assign_groups(G.match_shard(train, None), train)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    write_tsv(args.outdir / "groups_no_originals.tsv", rows, getattr(G, "GROUP_COLUMNS", None))
    group = {r["image"]: r["group"] for r in rows}
    truth = {i: by_image[i]["group"] for i in train}
    purity, completeness = G.cluster_agreement(truth, group)
    doubt = Counter(r.get("doubt", "") for r in rows)
    print(
        f"\nno originals, all TRAIN ({len(train)} images, {len(set(truth.values()))} true "
        f"cells): {len(set(group.values()))} groups in {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"({load()}); vs the groups with originals: purity {purity:.4f}, completeness "
        f"{completeness:.4f}; doubt column: {dict(doubt)}"
    )
    for name, g in (("no originals", group), ("with originals", truth)):
        split_rows = [{"image": i, "label": label_of[i], "group": g[i]} for i in sorted(train)]
        tr, val = grouped_split(split_rows, args.val_fraction, args.seed)
        seen = {truth[r["image"]] for r in tr}
        leaks = [r for r in val if truth[r["image"]] in seen]
        per_class = Counter(label_of[r["image"]] for r in leaks)
        print(
            f"  grouped split, groups {name}: {len(leaks)} of {len(val)} val images "
            f"({len(leaks) / len(val):.2%}) are copies of a cell in train; {dict(per_class)}"
        )


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
