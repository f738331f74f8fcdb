from wbc.io import atomic_write, read_json, read_table
from wbc.metrics import read_predictions
from wbc.models import get as model_code
from wbc.report.errors import cell_errors
from wbc.report.protocol import Protocol
from wbc.report.saliency import saliency_maps
from wbc.runtime import run_rule


def main():
    inputs, params = snakemake.input, snakemake.params
    crops = {}
    for path in inputs.splits:
        table = read_table(path)
        crops.update(zip(table["image"], table["crop"], strict=True))
    predictions = read_predictions(inputs.predictions)
    honest = Protocol.from_params(params.protocol).honest_split(set(predictions["split"]))
    errors = cell_errors(predictions[predictions["split"] == honest], crops)
    module = model_code(params.registry_model)
    module.device({"seed": 0, "deterministic": False}, snakemake.threads)
    model = module.load(inputs.model)
    with atomic_write(snakemake.output[0], "wb") as fh:
        saliency_maps(model, errors, read_json(inputs.metrics)["classes"], params.size, fh)


run_rule(main, snakemake)
