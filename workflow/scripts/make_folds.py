import logging
from collections import Counter

from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule
from wbc.splits import FOLD_COLUMNS, cv_folds


def main():
    params = snakemake.params
    rows = read_tsv(snakemake.input.train) + read_tsv(snakemake.input.val)
    folds = cv_folds(rows, params.folds, params.seed)
    write_tsv(snakemake.output[0], folds, FOLD_COLUMNS)
    for k, n in sorted(Counter(r["fold"] for r in folds).items()):
        cells = len({r["group"] for r in folds if r["fold"] == k})
        logging.info("fold %d holds out %d images of %d source cells", k, n, cells)


run_rule(main, snakemake)
