"""The README is the manual: its configuration table covers every key of the schema."""

from __future__ import annotations

import yaml
from conftest import REPO


def schema_keys(properties, prefix=""):
    for key, spec in properties.items():
        if spec.get("type") == "object" and "properties" in spec:
            yield from schema_keys(spec["properties"], f"{prefix}{key}.")
        else:
            yield prefix + key


def test_readme_documents_every_config_key():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [key for key in schema_keys(schema["properties"]) if f"| `{key}` |" not in table]
    assert not missing, f"README's configuration table lacks {missing}"


def test_config_file_and_schema_defaults_agree():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    def check(properties, values, prefix=""):
        for key, spec in properties.items():
            assert key in values, f"config/config.yaml lacks {prefix}{key}"
            if spec.get("type") == "object" and "properties" in spec:
                check(spec["properties"], values[key], f"{prefix}{key}.")
            else:
                assert values[key] == spec.get("default"), f"{prefix}{key}"

    check(schema["properties"], config)
