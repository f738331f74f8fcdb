import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# the rule scripts' package; its parse-time helpers need only the standard library
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))
from wbc.source import list_files, parse_source


def validate_config(config):
    """Snakemake's schema validation (fills defaults), its error cut to one line."""
    try:
        validate(config, schema="../schemas/config.schema.yaml")
    except WorkflowError as err:
        detail = err.__context__  # the jsonschema ValidationError validate() caught
        if not hasattr(detail, "absolute_path"):
            raise
        where = ".".join(str(p) for p in detail.absolute_path) or "(top level)"
        raise WorkflowError(
            f"config key '{where}': {detail.message} "
            "(see workflow/schemas/config.schema.yaml)"
        ) from None


validate_config(config)
try:
    SOURCE = parse_source(config["source"])
except ValueError as err:
    raise WorkflowError(str(err)) from None


def dataset_root():
    """The folder the manifest's image paths are relative to."""
    if SOURCE.kind == "folder":
        return SOURCE.value
    return rules.download_kaggle.output[0] if SOURCE.kind == "kaggle" else rules.unpack_zip.output[0]


def dataset_input():
    # A folder is read in place: its files are the inputs, so an added or edited image
    # reruns the manifest, and a touched one does not (Snakemake checksums small files).
    return list_files(SOURCE.value) if SOURCE.kind == "folder" else dataset_root()


def manifest_rows():
    """The manifest, once its checkpoint has run (defers the rules that need it)."""
    import csv

    with open(checkpoints.manifest.get().output[0], newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def shard_ids():
    return sorted({int(row["shard"]) for row in manifest_rows()})


def shard_image_names(wildcards):
    return [r["image"] for r in manifest_rows() if r["shard"] == wildcards.shard]


def shard_image_files(wildcards):
    root = Path(dataset_root())
    return [str(root / image) for image in shard_image_names(wildcards)]


def crop_dirs(wildcards=None):
    return expand(rules.crop_shard.output.crops, shard=shard_ids())


def crop_qc_tables(wildcards=None):
    return expand(rules.crop_shard.output.qc, shard=shard_ids())


def final_outputs():
    return [rules.crop_qc.output[0], *rules.split.output]
