import logging

from wbc.dataset import MANIFEST_COLUMNS, build_manifest
from wbc.io import write_tsv
from wbc.runtime import run_rule


def main():
    rows = build_manifest(snakemake.params.root)
    write_tsv(snakemake.output[0], rows, MANIFEST_COLUMNS)
    duplicates = sum(1 for row in rows if row["duplicate_of"])
    logging.info("%d images listed, %d byte-identical duplicates", len(rows), duplicates)


run_rule(main, snakemake.log[0])
