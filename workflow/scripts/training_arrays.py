import logging

from wbc.arrays import build_image_array
from wbc.crop import crop_paths
from wbc.io import read_tsv
from wbc.runtime import run_rule


def main():
    # the crops of this array's method, by image (the split lists the run's own method's)
    shards = zip(snakemake.input.qc, snakemake.input.crops, strict=True)
    qc = [row for table, crops in shards for row in crop_paths(read_tsv(table), crops)]
    crop_of = {row["image"]: row["crop"] for row in qc}
    crops = [crop_of[row["image"]] for row in read_tsv(snakemake.input.split)]
    build_image_array(crops, snakemake.params.size, snakemake.output[0])
    method, size = snakemake.wildcards.method, snakemake.params.size
    logging.info("%d crops (%s) resized to %d px", len(crops), method, size)


run_rule(main, snakemake)
