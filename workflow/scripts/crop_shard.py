import logging
from pathlib import Path

from wbc.crop import QC_COLUMNS, crop_images
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    root = Path(snakemake.params.root)
    images = [(row["image"], root / row["image"]) for row in read_tsv(snakemake.input.images)]
    rows = crop_images(images, snakemake.output.crops, strict=snakemake.params.strict)
    write_tsv(snakemake.output.qc, rows, QC_COLUMNS)
    logging.info("cropped %d images", len(rows))


run_rule(main, snakemake)
