# Cropping runs in `crop.shards` jobs with one output file per image: one job per image
# would pay ~140 ms of interpreter start-up each, and a shard reruns alone when one of
# its images changes.
# Splitting a small table: not worth a cluster job's queue wait and start-up.
localrules:
    shard_lists,


wildcard_constraints:
    shard=r"\d+",
    method=id_pattern(PLAN.crop_methods()),


# A separate step from the manifest: Snakemake checksums every input of a job once per
# output, so one rule with 10 k image inputs and 64 outputs would hash 640 k files.
checkpoint shard_lists:
    input:
        manifest=rules.manifest.output[0],
    output:
        expand("results/shards/{shard}.tsv", shard=PLAN.shards),
    log:
        "results/logs/shard_lists.log",
    benchmark:
        "results/benchmarks/shard_lists.tsv"
    params:
        code=code_version("write_shard_lists.py"),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/write_shard_lists.py"


# Each crop method (crop.method, and any a model's setting `crop` names) has its own
# folders, so two methods coexist and adding one recomputes nothing of the other.
rule crop_shard:
    input:
        images=shard_list,
    output:
        crops=directory("results/crops/{method}/{shard}"),
        qc="results/qc/crops/{method}/{shard}.tsv",
    log:
        "results/logs/crop_shard/{method}/{shard}.log",
    benchmark:
        "results/benchmarks/crop_shard/{method}/{shard}.tsv"
    params:
        code=code_version("crop_shard.py"),
        root=dataset_root(),
        strict=config["strict"],
        method=lambda wildcards: wildcards.method,
        window=lambda wildcards: PLAN.crop_window(wildcards.method),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/crop_shard.py"


# The run's crop method (crop.method; null: reference): its QC table is the one the split
# and report read.
rule crop_qc:
    input:
        qc=expand(
            rules.crop_shard.output.qc, method=PLAN.crop_method, shard=PLAN.shards
        ),
        manifest=rules.manifest.output[0],
    output:
        "results/qc/crops.tsv",
    log:
        "results/logs/crop_qc.log",
    benchmark:
        "results/benchmarks/crop_qc.tsv"
    params:
        code=code_version("collect_crop_qc.py"),
        # each shard's crops folder, in the order of the QC tables (the table's crop column)
        crops=crop_dirs(PLAN.crop_method),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/collect_crop_qc.py"
