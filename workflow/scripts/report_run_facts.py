from pathlib import Path

from wbc.io import read_json
from wbc.report import run_facts
from wbc.runtime import run_rule


def main():
    inputs = snakemake.input
    run_facts.write(
        inputs.benchmarks,
        Path(inputs.config).read_text(),
        {m: read_json(p) for m, p in zip(snakemake.params.models, inputs.metrics, strict=True)},
        snakemake.params.snakemake_version,
        inputs.template,
        snakemake.output[0],
        stages=snakemake.params.stages,
    )


run_rule(main, snakemake)
