from wbc.models import configure_tensorflow
from wbc.runtime import run_rule
from wbc.train import load_splits, train_cnn


def main():
    params = snakemake.params
    device = configure_tensorflow(snakemake.threads, params.seed, params.deterministic)
    names = params.splits
    splits = load_splits(
        dict(zip(names, snakemake.input.tables)), dict(zip(names, snakemake.input.arrays))
    )
    cfg = {**params.cnn, "seed": params.seed}
    train_cnn(splits, params.size, cfg, device, snakemake.output)


run_rule(main, snakemake.log[0])
