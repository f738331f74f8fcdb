"""Wall time, CPU time and peak memory per rule of a finished run, from Snakemake's own
benchmark files, as a Markdown table (issue 6 item 6: the whole pipeline); then each
rule's span in the run (its first job's start to its last job's end, from Snakemake's
newest log) and the grouping stage's (issue 23: the index's start to the collect's end,
as the workflow schedules it, crop shards beside it).

    .venv/bin/python benchmarks/rule_times.py path/to/workdir [--log .snakemake/log/X.log]
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path

import common  # noqa: F401  (puts the workflow's package on sys.path)
from wbc.report.run_facts import benchmark_table

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: \d+ \(Rule: (\w+)\)$")
# the grouping stage: its first rule's start to its last rule's end
GROUPING = ("source_cell_index", "groups")


def rule_spans(log: Path) -> dict[str, list]:
    """Per rule: [jobs, first start, last end] from a Snakemake log (second resolution)."""
    spans: dict[str, list] = {}
    stamp = None
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(" ".join(m[1].split()), "%a %b %d %H:%M:%S %Y")
        elif m := STARTED.match(line):
            span = spans.setdefault(m[1], [0, stamp, stamp])
            span[0] += 1
        elif (m := FINISHED.match(line)) and m[1] in spans:
            spans[m[1]][2] = stamp
    return spans


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir", type=Path, nargs="?", default=Path("."))
    parser.add_argument("--log", type=Path, help="a Snakemake log (default: the newest)")
    args = parser.parse_args()
    folder = args.workdir / "results" / "benchmarks"
    table = benchmark_table(folder.rglob("*.tsv"), folder)
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table)
    print(f"\nsum of job wall times: {table.iloc[:, 2].sum() / 60:.1f} min\n")

    logs = sorted((args.workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    log = args.log or (logs[-1] if logs else None)
    if log is None:
        return
    spans = rule_spans(log)
    print(f"spans in {log}:\n")
    print("| rule | jobs | first start | last end | span s |\n|---|---|---|---|---|")
    for rule, (jobs, start, end) in spans.items():
        seconds = int((end - start).total_seconds())
        print(f"| {rule} | {jobs} | {start:%H:%M:%S} | {end:%H:%M:%S} | {seconds} |")
    first, last = GROUPING
    if first in spans and last in spans:
        seconds = (spans[last][2] - spans[first][1]).total_seconds()
        print(f"\ngrouping stage ({first}'s start to {last}'s end): {seconds:.0f} s")


if __name__ == "__main__":
    main()
