import logging

from wbc.io import atomic_write, read_json, write_table
from wbc.models import get as model_code
from wbc.predict import best_model, predict_folder
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    metrics = dict(zip(params.candidates, inputs.metrics, strict=True))
    name = best_model(metrics) if params.model == "best" else params.model
    members = params.members if name == "ensemble" else [name]
    predictors = {}
    for model in members:
        module = model_code(params.registry_models[model])
        module.device({"seed": params.seed, "deterministic": False}, snakemake.threads)
        fitted = module.load(inputs.models[params.models.index(model)])
        predictors[model] = (
            lambda images, module=module, fitted=fitted: module.predict_images(fitted, images),
            params.sizes[model],
            params.crops[model],
        )
    # the ensemble's weights, fitted on out-of-fold or val predictions (rule ensemble)
    weights = read_json(metrics[name]).get("weights") if name == "ensemble" else None
    table = predict_folder(
        params.folder,
        predictors,
        read_json(metrics[name])["classes"],
        name,
        training=read_json(inputs.training),
        rescale=params.rescale,
        weights=weights,
        window=params.window,
    )
    write_table(snakemake.output.predictions, table)
    with atomic_write(snakemake.output.folder) as fh:
        fh.write(f"{params.folder}\n")
    logging.info("%d images of %s classified with %s", len(table), params.folder, name)


run_rule(main, snakemake)
