from wbc.io import read_table
from wbc.report import dataset
from wbc.report.common import render_captions
from wbc.report.protocol import Protocol
from wbc.runtime import run_rule


def main():
    inputs, output = snakemake.input, snakemake.output
    manifest = read_table(inputs.manifest)
    dataset.write(
        manifest,
        read_table(inputs.qc),
        {
            name: read_table(path)
            for name, path in zip(snakemake.params.splits, inputs.splits, strict=True)
        },
        read_table(inputs.groups),
        read_table(inputs.integrity),
        snakemake.params.root,
        {"counts": output.counts, "gallery": output.gallery},
        render_captions(snakemake),
        inputs.template,
        output.html,
        source=snakemake.params.source,
        protocol=Protocol.from_params(snakemake.params.protocol),
        crop_method=snakemake.params.crop_method,
    )


run_rule(main, snakemake)
