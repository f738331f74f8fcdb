import logging
from pathlib import Path

from wbc.groups import MATCH_COLUMNS, describe_shard, load_index, match_shard
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    root = Path(snakemake.params.root)
    images = [(row["image"], root / row["image"]) for row in read_tsv(snakemake.input.images)]
    has_index = Path(snakemake.input.index).stat().st_size > 0
    index = load_index(snakemake.input.index) if has_index else None
    vocabulary = index.vocabulary if index else None
    features = describe_shard(images, snakemake.output.features, vocabulary)
    rows = match_shard(features, index)
    write_tsv(snakemake.output.matches, rows, MATCH_COLUMNS)
    logging.info("described and matched %d images", len(rows))


run_rule(main, snakemake)
