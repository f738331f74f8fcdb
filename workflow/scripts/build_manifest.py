import logging

from wbc.dataset import MANIFEST_COLUMNS, build_manifest, manifest_classes
from wbc.io import write_tsv
from wbc.runtime import run_rule


def main():
    params = snakemake.params
    rows = build_manifest(params.root, params.val_fraction, params.conflicting_labels)
    write_tsv(snakemake.output[0], rows, MANIFEST_COLUMNS)
    duplicates = sum(1 for row in rows if row["duplicate_of"])
    logging.info("%d images listed, %d byte-identical duplicates", len(rows), duplicates)
    logging.info("classes (the TRAIN folders): %s", ", ".join(manifest_classes(rows)))


run_rule(main, snakemake)
