# The comparison: a soft-vote ensemble, then one rule per report section (figures, each
# also in `snakemake --report`, and an HTML fragment), and rule report, which assembles
# the fragments into one self-contained page.
from snakemake import __version__ as SNAKEMAKE_VERSION


report: "../report/workflow.rst"


rule ensemble:
    input:
        predictions=[model_output(m, "predictions") for m in ensemble_members()],
        metrics=[model_output(m, "metrics") for m in ensemble_members()],
    output:
        metrics="results/models/ensemble/metrics.json",
        predictions="results/models/ensemble/predictions.tsv",
    log:
        "results/logs/ensemble.log",
    benchmark:
        "results/benchmarks/ensemble.tsv"
    params:
        code=code_version("ensemble.py"),
        models=ensemble_members(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/ensemble.py"


rule config_used:
    output:
        "results/report/config.yaml",
    log:
        "results/logs/config_used.log",
    benchmark:
        "results/benchmarks/config_used.tsv"
    params:
        code=code_version("config_used.py"),
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
        integrity=rules.integrity.output[0],
        template=workflow.source_path("../report/sections/dataset.html.j2"),
        caption_counts=workflow.source_path("../report/dataset.rst"),
        caption_gallery=workflow.source_path("../report/crop_gallery.rst"),
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
        code=code_version("report_dataset.py"),
        splits=SPLITS,
        root=dataset_root(),
        source=config["source"],
        protocol=report_protocol(),
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
        code=code_version("report_comparison.py"),
        models=reported_models(),
        titles=titles(),
        reference=reference_accuracy(),
        disabled=[m for m in registry.MODELS if m not in FAMILIES],
        protocol=report_protocol(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_comparison.py"


rule report_headline:
    input:
        table=rules.report_comparison.output.table,
        pairs=rules.report_comparison.output.pairs,
        seeds=rules.report_comparison.output.seeds,
        leaks=rules.split.output.leaks,
        template=workflow.source_path("../report/sections/headline.html.j2"),
        caption_figure=workflow.source_path("../report/headline.rst"),
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
        code=code_version("report_headline.py"),
        titles=titles(),
        reference=reference_accuracy(),
        protocol=report_protocol(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_headline.py"


rule report_model:
    input:
        unpack(report_model_inputs),
        splits=split_tables(),
        template=workflow.source_path("../report/sections/model.html.j2"),
        caption_confusion=workflow.source_path("../report/confusion_matrices.rst"),
        caption_roc=workflow.source_path("../report/roc_curves.rst"),
        caption_errors=workflow.source_path("../report/errors.rst"),
        caption_reliability=workflow.source_path("../report/reliability.rst"),
        caption_saliency=workflow.source_path("../report/saliency.rst"),
        caption_training=workflow.source_path("../report/training_curves.rst"),
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
        reliability=report(
            "results/report/figures/{model}/reliability.png",
            caption="../report/reliability.rst",
            category="3. Per model",
            subcategory="{model}",
        ),
        errors=report(
            "results/report/figures/{model}/errors.png",
            caption="../report/errors.rst",
            category="3. Per model",
            subcategory="{model}",
        ),
        margins="results/report/figures/{model}/narrow_margins.png",
        saliency="results/report/figures/{model}/saliency.png",
        error_table="results/report/errors/{model}.tsv",
        html="results/report/sections/model/{model}.html",
    log:
        "results/logs/report_model/{model}.log",
    benchmark:
        "results/benchmarks/report_model/{model}.tsv"
    wildcard_constraints:
        model=id_pattern(reported_models()),
    params:
        code=code_version("report_model.py"),
        titles=titles(),
        protocol=report_protocol(),
        root=dataset_root(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_model.py"


rule report_training:
    input:
        history=lambda wildcards: model_output(wildcards.model, "history"),
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
        code=code_version("report_training.py"),
        titles=titles(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_training.py"


rule report_saliency:
    input:
        model=lambda wildcards: model_output(wildcards.model, "model"),
        metrics=lambda wildcards: model_output(wildcards.model, "metrics"),
        predictions=lambda wildcards: model_output(wildcards.model, "predictions"),
        splits=split_tables(),
    output:
        "results/report/saliency/{model}.npz",
    log:
        "results/logs/report_saliency/{model}.log",
    benchmark:
        "results/benchmarks/report_saliency/{model}.tsv"
    wildcard_constraints:
        model=id_pattern([m for m in MODELS if facts(m).keras]),
    params:
        code=code_version("report_saliency.py"),
        family=lambda wildcards: family(wildcards.model),
        size=lambda wildcards: settings(wildcards.model)["image_size"],
        protocol=report_protocol(),
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/report_saliency.py"


rule report_protocols:
    input:
        splits=split_tables(),
        template=workflow.source_path("../report/sections/protocols.html.j2"),
    output:
        html="results/report/sections/protocols.html",
    log:
        "results/logs/report_protocols.log",
    benchmark:
        "results/benchmarks/report_protocols.tsv"
    params:
        code=code_version("report_protocols.py"),
        splits=SPLITS,
        protocol=report_protocol(),
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
    output:
        html="results/report/sections/run_facts.html",
    log:
        "results/logs/report_run_facts.log",
    benchmark:
        "results/benchmarks/report_run_facts.tsv"
    params:
        code=code_version("report_run_facts.py"),
        models=MODELS,
        snakemake_version=SNAKEMAKE_VERSION,
        stages=rule_stages(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_run_facts.py"


rule report:
    input:
        **section_fragments(),
        figures=[
            rules.report_headline.output.figure,
            rules.report_dataset.output.counts,
            rules.report_dataset.output.gallery,
            rules.report_comparison.output.chart,
            *expand(rules.report_model.output.confusion, model=reported_models()),
            *expand(rules.report_model.output.roc, model=reported_models()),
            *expand(rules.report_model.output.reliability, model=reported_models()),
            *expand(rules.report_model.output.errors, model=reported_models()),
            *expand(rules.report_model.output.margins, model=reported_models()),
            *expand(
                rules.report_model.output.saliency,
                model=[m for m in MODELS if facts(m).keras],
            ),
            *expand(
                rules.report_training.output[0],
                model=[m for m in MODELS if facts(m).keras],
            ),
        ],
        template=workflow.source_path("../report/report.html.j2"),
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
    params:
        code=code_version("report.py"),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"
