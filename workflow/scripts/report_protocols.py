from wbc.io import read_table
from wbc.report import protocols
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule

run_rule(
    lambda: protocols.write(
        {
            name: read_table(path)
            for name, path in zip(snakemake.params.splits, snakemake.input.splits, strict=True)
        },
        Protocol.from_params(snakemake.params.protocol),
        snakemake.input.template,
        snakemake.output[0],
    ),
    snakemake,
)
