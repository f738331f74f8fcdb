from wbc.download import download_kaggle
from wbc.runtime import run_rule

run_rule(
    lambda: download_kaggle(snakemake.params.handle, snakemake.output[0]),
    snakemake,
)
