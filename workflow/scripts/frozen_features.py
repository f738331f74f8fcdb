# The frozen backbone's features of one split: rule frozen_features, for every model that
# declares a backbone (FACTS.frozen_features).
import logging

from wbc.arrays import NpyRows
from wbc.models import get
from wbc.runtime import run_rule


def main():
    model = get(snakemake.wildcards.model)
    weights = snakemake.input.weights
    settings = {**snakemake.params.settings, "weights": str(weights) if weights else None}
    model.device(settings, snakemake.threads)
    images = NpyRows(snakemake.input.images)
    model.extract_features(images, settings, snakemake.output[0])
    logging.info("%s features of %d images", model.FACTS.frozen_features.application, len(images))


run_rule(main, snakemake)
