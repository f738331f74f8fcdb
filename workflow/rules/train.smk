# Training: each split's crops resized once into a uint8 array, then one training rule per
# model of the registry (workflow/scripts/wbc/models/), named train_<model>, all running
# the same script. The Keras rules stream batches from the arrays and log their device.
wildcard_constraints:
    split="|".join(SPLITS),


# Compute nodes often have no internet: fetch the weights where Snakemake runs.
localrules:
    vgg16_weights,


rule training_arrays:
    input:
        split="results/splits/{split}.tsv",
        crops=crop_dirs,
        code=code("training_arrays.py"),
    output:
        "results/arrays/{split}.npy",
    log:
        "results/logs/training_arrays/{split}.log",
    benchmark:
        "results/benchmarks/training_arrays/{split}.tsv"
    params:
        size=config["image_size"],
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/training_arrays.py"


rule vgg16_weights:
    input:
        code=code("vgg16_weights.py"),
    output:
        "resources/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    log:
        "results/logs/vgg16_weights.log",
    benchmark:
        "results/benchmarks/vgg16_weights.tsv"
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/vgg16_weights.py"


# The backbone is frozen and there is no augmentation: its features are computed once.
rule vgg16_features:
    input:
        images=rules.training_arrays.output[0],
        weights=vgg16_weights_file(),
        code=code("vgg16_features.py"),
    output:
        "results/features/vgg16/{split}.npy",
    log:
        "results/logs/vgg16_features/{split}.log",
    benchmark:
        "results/benchmarks/vgg16_features/{split}.tsv"
    params:
        settings=settings("vgg16"),
    threads: 8
    resources:
        gpu=config["models"]["gpu"],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/vgg16_features.py"


for model in registry.MODELS:

    rule:
        name:
            f"train_{model}"
        input:
            **backbone_weights(model),
            tables=split_tables(),
            arrays=model_inputs(model),
            code=code("train_model.py", f"wbc.models.{model}"),
        output:
            **model_outputs(model),
        log:
            f"results/logs/train_{model}.log",
        benchmark:
            f"results/benchmarks/train_{model}.tsv"
        params:
            model=model,
            splits=SPLITS,
            settings=settings(model),
        threads: 8
        resources:
            # Keras models use a GPU where there is one (a SLURM request)
            **({"gpu": config["models"]["gpu"]} if facts(model).keras else {}),
        conda:
            f"../../envs/{facts(model).env}.yaml"
        script:
            "../scripts/train_model.py"
