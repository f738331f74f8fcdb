import re
import sys
import tempfile
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.sourcecache import LocalSourceFile
from snakemake.utils import validate


def scripts_folder():
    """The folder of the rule scripts and their package ``wbc``, to import from.

    A checkout, or a module given by a local path, has it on disk. A module from a git host
    (``github(...)``) is read through Snakemake's source cache, which copies each file on
    first use: the package's files (listed in ``wbc/FILES``) are copied there now, beside
    the copies of the rule scripts, whose folder Snakemake puts on their import path.
    Returns the folder and whether it is the local checkout.
    """
    scripts = workflow.current_basedir.join("../scripts")
    if isinstance(scripts, LocalSourceFile):
        return Path(scripts.get_path_or_uri(secret_free=True)).resolve(), True
    listing = workflow.sourcecache.open(scripts.join("wbc/FILES")).read().splitlines()
    for name in (line for line in listing if line and not line.startswith("#")):
        workflow.sourcecache.get_path(scripts.join(f"wbc/{name}"))
    init = workflow.sourcecache.get_path(scripts.join("wbc/__init__.py"))
    return Path(init).parents[1], False


SCRIPTS, LOCAL_CHECKOUT = scripts_folder()
sys.path.insert(0, str(SCRIPTS))
from wbc import EVAL_SPLITS, SPLITS
from wbc import models as registry
from wbc.imports import package_modules
from wbc.models.vgg16 import WEIGHTS_URL as VGG16_WEIGHTS_URL
from wbc.plan import PlanError, RunPlan
from wbc.preflight import offline_problems
from wbc.settings import config_schema, typed_from_command_line
from wbc.source import folder_id, list_files, parse_source, snakemake_inputs


def validate_config(config):
    """Snakemake's schema validation (fills defaults), its error cut to one line.

    The schema is the file plus the registry's model blocks (``wbc.settings``), written
    to a temporary file for ``validate``, which reads schemas from files.
    """
    base = yaml.safe_load(
        workflow.sourcecache.open(
            workflow.current_basedir.join("../schemas/config.schema.yaml")
        ).read()
    )
    full = config_schema(base)
    config.update(typed_from_command_line(config, full))
    with tempfile.TemporaryDirectory() as folder:
        schema = Path(folder) / "config.schema.yaml"
        schema.write_text(yaml.safe_dump(full))
        try:
            validate(config, schema=str(schema))
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


onstart:
    # before any job starts: one line per download this run needs and cannot make
    problems = offline_problems(
        {job.rule.name for job in workflow.dag.needrun_jobs()},
        SOURCE.value if SOURCE.kind == "kaggle" else None,
        VGG16_WEIGHTS_URL,
    )
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


def code(script, *modules):
    """The package modules a rule's script runs (rule input ``code``), and ``modules`` it
    loads by name: editing one reruns the rules that use it. Empty for a module read
    from a git host, whose files cannot change under a fixed tag."""
    if not LOCAL_CHECKOUT:
        return []
    return package_modules(SCRIPTS / script, modules)


# --- data (data.smk, crop.smk, split.smk) ---------------------------------------------


def dataset_root():
    """The folder the manifest's image paths are relative to."""
    if SOURCE.kind == "folder":
        return SOURCE.value
    return (
        rules.download_kaggle.output[0]
        if SOURCE.kind == "kaggle"
        else rules.unpack_zip.output[0]
    )


# A folder is read in place: its files are the manifest's inputs, so an added or edited
# image reruns it, and a touched one does not (Snakemake checksums small files); files
# Snakemake cannot take as inputs rerun it through their fingerprint (a param).
DATASET_FILES, DATASET_UNTRACKED = (
    snakemake_inputs(list_files(SOURCE.value)) if SOURCE.kind == "folder" else ([], "")
)


def dataset_input():
    return DATASET_FILES if SOURCE.kind == "folder" else dataset_root()


def originals_input():
    """The original slides' index is made from the unpacked or downloaded data, or in a
    source folder from the slides of Kaggle's layout (the only files it looks at)."""
    if SOURCE.kind != "folder":
        return dataset_root()
    slides = Path(SOURCE.value, "dataset-master", "dataset-master", "JPEGImages")
    return list_files(slides) if slides.is_dir() else []


SHARDS = range(config["crop"]["shards"])


def shard_list(wildcards):
    """The shard's list of images and their sha256, written by a checkpoint.

    Reading it through the checkpoint makes Snakemake re-evaluate the crop jobs after the
    lists are rewritten; a list whose content did not change passes Snakemake's checksum test,
    so only shards with a changed, added or removed image re-crop. One small file per job
    also keeps the scheduler from stat-ing every image on every round.
    """
    return checkpoints.shard_lists.get().output[int(wildcards.shard)]


def crop_dirs(wildcards=None):
    return expand(rules.crop_shard.output.crops, shard=SHARDS)


