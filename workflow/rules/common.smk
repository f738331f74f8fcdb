import os
import re
import sys
import tempfile
from pathlib import Path

import yaml
from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.io import checkpoint_target
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
from wbc.imports import code_version as _code_version, use_cache_file
from wbc.models.vgg16 import WEIGHTS_URL as VGG16_WEIGHTS_URL
from wbc.plan import PlanError, RunPlan
from wbc.preflight import offline_problems
from wbc.runtime import RECAP as ERROR_RECAP, error_recap
from wbc.report.sections import SECTIONS
from wbc.settings import config_schema, typed_from_command_line
from wbc.source import folder_fingerprint, folder_id, list_files, parse_source


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
    # the jobs' one-line errors are printed once, at the end (onerror)
    error_recap()  # none left from an earlier run
    os.environ[ERROR_RECAP] = "1"


onerror:
    # after Snakemake's own report of the failed jobs (their inputs, outputs, logs): the
    # error lines saying what to fix, the last thing the user reads
    for line in error_recap():
        print(f"ERROR {line}", file=sys.stderr)


# each package file's digest and imports, kept by size and mtime: parsed only when edited
use_cache_file(Path(".snakemake", "wbc-code-versions.json").resolve())


def code_version(script, *modules):
    """The version of the code a script runs, for the params entry ``code``: a hash of the
    normalised source (no comments, docstrings or formatting) of the script, the package
    modules it imports, directly or not, and ``modules`` it loads by name (importlib).
    An edit of code reruns the rules whose scripts import it; any other edit, nothing.
    """
    if not LOCAL_CHECKOUT:  # a module from a git host: its script, copied on first use
        workflow.sourcecache.get_path(
            workflow.current_basedir.join(f"../scripts/{script}")
        )
    return _code_version(SCRIPTS / script, modules)


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


def fingerprint(folder):
    """What a folder of images holds, as one hash (wbc.source.folder_fingerprint): a rule
    param, so that an added or edited image reruns the rule that reads the folder, and
    no job lists every image as an input (Snakemake prints them all when the job fails).
    """
    index = Path(".snakemake", "wbc-folder-index", f"{folder_id(folder)}.json")
    return folder_fingerprint(folder, index)


def dataset_input():
    """The manifest's data input: the unpacked or downloaded folder; a source folder is
    read in place, followed through its fingerprint (a param)."""
    return [] if SOURCE.kind == "folder" else dataset_root()


def originals_input():
    """What the original slides' index is made from: the list of the originals and their
    sha256 in the unpacked or downloaded data (rule originals_list), or in a source folder
    the slides of Kaggle's layout (the only files it looks at)."""
    if SOURCE.kind != "folder":
        # through the checkpoint: Snakemake re-evaluates the index's job after the list is
        # rewritten, and a list whose content did not change passes its checksum test
        return lambda wildcards: checkpoints.originals_list.get().output[0]
    slides = Path(SOURCE.value, "dataset-master", "dataset-master", "JPEGImages")
    return list_files(slides) if slides.is_dir() else []


def source_index(wildcards):
    """The originals' index, as the group shards read it: after the originals list's
    checkpoint, so that Snakemake re-evaluates the shards once it knows whether the index
    is rebuilt (else a rebuild planned before the list was found unchanged reruns all).
    """
    if SOURCE.kind != "folder":
        checkpoints.originals_list.get()
    return rules.source_cell_index.output[0]


SHARDS = range(config["crop"]["shards"])


def shard_list(wildcards):
    """The shard's list of images and their sha256, written by a checkpoint.

    Reading it through the checkpoint makes Snakemake re-evaluate the crop jobs after the
    lists are rewritten; a list whose content did not change passes Snakemake's checksum test,
    so only shards with a changed, added or removed image re-crop. One small file per job
    also keeps the scheduler from stat-ing every image on every round.

    The checkpoint's ``get()`` expands its 64 paths on every call, and Snakemake calls this
    twice per crop and group job on each evaluation (a second of a dry run on the full
    archive): its static paths are compared with the created ones here instead, and
    ``get()`` called once, when they are all there (until then it raises Snakemake's
    IncompleteCheckpointException, as it always does).
    """
    if not _SHARD_LISTS:
        paths = rules.shard_lists.output
        if any(path not in checkpoints.created_output for path in paths):
            raise IncompleteCheckpointException(
                rules.shard_lists.rule, checkpoint_target(paths[0])
            )
        _SHARD_LISTS.extend(checkpoints.shard_lists.get().output)
    return _SHARD_LISTS[int(wildcards.shard)]


