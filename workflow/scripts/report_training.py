from wbc.io import read_table
from wbc.report.model import plot_training_curves
from wbc.runtime import run_rule

run_rule(
    lambda: plot_training_curves(
        read_table(snakemake.input.history),
        snakemake.wildcards.model,
        snakemake.params.titles,
        snakemake.output[0],
    ),
    snakemake,
)
