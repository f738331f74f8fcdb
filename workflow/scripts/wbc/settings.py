"""The configuration's shape and each model's effective settings (parse time: standard
library only).

``workflow/schemas/config.schema.yaml`` describes every key but the models' own blocks:
those come from the registry (each model's ``FACTS.config``), so a model's settings are
declared beside its code.
"""

from __future__ import annotations

import copy

from . import models as registry

# what every model's settings hold beside its own block
SHARED_SETTINGS = ("image_size", "seed", "deterministic")


def config_schema(base: dict) -> dict:
    """``base`` (the schema file) with the registry's models filled in."""
    schema = copy.deepcopy(base)
    models = schema["properties"]["models"]["properties"]
    models["enabled"]["items"]["enum"] = list(registry.MODELS)
    models["enabled"]["default"] = list(registry.MODELS)
    for name in registry.MODELS:
        models[name] = {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": f"Settings of model {name} ({registry.facts_of(name).title}).",
            "properties": copy.deepcopy(registry.facts_of(name).config),
        }
    predict = schema["properties"]["predict"]["properties"]["model"]
    predict["enum"] = ["best", *registry.MODELS]
    return schema


# YAML 1.1's booleans, any case: Snakemake's --config reads only True/False as booleans
BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def typed_from_command_line(config: dict, schema: dict) -> dict:
    """``config`` with strings typed as the schema's booleans and numbers where they read
    as one: ``--config strict=true`` or ``crop={shards: 2}`` hand Snakemake's config
    strings (``strict=True`` alone gives a boolean). Anything else is left to validation."""

    def typed(value, spec: dict):
        kinds = spec.get("type")
        kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
        if isinstance(value, dict) and "properties" in spec:
            return {k: typed(v, spec["properties"].get(k, {})) for k, v in value.items()}
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


def model_settings(config: dict, name: str) -> dict:
    """Everything that decides model ``name``'s training: its block of the (validated)
    config and the shared keys, flat."""
    shared = {
        "image_size": config["image_size"],
        "seed": config["models"]["seed"],
        "deterministic": config["models"]["deterministic"],
    }
    return {**shared, **config["models"][name]}


def schema_keys(properties: dict, prefix: str = ""):
    """Every leaf key of a schema, dotted (``models.cnn.epochs``): what the README lists."""
    for key, spec in properties.items():
        if spec.get("type") == "object" and "properties" in spec:
            yield from schema_keys(spec["properties"], f"{prefix}{key}.")
        else:
            yield prefix + key
