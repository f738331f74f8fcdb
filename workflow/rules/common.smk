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
    return (
        rules.download_kaggle.output[0]
        if SOURCE.kind == "kaggle"
        else rules.unpack_zip.output[0]
    )


def dataset_input():
    # A folder is read in place: its files are the inputs, so an added or edited image
    # reruns the manifest, and a touched one does not (Snakemake checksums small files).
    return list_files(SOURCE.value) if SOURCE.kind == "folder" else dataset_root()


SHARDS = range(config["crop"]["shards"])


wildcard_constraints:
    shard=r"\d+",


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


KERAS_MODELS = ("vgg16", "cnn")  # they write history.tsv


def enabled_models():
    return list(config["models"]["enabled"])


def reported_models():
    """The enabled models, plus their ensemble when there are at least two to vote."""
    models = enabled_models()
    return models + ["ensemble"] if len(models) > 1 else models


def model_output(model, name):
    """An artefact (metrics, predictions, history) of a model's rule or the ensemble's."""
    producer = "ensemble" if model == "ensemble" else f"train_{model}"
    return getattr(rules, producer).output[name]


def model_figures():
    """figure kind -> PNG, per reported model (training curves for the Keras models)."""
    figures = {}
    for model in reported_models():
        folder = f"results/report/figures/{model}"
        figures[model] = {
            "confusion": f"{folder}/confusion_matrices.png",
            "roc": f"{folder}/roc_curves.png",
        }
        if model in KERAS_MODELS:
            figures[model]["training"] = f"{folder}/training_curves.png"
    return figures


# training and predict (train.smk, predict.smk)
MODEL_CONFIG = config["models"]
TRAINING_SPLITS = ("train", "val", "test", "test_simple")


def split_tables():
    return [rules.split.output[name] for name in TRAINING_SPLITS]


def split_arrays():
    return expand(rules.training_arrays.output[0], split=TRAINING_SPLITS)


def vgg16_weights_file():
    """The weights file train/features rules read: fetched, the user's own, or none."""
    weights = MODEL_CONFIG["vgg16"]["weights"]
    if weights == "imagenet":
        return rules.vgg16_weights.output[0]
    return [] if weights is None else weights


PREDICT_CONFIG = config["predict"]


def predict_models():
    """The candidate models: the chosen one, or every enabled one for 'best'."""
    chosen = PREDICT_CONFIG["model"]
    return MODEL_CONFIG["enabled"] if chosen == "best" else [chosen]


def predict_images(wildcards):
    folder = PREDICT_CONFIG["input"]
    if folder is None or not Path(folder).is_dir():
        problem = "is not set" if folder is None else f"{folder} is not a folder"
        raise WorkflowError(
            f"config key 'predict.input' {problem}: set it to the folder of images to "
            "classify (in a --configfile: predict: {input: path/to/images})"
        )
    return list_files(folder)


def final_outputs():
    outputs = [rules.crop_qc.output[0], *rules.split.output]
    for model in config["models"]["enabled"]:
        outputs += getattr(rules, f"train_{model}").output
    outputs += [rules.report.output.html, rules.report_comparison.output.table]
    if config["predict"]["input"] is not None:
        outputs += rules.predict.output
    return outputs
