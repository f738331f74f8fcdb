from wbc.io import read_json
from wbc.metrics import read_predictions
from wbc.report import model
from wbc.report.common import render_captions
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    model.write(
        snakemake.wildcards.model,
        read_json(inputs.metrics),
        read_predictions(inputs.predictions),
        inputs.training if "training" in inputs.keys() else None,
        snakemake.params.titles,
        snakemake.params.group_by,
        render_captions(snakemake),
        inputs.template,
        snakemake.output,
    )


run_rule(main, snakemake)
