# The ImageNet weights of a model's frozen backbone: rule backbone_weights.
from wbc.models import facts_of
from wbc.models.weights import fetch_weights
from wbc.runtime import run_rule

run_rule(lambda: fetch_weights(snakemake.output[0], facts_of(snakemake.params.model)), snakemake)
