import logging
from importlib import import_module

from wbc.io import atomic_write, read_json, write_table
from wbc.predict import best_model, predict_folder
from wbc.runtime import run_rule


def main():
    params = snakemake.params
    models = dict(zip(params.models, snakemake.input.models, strict=True))
    metrics = dict(zip(params.models, snakemake.input.metrics, strict=True))
    name = best_model(metrics) if params.model == "best" else params.model
    family = import_module(f"wbc.models.{params.families[name]}")
    family.device({"seed": params.seed, "deterministic": False}, snakemake.threads)
    model = family.load(models[name])
    table = predict_folder(
        params.folder,
        lambda images: family.predict_images(model, images),
        read_json(metrics[name])["classes"],
        name,
        params.sizes[name],
    )
    write_table(snakemake.output.predictions, table)
    with atomic_write(snakemake.output.folder) as fh:
        fh.write(f"{params.folder}\n")
    logging.info("%d images of %s classified with %s", len(table), params.folder, name)


run_rule(main, snakemake)
