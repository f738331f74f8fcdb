import logging
from collections import Counter

from wbc import UNREADABLE
from wbc.copies import copy_notes
from wbc.crop import crop_paths
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    notes = copy_notes(read_tsv(snakemake.input.manifest))
    shards = zip(snakemake.input.qc, snakemake.params.crops, strict=True)
    rows = sorted(
        (
            row | notes[row["image"]]
            for table, crops in shards
            for row in crop_paths(read_tsv(table), crops)
        ),
        key=lambda row: row["image"],
    )
    write_tsv(snakemake.output[0], rows)  # the catalogue's columns (wbc.tables)
    counts = Counter(row["status"] for row in rows)
    logging.info("crop status counts: %s", dict(sorted(counts.items())))
    if counts[UNREADABLE]:
        logging.warning(
            "%d unreadable image(s) left out; they are listed in %s",
            counts[UNREADABLE],
            snakemake.output[0],
        )


run_rule(main, snakemake)
