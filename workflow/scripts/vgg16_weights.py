from wbc.models.vgg16 import fetch_weights
from wbc.runtime import run_rule

run_rule(lambda: fetch_weights(snakemake.output[0]), snakemake)
