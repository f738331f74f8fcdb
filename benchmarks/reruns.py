"""A finished full-archive run, before and after: the no-op dry run and one changed image.

    .venv/bin/python benchmarks/reruns.py prepare --base /work/full/base --scratch /work/fullspeed
    .venv/bin/python benchmarks/reruns.py noop --scratch /work/fullspeed [--after RUN] [--whole]
        [--after-config FILE ...] [--before-config FILE ...] [--before-file FILE=OLD]
    .venv/bin/python benchmarks/reruns.py one-image --scratch /work/fullspeed [--after RUN]

``--base`` is a finished run of the data stages (``snakemake split`` with
``source=blood-cells.zip``) made by an earlier version of the workflow; it is only read.
``prepare`` copies it twice: ``before/`` with the workflow it was made by (its recorded
absolute code paths rewritten to the copy's), ``after/`` with this repository's workflow,
whose new metadata (code versions) ``snakemake --touch`` records without recomputing;
then builds the training arrays in each.
``noop`` alternates dry runs of the two copies with two floors (``snakemake --version``:
Snakemake's own start-up; the dry run of a finished one-rule workflow) and prints medians
of wall and CPU seconds, with the load.
``one-image`` re-encodes one TRAIN image in a copy of the archive and times each copy's
rerun of the stages before training (crop, groups, split, training arrays), per rule.
``--archive`` (every command) names the archive the runs were given, e.g. the 12.5 k
stand-in of ``complete_archive.py``; a scratch without ``before/`` times the after run alone.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from common import FULL_ARCHIVE, REPO, SNAKEMAKE, load, timed

# the data stages and the arrays of the default models (64 px: rf, cnn; 128 px: vgg16),
# for a workflow older than its run plan's arrays()
SIZES = (64, 128)
SPLITS = ("train", "val", "test", "test_simple")
# the arrays the default config's models read, as the workdir's own run plan says
PLAN_ARRAYS = (
    "import yaml; from wbc.plan import RunPlan; "
    "config = yaml.safe_load(open('config/config.yaml')); "
    "print(' '.join(f'{m}/{s}' for m, s in RunPlan(config).arrays()))"
)


def targets(workdir: Path) -> list[str]:
    """The data stages and the default models' arrays, in the layout of ``workdir``'s
    workflow: those its run plan lists (``results/arrays/<crop method>/<size>px/``; since
    this session the CNN's are nucleus windows), ``results/arrays/reference/`` since issue
    22 before that, ``results/arrays/`` before issue 22."""
    env = {**os.environ, "PYTHONPATH": str(workdir / "workflow" / "scripts")}
    plan = subprocess.run(
        [sys.executable, "-c", PLAN_ARRAYS], cwd=workdir, env=env, capture_output=True, text=True
    )
    if plan.returncode == 0 and plan.stdout.strip():
        folders = [f"{a}px" for a in plan.stdout.split()]
    else:
        method = "reference/" if (workdir / "results" / "arrays" / "reference").is_dir() else ""
        folders = [f"{method}{s}px" for s in SIZES]
    arrays = [f"results/arrays/{folder}/{split}.npy" for folder in folders for split in SPLITS]
    return ["split", "crop_qc", *arrays]


def run(workdir: Path, *args: str, source: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds (Snakemake and its jobs) and the output of one Snakemake call
    with ``source`` (the archive the run was given)."""
    return timed([SNAKEMAKE, "--cores", "2", *args, "--config", f"source={source}"], workdir)


def copies(args) -> dict[str, Path]:
    """The runs compared: the scratch's ``before/`` where it exists (none for an archive no
    earlier workflow ran on), and ``--after`` (a finished run of this workflow) or the
    scratch's ``after/``."""
    scratch = args.scratch.resolve()
    runs = {"before": scratch / "before", "after": (args.after or scratch / "after").resolve()}
    if getattr(args, "before_file", None):  # the before run is the after run, one file swapped
        runs.pop("before")
    elif not runs["before"].is_dir():
        print(f"{runs.pop('before')}: absent, the after run alone is timed", flush=True)
    return runs


def copy_run(base: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["cp", "-a", str(base), str(dest)], check=True)  # mtimes kept
    for stale in ("locks", "incomplete", "wbc-leases"):
        shutil.rmtree(dest / ".snakemake" / stale, ignore_errors=True)
    # the old code inputs are absolute paths of the base's scripts: point them at the copy
    for record in (dest / ".snakemake" / "metadata").iterdir():
        text = record.read_text()
        if str(base) in text:
            record.write_text(text.replace(f"{base}/", f"{dest}/"))


def prepare(args) -> None:
    base, scratch = args.base.resolve(), args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    before, after = scratch / "before", scratch / "after"
    for workdir in (before, after):
        if workdir.exists() and not args.fresh:
            print(f"{workdir.name}: kept (--fresh copies it again)", flush=True)
            continue
        copy_run(base, workdir)
        if workdir == after:
            for name in ("Snakefile", "workflow"):
                target = after / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()
                src = REPO / name
                if src.is_dir():
                    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(src, target)
            # the new rule's output (the list of the originals: unpacks the archive again),
            # then the new metadata (code versions) of the rest without recomputing
            run(after, "results/groups/originals.tsv", source=args.archive)
            wall, _, _ = run(after, "--touch", "split", "crop_qc", source=args.archive)
            print(f"after: --touch in {wall:.1f} s (records the code versions)", flush=True)
        # the arrays the rerun benchmark times
        wall, _, _ = run(workdir, *targets(workdir), source=args.archive)
        print(f"{workdir.name}: arrays built in {wall:.1f} s", flush=True)
    for workdir in (before, after):
        _, _, out = run(workdir, "--dry-run", *targets(workdir), source=args.archive)
        state = "nothing to do" if "Nothing to be done" in out else "JOBS PENDING"
        print(f"{workdir.name}: {state}", flush=True)


# A workflow of one finished job: what any dry run costs before a workflow's own parsing
# and DAG (Snakemake's start-up, its persistence layer, one rule's checks)
ONE_RULE = """rule make:
    output:
        "done.txt",
    log:
        "make.log",
    params:
        code="1",
    shell:
        "touch {output} {log}"
"""


def one_rule_workflow(scratch: Path) -> Path:
    """A finished one-rule workflow under ``scratch``, for the dry run's floor."""
    workdir = scratch / "one-rule"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Snakefile").write_text(ONE_RULE)
    timed([SNAKEMAKE, "--cores", "1"], workdir)
    return workdir


def swap_before(args, calls: dict) -> Callable[[str], contextlib.AbstractContextManager]:
    """``--before-file FILE=OLD``: the before runs are the after run with its workflow file
    ``FILE`` replaced by ``OLD`` for each of their calls, then restored. A run moved to
    another folder is not a before run: the report rules' templates are inputs by absolute
    path, so their recorded input sets differ."""
    if not args.before_file:
        return lambda name: contextlib.nullcontext()
    relative, old = args.before_file.split("=", 1)
    after = calls["after"][0]
    target, old_text = after / relative, Path(old).read_bytes()
    for name in [n for n in calls if n.startswith("after")]:
        calls[name.replace("after", "before", 1)] = calls[name]

    @contextlib.contextmanager
    def swapped(name: str):
        if not name.startswith("before"):
            yield
            return
        new_text = target.read_bytes()
        target.write_bytes(old_text)
        try:
            yield
        finally:
            target.write_bytes(new_text)

    return swapped


def noop(args) -> None:
    """Alternating dry runs of each copy; ``--whole``: also the default target (rule all) of
    the copies that finished one (a full run's ``snakemake -n``). Two floors: Snakemake's
    start-up alone (``--version``) and the dry run of a finished one-rule workflow."""
    # name -> (folder, snakemake arguments); the floors: Snakemake's start-up alone (no
    # folder), then the dry run of a finished one-rule workflow
    calls: dict[str, tuple[Path | None, list[str]]] = {
        "floor": (None, []),
        "one-rule": (one_rule_workflow(args.scratch.resolve()), ["--dry-run"]),
    }
    for name, workdir in copies(args).items():
        # the after run's own config files (e.g. vgg16 weights: null), before the flag
        # that ends their list; with --before-file, the before runs reuse the after's calls
        files = {"after": args.after_config, "before": args.before_config}.get(name)
        config = ["--configfile", *files] if files else []
        calls[name] = (workdir, [*config, "--dry-run", *targets(workdir)])
        if args.whole and (workdir / "results" / "report" / "report.html").exists():
            calls[f"{name}, whole run"] = (workdir, [*config, "--dry-run"])
    swapped = swap_before(args, calls)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    loads = [load()]
    for _ in range(args.repeats):
        for name, (workdir, arguments) in calls.items():
            if workdir is None:
                wall, cpu, _ = timed([SNAKEMAKE, "--version"])
            else:
                with swapped(name):
                    wall, cpu, out = run(workdir, *arguments, source=args.archive)
                assert "Nothing to be done" in out, f"{name}: the dry run has jobs to do"
            timings[name].append((wall, cpu))
        loads.append(load())
    med = statistics.median
    print(f"\n{args.repeats} alternating repeats; 1-min load average {' '.join(loads)}\n")
    print("| dry run, nothing to do | wall s (median, range) | CPU s (median) |")
    print("| --- | --- | --- |")
    for name, rows in timings.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        label = {
            "floor": "`snakemake --version` (Snakemake's own start-up)",
            "one-rule": "a finished one-rule workflow (any dry run's floor)",
        }.get(name, name)
        spread = f"{min(walls):.2f}-{max(walls):.2f}"
        print(f"| {label} | {med(walls):.2f} ({spread}) | {med(cpus):.2f} |")
    if "before" not in timings:
        return
    for suffix in ("", ", whole run"):
        if f"after{suffix}" not in timings:
            continue
        b, a = timings[f"before{suffix}"], timings[f"after{suffix}"]
        print(
            f"\nafter / before{suffix}: wall {med(w for w, _ in a) / med(w for w, _ in b):.2f}, "
            f"CPU {med(c for _, c in a) / med(c for _, c in b):.2f}"
        )


def changed_archive(archive: Path, scratch: Path, repeat: int) -> tuple[Path, str]:
    """A copy of ``archive`` with one TRAIN image re-encoded (JPEG quality 90 - repeat)."""
    dest = scratch / f"changed{repeat}.zip"
    with zipfile.ZipFile(archive) as src:
        names = [n for n in src.namelist() if "/TRAIN/" in n and n.endswith(".jpeg")]
        victim = sorted(names)[len(names) // 3 + repeat]
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as out:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == victim:
                    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                    quality = [cv2.IMWRITE_JPEG_QUALITY, 90 - repeat]
                    data = cv2.imencode(".jpeg", image, quality)[1].tobytes()
                out.writestr(info, data)
    return dest, victim


def rule_seconds(workdir: Path, since: float) -> dict[str, float]:
    """Wall seconds per rule from the benchmark files written after ``since``."""
    out: dict[str, float] = {}
    for path in (workdir / "results" / "benchmarks").rglob("*.tsv"):
        if path.stat().st_mtime < since:
            continue
        rule = path.relative_to(workdir / "results" / "benchmarks").parts[0].removesuffix(".tsv")
        with open(path, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        out[rule] = out.get(rule, 0) + float(row["s"])
    return out


def scheduled(out: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's "Job stats" table."""
    if "Job stats:" not in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0].splitlines()[3:]
    jobs = dict(line.split() for line in table if line.strip())
    jobs.pop("total", None)
    return {rule: int(n) for rule, n in jobs.items()}


def one_image(args) -> None:
    scratch = args.scratch.resolve()
    print(f"load before: {load()}", flush=True)
    runs = copies(args)
    for repeat in range(args.repeats):
        archive, victim = changed_archive(args.archive, scratch, repeat)
        for name, workdir in runs.items():
            work = workdir / "bench-source.zip"  # the same path on every repeat
            shutil.copy2(archive, work)
            if name == "before" and not args.run_before:
                # what it would run, and those rules' job seconds in the base run
                _, _, out = run(workdir, "--dry-run", *targets(workdir), source=work)
                jobs = scheduled(out)
                base = rule_seconds(workdir, 0)
                cost = sum(base.get(rule, 0) for rule in jobs)
                print(
                    f"repeat {repeat} before (dry run): {victim} changed: jobs {jobs}; "
                    f"the first {sum(jobs.values())} alone took {cost:.0f} job seconds in "
                    "the base run (those beyond a checkpoint are not listed)",
                    flush=True,
                )
                continue
            since = time.time()
            wall, cpu, _ = run(workdir, *targets(workdir), source=work)
            rules = rule_seconds(workdir, since)
            top = ", ".join(f"{r} {s:.1f}" for r, s in sorted(rules.items(), key=lambda x: -x[1]))
            print(
                f"repeat {repeat} {name}: {victim} changed: {wall:.1f} s wall, {cpu:.1f} CPU s "
                f"(load {load()}); job seconds by rule: {top}",
                flush=True,
            )
        os.remove(archive)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--base", type=Path, required=True)
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--fresh", action="store_true", help="copy the base run again")
    p = sub.add_parser("noop")
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--after", type=Path, help="a finished run (default: the scratch's after/)")
    p.add_argument("--whole", action="store_true", help="also dry-run rule all where done")
    p.add_argument("--after-config", nargs="*", default=[], help="config files of the after run")
    p.add_argument("--before-config", nargs="*", default=[], help="those of the before run")
    p.add_argument(
        "--before-file",
        help="FILE=OLD: time the after run with its workflow file FILE replaced by OLD as the "
        "before run (e.g. workflow/rules/common.smk=/tmp/common.smk), instead of before/",
    )
    p = sub.add_parser("one-image")
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--after", type=Path, help="a finished run (default: the scratch's after/)")
    p.add_argument(
        "--run-before",
        action="store_true",
        help="rerun the before copy too (default: its dry run; it rebuilds the index and "
        "every group shard, ~15 CPU minutes)",
    )
    for p in sub.choices.values():
        p.add_argument(
            "--archive",
            type=Path,
            default=FULL_ARCHIVE,
            help="the archive the runs were given (default: the shared full archive)",
        )
    args = parser.parse_args()
    args.archive = args.archive.resolve()  # the path the runs were given (no symlink)
    {"prepare": prepare, "noop": noop, "one-image": one_image}[args.command](args)


if __name__ == "__main__":
    main()
