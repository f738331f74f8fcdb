"""The docs are the manual: config/README.md's table covers every key of the schema, and
its defaults are the schema's and the recipes'."""

from __future__ import annotations

import yaml

from conftest import REPO
from wbc import models as registry
from wbc.settings import config_schema, schema_keys


def full_schema():
    """The schema file with the model registry's blocks, as the workflow validates."""
    return config_schema(
        yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    )


def table_rows() -> dict[str, str]:
    """key -> default cell of config/README.md's table."""
    rows = {}
    for line in (REPO / "config" / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        if line.startswith("| `") and len(cells) >= 3:
            rows[cells[0].removeprefix("| ").strip("`")] = cells[1]
    return rows


def test_config_readme_documents_every_config_key():
    rows = table_rows()
    missing = [key for key in schema_keys(full_schema()["properties"]) if key not in rows]
    assert not missing, f"config/README.md's table lacks {missing}"


def code(value) -> str:
    """A value as the table writes it: `null`, `true`, `[a, b]`, `0.001`."""
    if value is None or isinstance(value, bool):
        return f"`{str(value).lower() if value is not None else 'null'}`"
    if isinstance(value, list):
        return "`[" + ", ".join(map(str, value)) + "]`"
    return f"`{value}`"


def test_config_readme_gives_each_recipes_values():
    rows = table_rows()
    for name in registry.MODELS:
        recipes = registry.facts_of(name).recipes
        assert set(recipes) == {"reference", "improved"}, name
        for key in registry.facts_of(name).config:
            ref, imp = code(recipes["reference"][key]), code(recipes["improved"][key])
            expected = ref if ref == imp else f"reference {ref}, improved {imp}"
            assert rows[f"models.{name}.{key}"] == expected, f"models.{name}.{key}"


def test_config_file_and_schema_defaults_agree():
    schema = full_schema()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    def check(properties, values, prefix=""):
        for key, spec in properties.items():
            if prefix.startswith("models.") and prefix.count(".") >= 2:
                # a model's block holds overrides of its recipe: none by default
                assert key not in values, f"config/config.yaml overrides {prefix}{key}"
                continue
            assert key in values, f"config/config.yaml lacks {prefix}{key}"
            if spec.get("type") == "object" and "properties" in spec:
                check(spec["properties"], values[key], f"{prefix}{key}.")
            else:
                assert values[key] == spec.get("default"), f"{prefix}{key}"
                assert rows[f"{prefix}{key}"] == code(spec.get("default")), f"{prefix}{key}"

    rows = table_rows()
    check(schema["properties"], config)
