import logging

from wbc.arrays import NpyRows
from wbc.models import configure_tensorflow
from wbc.runtime import run_rule


def weights_file():
    """The weights input: a file, or none (config models.vgg16.weights: null)."""
    weights = snakemake.input.weights
    return str(weights) if weights else None
from wbc.train import vgg16_features


def main():
    params = snakemake.params
    configure_tensorflow(snakemake.threads, params.seed, params.deterministic)
    images = NpyRows(snakemake.input.images)
    vgg16_features(images, params.size, weights_file(), params.seed, snakemake.output[0])
    logging.info("VGG16 features of %d images", len(images))


run_rule(main, snakemake.log[0])
