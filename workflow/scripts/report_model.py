from wbc.io import read_json, read_table
from wbc.metrics import read_predictions
from wbc.report import model
from wbc.report.common import render_captions
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule


def main():
    inputs, params = snakemake.input, snakemake.params
    crops = {}
    for path in inputs.splits:  # the crop file of every image a model was scored on
        table = read_table(path)
        crops.update(zip(table["image"], table["crop"], strict=True))
    model.write(
        snakemake.wildcards.model,
        read_json(inputs.metrics),
        read_predictions(inputs.predictions),
        inputs.training if "training" in inputs.keys() else None,
        inputs.saliency if "saliency" in inputs.keys() else None,
        params.titles,
        Protocol.from_params(params.protocol),
        crops,
        params.root,
        render_captions(snakemake),
        inputs.template,
        snakemake.output,
    )


run_rule(main, snakemake)
