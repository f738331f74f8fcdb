import logging

from wbc.crop import QC_COLUMNS, crop_images
from wbc.dataset import write_tsv
from wbc.runtime import run_rule


def main():
    images = list(zip(snakemake.params.images, snakemake.input.images))
    rows = crop_images(images, snakemake.output.crops, strict=snakemake.params.strict)
    write_tsv(snakemake.output.qc, rows, QC_COLUMNS)
    logging.info("cropped %d images", len(rows))


run_rule(main, snakemake.log[0])
