import logging
from collections import Counter

from wbc.groups import GROUP_COLUMNS, assign_groups, load_features, load_links
from wbc.io import read_tsv, write_tsv
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    rows = [row for table in inputs.matches for row in read_tsv(table)]
    related, vocabulary = load_links(inputs.index)
    groups = assign_groups(rows, load_features(inputs.features), related, vocabulary)
    write_tsv(snakemake.output[0], groups, GROUP_COLUMNS)
    status = Counter(row["match"] for row in groups)
    logging.info(
        "%d images in %d source groups; matches: %s",
        len(groups),
        len({row["group"] for row in groups}),
        dict(sorted(status.items())),
    )
    doubtful = Counter((row["doubt"], row["group"]) for row in groups if row["doubt"])
    if doubtful:  # the split may leak through these: said where a user reads
        by_doubt = Counter()
        for (doubt, _), n in doubtful.items():
            by_doubt[doubt] += n
        logging.warning(
            "the grouping cannot vouch for %d groups (%d images; %s): column 'doubt' of %s "
            "(weak_link: held by a link near the threshold, copies of a cell may be split; "
            "giant: one group holds > 10%% of the images)",
            len(doubtful),
            sum(doubtful.values()),
            ", ".join(f"{d}: {n} images" for d, n in sorted(by_doubt.items())),
            snakemake.output[0],
        )


run_rule(main, snakemake)
