# One fold of a model's cross-validation: rule train_<model>_fold (config key split.folds).
from wbc.models.training import train_fold
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    settings = dict(params.settings)
    if "weights" in inputs.keys():  # a frozen backbone: its weights file, fetched or given
        settings["weights"] = str(inputs.weights) if inputs.weights else None
    train_fold(
        snakemake.wildcards.model,
        params.family,
        dict(zip(params.splits, inputs.tables, strict=True)),
        dict(zip(params.splits, inputs.arrays, strict=True)),
        inputs.folds,
        int(snakemake.wildcards.fold),
        settings,
        snakemake.threads,
        snakemake.output,
        params.val_fraction,
        params.split_seed,
        resume_dir=params.resume,
    )


run_rule(main, snakemake)
