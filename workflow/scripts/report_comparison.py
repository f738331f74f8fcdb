from wbc.report import metrics_table, plot_comparison, read_json, write_metrics_table
from wbc.runtime import run_rule


def main():
    table = metrics_table(
        {m: read_json(p) for m, p in zip(snakemake.params.models, snakemake.input)}
    )
    write_metrics_table(table, snakemake.output.table)
    plot_comparison(table, snakemake.output.chart)


run_rule(main, snakemake.log[0])
