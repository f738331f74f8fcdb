import logging
from pathlib import Path

from wbc.crop import QC_COLUMNS, crop_images
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    root = Path(snakemake.params.root)
    images = [(row["image"], root / row["image"]) for row in read_tsv(snakemake.input.images)]
    params = snakemake.params
    rows = crop_images(
        images,
        snakemake.output.crops,
        strict=params.strict,
        method=params.method,
        window=params.window or 96,
    )
    write_tsv(snakemake.output.qc, rows, QC_COLUMNS)
    logging.info("cropped %d images (%s)", len(rows), params.method)


run_rule(main, snakemake)
