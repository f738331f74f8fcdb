"""What the workflow needs to know about a model before running it (parse time: standard
library only)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelFacts:
    name: str  # id in the config (models.<name>) and in paths (results/models/<name>/)
    title: str  # how the report names it
    env: str  # the conda env its training rule runs in: envs/<env>.yaml
    model_file: str  # the fitted model, in results/models/<name>/
    # what its training rule reads per split: "images" (results/arrays/, uint8 RGB) or
    # "vgg16_features" (results/features/vgg16/, the frozen backbone's output)
    inputs: str = "images"
    keras: bool = False  # a Keras model: writes history.tsv, runs on a GPU where there is one
    # the reference study's accuracy, measured on a random split of TRAIN (None: not in it)
    reference_accuracy: float | None = None
    # its settings under each recipe (config key models.recipe): "reference" (the reference
    # study's) and "improved"; a config block models.<name> overrides any of them
    recipes: dict = field(default_factory=dict)
    # JSON schema properties of its config block models.<name> (types, ranges, meaning):
    # the workflow's schema gets them from here, so a model's settings live with its code
    config: dict = field(default_factory=dict)
