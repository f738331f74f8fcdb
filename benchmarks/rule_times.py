"""Wall time, CPU time and peak memory per rule of a finished run, from Snakemake's own
benchmark files, as a Markdown table (issue 6 item 6: the whole pipeline).

    .venv/bin/python benchmarks/rule_times.py path/to/workdir
"""

from __future__ import annotations

import sys
from pathlib import Path

import common  # noqa: F401  (puts the workflow's package on sys.path)
from wbc.report.run_facts import benchmark_table


def main():
    workdir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    folder = workdir / "results" / "benchmarks"
    table = benchmark_table(folder.rglob("*.tsv"), folder)
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table)
    print(f"\nsum of job wall times: {table.iloc[:, 2].sum() / 60:.1f} min")


if __name__ == "__main__":
    main()
