from wbc.report.assemble import assemble
from wbc.runtime import run_rule

run_rule(
    lambda: assemble(
        {
            "headline": snakemake.input.headline,
            "dataset": snakemake.input.dataset,
            "comparison": snakemake.input.comparison,
            "models": list(snakemake.input.models),
            "protocols": snakemake.input.protocols,
            "run_facts": snakemake.input.run_facts,
        },
        snakemake.input.template,
        snakemake.output[0],
        snakemake.input.figures,
    ),
    snakemake,
)
