# The files the source-cell index reads (the original slides and labels.csv beside them)
# with their sha256: a small table whose content changes only when one of them does, so an
# edited cell image, which rewrites the unpacked or downloaded folder, leaves the index be.
import hashlib
import logging
from pathlib import Path

from wbc.groups import find_originals
from wbc.io import write_tsv
from wbc.runtime import run_rule


def main():
    root = Path(snakemake.input.root)
    originals = find_originals(root)
    labels = originals[0].parent.parent / "labels.csv" if originals else None
    files = [*originals, *([labels] if labels and labels.is_file() else [])]
    rows = [
        {
            "file": p.relative_to(root).as_posix(),
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in files
    ]
    write_tsv(snakemake.output[0], rows, ["file", "sha256"])
    logging.info(
        "%d originals and %s listed", len(originals), "labels.csv" if labels else "no labels.csv"
    )


run_rule(main, snakemake)
