import logging

from wbc.arrays import build_image_array
from wbc.io import read_tsv
from wbc.runtime import run_rule


def main():
    # the crops of this array's method, by image (the split lists the run's own method's)
    qc = [row for table in snakemake.input.qc for row in read_tsv(table)]
    crop_of = {row["image"]: row["crop"] for row in qc}
    crops = [crop_of[row["image"]] for row in read_tsv(snakemake.input.split)]
    build_image_array(crops, snakemake.params.size, snakemake.output[0])
    method, size = snakemake.wildcards.method, snakemake.params.size
    logging.info("%d crops (%s) resized to %d px", len(crops), method, size)


run_rule(main, snakemake)