_SHARD_LISTS = []  # the checkpoint's outputs, once it is complete (shard_list)


def crop_dirs(method):
    """The crop folders of every shard, by crop ``method``."""
    return expand(rules.crop_shard.output.crops, method=method, shard=SHARDS)


def crop_qc_shards(method):
    """The per-shard QC tables of crop ``method`` (image -> its crop)."""
    return expand(rules.crop_shard.output.qc, method=method, shard=SHARDS)


def crop_window(method):
    """The window of a method that has one (crop.window), else None: a param, so a new
    window re-crops that method only."""
    return config["crop"]["window"] if method == "nucleus_window" else None


def split_tables():
    return [rules.split.output[name] for name in SPLITS]


# --- the run plan -----------------------------------------------------------------------
# Every list that follows from the config alone (wbc.plan, unit-tested without Snakemake):
# model ids (<model>[-<variant>][_s<seed>], wbc.settings), folds (split.folds: 1, one
# grouped train/val split; K >= 2, also K-fold cross-validation over TRAIN's source cells),
# crop methods, the ensemble's members, predict's candidates, the report's names.

try:
    PLAN = RunPlan(config)
except PlanError as err:
    raise WorkflowError(str(err)) from None
FOLDS = config["split"]["folds"]
FOLD_NUMBERS = PLAN.fold_numbers
FAMILIES = PLAN.enabled
MODELS = PLAN.model_ids
CROP_METHOD = PLAN.crop_method
CROP_METHODS = PLAN.crop_methods()
family = PLAN.model_of
facts = PLAN.facts
settings = PLAN.settings
backbone = PLAN.backbone
backbones = PLAN.backbones
ensemble_members = PLAN.ensemble_members
reported_models = PLAN.reported_models
random_backbone = PLAN.random_backbone
titles = PLAN.titles
reference_accuracy = PLAN.reference_accuracy
predict_candidates = PLAN.predict_candidates
predict_members = PLAN.predict_members
report_protocol = PLAN.report_protocol


# --- models (train.smk, predict.smk) ---------------------------------------------------


def id_pattern(ids):
    """A wildcard constraint matching exactly these ids."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


def arrays(method, size):
    """The training arrays of every split, crops of ``method`` at ``size`` px (rule
    training_arrays)."""
    return expand(
        rules.training_arrays.output[0], method=method, size=size, split=SPLITS
    )


def weights_file(weights):
    """The weights file the VGG16 rules read: fetched, the user's own, or none."""
    if weights == "imagenet":
        return rules.vgg16_weights.output[0]
    return [] if weights is None else weights


def model_inputs(wildcards):
    """What a model's training reads: split files, per-split arrays at its image size
    or VGG16 features and their weights."""
    model = wildcards.model
    if facts(model).inputs == "vgg16_features":
        data = expand(
            rules.vgg16_features.output[0], backbone=backbone(model), split=SPLITS
        )
        extra = {"weights": weights_file(settings(model)["weights"])}
    else:
        s = settings(model)
        data, extra = arrays(s["crop"], s["image_size"]), {}
    return {"tables": split_tables(), "arrays": data, **extra}


def final_model_inputs(wildcards):
    """model_inputs, and with cross-validation the folds' results, which the model trained
    on all of TRAIN pools into split cv (and whose chosen epochs it trains for)."""
    inputs = model_inputs(wildcards)
    if FOLD_NUMBERS:
        fold_rule = getattr(rules, f"train_{family(wildcards.model)}_fold")
        folds = {"model": wildcards.model, "fold": FOLD_NUMBERS}
        inputs["folds"] = rules.folds.output[0]
        inputs["fold_metrics"] = expand(fold_rule.output.metrics, **folds)
        inputs["fold_predictions"] = expand(fold_rule.output.predictions, **folds)
    return inputs


