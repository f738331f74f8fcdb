import logging
from importlib import import_module

from wbc.io import read_json, write_table
from wbc.predict import best_model, predict_folder
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    metrics = dict(zip(params.candidates, inputs.metrics, strict=True))
    name = best_model(metrics) if params.model == "best" else params.model
    members = params.members if name == "ensemble" else [name]
    predictors = {}
    for model in members:
        family = import_module(f"wbc.models.{params.families[model]}")
        family.device({"seed": params.seed, "deterministic": False}, snakemake.threads)
        fitted = family.load(inputs.models[params.models.index(model)])
        predictors[model] = (
            lambda images, family=family, fitted=fitted: family.predict_images(fitted, images),
            params.sizes[model],
        )
    table = predict_folder(params.folder, predictors, read_json(metrics[name])["classes"], name)
    write_table(snakemake.output[0], table)
    logging.info("%d images classified with %s", len(table), name)


run_rule(main, snakemake.log[0])
