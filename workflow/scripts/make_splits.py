import logging

from wbc.integrity_table import test_leaks
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule
from wbc.splits import make_splits


def main():
    params = snakemake.params
    verdicts = read_tsv(snakemake.input.integrity)
    groups = {row["image"]: row["group"] for row in read_tsv(snakemake.input.groups)}
    splits = make_splits(
        read_tsv(snakemake.input.manifest),
        read_tsv(snakemake.input.qc),
        verdicts,
        params.val_fraction,
        params.seed,
        params.group_by,
        groups,
    )
    for name in ("train", "val", "test", "test_simple"):
        rows = splits[name]
        write_tsv(snakemake.output[name], rows)
        cells = len({row["group"] for row in rows})
        logging.info("%s: %d images of %d source cells", name, len(rows), cells)
    leaks = test_leaks(verdicts)
    write_tsv(snakemake.output.leaks, leaks)
    if leaks:
        logging.warning(
            "%d TEST/TEST_SIMPLE image(s) are copies of TRAIN images or of their source "
            "cells, e.g. %s (%s of %s); %d of them scored in the test split files "
            "(config key split.train_copies_in_test: drop, drop_cells or keep); listed in %s",
            len(leaks),
            leaks[0]["image"],
            leaks[0]["kind"],
            leaks[0]["train_image"],
            sum(row["scored"] for row in leaks),
            snakemake.output.leaks,
        )


run_rule(main, snakemake)
