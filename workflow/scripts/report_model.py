from wbc.report import plot_confusion_matrices, plot_roc_curves, read_tsv
from wbc.runtime import run_rule


def main():
    predictions = read_tsv(snakemake.input.predictions)
    model = snakemake.wildcards.model
    plot_confusion_matrices(predictions, model, snakemake.output.confusion)
    plot_roc_curves(predictions, model, snakemake.output.roc)


run_rule(main, snakemake.log[0])
