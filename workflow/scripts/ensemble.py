import logging

from wbc.ensemble import ensemble_metrics, read_predictions, soft_vote, write_json
from wbc.metrics import evaluate, write_predictions
from wbc.report import read_json
from wbc.runtime import run_rule


def main():
    models = snakemake.params.models
    votes = soft_vote({m: read_predictions(p) for m, p in zip(models, snakemake.input.predictions)})
    members = {m: read_json(p) for m, p in zip(models, snakemake.input.metrics)}
    write_predictions(snakemake.output.predictions, [votes])
    metrics = ensemble_metrics(votes, members, evaluate)
    write_json(snakemake.output.metrics, metrics)
    logging.info("soft vote of %s over %d images", ", ".join(models), len(votes))


run_rule(main, snakemake.log[0])