def fold_outputs(name):
    """A fold job's outputs for registry model ``name``, a pattern in {model} and {fold}:
    the held-out cells' predictions (split cv), its metrics, its history."""
    folder = "results/models/{model}/folds/{fold}"
    outputs = {
        "metrics": f"{folder}/metrics.json",
        "predictions": f"{folder}/predictions.tsv",
    }
    if registry.facts_of(name).keras:
        outputs["history"] = f"{folder}/history.tsv"
    return outputs


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


def predict_fingerprint():
    """The fingerprint of the folder predict classifies (a param of rule predict)."""
    folder = PREDICT_FOLDER
    if folder is None or not Path(folder).is_dir():
        problem = "is not set" if folder is None else f"{folder} is not a folder"
        raise WorkflowError(
            f"config key 'predict.input' {problem}: set it to the folder of images to "
            "classify (in a --configfile: predict: {input: path/to/images})"
        )
    return fingerprint(folder)


# --- report (report.smk) ---------------------------------------------------------------


def rule_stages():
    """rule -> the stage (.smk file) that defines it, for the run facts."""
    return {r.name: Path(r.snakefile).stem for r in workflow.rules}


def section_fragments():
    """Rule report's inputs: each section's fragment (rule report_<id>, output html), in
    the order of wbc.report.sections.SECTIONS."""
    fragments = {}
    for s in SECTIONS:
        html = getattr(rules, f"report_{s.id}").output.html
        fragments[s.id] = expand(html, model=reported_models()) if s.per_model else html
    return fragments


def benchmark_files():
    """Every benchmark file of the jobs the report describes: data, crops, source cells,
    models, ensemble and the report's sections (all but the run facts and the assembly,
    which run after them). tests/test_report.py checks it against a run's files."""
    files = [
        rules.manifest.benchmark,
        rules.shard_lists.benchmark,
        rules.crop_qc.benchmark,
        rules.source_cell_index.benchmark,
        rules.groups.benchmark,
        rules.integrity.benchmark,
        rules.split.benchmark,
        rules.config_used.benchmark,
        rules.report_dataset.benchmark,
        rules.report_comparison.benchmark,
        rules.report_headline.benchmark,
        rules.report_protocols.benchmark,
    ]
    if SOURCE.kind != "folder":
        kind = "download_kaggle" if SOURCE.kind == "kaggle" else "unpack_zip"
        # a source folder's slides are inputs of the index themselves (originals_input)
        files += [getattr(rules, kind).benchmark, rules.originals_list.benchmark]
    files += expand(rules.group_shard.benchmark, shard=SHARDS)
    if FOLD_NUMBERS:
        files.append(rules.folds.benchmark)
    files += expand(rules.report_model.benchmark, model=reported_models())
    keras_models = [m for m in MODELS if facts(m).keras]
    files += expand(rules.report_training.benchmark, model=keras_models)
    files += expand(rules.report_saliency.benchmark, model=keras_models)
    if any(b["weights"] == "imagenet" for b in backbones().values()):
        files.append(rules.vgg16_weights.benchmark)
    for model in MODELS:
        files += expand(getattr(rules, f"train_{family(model)}").benchmark, model=model)
        files += expand(
            getattr(rules, f"train_{family(model)}_fold").benchmark,
            model=model,
            fold=FOLD_NUMBERS,
        )
    files += expand(rules.crop_shard.benchmark, method=CROP_METHODS, shard=SHARDS)
    for method, size in PLAN.arrays():
        files += expand(
            rules.training_arrays.benchmark, method=method, size=size, split=SPLITS
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
        )[0]
        inputs["saliency"] = expand(
            rules.report_saliency.output[0], model=wildcards.model
        )[0]
    return inputs


def final_outputs():
    outputs = [rules.crop_qc.output[0], rules.integrity.output[0], *rules.split.output]
    for model in MODELS:
        outputs += [model_output(model, name) for name in model_outputs(family(model))]
    outputs += [rules.report.output.html, rules.report_comparison.output.table]
    if PREDICT["input"] is not None:
        outputs += rules.predict.output
    return outputs
