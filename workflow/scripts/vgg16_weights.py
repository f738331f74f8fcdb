from wbc.models import fetch_vgg16_weights
from wbc.runtime import run_rule

run_rule(lambda: fetch_vgg16_weights(snakemake.output[0]), snakemake.log[0])
