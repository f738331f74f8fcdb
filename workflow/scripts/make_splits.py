import logging

from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule
from wbc.splits import SPLIT_COLUMNS, make_splits


def main():
    params = snakemake.params
    splits = make_splits(
        read_tsv(snakemake.input.manifest),
        read_tsv(snakemake.input.qc),
        params.val_fraction,
        params.seed,
        params.group_by,
    )
    for name, rows in splits.items():
        write_tsv(snakemake.output[name], rows, SPLIT_COLUMNS)
        cells = len({row["group"] for row in rows})
        logging.info("%s: %d images of %d groups", name, len(rows), cells)


run_rule(main, snakemake.log[0])
