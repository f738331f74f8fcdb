import logging

from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule
from wbc.splits import SPLIT_COLUMNS, copies_of_train, make_splits


def main():
    manifest, params = read_tsv(snakemake.input.manifest), snakemake.params
    splits = make_splits(
        manifest,
        read_tsv(snakemake.input.qc),
        params.val_fraction,
        params.seed,
        params.group_by,
        train_copies_in_test=params.train_copies_in_test,
    )
    for name, rows in splits.items():
        write_tsv(snakemake.output[name], rows, SPLIT_COLUMNS)
        cells = len({row["group"] for row in rows})
        logging.info("%s: %d images of %d groups", name, len(rows), cells)
    copies = copies_of_train(manifest)
    if copies:
        logging.warning(
            "%d TEST/TEST_SIMPLE image(s) are byte-identical copies of TRAIN images, e.g. "
            "%s = %s: %s the test split files (config key split.train_copies_in_test); "
            "listed in %s (column copy_of_train)",
            len(copies),
            *min(copies.items()),
            "left out of" if params.train_copies_in_test == "drop" else "kept in",
            snakemake.input.qc,
        )


run_rule(main, snakemake)
