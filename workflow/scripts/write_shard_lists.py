from wbc.dataset import write_shard_lists
from wbc.io import read_tsv
from wbc.runtime import run_rule

run_rule(
    lambda: write_shard_lists(read_tsv(snakemake.input.manifest), snakemake.output),
    snakemake,
)
