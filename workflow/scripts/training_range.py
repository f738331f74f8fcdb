import logging

from wbc.domain import training_range
from wbc.io import read_tsv, write_json
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    found = training_range(
        read_tsv(inputs.manifest),
        read_tsv(inputs.qc),
        read_tsv(inputs.train),
        seed=snakemake.params.seed,
    )
    write_json(snakemake.output[0], found)
    logging.info("training range of %d train images: %s", found["n_images"], found)


run_rule(main, snakemake)
