from wbc.report import plot_training_curves, read_tsv
from wbc.runtime import run_rule

run_rule(
    lambda: plot_training_curves(
        read_tsv(snakemake.input[0]), snakemake.wildcards.model, snakemake.output[0]
    ),
    snakemake.log[0],
)
