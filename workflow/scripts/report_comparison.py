from wbc.io import read_json
from wbc.metrics import read_predictions
from wbc.report import comparison
from wbc.report.common import render_captions
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule


def main():
    params = snakemake.params
    comparison.write(
        {m: read_json(p) for m, p in zip(params.models, snakemake.input.metrics, strict=True)},
        {
            m: read_predictions(p)
            for m, p in zip(params.models, snakemake.input.predictions, strict=True)
        },
        params.titles,
        params.reference,
        params.disabled,
        Protocol.from_params(params.protocol),
        render_captions(snakemake),
        snakemake.input.template,
        snakemake.output,
    )


run_rule(main, snakemake)
