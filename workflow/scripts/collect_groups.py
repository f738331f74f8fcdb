import logging
from collections import Counter
from pathlib import Path

from wbc.groups import GROUP_COLUMNS, assign_groups, load_features, load_index
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    rows = [row for table in inputs.matches for row in read_tsv(table)]
    related = load_index(inputs.index).related if Path(inputs.index).stat().st_size else ()
    groups = assign_groups(rows, load_features(inputs.features), related)
    write_tsv(snakemake.output[0], groups, GROUP_COLUMNS)
    status = Counter(row["match"] for row in groups)
    logging.info(
        "%d images in %d source groups; matches: %s",
        len(groups),
        len({row["group"] for row in groups}),
        dict(sorted(status.items())),
    )


run_rule(main, snakemake)
