from pathlib import Path

from wbc.report import build_context, read_json, read_metrics_table, read_tsv, render
from wbc.runtime import run_rule


def main():
    inputs, params = snakemake.input, snakemake.params
    models = params.models
    context = build_context(
        manifest=read_tsv(inputs.manifest),
        qc=read_tsv(inputs.qc),
        splits={name: read_tsv(inputs[name]) for name in params.splits},
        all_metrics={m: read_json(p) for m, p in zip(models, inputs.metrics)},
        predictions={m: read_tsv(p) for m, p in zip(models, inputs.predictions)},
        table=read_metrics_table(inputs.table),
        figures={
            "dataset": inputs.dataset,
            "gallery": inputs.gallery,
            "comparison": inputs.comparison,
        },
        model_figures=params.model_figures,
        config=params.config,
        benchmark_dir=params.benchmark_dir,
        disabled_models=params.disabled_models,
        snakemake_version=params.snakemake_version,
    )
    Path(snakemake.output[0]).write_text(render(inputs.template, context))


run_rule(main, snakemake.log[0])
