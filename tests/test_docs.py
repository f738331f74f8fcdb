"""The docs are the manual: config/README.md's table covers every key of the schema, and
its defaults are the schema's and the recipes'."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from wbc import models as registry
from wbc.docs import code, generated
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


def test_config_readme_gives_each_recipes_values():
    rows = table_rows()
    for name in registry.MODELS:
        recipes = registry.facts_of(name).recipes
        assert set(recipes) == {"reference", "improved"}, name
        for key in registry.facts_of(name).config:
            ref, imp = code(recipes["reference"][key]), code(recipes["improved"][key])
            expected = ref if ref == imp else f"reference {ref}, improved {imp}"
            assert rows[f"models.{name}.{key}"] == expected, f"models.{name}.{key}"


def test_generated_docs_are_current():
    """config/README.md's model rows and config/config.yaml's model blocks are what
    `make docs` makes of the models' Settings declarations."""
    for path, text in generated(REPO / "config").items():
        assert path.read_text() == text, f"{path.name} is not current: run `make docs`"


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


# README.md: a table of contents that matches its sections, and the fenced bash blocks
# marked `<!-- runnable -->` (dry runs, the linter) run as written against the mini archive.
README = REPO / "README.md"
RUNNABLE = "<!-- runnable -->"
# the placeholder of a source archive in the README, replaced by the real mini archive
ARCHIVE_PLACEHOLDER = "path/to/blood-cells.zip"


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runnable_blocks(text: str) -> list[str]:
    """The bodies of the ```bash blocks right after a `<!-- runnable -->` line."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != RUNNABLE:
            continue
        assert i + 1 < len(lines) and lines[i + 1].strip() == "```bash", (
            f"README.md line {i + 1}: {RUNNABLE} must stand right before a ```bash fence"
        )
        end = lines.index("```", i + 2)
        blocks.append("\n".join(lines[i + 2 : end]))
    return blocks


def test_readme_table_of_contents_matches_its_sections():
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    toc_heading, sections = headings[0], headings[1:]
    toc = text.split(f"## {toc_heading}\n", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"^- \[(.+?)\]\(#(.+?)\)$", toc, flags=re.M)
    assert links, f"README.md's first section, {toc_heading!r}, is not a list of links"
    assert [target for _, target in links] == [anchor(h) for h in sections]
    assert [label for label, _ in links] == sections


def test_readme_marks_runnable_blocks():
    assert len(runnable_blocks(README.read_text())) >= 3


@pytest.mark.slow
def test_readme_runnable_commands(mini_zip, workflow_dir):
    """Each marked block, as a reader would paste it, in a fresh copy of the workflow:
    the README's `.venv/bin/` is this venv's, its placeholder archive the mini archive,
    and `path/to/images` (predict's example folder) a few of the archive's images."""
    blocks = runnable_blocks(README.read_text())
    assert len(blocks) >= 3
    images = workflow_dir / "path" / "to" / "images"
    images.mkdir(parents=True)
    with zipfile.ZipFile(mini_zip) as archive:
        names = [n for n in archive.namelist() if n.endswith(".jpeg") and "TEST_SIMPLE" in n]
        for name in names[:3]:
            (images / Path(name).name).write_bytes(archive.read(name))
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    for block in blocks:
        script = block.replace(ARCHIVE_PLACEHOLDER, str(mini_zip))
        script = script.replace(".venv/bin/", f"{venv_bin}/")
        proc = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=workflow_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, (
            f"README block failed ({proc.returncode}):\n{block}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
