import logging

from wbc.arrays import NpyRows
from wbc.models import vgg16
from wbc.runtime import run_rule


def main():
    weights = snakemake.input.weights
    settings = {**snakemake.params.settings, "weights": str(weights) if weights else None}
    vgg16.device(settings, snakemake.threads)
    images = NpyRows(snakemake.input.images)
    vgg16.extract_features(images, settings, snakemake.output[0])
    logging.info("VGG16 features of %d images", len(images))


run_rule(main, snakemake)
