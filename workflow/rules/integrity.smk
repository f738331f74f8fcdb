# One verdict per image (wbc.integrity: label conflicts, copies of TRAIN images and of their
# source cells in the test folders, unreadable images): what the split files leave out, and
# why, under the config. The split rule and the report read it and decide nothing again.
rule integrity:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        groups=rules.groups.output[0],
    output:
        "results/integrity.tsv",
    log:
        "results/logs/integrity.log",
    benchmark:
        "results/benchmarks/integrity.tsv"
    params:
        code=code_version("check_integrity.py"),
        # the folder the images are read from, for checks that look at pixels
        root=dataset_root(),
        # the config keys that decide what a finding leaves out (wbc.integrity.CHECKS)
        settings={
            "conflicting_labels": config["conflicting_labels"],
            "cells_under_two_labels": config["cells_under_two_labels"],
            "strict": config["strict"],
            "split.train_copies_in_test": config["split"]["train_copies_in_test"],
        },
    conda:
        "../../envs/crop.yaml"
    script:
        "../scripts/check_integrity.py"
