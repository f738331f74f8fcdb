# Training: each split's crops resized once into a uint8 array, then the three models.
# The TensorFlow rules stream batches from those arrays and log the device they used.
wildcard_constraints:
    split="|".join(TRAINING_SPLITS),


# Compute nodes often have no internet: fetch the weights where Snakemake runs.
localrules:
    vgg16_weights,


rule training_arrays:
    input:
        split="results/splits/{split}.tsv",
        crops=crop_dirs,
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
    output:
        "results/features/vgg16/{split}.npy",
    log:
        "results/logs/vgg16_features/{split}.log",
    benchmark:
        "results/benchmarks/vgg16_features/{split}.tsv"
    params:
        size=config["image_size"],
        seed=MODEL_CONFIG["seed"],
        deterministic=MODEL_CONFIG["deterministic"],
    threads: 8
    resources:
        gpu=MODEL_CONFIG["gpu"],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/vgg16_features.py"


rule train_rf:
    input:
        tables=split_tables(),
        arrays=split_arrays(),
    output:
        model="results/models/rf/model.joblib",
        metrics="results/models/rf/metrics.json",
        predictions="results/models/rf/predictions.tsv",
    log:
        "results/logs/train_rf.log",
    benchmark:
        "results/benchmarks/train_rf.tsv"
    params:
        splits=TRAINING_SPLITS,
        rf=MODEL_CONFIG["rf"],
        seed=MODEL_CONFIG["seed"],
    threads: 8
    conda:
        "../../envs/sklearn.yaml"
    script:
        "../scripts/train_rf.py"


rule train_vgg16:
    input:
        tables=split_tables(),
        features=expand(rules.vgg16_features.output[0], split=TRAINING_SPLITS),
        weights=vgg16_weights_file(),
    output:
        model="results/models/vgg16/model.keras",
        metrics="results/models/vgg16/metrics.json",
        predictions="results/models/vgg16/predictions.tsv",
        history="results/models/vgg16/history.tsv",
    log:
        "results/logs/train_vgg16.log",
    benchmark:
        "results/benchmarks/train_vgg16.tsv"
    params:
        splits=TRAINING_SPLITS,
        vgg16=MODEL_CONFIG["vgg16"],
        size=config["image_size"],
        seed=MODEL_CONFIG["seed"],
        deterministic=MODEL_CONFIG["deterministic"],
    threads: 8
    resources:
        gpu=MODEL_CONFIG["gpu"],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/train_vgg16.py"


rule train_cnn:
    input:
        tables=split_tables(),
        arrays=split_arrays(),
    output:
        model="results/models/cnn/model.keras",
        metrics="results/models/cnn/metrics.json",
        predictions="results/models/cnn/predictions.tsv",
        history="results/models/cnn/history.tsv",
    log:
        "results/logs/train_cnn.log",
    benchmark:
        "results/benchmarks/train_cnn.tsv"
    params:
        splits=TRAINING_SPLITS,
        cnn=MODEL_CONFIG["cnn"],
        size=config["image_size"],
        seed=MODEL_CONFIG["seed"],
        deterministic=MODEL_CONFIG["deterministic"],
    threads: 8
    resources:
        gpu=MODEL_CONFIG["gpu"],
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/train_cnn.py"
