import logging

from wbc.models import configure_tensorflow, load_model
from wbc.predict import best_model, predict_folder
from wbc.runtime import run_rule


def main():
    params = snakemake.params
    models = dict(zip(params.models, snakemake.input.models))
    name = params.model
    if name == "best":
        name = best_model(dict(zip(params.models, snakemake.input.metrics)))
    if models[name].endswith(".keras"):
        configure_tensorflow(snakemake.threads, params.seed, deterministic=False)
    table = predict_folder(params.folder, load_model(models[name]), name, params.size)
    table.to_csv(snakemake.output[0], sep="\t", index=False, float_format="%.6g")
    logging.info("%d images classified with %s", len(table), name)


run_rule(main, snakemake.log[0])
