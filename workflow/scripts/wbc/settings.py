"""The configuration's shape and each model's effective settings (parse time: standard
library only).

``workflow/schemas/config.schema.yaml`` describes every key but the models' own blocks:
those are generated from the registry (each model's ``Settings`` declaration,
``FACTS.config``: ``wbc.models.facts``), so a model's settings are declared once, beside
its code.
"""

from __future__ import annotations

import copy
import re

from . import models as registry

# a model id: its registry name, a variant of its config block, a seed of models.seeds
MODEL_ID = re.compile(r"^(?P<family>[a-z0-9]+)(-(?P<variant>[A-Za-z0-9]+))?(_s(?P<seed>\d+))?$")


def config_schema(base: dict) -> dict:
    """``base`` (the schema file) with the registry's models filled in."""
    schema = copy.deepcopy(base)
    models = schema["properties"]["models"]["properties"]
    models["enabled"]["items"]["enum"] = list(registry.MODELS)
    models["enabled"]["default"] = list(registry.MODELS)
    for name in registry.MODELS:
        title = registry.facts_of(name).title
        properties = copy.deepcopy(registry.facts_of(name).config)
        variant = {"type": "object", "additionalProperties": False, "properties": properties}
        models[name] = {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": f"Overrides of model {name}'s recipe ({title}).",
            "properties": {
                **copy.deepcopy(properties),
                "seeds": {
                    "type": ["array", "null"],
                    "items": {"type": "integer"},
                    "minItems": 1,
                    "uniqueItems": True,
                    "description": "This model's seeds, instead of models.seeds.",
                },
                "variants": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[A-Za-z0-9]+$"},
                    "additionalProperties": variant,
                    "description": "Variants of this model: name -> settings that differ; "
                    "each is trained and reported as <model>-<name>.",
                },
            },
        }
    # predict.model names a model id of the run (variants, seeds): the run plan checks it
    return schema


def parse_id(model_id: str) -> tuple[str, str | None, int | None]:
    """``cnn-e20_s2`` -> ("cnn", "e20", 2); ``rf`` -> ("rf", None, None)."""
    match = MODEL_ID.match(model_id)
    if match is None:
        raise ValueError(f"{model_id!r} is not a model id (<model>[-<variant>][_s<seed>])")
    seed = match["seed"]
    return match["family"], match["variant"], None if seed is None else int(seed)


def model_ids(config: dict) -> list[str]:
    """Every model the run trains: each enabled model and each of its variants, once per
    seed of models.seeds when that is set (then with a _s<seed> suffix)."""
    models = config["models"]
    ids = []
    for family in models["enabled"]:
        block = models.get(family, {})
        names = [family, *(f"{family}-{v}" for v in block.get("variants", {}))]
        seeds = block.get("seeds") or models.get("seeds")
        ids += [f"{i}_s{seed}" for i in names for seed in seeds] if seeds else names
    return ids


def model_settings(config: dict, model_id: str) -> dict:
    """Everything that decides a model's training, flat: its recipe's settings (config
    key models.recipe), overridden by the top-level image_size when set, by its config
    block models.<model>, and by its variant; the recipe's name, seed and determinism.
    Its crop method (``crop``) is the recipe's, or config key crop.method's when set."""
    family, variant, seed = parse_id(model_id)
    models = config["models"]
    block = dict(models.get(family, {}))
    variants = block.pop("variants", {})
    block.pop("seeds", None)
    recipe = models["recipe"]
    settings = {"recipe": recipe, **registry.facts_of(family).recipes[recipe]}
    if config.get("crop", {}).get("method") is not None:
        settings["crop"] = config["crop"]["method"]
    if config.get("image_size") is not None:
        settings["image_size"] = config["image_size"]
    settings.update(block)
    if variant is not None:
        settings.update(variants[variant])
    settings.update(
        seed=models["seed"] if seed is None else seed, deterministic=models["deterministic"]
    )
    return settings


# YAML 1.1's booleans, any case: Snakemake's --config reads only True/False as booleans
BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def typed_from_command_line(config: dict, schema: dict) -> dict:
    """``config`` with strings typed as the schema's booleans and numbers where they read
    as one: ``--config strict=true`` or ``crop={shards: 2}`` hand Snakemake's config
    strings (``strict=True`` alone gives a boolean), and ``null`` a string. Anything else
    is left to validation."""

    def typed(value, spec: dict):
        kinds = spec.get("type")
        kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
        if isinstance(value, dict) and "properties" in spec:
            return {k: typed(v, spec["properties"].get(k, {})) for k, v in value.items()}
        if isinstance(value, str) and "null" in kinds and value.strip() in ("null", "~"):
            return None  # models={vgg16: {weights: null}}: YAML's null, not a file "null"
        if not isinstance(value, str) or "string" in kinds:
            return value
        text = value.strip()
        if "boolean" in kinds and text.lower() in BOOLEANS:
            return BOOLEANS[text.lower()]
        for kind, parse in (("integer", int), ("number", float)):
            if kind in kinds:
                try:
                    return parse(text)
                except ValueError:
                    pass
        return value

    return typed(config, schema)


def schema_keys(properties: dict, prefix: str = ""):
    """Every leaf key of a schema, dotted (``models.cnn.epochs``): what the README lists."""
    for key, spec in properties.items():
        if spec.get("type") == "object" and "properties" in spec:
            yield from schema_keys(spec["properties"], f"{prefix}{key}.")
        else:
            yield prefix + key
