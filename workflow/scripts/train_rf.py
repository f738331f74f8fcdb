from wbc.runtime import run_rule
from wbc.train import load_splits, train_rf


def main():
    names = snakemake.params.splits
    splits = load_splits(
        dict(zip(names, snakemake.input.tables)), dict(zip(names, snakemake.input.arrays))
    )
    cfg = snakemake.params.rf
    train_rf(splits, cfg["n_estimators"], snakemake.params.seed, snakemake.threads, snakemake.output)


run_rule(main, snakemake.log[0])
