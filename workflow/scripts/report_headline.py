import pandas as pd

from wbc.report import headline
from wbc.report.common import render_captions
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    text = {c: str for c in ("model", "split", "model_a", "model_b", "significant")}
    headline.write(
        pd.read_csv(inputs.table, sep="\t", dtype=text),
        pd.read_csv(inputs.pairs, sep="\t", dtype=text),
        pd.read_csv(inputs.seeds, sep="\t", dtype=text | {"seeds": int}),
        params.titles,
        params.reference,
        params.group_by,
        render_captions(snakemake),
        inputs.template,
        snakemake.output,
    )


run_rule(main, snakemake)
