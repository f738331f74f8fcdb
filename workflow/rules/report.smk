# The comparison: a soft-vote ensemble, figures (each also in `snakemake --report`), the
# metrics table and one self-contained HTML page.
from snakemake import __version__ as SNAKEMAKE_VERSION


report: "../report/workflow.rst"


rule ensemble:
    input:
        predictions=[model_output(m, "predictions") for m in enabled_models()],
        metrics=[model_output(m, "metrics") for m in enabled_models()],
    output:
        metrics="results/models/ensemble/metrics.json",
        predictions="results/models/ensemble/predictions.tsv",
    log:
        "results/logs/ensemble.log",
    benchmark:
        "results/benchmarks/ensemble.tsv"
    params:
        models=enabled_models(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/ensemble.py"


rule report_dataset:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
        test_simple=rules.split.output.test_simple,
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
    log:
        "results/logs/report_dataset.log",
    benchmark:
        "results/benchmarks/report_dataset.tsv"
    params:
        splits=TRAINING_SPLITS,
        root=dataset_root(),
        gallery_size=4,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_dataset.py"


rule report_comparison:
    input:
        [model_output(m, "metrics") for m in reported_models()],
    output:
        table=report(
            "results/report/metrics.tsv",
            caption="../report/metrics_table.rst",
            category="2. Comparison",
        ),
        chart=report(
            "results/report/figures/comparison.png",
            caption="../report/comparison.rst",
            category="2. Comparison",
        ),
    log:
        "results/logs/report_comparison.log",
    benchmark:
        "results/benchmarks/report_comparison.tsv"
    params:
        models=reported_models(),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_comparison.py"


rule report_model:
    input:
        predictions=lambda w: model_output(w.model, "predictions"),
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
    log:
        "results/logs/report_model/{model}.log",
    benchmark:
        "results/benchmarks/report_model/{model}.tsv"
    wildcard_constraints:
        model="rf|vgg16|cnn|ensemble",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_model.py"


rule report_training:
    input:
        lambda w: model_output(w.model, "history"),
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
        model="|".join(KERAS_MODELS),
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report_training.py"


rule report:
    input:
        manifest=rules.manifest.output[0],
        qc=rules.crop_qc.output[0],
        train=rules.split.output.train,
        val=rules.split.output.val,
        test=rules.split.output.test,
        test_simple=rules.split.output.test_simple,
        metrics=[model_output(m, "metrics") for m in reported_models()],
        predictions=[model_output(m, "predictions") for m in reported_models()],
        table=rules.report_comparison.output.table,
        comparison=rules.report_comparison.output.chart,
        dataset=rules.report_dataset.output.counts,
        gallery=rules.report_dataset.output.gallery,
        model_figures=[f for kinds in model_figures().values() for f in kinds.values()],
        template=workflow.source_path("../report/report.html.j2"),
    output:
        html=report(
            "results/report/report.html",
            caption="../report/report_html.rst",
            category="0. HTML report",
        ),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    params:
        splits=TRAINING_SPLITS,
        models=reported_models(),
        model_figures=model_figures(),
        disabled_models=[m for m in ("rf", "vgg16", "cnn") if m not in enabled_models()],
        config=config,
        benchmark_dir="results/benchmarks",
        snakemake_version=SNAKEMAKE_VERSION,
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/report.py"
