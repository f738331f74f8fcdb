import logging
from collections import Counter
from pathlib import Path

from wbc.groups import MATCHED, WEAK
from wbc.integrity import CHECKS, Tables, columns, verdicts
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    groups = read_tsv(inputs.groups)
    tables = Tables(
        manifest=read_tsv(inputs.manifest),
        qc=read_tsv(inputs.qc),
        groups={row["image"]: row["group"] for row in groups},
        root=Path(snakemake.params.root),
        originals={
            row["image"]: row["original"] for row in groups if row["match"] in (MATCHED, WEAK)
        },
    )
    rows = verdicts(tables, snakemake.params.settings)
    write_tsv(snakemake.output[0], rows, columns())
    for check in CHECKS:
        flagged = [row for row in rows if row[check.column]]
        left_out = sum(1 for row in flagged if not row["kept"])
        logging.info("%s: %d image(s), %d left out", check.name, len(flagged), left_out)
    reasons = Counter(row["reason"] for row in rows if not row["kept"])
    for reason, n in sorted(reasons.items()):
        logging.info("left out: %d image(s): %s", n, reason)


run_rule(main, snakemake)
