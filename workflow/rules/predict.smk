# `snakemake predict`: classify the images of config key predict.input with a trained model.
rule predict:
    input:
        images=predict_images,
        models=[getattr(rules, f"train_{m}").output.model for m in predict_models()],
        metrics=[getattr(rules, f"train_{m}").output.metrics for m in predict_models()],
    output:
        "results/predict/predictions.tsv",
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    params:
        folder=PREDICT_CONFIG["input"],
        models=predict_models(),
        model=PREDICT_CONFIG["model"],
        size=config["image_size"],
        seed=MODEL_CONFIG["seed"],
    threads: 2
    conda:
        "../../envs/tensorflow.yaml"
    script:
        "../scripts/predict.py"
