# The comparison: a soft-vote ensemble, then one rule per report section (figures, each
# also in `snakemake --report`, and an HTML fragment), and rule report, which assembles
# the fragments into one self-contained page.
from snakemake import __version__ as SNAKEMAKE_VERSION


report: "../report/workflow.rst"


rule ensemble:
    input:
        predictions=[model_output(m, "predictions") for m in ensemble_members()],
        metrics=[model_output(m, "metrics") for m in ensemble_members()],
        code=code("ensemble.py"),
    output:
        metrics="results/models/ensemble/metrics.json",
        predictions="results/models/ensemble/predictions.tsv",
    log:
        "results/logs/ensemble.log",
    benchmark:
        "results/benchmarks/ensemble.tsv"
    params:
        models=ensemble_members(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/ensemble.py"


rule config_used:
    input:
        code=code("config_used.py"),
    output:
        "results/report/config.yaml",
    log:
        "results/logs/config_used.log",
    benchmark:
        "results/benchmarks/config_used.tsv"
    params:
        # the one rule that takes the whole config: a change of any key reruns it, and
        # through its output the run-facts section, nothing else
        config=config,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/config_used.py"


rule report_dataset:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        splits=split_tables(),
        groups=rules.groups.output[0],
        leaks=rules.split.output.leaks,
        template=workflow.source_path("../report/sections/dataset.html.j2"),
        caption_counts=workflow.source_path("../report/dataset.rst"),
        caption_gallery=workflow.source_path("../report/crop_gallery.rst"),
        code=code("report_dataset.py"),
    output:
        counts=report(
            "results/report/figures/dataset.png",
            caption="../report/dataset.rst",
            category="1. Dataset",
        ),
        gallery=report(
            "results/report/figures/crop_gallery.png",
            caption="../report/crop_gallery.rst",
            category="1. Dataset",
        ),
        html="results/report/sections/dataset.html",
    log:
        "results/logs/report_dataset.log",
    benchmark:
        "results/benchmarks/report_dataset.tsv"
    params:
        splits=SPLITS,
        root=dataset_root(),
        source=config["source"],
        crop_method=CROP_METHOD,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_dataset.py"


rule report_comparison:
    input:
        metrics=[model_output(m, "metrics") for m in reported_models()],
        predictions=[model_output(m, "predictions") for m in reported_models()],
        template=workflow.source_path("../report/sections/comparison.html.j2"),
        caption_chart=workflow.source_path("../report/comparison.rst"),
        caption_table=workflow.source_path("../report/metrics_table.rst"),
        code=code("report_comparison.py"),
    output:
        table=report(
            "results/report/metrics.tsv",
            caption="../report/metrics_table.rst",
            category="2. Comparison",
        ),
        pairs=report(
            "results/report/comparisons.tsv",
            caption="../report/comparisons_table.rst",
            category="2. Comparison",
        ),
        seeds="results/report/seeds.tsv",
        chart=report(
            "results/report/figures/comparison.png",
            caption="../report/comparison.rst",
            category="2. Comparison",
        ),
        html="results/report/sections/comparison.html",
    log:
        "results/logs/report_comparison.log",
    benchmark:
        "results/benchmarks/report_comparison.tsv"
    params:
        models=reported_models(),
        titles=titles(),
        reference=reference_accuracy(),
        disabled=[m for m in registry.MODELS if m not in FAMILIES],
        group_by=config["split"]["group_by"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_comparison.py"


rule report_headline:
    input:
        table=rules.report_comparison.output.table,
        pairs=rules.report_comparison.output.pairs,
        seeds=rules.report_comparison.output.seeds,
        template=workflow.source_path("../report/sections/headline.html.j2"),
        caption_figure=workflow.source_path("../report/headline.rst"),
        code=code("report_headline.py"),
    output:
        figure=report(
            "results/report/figures/headline.png",
            caption="../report/headline.rst",
            category="0. Headline",
        ),
        html="results/report/sections/headline.html",
    log:
        "results/logs/report_headline.log",
    benchmark:
        "results/benchmarks/report_headline.tsv"
    params:
        titles=titles(),
        reference=reference_accuracy(),
        group_by=config["split"]["group_by"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_headline.py"


rule report_model:
    input:
        unpack(report_model_inputs),
        template=workflow.source_path("../report/sections/model.html.j2"),
        caption_confusion=workflow.source_path("../report/confusion_matrices.rst"),
        caption_roc=workflow.source_path("../report/roc_curves.rst"),
        caption_training=workflow.source_path("../report/training_curves.rst"),
        code=code("report_model.py"),
    output:
        confusion=report(
            "results/report/figures/{model}/confusion_matrices.png",
            caption="../report/confusion_matrices.rst",
            category="3. Per model",
            subcategory="{model}",
        ),
        roc=report(
            "results/report/figures/{model}/roc_curves.png",
            caption="../report/roc_curves.rst",
            category="3. Per model",
            subcategory="{model}",
        ),
        html="results/report/sections/model/{model}.html",
    log:
        "results/logs/report_model/{model}.log",
    benchmark:
        "results/benchmarks/report_model/{model}.tsv"
    wildcard_constraints:
        model=id_pattern(reported_models()),
    params:
        titles=titles(),
        group_by=config["split"]["group_by"],
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_model.py"


rule report_training:
    input:
        history=lambda wildcards: model_output(wildcards.model, "history"),
        code=code("report_training.py"),
    output:
        report(
            "results/report/figures/{model}/training_curves.png",
            caption="../report/training_curves.rst",
            category="3. Per model",
            subcategory="{model}",
        ),
    log:
        "results/logs/report_training/{model}.log",
    benchmark:
        "results/benchmarks/report_training/{model}.tsv"
    wildcard_constraints:
        model=id_pattern([m for m in MODELS if facts(m).keras]),
    params:
        titles=titles(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_training.py"


rule report_protocols:
    input:
        test=rules.split.output.test,
        template=workflow.source_path("../report/sections/protocols.html.j2"),
        code=code("report_protocols.py"),
    output:
        "results/report/sections/protocols.html",
    log:
        "results/logs/report_protocols.log",
    benchmark:
        "results/benchmarks/report_protocols.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_protocols.py"


rule report_run_facts:
    input:
        benchmarks=benchmark_files(),
        config=rules.config_used.output[0],
        metrics=[model_output(m, "metrics") for m in MODELS],
        template=workflow.source_path("../report/sections/run_facts.html.j2"),
        code=code("report_run_facts.py"),
    output:
        "results/report/sections/run_facts.html",
    log:
        "results/logs/report_run_facts.log",
    benchmark:
        "results/benchmarks/report_run_facts.tsv"
    params:
        models=MODELS,
        snakemake_version=SNAKEMAKE_VERSION,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_run_facts.py"


rule report:
    input:
        headline=rules.report_headline.output.html,
        dataset=rules.report_dataset.output.html,
        comparison=rules.report_comparison.output.html,
        models=expand(rules.report_model.output.html, model=reported_models()),
        protocols=rules.report_protocols.output[0],
        run_facts=rules.report_run_facts.output[0],
        figures=[
            rules.report_headline.output.figure,
            rules.report_dataset.output.counts,
            rules.report_dataset.output.gallery,
            rules.report_comparison.output.chart,
            *expand(rules.report_model.output.confusion, model=reported_models()),
            *expand(rules.report_model.output.roc, model=reported_models()),
            *expand(
                rules.report_training.output[0],
                model=[m for m in MODELS if facts(m).keras],
            ),
        ],
        template=workflow.source_path("../report/report.html.j2"),
        code=code("report.py"),
    output:
        html=report(
            "results/report/report.html",
            caption="../report/report_html.rst",
            category="0. Headline",
        ),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"
