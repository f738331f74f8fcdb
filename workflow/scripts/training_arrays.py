import logging

from wbc.arrays import ArrayCache, build_image_array
from wbc.crop import crop_paths
from wbc.io import read_tsv
from wbc.runtime import run_rule


def main():
    # the crops of this array's method, by image (the split lists the run's own method's)
    shards = zip(snakemake.input.qc, snakemake.input.crops, strict=True)
    qc = [row for table, crops in shards for row in crop_paths(read_tsv(table), crops)]
    crop_of = {row["image"]: row["crop"] for row in qc}
    crops = [crop_of[row["image"]] for row in read_tsv(snakemake.input.split)]
    method, size = snakemake.wildcards.method, snakemake.params.size
    # the rows of the last build whose crops are unchanged are reused (wbc.arrays.ArrayCache)
    cache = ArrayCache(snakemake.params.cache, f"{snakemake.params.code} {size}")
    decoded = build_image_array(crops, size, snakemake.output[0], cache)
    logging.info(
        "%d crops (%s) at %d px: %d resized, %d unchanged since the last build (cache %s)",
        len(crops),
        method,
        size,
        decoded,
        len(crops) - decoded,
        snakemake.params.cache,
    )


run_rule(main, snakemake)
