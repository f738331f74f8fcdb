import pandas as pd

from wbc.io import read_table
from wbc.report import headline
from wbc.report.common import render_captions
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    text = {c: str for c in ("model", "split", "model_a", "model_b", "significant")}
    headline.write(
        pd.read_csv(inputs.table, sep="\t", dtype=text),
        pd.read_csv(inputs.pairs, sep="\t", dtype=text),
        pd.read_csv(inputs.seeds, sep="\t", dtype=text | {"seeds": int}),
        read_table(inputs.leaks),
        params.titles,
        params.reference,
        Protocol.from_params(params.protocol),
        render_captions(snakemake),
        inputs.template,
        snakemake.output,
    )


run_rule(main, snakemake)
