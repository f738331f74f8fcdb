# Login nodes have internet, compute nodes often don't: download where Snakemake runs.
localrules:
    download_kaggle,


rule download_kaggle:
    output:
        directory("results/data/kaggle"),
    log:
        "results/logs/download_kaggle.log",
    benchmark:
        "results/benchmarks/download_kaggle.tsv"
    params:
        code=code_version("download_kaggle.py"),
        handle=SOURCE.value,
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/download_kaggle.py"


rule unpack_zip:
    input:
        archive=SOURCE.value,
    output:
        directory("results/data/unpacked"),
    log:
        "results/logs/unpack_zip.log",
    benchmark:
        "results/benchmarks/unpack_zip.tsv"
    params:
        code=code_version("unpack_zip.py"),
        cache="results/cache/unpacked",
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/unpack_zip.py"


rule manifest:
    input:
        images=dataset_input(),
    output:
        "results/manifest.tsv",
    log:
        "results/logs/manifest.log",
    benchmark:
        "results/benchmarks/manifest.tsv"
    params:
        code=code_version("build_manifest.py"),
        # taken from the input where it is one (the unpacked or downloaded folder), so it
        # stays right where a storage plugin maps paths; a source folder is read in place
        root=lambda wildcards, input: (
            dataset_root() if SOURCE.kind == "folder" else input.images
        ),
        # a source folder's content: an added or edited image reruns the manifest
        images=fingerprint(SOURCE.value) if SOURCE.kind == "folder" else "",
        # the class check needs it: each class must have images for train and val
        val_fraction=config["split"]["val_fraction"],
        conflicting_labels=config["conflicting_labels"],
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/build_manifest.py"
