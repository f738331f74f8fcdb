# The comparison: a soft-vote ensemble, then one rule per report section (figures, each
# also in `snakemake --report`, and an HTML fragment), and rule report, which assembles
# the fragments into one self-contained page. The sections' rules are made from their
# entries in wbc.report.sections.SECTIONS (inputs, params and outputs by name, see
# section_inputs in inputs.smk); each runs its module's section(job).


report: "../report/workflow.rst"


rule ensemble:
    input:
        predictions=[model_output(m, "predictions") for m in PLAN.ensemble_members()],
        metrics=[model_output(m, "metrics") for m in PLAN.ensemble_members()],
    output:
        metrics="results/models/ensemble/metrics.json",
        predictions="results/models/ensemble/predictions.tsv",
    log:
        "results/logs/ensemble.log",
    benchmark:
        "results/benchmarks/ensemble.tsv"
    params:
        code=code_version("ensemble.py"),
        models=PLAN.ensemble_members(),
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
        model=id_pattern(PLAN.keras_ids()),
    params:
        code=code_version("report_training.py"),
        titles=PLAN.titles(),
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
        model=id_pattern(PLAN.keras_ids()),
    params:
        code=code_version("report_saliency.py"),
        registry_model=lambda wildcards: PLAN.model_of(wildcards.model),
        size=lambda wildcards: PLAN.settings(wildcards.model)["image_size"],
        protocol=PLAN.report_protocol(),
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/report_saliency.py"


# after every rule it may describe: the run facts' stages (params) are the rules defined
for section in SECTIONS:

    rule:
        name:
            f"report_{section.id}"
        input:
            unpack(section_inputs(section)),
            **{
                f"caption_{name}": workflow.source_path(f"../report/{caption}")
                for name, caption in section.caption_files().items()
            },
            template=workflow.source_path(f"../report/sections/{section.id}.html.j2"),
        output:
            **section_outputs(section),
        log:
            section.job_file("logs"),
        benchmark:
            section.job_file("benchmarks")
        wildcard_constraints:
            model=id_pattern(PLAN.reported_models()),
        params:
            **section_params(section),
            code=code_version("report_section.py", f"wbc.report.{section.id}"),
        threads: section.threads
        conda:
            "../../envs/report.yaml"
        script:
            "../scripts/report_section.py"


rule report:
    input:
        **section_fragments(),
        figures=report_figures(),
        template=workflow.source_path("../report/report.html.j2"),
    output:
        html=report(
            "results/report/report.html",
            caption="../report/report_html.rst",
            category=SECTIONS[0].category,
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
