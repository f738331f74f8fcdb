from wbc.report.assemble import assemble
from wbc.report.sections import SECTIONS
from wbc.runtime import run_rule

run_rule(
    lambda: assemble(
        {
            s.id: list(snakemake.input[s.id]) if s.per_model else snakemake.input[s.id]
            for s in SECTIONS
        },
        snakemake.input.template,
        snakemake.output[0],
        snakemake.input.figures,
    ),
    snakemake,
)
