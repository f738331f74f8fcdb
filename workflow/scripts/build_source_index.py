import logging

from wbc.groups import build_index, find_originals
from wbc.runtime import run_rule


def main():
    originals = find_originals(snakemake.params.root)
    if not originals:  # a folder of one's own images: images are grouped among themselves
        open(snakemake.output[0], "wb").close()
        logging.info("no originals (Kaggle's dataset-master/JPEGImages): an empty index")
        return
    index = build_index(originals, snakemake.output[0])
    logging.info(
        "%d originals indexed, %d overlapping pairs", len(index.names), len(index.related)
    )


run_rule(main, snakemake)
