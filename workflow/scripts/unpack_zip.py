from wbc.download import unpack_zip
from wbc.runtime import run_rule

run_rule(lambda: unpack_zip(snakemake.input.archive, snakemake.output[0]), snakemake)
