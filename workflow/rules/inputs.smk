# The input and param functions of the rules (what each reads), wired with
# rules.x.output; the lists behind them come from the run plan (PLAN, common.smk).
from pathlib import Path

from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.exceptions import IncompleteCheckpointException, WorkflowError
from snakemake.io import checkpoint_target

from wbc.source import folder_fingerprint, folder_id, list_files

# --- data (data.smk, crop.smk, split.smk) ---------------------------------------------


def dataset_root():
    """The folder the manifest's image paths are relative to."""
    if SOURCE.kind == "folder":
        return SOURCE.value
    kind = "download_kaggle" if SOURCE.kind == "kaggle" else "unpack_zip"
    return getattr(rules, kind).output[0]


def fingerprint(folder):
    """What a folder of images holds, as one hash (a param: no job lists every image)."""
    index = Path(".snakemake", "wbc-folder-index", f"{folder_id(folder)}.json")
    return folder_fingerprint(folder, index)


def dataset_input():
    """The unpacked or downloaded folder (a source folder: read in place, fingerprinted)."""
    return [] if SOURCE.kind == "folder" else dataset_root()


def originals_input():
    """The originals list (a checkpoint), or in a source folder Kaggle's layout's slides."""
    if SOURCE.kind != "folder":
        return lambda wildcards: checkpoints.originals_list.get().output[0]
    slides = Path(SOURCE.value, "dataset-master", "dataset-master", "JPEGImages")
    return list_files(slides) if slides.is_dir() else []


def source_index(wildcards):
    """The originals' index, after the originals list's checkpoint (else a rebuild planned
    before the list was found unchanged reruns every group shard)."""
    if SOURCE.kind != "folder":
        checkpoints.originals_list.get()
    return rules.source_cell_index.output[0]


def shard_list(wildcards):
    """The shard's list of images and their sha256, a checkpoint's output: only shards
    whose list changed re-crop. The checkpoint's ``get()`` expands its 64 paths on every
    call, twice per crop and group job: it is called once, when they all exist (until
    then Snakemake's IncompleteCheckpointException, as get() raises)."""
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
    return expand(rules.crop_shard.output.crops, method=method, shard=PLAN.shards)


def crop_qc_shards(method):
    return expand(rules.crop_shard.output.qc, method=method, shard=PLAN.shards)


def split_tables():
    return [rules.split.output[name] for name in SPLITS]


# --- models (train.smk, predict.smk) ---------------------------------------------------


def arrays(method, size):
    """The training arrays of every split, crops of ``method`` at ``size`` px."""
    return expand(
        rules.training_arrays.output[0], method=method, size=size, split=SPLITS
    )


def weights_file(model, weights):
    """The weights file a model's frozen backbone reads (its setting ``weights``):
    fetched (rule backbone_weights), the user's own, or none."""
    if weights == "imagenet":
        file = registry.facts_of(model).frozen_features.weights_file
        return expand(rules.backbone_weights.output[0], weights_file=file)[0]
    return [] if weights is None else weights


def model_inputs(wildcards):
    """What a model's training reads: split files, per-split arrays at its image size
    or, for a model with a frozen backbone, its features and their weights."""
    model = wildcards.model
    if PLAN.facts(model).frozen_features is not None:
        data = expand(
            rules.frozen_features.output[0],
            model=PLAN.model_of(model),
            backbone=PLAN.backbone(model),
            split=SPLITS,
        )
        extra = {
            "weights": weights_file(
                PLAN.model_of(model), PLAN.settings(model)["weights"]
            )
        }
    else:
        s = PLAN.settings(model)
        data, extra = arrays(s["crop"], s["image_size"]), {}
    return {"tables": split_tables(), "arrays": data, **extra}


def final_model_inputs(wildcards):
    """model_inputs, and with cross-validation the folds' results, which the model trained
    on all of TRAIN pools into split cv (and whose chosen epochs it trains for)."""
    inputs = model_inputs(wildcards)
    if PLAN.fold_numbers:
        fold_rule = getattr(rules, f"train_{PLAN.model_of(wildcards.model)}_fold")
        folds = {"model": wildcards.model, "fold": PLAN.fold_numbers}
        inputs["folds"] = rules.folds.output[0]
        inputs["fold_metrics"] = expand(fold_rule.output.metrics, **folds)
        inputs["fold_predictions"] = expand(fold_rule.output.predictions, **folds)
    return inputs


def model_output(model_id, name):
    """An output (model, metrics, predictions, history) of a model id or the ensemble."""
    if model_id == "ensemble":
        return rules.ensemble.output[name]
    trained = getattr(rules, f"train_{PLAN.model_of(model_id)}")
    return expand(trained.output[name], model=model_id)[0]


