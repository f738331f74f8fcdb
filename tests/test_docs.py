"""The docs are the manual: config/README.md's table covers every key of the schema."""

from __future__ import annotations

import yaml

from conftest import REPO
from wbc.settings import config_schema, schema_keys


def full_schema():
    """The schema file with the model registry's blocks, as the workflow validates."""
    return config_schema(
        yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    )


def test_readme_documents_every_config_key():
    schema = full_schema()
    table = (REPO / "config" / "README.md").read_text()
    missing = [key for key in schema_keys(schema["properties"]) if f"| `{key}` |" not in table]
    assert not missing, f"config/README.md's table lacks {missing}"


def test_config_file_and_schema_defaults_agree():
    schema = full_schema()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    def check(properties, values, prefix=""):
        for key, spec in properties.items():
            assert key in values, f"config/config.yaml lacks {prefix}{key}"
            if spec.get("type") == "object" and "properties" in spec:
                check(spec["properties"], values[key], f"{prefix}{key}.")
            else:
                assert values[key] == spec.get("default"), f"{prefix}{key}"

    check(schema["properties"], config)
