# The training rule of every model in the registry (wbc/models/): rule train_<model>.
from wbc.models.training import provenance, train_model
from wbc.runtime import run_rule


def main():
    params, inputs = snakemake.params, snakemake.input
    settings = dict(params.settings)
    if "weights" in inputs.keys():  # a frozen backbone: its weights file, fetched or given
        settings["weights"] = str(inputs.weights) if inputs.weights else None
    folds = None
    if "folds" in inputs.keys():  # cross-validation: all of TRAIN, cv pooled from the folds
        folds = {
            "table": inputs.folds,
            "metrics": list(inputs.fold_metrics),
            "predictions": list(inputs.fold_predictions),
        }
    train_model(
        snakemake.wildcards.model,
        params.family,
        dict(zip(params.splits, inputs.tables, strict=True)),
        dict(zip(params.splits, inputs.arrays, strict=True)),
        settings,
        snakemake.threads,
        snakemake.output,
        provenance(params.provenance, snakemake.scriptdir),
        folds=folds,
        resume_dir=params.resume,
    )


run_rule(main, snakemake)
