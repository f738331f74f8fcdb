# Training: each split's crops resized once into a uint8 array per image size, then one
# training rule per model of the registry (workflow/scripts/wbc/models/), named
# train_<model>, all running the same script; a rule's jobs are the model's variants and
# seeds. The Keras rules stream batches from the arrays and log their device. With
# cross-validation (split.folds >= 2) each model also has one job per fold, rule
# train_<model>_fold, whose held-out predictions rule train_<model> pools into split cv.
wildcard_constraints:
    split="|".join(SPLITS),
    size=r"\d+",


# Compute nodes often have no internet: fetch the weights where Snakemake runs.
localrules:
    backbone_weights,


# Keyed by crop method: a model's setting `crop` picks its arrays.
rule training_arrays:
    input:
        split="results/splits/{split}.tsv",
        crops=lambda wildcards: crop_dirs(wildcards.method),
        qc=lambda wildcards: crop_qc_shards(wildcards.method),
    output:
        "results/arrays/{method}/{size}px/{split}.npy",
    log:
        "results/logs/training_arrays/{method}/{size}px/{split}.log",
    benchmark:
        "results/benchmarks/training_arrays/{method}/{size}px/{split}.tsv"
    params:
        code=code_version("training_arrays.py"),
        size=lambda wildcards: int(wildcards.size),
        cache="results/cache/arrays/{method}/{size}px/{split}",
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/training_arrays.py"


# The ImageNet weights a model's frozen backbone declares (FACTS.frozen_features), fetched
# once: config key models.<model>.weights: imagenet.
rule backbone_weights:
    output:
        "resources/{weights_file}",
    log:
        "results/logs/backbone_weights/{weights_file}.log",
    benchmark:
        "results/benchmarks/backbone_weights/{weights_file}.tsv"
    wildcard_constraints:
        weights_file=id_pattern(list(registry.backbone_weights())),
    params:
        code=code_version("backbone_weights.py"),
        model=lambda w: registry.backbone_weights()[w.weights_file],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/backbone_weights.py"


# A frozen backbone sees no augmentation: its features are computed once per backbone
# settings (weights, image size, crop method; wbc.plan.RunPlan.backbones).
rule frozen_features:
    input:
        images=lambda w: expand(
            rules.training_arrays.output[0],
            method=PLAN.backbones()[w.model, w.backbone]["crop"],
            size=PLAN.backbones()[w.model, w.backbone]["image_size"],
            split=w.split,
        ),
        weights=lambda w: weights_file(
            w.model, PLAN.backbones()[w.model, w.backbone]["weights"]
        ),
    output:
        "results/features/{model}/{backbone}/{split}.npy",
    log:
        "results/logs/frozen_features/{model}/{backbone}/{split}.log",
    benchmark:
        "results/benchmarks/frozen_features/{model}/{backbone}/{split}.tsv"
    wildcard_constraints:
        model=id_pattern(
            [m for m in registry.MODELS if registry.facts_of(m).frozen_features]
        ),
    params:
        code=lambda w: code_version(
            "frozen_features.py", *registry.code_modules(w.model)
        ),
        settings=lambda w: PLAN.backbones()[w.model, w.backbone],
    threads: 8
    resources:
        gpu=config["models"]["gpu"],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/frozen_features.py"


for name in registry.MODELS:

    rule:
        name:
            f"train_{name}"
        input:
            unpack(final_model_inputs),
        output:
            **model_outputs(name),
        log:
            "results/logs/train_{model}.log",
        benchmark:
            "results/benchmarks/train_{model}.tsv"
        wildcard_constraints:
            model=id_pattern(PLAN.ids_of(name)),
        params:
            code=code_version("train_model.py", *registry.code_modules(name)),
            splits=SPLITS,
            family=name,
            settings=lambda wildcards: PLAN.settings(wildcards.model),
            provenance={"source": config["source"]},
            # where an interrupted Keras training resumes from (not an output: it
            # outlives a failed job, and is removed when the training ends)
            resume="results/models/{model}/.resume",
        threads: 8
        resources:
            # Keras models use a GPU where there is one (a SLURM request)
            **(
                {"gpu": config["models"]["gpu"]}
                if registry.facts_of(name).keras
                else {}
            ),
        conda:
            f"../../envs/{registry.facts_of(name).env}.yaml"
        script:
            "../scripts/train_model.py"


for name in registry.MODELS:

    rule:
        name:
            f"train_{name}_fold"
        input:
            unpack(model_inputs),
            folds=rules.folds.output[0],
        output:
            **fold_outputs(name),
        log:
            "results/logs/train_{model}/folds/{fold}.log",
        benchmark:
            "results/benchmarks/train_{model}_folds/{fold}.tsv"
        wildcard_constraints:
            model=id_pattern(PLAN.ids_of(name)),
            # only the config's folds (1..K): a fold 0 or K + 1 target has no rule
            fold=id_pattern(str(k) for k in PLAN.fold_numbers),
        params:
            code=code_version("train_fold.py", *registry.code_modules(name)),
            splits=SPLITS,
            family=name,
            settings=lambda wildcards: PLAN.settings(wildcards.model),
            val_fraction=config["split"]["val_fraction"],
            split_seed=config["split"]["seed"],
            # where an interrupted Keras training resumes from (outside the job's staging)
            resume="results/models/{model}/folds/{fold}/.resume",
        threads: 8
        resources:
            **(
                {"gpu": config["models"]["gpu"]}
                if registry.facts_of(name).keras
                else {}
            ),
        conda:
            f"../../envs/{registry.facts_of(name).env}.yaml"
        script:
            "../scripts/train_fold.py"
