import logging

from wbc.ensemble import ensemble_metrics, soft_vote
from wbc.io import read_json, write_json
from wbc.metrics import classes_of, read_predictions, write_predictions
from wbc.runtime import run_rule


def main():
    models = snakemake.params.models
    votes = soft_vote(
        {m: read_predictions(p) for m, p in zip(models, snakemake.input.predictions, strict=True)}
    )
    members = {m: read_json(p) for m, p in zip(models, snakemake.input.metrics, strict=True)}
    write_predictions(snakemake.output.predictions, [votes], classes_of(votes))
    write_json(snakemake.output.metrics, ensemble_metrics(votes, members))
    logging.info("soft vote of %s over %d images", ", ".join(models), len(votes))


run_rule(main, snakemake)
