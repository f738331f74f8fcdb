import logging

from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule
from wbc.splits import SPLIT_COLUMNS, make_splits


def main():
    splits = make_splits(
        read_tsv(snakemake.input.manifest),
        read_tsv(snakemake.input.qc),
        snakemake.params.val_fraction,
        snakemake.params.seed,
    )
    for name, rows in splits.items():
        write_tsv(snakemake.output[name], rows, SPLIT_COLUMNS)
        logging.info("%s: %d images", name, len(rows))


run_rule(main, snakemake.log[0])
