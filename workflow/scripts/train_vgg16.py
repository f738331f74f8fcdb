from wbc.models import configure_tensorflow
from wbc.runtime import run_rule


def weights_file():
    """The weights input: a file, or none (config models.vgg16.weights: null)."""
    weights = snakemake.input.weights
    return str(weights) if weights else None
from wbc.train import load_splits, train_vgg16


def main():
    params = snakemake.params
    device = configure_tensorflow(snakemake.threads, params.seed, params.deterministic)
    names = params.splits
    splits = load_splits(
        dict(zip(names, snakemake.input.tables)), dict(zip(names, snakemake.input.features))
    )
    features = dict(zip(names, snakemake.input.features))
    cfg = {**params.vgg16, "seed": params.seed}
    train_vgg16(splits, features, weights_file(), params.size, cfg, device, snakemake.output)


run_rule(main, snakemake.log[0])
