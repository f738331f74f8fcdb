import yaml

from wbc.io import atomic_write
from wbc.runtime import run_rule


def main():
    with atomic_write(snakemake.output[0]) as fh:
        yaml.safe_dump(snakemake.params.config, fh, sort_keys=False, default_flow_style=False)


run_rule(main, snakemake)
