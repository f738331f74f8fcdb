import logging

from wbc.ensemble import ensemble_metrics, fit_weights, vote
from wbc.io import read_json, write_json
from wbc.metrics import classes_of, read_predictions, write_predictions
from wbc.runtime import run_rule


def main():
    models = snakemake.params.models
    tables = {
        m: read_predictions(p) for m, p in zip(models, snakemake.input.predictions, strict=True)
    }
    fit = fit_weights(tables)  # out-of-fold (cv) rows, else val; never test
    votes = vote(tables, fit)  # on the fit split: a mix fitted without the row's cell
    members = {m: read_json(p) for m, p in zip(models, snakemake.input.metrics, strict=True)}
    write_predictions(snakemake.output.predictions, [votes], classes_of(votes))
    write_json(snakemake.output.metrics, ensemble_metrics(votes, members, fit))
    logging.info(
        "weighted vote of %s over %d images; weights %s fitted on %d %s rows; out of "
        "sample the log-loss mix %s scores %.4f, the best member %.4f%s",
        ", ".join(models),
        len(votes),
        fit["weights"],
        fit["fitted_rows"],
        fit["fitted_on"],
        fit["mix_weights"],
        fit["guard"]["mix"],
        fit["guard"]["best_member"],
        ": that member alone" if fit["best_member_only"] else "",
    )


run_rule(main, snakemake)
