# Source cells: which original cell each image is a copy of (results/groups.tsv), so that
# no cell's copies sit on both sides of a split (issue: Kaggle's TRAIN holds augmented
# copies of a few hundred cells). Per-image work runs in the crop shards' jobs and is
# cached like the crops; one job then assigns the groups.


localrules:
    originals_list,


# The index reads a few hundred originals: it depends on their list and checksums, read
# through a checkpoint (see originals_input), so that an edited cell image, which rewrites
# the unpacked or downloaded folder, does not rebuild it (and with it every group shard).
checkpoint originals_list:
    input:
        root=dataset_root(),
    output:
        "results/groups/originals.tsv",
    log:
        "results/logs/originals_list.log",
    benchmark:
        "results/benchmarks/originals_list.tsv"
    params:
        code=code_version("list_originals.py"),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/list_originals.py"


rule source_cell_index:
    input:
        originals=originals_input(),
    output:
        "results/groups/originals.npz",
    log:
        "results/logs/source_cell_index.log",
    benchmark:
        "results/benchmarks/source_cell_index.tsv"
    params:
        code=code_version("build_source_index.py"),
        # the folder the originals are read from (a source folder is read in place)
        root=dataset_root(),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/build_source_index.py"


rule group_shard:
    input:
        images=shard_list,
        index=source_index,
    output:
        features="results/groups/features/{shard}.npz",
        matches="results/groups/matches/{shard}.tsv",
    log:
        "results/logs/group_shard/{shard}.log",
    benchmark:
        "results/benchmarks/group_shard/{shard}.tsv"
    params:
        code=code_version("group_shard.py"),
        root=dataset_root(),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/group_shard.py"


rule groups:
    input:
        matches=expand(rules.group_shard.output.matches, shard=PLAN.shards),
        features=expand(rules.group_shard.output.features, shard=PLAN.shards),
        index=rules.source_cell_index.output[0],
    output:
        "results/groups.tsv",
    log:
        "results/logs/groups.log",
    benchmark:
        "results/benchmarks/groups.tsv"
    params:
        code=code_version("collect_groups.py"),
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/collect_groups.py"
