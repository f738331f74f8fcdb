rule split:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        groups=rules.groups.output[0],
        integrity=rules.integrity.output[0],
    output:
        **{name: f"results/splits/{name}.tsv" for name in SPLITS},
        leaks="results/splits/test_leaks.tsv",
    log:
        "results/logs/split.log",
    benchmark:
        "results/benchmarks/split.tsv"
    params:
        code=code_version("make_splits.py"),
        val_fraction=config["split"]["val_fraction"],
        seed=config["split"]["seed"],
        group_by=config["split"]["group_by"],
    conda:
        "../../envs/sklearn.yaml"
    script:
        "../scripts/make_splits.py"


# config key split.folds >= 2: each TRAIN image's held-out fold, by source cell
rule folds:
    input:
        train=rules.split.output.train,
        val=rules.split.output.val,
    output:
        "results/splits/folds.tsv",
    log:
        "results/logs/folds.log",
    benchmark:
        "results/benchmarks/folds.tsv"
    params:
        code=code_version("make_folds.py"),
        folds=config["split"]["folds"],
        seed=config["split"]["seed"],
    conda:
        "../../envs/sklearn.yaml"
    script:
        "../scripts/make_folds.py"
