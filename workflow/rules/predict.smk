# `snakemake predict`: classify the images of config key predict.input with a trained model.
rule predict:
    input:
        images=predict_images,
        models=[model_output(m, "model") for m in predict_members()],
        metrics=[model_output(m, "metrics") for m in predict_candidates()],
        code=code("predict.py", *(f"wbc.models.{m}" for m in predict_members())),
    output:
        "results/predict/predictions.tsv",
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    params:
        folder=PREDICT["input"],
        model=PREDICT["model"],
        candidates=predict_candidates(),
        models=predict_members(),
        members=ensemble_members(),
        families={m: family(m) for m in predict_members()},
        sizes={m: settings(m)["image_size"] for m in predict_members()},
        seed=config["models"]["seed"],
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/predict.py"