def predict_fingerprint():
    """The fingerprint of the folder predict classifies (a param of rule predict)."""
    folder = PLAN.predict_folder
    if folder is None or not Path(folder).is_dir():
        problem = "is not set" if folder is None else f"{folder} is not a folder"
        raise WorkflowError(
            f"config key 'predict.input' {problem}: set it to the folder of images to "
            "classify (in a --configfile: predict: {input: path/to/images})"
        )
    return fingerprint(folder)


# --- report (report.smk) ---------------------------------------------------------------


def section_fragments():
    """Rule report's inputs: each section's fragment, in the order of SECTIONS."""
    return {s.id: s.files(s.fragment(), PLAN.reported_models()) for s in SECTIONS}


def benchmark_files():
    """The benchmark file of every job the run facts describe (PLAN.benchmark_jobs)."""
    jobs = PLAN.benchmark_jobs()
    return [
        getattr(rules, job).benchmark.format(**wildcards) for job, wildcards in jobs
    ]


def of_models(name, model_id, ids):
    """Output ``name`` of a model id, else of each of ``ids``."""
    return (
        model_output(model_id, name)
        if model_id
        else [model_output(i, name) for i in ids]
    )


def keras_file(made_by, model_id):
    """A Keras model id's training curves or saliency maps (rule report_<made_by>)."""
    if model_id == "ensemble" or not PLAN.facts(model_id).keras:
        return []
    return expand(getattr(rules, f"report_{made_by}").output[0], model=model_id)[0]


# What a report section may read (Section.inputs), for a per-model section's model id m
# (else None); a new kind of input is one line here
RUN_FILES = {
    "manifest": lambda m: rules.manifest.output[0],
    "qc": lambda m: rules.crop_qc.output[0],
    "splits": lambda m: split_tables(),
    "groups": lambda m: rules.groups.output[0],
    "leaks": lambda m: rules.split.output.leaks,
    "integrity": lambda m: rules.integrity.output[0],
    "metrics": lambda m: of_models("metrics", m, PLAN.reported_models()),
    "predictions": lambda m: of_models("predictions", m, PLAN.reported_models()),
    "trained_metrics": lambda m: of_models("metrics", m, PLAN.model_ids),
    "training": lambda m: keras_file("training", m),
    "saliency": lambda m: keras_file("saliency", m),
    "comparison_table": lambda m: rules.report_comparison.output.table,
    "comparison_pairs": lambda m: rules.report_comparison.output.pairs,
    "comparison_seeds": lambda m: rules.report_comparison.output.seeds,
    "benchmarks": lambda m: benchmark_files(),
    "config": lambda m: rules.config_used.output[0],
}


def section_inputs(section):
    """Rule report_<id>'s inputs: the files its entry names, by name (none: left out)."""
    unknown = sorted(set(section.inputs) - set(RUN_FILES))
    if unknown:
        raise WorkflowError(
            f"report section {section.id}: inputs {', '.join(unknown)} are none of "
            f"{', '.join(RUN_FILES)} (RUN_FILES in workflow/rules/inputs.smk)"
        )
    return lambda w: {
        n: f for n in section.inputs if (f := RUN_FILES[n](w.get("model"))) != []
    }


def section_outputs(section):
    """Rule report_<id>'s outputs (those ``reported`` also in snakemake --report)."""

    def output(path, made):
        if not made.reported:
            return path
        return report(
            path, caption=f"../report/{made.caption}", **section.report_place()
        )

    outputs = {name: output(*made) for name, made in section.outputs().items()}
    return outputs | {"html": section.fragment()}


def section_params(section):
    """Rule report_<id>'s params: the run plan's values its entry names."""
    values = {
        **PLAN.report_values(),
        "root": dataset_root(),
        "snakemake_version": SNAKEMAKE_VERSION,
        "stages": {r.name: Path(r.snakefile).stem for r in workflow.rules},
    }
    return {name: values[name] for name in section.params}


def report_figures():
    """Every figure the page shows: the sections' own, and those they read."""
    figures = []
    for s in SECTIONS:
        for m in PLAN.reported_models() if s.per_model else [None]:
            read = [RUN_FILES[n](m) for n in s.inputs] + s.figure_files(m)
            figures += [f for f in read if isinstance(f, str) and f.endswith(".png")]
    return figures


def final_outputs():
    outputs = [rules.crop_qc.output[0], rules.integrity.output[0], *rules.split.output]
    for model_id in PLAN.model_ids:
        names = model_outputs(PLAN.model_of(model_id))
        outputs += [model_output(model_id, name) for name in names]
    outputs += [rules.report.output.html, rules.report_comparison.output.table]
    if PLAN.predict_folder is not None:
        outputs += rules.predict.output
    return outputs
