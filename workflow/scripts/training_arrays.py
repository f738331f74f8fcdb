import csv
import logging

from wbc.arrays import build_image_array
from wbc.runtime import run_rule


def main():
    with open(snakemake.input.split, newline="") as fh:
        crops = [row["crop"] for row in csv.DictReader(fh, delimiter="\t")]
    build_image_array(crops, snakemake.params.size, snakemake.output[0])
    logging.info("%d crops resized to %d px", len(crops), snakemake.params.size)


run_rule(main, snakemake.log[0])
