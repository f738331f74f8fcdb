from wbc.io import read_table
from wbc.report import headline
from wbc.report.common import render_captions
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    headline.write(
        read_table(inputs.table),
        read_table(inputs.pairs),
        read_table(inputs.seeds),
        read_table(inputs.leaks),
        params.titles,
        params.reference,
        Protocol.from_params(params.protocol),
        render_captions(snakemake),
        inputs.template,
        snakemake.output,
    )


run_rule(main, snakemake)
