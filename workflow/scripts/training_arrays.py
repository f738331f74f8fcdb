import logging

from wbc.arrays import build_image_array
from wbc.io import read_tsv
from wbc.runtime import run_rule


def main():
    crops = [row["crop"] for row in read_tsv(snakemake.input.split)]
    build_image_array(crops, snakemake.params.size, snakemake.output[0])
    logging.info("%d crops resized to %d px", len(crops), snakemake.params.size)


run_rule(main, snakemake)
