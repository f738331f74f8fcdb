from wbc.dataset import read_tsv, write_shard_lists
from wbc.runtime import run_rule

run_rule(
    lambda: write_shard_lists(read_tsv(snakemake.input[0]), snakemake.output),
    snakemake.log[0],
)
