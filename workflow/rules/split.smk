rule split:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
    output:
        train="results/splits/train.tsv",
        val="results/splits/val.tsv",
        test="results/splits/test.tsv",
        test_simple="results/splits/test_simple.tsv",
    log:
        "results/logs/split.log",
    params:
        val_fraction=config["split"]["val_fraction"],
        seed=config["split"]["seed"],
    conda:
        "../../envs/sklearn.yaml"
    script:
        "../scripts/make_splits.py"
