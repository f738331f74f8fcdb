import os
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
from wbc.preflight import offline_problems
from wbc.settings import config_schema, model_settings, typed_from_command_line
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

MODELS = list(config["models"]["enabled"])


def check_models():
    unknown = [m for m in MODELS if m not in registry.MODELS]
    if unknown:
        raise WorkflowError(
            f"config key 'models.enabled': {', '.join(unknown)} not in the model registry "
            f"({', '.join(registry.MODELS)}; see workflow/scripts/wbc/models/)"
        )


check_models()


def facts(model):
    return registry.facts_of(model)


def settings(model):
    """Everything that decides a model's training (the rule's params: a change reruns it)."""
    return model_settings(config, model)


def model_inputs(model):
    """What a model's training rule reads per split, in SPLITS order."""
    if facts(model).inputs == "vgg16_features":
        return expand(rules.vgg16_features.output[0], split=SPLITS)
    return expand(rules.training_arrays.output[0], split=SPLITS)


def model_outputs(model):
    folder = f"results/models/{model}"
    outputs = {
        "model": f"{folder}/{facts(model).model_file}",
        "metrics": f"{folder}/metrics.json",
        "predictions": f"{folder}/predictions.tsv",
    }
    if facts(model).keras:
        outputs["history"] = f"{folder}/history.tsv"
    return outputs


def vgg16_weights_file():
    """The weights file train/features rules read: fetched, the user's own, or none."""
    weights = config["models"]["vgg16"]["weights"]
    if weights == "imagenet":
        return rules.vgg16_weights.output[0]
    return [] if weights is None else weights


def backbone_weights(model):
    """The VGG16 weights input of a model trained on VGG16 features (saved with it)."""
    if facts(model).inputs == "vgg16_features":
        return {"weights": vgg16_weights_file()}
    return {}


def model_output(model, name):
    """An artefact (model, metrics, predictions, history) of a model or the ensemble."""
    producer = (
        rules.ensemble if model == "ensemble" else getattr(rules, f"train_{model}")
    )
    return producer.output[name]


def reported_models():
    """The enabled models, plus their ensemble when there are at least two to vote."""
    return MODELS + ["ensemble"] if len(MODELS) > 1 else list(MODELS)


def titles():
    return {m: facts(m).title for m in registry.MODELS}


def reference_accuracy():
    """The reference study's figures (registry facts), for the report and its captions."""
    return {m: facts(m).reference_accuracy for m in MODELS}


PREDICT = config["predict"]
# the input folder, absolute, and its results folder's name (see folder_id)
PREDICT_FOLDER = (
    None
    if PREDICT["input"] is None
    else os.path.abspath(os.path.expanduser(PREDICT["input"]))
)
PREDICT_ID = "unset" if PREDICT_FOLDER is None else folder_id(PREDICT_FOLDER)


def predict_models():
    """The candidate models: the chosen one, or every enabled one for 'best'."""
    return MODELS if PREDICT["model"] == "best" else [PREDICT["model"]]


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
    producers = [
        rules.manifest,
        rules.crop_qc,
        rules.split,
        *[getattr(rules, f"train_{m}") for m in MODELS],
    ]
    files = [producer.benchmark for producer in producers]
    files += expand(rules.crop_shard.benchmark, shard=SHARDS)
    files += expand(rules.training_arrays.benchmark, split=SPLITS)
    if any(facts(m).inputs == "vgg16_features" for m in MODELS):
        files += expand(rules.vgg16_features.benchmark, split=SPLITS)
    if len(MODELS) > 1:
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
        outputs += getattr(rules, f"train_{model}").output
    outputs += [rules.report.output.html, rules.report_comparison.output.table]
    if PREDICT["input"] is not None:
        outputs += rules.predict.output
    return outputs