def split_tables():
    return [rules.split.output[name] for name in SPLITS]


# --- models (train.smk, predict.smk) ---------------------------------------------------
# The run plan (wbc.plan, unit-tested without Snakemake) holds every list that follows
# from the config alone; a model id is <model>[-<variant>][_s<seed>] (wbc.settings).

try:
    PLAN = RunPlan(config)
except PlanError as err:
    raise WorkflowError(str(err)) from None
FAMILIES = PLAN.enabled
MODELS = PLAN.model_ids
family = PLAN.model_of
facts = PLAN.facts
settings = PLAN.settings
backbone = PLAN.backbone
backbones = PLAN.backbones
ensemble_members = PLAN.ensemble_members
reported_models = PLAN.reported_models
titles = PLAN.titles
reference_accuracy = PLAN.reference_accuracy
predict_candidates = PLAN.predict_candidates
predict_members = PLAN.predict_members


def id_pattern(ids):
    """A wildcard constraint matching exactly these ids."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


def arrays(size):
    """The training arrays of every split at ``size`` px (rule training_arrays)."""
    return expand(rules.training_arrays.output[0], size=size, split=SPLITS)


def weights_file(weights):
    """The weights file the VGG16 rules read: fetched, the user's own, or none."""
    if weights == "imagenet":
        return rules.vgg16_weights.output[0]
    return [] if weights is None else weights


def model_inputs(wildcards):
    """What a model's training reads (split files, per-split arrays at its image size
    or VGG16 features and their weights) and the code it runs."""
    model = wildcards.model
    if facts(model).inputs == "vgg16_features":
        data = expand(
            rules.vgg16_features.output[0], backbone=backbone(model), split=SPLITS
        )
        extra = {"weights": weights_file(settings(model)["weights"])}
    else:
        data, extra = arrays(settings(model)["image_size"]), {}
    return {
        "tables": split_tables(),
        "arrays": data,
        **extra,
        "code": code("train_model.py", f"wbc.models.{family(model)}"),
    }


def model_outputs(name):
    """The training rule's outputs for registry model ``name``, a pattern in {model}."""
    folder = "results/models/{model}"
    outputs = {
        "model": f"{folder}/{registry.facts_of(name).model_file}",
        "metrics": f"{folder}/metrics.json",
        "predictions": f"{folder}/predictions.tsv",
    }
    if registry.facts_of(name).keras:
        outputs["history"] = f"{folder}/history.tsv"
    return outputs


def model_output(model, name):
    """An artefact (model, metrics, predictions, history) of a model or the ensemble."""
    if model == "ensemble":
        return rules.ensemble.output[name]
    return expand(getattr(rules, f"train_{family(model)}").output[name], model=model)[0]


PREDICT = config["predict"]
# the input folder, absolute, and its results folder's name (see folder_id)
PREDICT_FOLDER = PLAN.predict_folder
PREDICT_ID = "unset" if PREDICT_FOLDER is None else folder_id(PREDICT_FOLDER)


def predict_files():
    """The inputs of rule predict, and the fingerprint of the folder's other files."""
    folder = PREDICT_FOLDER
    if folder is None or not Path(folder).is_dir():
        problem = "is not set" if folder is None else f"{folder} is not a folder"
        raise WorkflowError(
            f"config key 'predict.input' {problem}: set it to the folder of images to "
            "classify (in a --configfile: predict: {input: path/to/images})"
        )
    return snakemake_inputs(list_files(folder))


# --- report (report.smk) ---------------------------------------------------------------


def benchmark_files():
    """Every benchmark file of the jobs the report describes: data, crops, models."""
    files = [rules.manifest.benchmark, rules.crop_qc.benchmark, rules.split.benchmark]
    for model in MODELS:
        files += expand(getattr(rules, f"train_{family(model)}").benchmark, model=model)
    files += expand(rules.crop_shard.benchmark, shard=SHARDS)
    files += expand(
        rules.training_arrays.benchmark, size=PLAN.image_sizes(), split=SPLITS
    )
    files += expand(
        rules.vgg16_features.benchmark, backbone=list(backbones()), split=SPLITS
    )
    if "ensemble" in reported_models():
        files.append(rules.ensemble.benchmark)
    return files


def report_model_inputs(wildcards):
    inputs = {
        "metrics": model_output(wildcards.model, "metrics"),
        "predictions": model_output(wildcards.model, "predictions"),
    }
    if wildcards.model != "ensemble" and facts(wildcards.model).keras:
        inputs["training"] = expand(
            rules.report_training.output[0], model=wildcards.model
        )
    return inputs


def final_outputs():
    outputs = [rules.crop_qc.output[0], *rules.split.output]
    for model in MODELS:
        outputs += [model_output(model, name) for name in model_outputs(family(model))]
    outputs += [rules.report.output.html, rules.report_comparison.output.table]
    if PREDICT["input"] is not None:
        outputs += rules.predict.output
    return outputs
