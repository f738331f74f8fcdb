from wbc.io import read_tsv
from wbc.report import protocols
from wbc.runtime import run_rule

run_rule(
    lambda: protocols.write(
        bool(read_tsv(snakemake.input.test)), snakemake.input.template, snakemake.output[0]
    ),
    snakemake,
)
